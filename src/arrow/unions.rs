//! `UnionArray` to Arrow: dense unions, an option's validity pushed into
//! each content.

#[allow(unused_imports)]
use super::*;

/// A union as a dense arrow union, as awkward's `UnionArray._to_arrow`:
/// arrow unions have no validity, so an option above pushes it into each
/// content (reordered to the content's order when each element is used
/// once, else the content gathered); the union's own metadata names no
/// mask.
pub(super) fn union(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Union {
        tags,
        index,
        contents,
    } = &node.data
    else {
        unreachable!("union() is called for UnionArray nodes")
    };
    let tag_values: Vec<i8> = tags.typed::<i8>()?.as_slice()[..length].to_vec();
    let mut index_values = index_values(index, length)?;
    let outer = mask.as_ref().and_then(|m| m.valid.clone());
    let mut fields = Vec::new();
    let mut children = Vec::new();
    for (tag, content) in contents.iter().enumerate() {
        let selected: Vec<usize> = (0..length)
            .filter(|&i| usize::try_from(tag_values[i]).ok() == Some(tag))
            .collect();
        let this_index: Vec<i64> = selected.iter().map(|&i| index_values[i]).collect();
        if this_index.iter().any(|&i| i < 0) {
            return Err(blame(node, "index", "a negative index"));
        }
        let mut gathered_content = None;
        let this_valid = match &outer {
            None => None,
            Some(valid) => {
                let mut seen = std::collections::HashSet::new();
                let unique = this_index.iter().all(|&i| seen.insert(i));
                if unique {
                    let count = this_index.len();
                    let mut v = vec![false; count];
                    for (j, &i) in this_index.iter().enumerate() {
                        let i = usize::try_from(i).ok().filter(|&i| i < count).ok_or_else(|| {
                            Error::Unsupported(format!(
                                "awkward cannot export this masked union either: index {i} of content {tag} is past its {count} uses (at {})",
                                node.info.path
                            ))
                        })?;
                        v[i] = valid.value(selected[j]);
                    }
                    Some(bits(v.into_iter()))
                } else {
                    let have = content.len.get()?;
                    let at = this_index
                        .iter()
                        .map(|&i| usize::try_from(i).ok().filter(|&i| i < have))
                        .collect::<Option<Vec<usize>>>()
                        .ok_or_else(|| blame(node, "index", "an index past its content"))?;
                    gathered_content = Some(crate::pack::carry(content, at, None)?);
                    for (j, &i) in selected.iter().enumerate() {
                        index_values[i] = j as i64;
                    }
                    Some(bits(selected.iter().map(|&i| valid.value(i))))
                }
            }
        };
        let this_length = match (&gathered_content, this_index.iter().max()) {
            (Some(_), _) => this_index.len(),
            (None, Some(&m)) => {
                usize::try_from(m).map_err(|_| blame(node, "index", "index overflow"))? + 1
            }
            (None, None) => 0,
        };
        let content_node: &Node = match &gathered_content {
            Some(a) => a.node(),
            None => content,
        };
        let child_mask = mask.as_ref().map(|m| Mask {
            node: m.node,
            valid: this_valid,
        });
        let out = convert(content_node, child_mask, this_length, options)?;
        let nullable = mask.is_some() || content.form.is_option() || is_empty(content);
        fields.push(with_ext(
            Field::new(tag.to_string(), out.data.data_type().clone(), nullable),
            out.ext,
        ));
        children.push(out.data);
    }
    let offsets: Vec<i32> = index_values
        .iter()
        .map(|&i| i32::try_from(i))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| blame(node, "index", "a union index past 32 bits"))?;
    let ids: Vec<i8> = (0..contents.len())
        .map(|t| i8::try_from(t).unwrap_or(i8::MAX))
        .collect();
    let ty = DataType::Union(
        arrow_schema::UnionFields::try_new(ids, fields)
            .map_err(|e| Error::Unsupported(e.to_string()))?,
        arrow_schema::UnionMode::Dense,
    );
    let builder = ArrayData::builder(ty)
        .len(length)
        .add_buffer(arrow_buffer::Buffer::from_vec(tag_values))
        .add_buffer(arrow_buffer::Buffer::from_vec(offsets))
        .child_data(children);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, None, options, false),
    })
}
