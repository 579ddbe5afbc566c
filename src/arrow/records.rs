//! `RecordArray`, `EmptyArray` and the masked options (`ByteMaskedArray`,
//! `BitMaskedArray`, `UnmaskedArray`) to Arrow.

#[allow(unused_imports)]
use super::*;

pub(super) fn empty(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    if let Some(p) = options.emptyarray_to {
        // As awkward: a NumpyArray of that type and length (its values
        // never read: an empty array under an option is all missing).
        let ty = primitive_type(p, node)?;
        let width = match (&ty, p) {
            (DataType::Boolean, _) => 0,
            (DataType::Date32, _) => 4,
            _ => p.itemsize(),
        };
        let values: arrow_buffer::Buffer = match ty {
            DataType::Boolean => {
                arrow_buffer::MutableBuffer::from_len_zeroed(length.div_ceil(8)).into()
            }
            _ => arrow_buffer::MutableBuffer::from_len_zeroed(length * width).into(),
        };
        let builder = ArrayData::builder(ty)
            .len(length)
            .add_buffer(values)
            .nulls(mask.as_ref().and_then(|m| null_buffer(&m.valid)));
        return Ok(Out {
            data: build(builder, node)?,
            ext: ext_meta_for(
                "NumpyArray",
                node.form.parameters(),
                serde_json::Value::Null,
                mask.as_ref(),
                options,
                false,
            ),
        });
    }
    let builder = ArrayData::builder(DataType::Null).len(length);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, mask.as_ref(), options, mask.is_none()),
    })
}

pub(super) fn record(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Record { contents } = &node.data else {
        unreachable!("record() is called for RecordArray nodes")
    };
    let names: Vec<String> = match contents.names() {
        Some(n) => n.to_vec(),
        None => (0..contents.len()).map(|i| i.to_string()).collect(),
    };
    let mask_optional = mask.as_ref().is_some_and(|m| m.node.form.is_option());
    let mut fields = Vec::new();
    let mut children = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        // Every field carries the record's validity, as awkward passes it down.
        let inner = convert(c, mask.clone(), length, options)?;
        let option = c.form.is_option() || is_empty(c);
        let mut meta = HashMap::new();
        meta.insert(
            "option_type".to_string(),
            if option { "True" } else { "False" }.to_string(),
        );
        let field = Field::new(
            &names[i],
            inner.data.data_type().clone(),
            mask_optional || option,
        )
        .with_metadata(meta);
        fields.push(with_ext(field, inner.ext.clone()));
        children.push(slice(inner.data, 0, length));
    }
    let nulls = mask.as_ref().and_then(|m| null_buffer(&m.valid));
    let builder = ArrayData::builder(DataType::Struct(Fields::from(fields)))
        .len(length)
        .child_data(children)
        .nulls(nulls);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, mask.as_ref(), options, false),
    })
}

pub(super) fn masked(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let (valid, content) = match &node.data {
        NodeData::ByteMasked {
            mask: m,
            valid_when,
            content,
        } => {
            let bytes = m.get()?;
            let valid = bits(
                bytes.as_slice()[..length]
                    .iter()
                    .map(|&b| (b != 0) == *valid_when),
            );
            (valid, content)
        }
        NodeData::BitMasked {
            mask: m,
            valid_when,
            lsb_order,
            content,
        } => {
            let bytes = m.get()?;
            let valid = if *lsb_order && *valid_when {
                // Arrow's own layout: the stored bits, shared.
                BooleanBuffer::new(shared(bytes.slice(0, length.div_ceil(8))?), 0, length)
            } else {
                let b = bytes.as_slice();
                bits((0..length).map(|i| {
                    let byte = b[i / 8];
                    let bit = if *lsb_order {
                        (byte >> (i % 8)) & 1
                    } else {
                        (byte >> (7 - i % 8)) & 1
                    };
                    (bit != 0) == *valid_when
                }))
            };
            (valid, content)
        }
        _ => unreachable!("masked() is called for ByteMaskedArray and BitMaskedArray nodes"),
    };
    let valid = and(mask.and_then(|m| m.valid), valid);
    convert(
        content,
        Some(Mask {
            node,
            valid: Some(valid),
        }),
        length,
        options,
    )
}
