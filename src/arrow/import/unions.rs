//! Arrow's unions and dictionaries as awkward's `UnionArray`s and
//! categorical `IndexedArray`s.

#[allow(unused_imports)]
use super::*;

impl Import {
    pub(super) fn union(
        &self,
        array: &dyn ArrowArray,
        fields: &arrow_schema::UnionFields,
        mode: UnionMode,
        params: Params,
    ) -> Result<Ak> {
        let a = array.as_union();
        let ids: Vec<i8> = fields.iter().map(|(id, _)| id).collect();
        // Awkward's tags are positions among the contents.
        let position = |t: i8| ids.iter().position(|&id| id == t);
        let type_ids = a.type_ids();
        let tags = if ids.iter().enumerate().all(|(i, &id)| id as usize == i) {
            share(type_ids.inner())
        } else {
            let tags = type_ids
                .iter()
                .map(|&t| {
                    position(t).map(|p| p as i8).ok_or_else(|| {
                        Error::Unsupported(format!(
                            "arrow union: type id {t} is not one of {ids:?}"
                        ))
                    })
                })
                .collect::<Result<Vec<i8>>>()?;
            Buffer::from_slice(&tags)
        };
        // UnionArray.simplified gives a 64-bit index.
        let index = match (mode, a.offsets()) {
            (UnionMode::Dense, Some(o)) => i64s(o.iter().map(|&i| i64::from(i))),
            _ => i64s((0..a.len()).map(|i| i as i64)),
        };
        let contents = fields
            .iter()
            .map(|(id, f)| self.child(f, a.child(id).as_ref(), f.is_nullable()))
            .collect::<Result<Vec<_>>>()?;
        let lengths = fields.iter().map(|(id, _)| a.child(id).len()).collect();
        Ok(Ak::Union {
            tags,
            index,
            contents,
            lengths,
            params,
        })
    }

    /// A dictionary: an `IndexedOptionArray` over the dictionary's values
    /// (parameters `__array__: "categorical"` unless the extension says).
    pub(super) fn dictionary(
        &self,
        array: &dyn ArrowArray,
        value_type: &DataType,
        ext: Option<&Ext>,
    ) -> Result<Conv> {
        let a = array.as_any_dictionary();
        let keys = a.keys();
        let (index, itype) = dictionary_index(keys)?;
        let values = a.values();
        let content = self.level(values.as_ref(), value_type, None)?;
        let params = merged(
            &ext.and_then(|e| e.mask_parameters.clone()),
            &ext.and_then(|e| e.node_parameters.clone()),
        )
        .or_else(|| string_params("categorical"));
        let n = keys.len();
        let original_content = content.original.clone().unwrap_or(content.option.clone());
        let original = Ak::Indexed {
            index: index.clone(),
            itype,
            content: Box::new(original_content),
            params: params.clone(),
        };
        // IndexedOptionArray.simplified over the dictionary's option type:
        // the index composed with the content's (missing where either is).
        let option = match content.option {
            Ak::Unmasked { content: inner, .. } => Ak::IndexedOption {
                index,
                itype,
                content: inner,
                params,
            },
            other => {
                let vlen = values.len();
                let Ak::IndexedOption {
                    index: inner_index,
                    content: inner,
                    itype: inner_type,
                    ..
                } = other.clone().into_indexed_option(vlen)
                else {
                    return Err(Error::Unsupported(
                        "arrow dictionary values of an unexpected layout".into(),
                    ));
                };
                let inner_index = index_i64(&inner_index, inner_type);
                let composed: Vec<i64> = index_i64(&index, itype)
                    .into_iter()
                    .map(|i| match usize::try_from(i) {
                        Ok(i) => inner_index.get(i).copied().unwrap_or(-1),
                        Err(_) => -1,
                    })
                    .collect();
                debug_assert_eq!(composed.len(), n);
                Ak::IndexedOption {
                    index: i64s(composed.into_iter()),
                    itype: "i64",
                    content: inner,
                    params,
                }
            }
        };
        Ok(Conv {
            option,
            original: Some(original),
        })
    }
}
