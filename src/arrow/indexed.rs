//! `IndexedArray`, `IndexedOptionArray` and categoricals to Arrow: gathered
//! through `pack::carry`, or dictionaries.

#[allow(unused_imports)]
use super::*;

/// Index values `..length` of an index buffer, widened.
pub(super) fn index_values(b: &crate::layout::lazy::LazyBuf, length: usize) -> Result<Vec<i64>> {
    Ok(match b.dtype.name().as_str() {
        "int32" => b.typed::<i32>()?.as_slice()[..length]
            .iter()
            .map(|&x| i64::from(x))
            .collect(),
        "uint32" => b.typed::<u32>()?.as_slice()[..length]
            .iter()
            .map(|&x| i64::from(x))
            .collect(),
        "int8" => b.typed::<i8>()?.as_slice()[..length]
            .iter()
            .map(|&x| i64::from(x))
            .collect(),
        "uint8" => b.typed::<u8>()?.as_slice()[..length]
            .iter()
            .map(|&x| i64::from(x))
            .collect(),
        _ => b.typed::<i64>()?.as_slice()[..length].to_vec(),
    })
}

/// `content` gathered at `index` (awkward's carry: a copy), with `extra`
/// parameters over the content's, converted under `mask`.
pub(super) fn gathered(
    node: &Node,
    content: &Node,
    index: &[i64],
    extra: Option<&crate::form::Parameters>,
    mask: Option<Mask<'_>>,
    options: &ToArrowOptions,
) -> Result<Out> {
    let have = content.len.get()?;
    if have == 0 && !index.is_empty() {
        return Err(Error::Unsupported(format!(
            "to_arrow does not export an index over an empty content yet (at {})",
            node.info.path
        )));
    }
    let mut at = Vec::with_capacity(index.len());
    for &i in index {
        match usize::try_from(i) {
            Ok(i) if i < have => at.push(i),
            _ => {
                return Err(blame(
                    node,
                    "index",
                    format!("index {i} is outside the content's {have} elements"),
                ))
            }
        }
    }
    let n = at.len();
    let carried = crate::pack::carry(content, at, extra)?;
    convert(carried.node(), mask, n, options)
}

pub(super) fn indexed(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Indexed { index, content } = &node.data else {
        unreachable!("indexed() is called for IndexedArray nodes")
    };
    if node.form.array_parameter() == Some("categorical")
        && options.categorical_as_dictionary
        && content.len.get()? > 0
    {
        let outer = mask
            .as_ref()
            .and_then(|m| m.valid.clone().map(|v| (m.node, v)));
        return dictionary(node, index, content, outer, length, options);
    }
    // Not as a dictionary: the categorical mark is dropped, the rest of the
    // parameters laid over the content's.
    let mut params = node.form.parameters().clone();
    if params.get("__array__").and_then(serde_json::Value::as_str) == Some("categorical") {
        params.shift_remove("__array__");
    }
    let values = index_values(index, length)?;
    gathered(node, content, &values, Some(&params), mask, options)
}

pub(super) fn indexed_option(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::IndexedOption { index, content } = &node.data else {
        unreachable!("indexed_option() is called for IndexedOptionArray nodes")
    };
    if node.form.array_parameter() == Some("categorical")
        && options.categorical_as_dictionary
        && content.len.get()? > 0
    {
        let raw = index_values(index, length)?;
        let valid = and(
            mask.and_then(|m| m.valid),
            bits(raw.iter().map(|&i| i >= 0)),
        );
        return dictionary(node, index, content, Some((node, valid)), length, options);
    }
    let mut values = index_values(index, length)?;
    let valid = and(
        mask.and_then(|m| m.valid),
        bits(values.iter().map(|&i| i >= 0)),
    );
    // Behind every missing value, the content's first element (as awkward).
    values.iter_mut().filter(|i| **i < 0).for_each(|i| *i = 0);
    if content.len.get()? == 0 {
        if length == 0 {
            let m = Mask {
                node,
                valid: Some(valid),
            };
            return convert(content, Some(m), 0, options);
        }
        // awkward pads an empty NumpyArray to the length (every value is
        // missing, the padding never read): zeros here.
        if let NodeData::Numpy {
            primitive,
            inner_shape,
            ..
        } = &content.data
        {
            if inner_shape.is_empty() && !matches!(primitive, Primitive::Bool) {
                let ty = primitive_type(*primitive, content)?;
                let width = match ty {
                    DataType::Date32 => 4,
                    _ => primitive.itemsize(),
                };
                let zeros = arrow_buffer::MutableBuffer::from_len_zeroed(length * width);
                let m = Mask {
                    node,
                    valid: Some(valid),
                };
                let builder = ArrayData::builder(ty)
                    .len(length)
                    .add_buffer(zeros.into())
                    .nulls(null_buffer(&m.valid));
                let params = content.form.parameters().clone();
                return Ok(Out {
                    data: build(builder, content)?,
                    ext: ext_meta_for(
                        "NumpyArray",
                        &params,
                        serde_json::Value::Null,
                        Some(&m),
                        options,
                        false,
                    ),
                });
            }
        }
        return Err(Error::Unsupported(format!(
            "missing values over an empty {} cannot be exported (awkward cannot either) (at {})",
            content.info.class, node.info.path
        )));
    }
    let m = Mask {
        node,
        valid: Some(valid),
    };
    gathered(node, content, &values, None, Some(m), options)
}

/// A categorical index as an arrow dictionary over its whole content: the
/// keys in the index's own type (the stored index shared when nothing is
/// missing), the content converted once.
pub(super) fn dictionary(
    node: &Node,
    index: &crate::layout::lazy::LazyBuf,
    content: &Node,
    masked: Option<(&Node, BooleanBuffer)>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let have = content.len.get()?;
    let values = convert(content, None, have, options)?;
    let key_type = match index.dtype.name().as_str() {
        "int32" => DataType::Int32,
        "uint32" => DataType::UInt32,
        "int8" => DataType::Int8,
        "uint8" => DataType::UInt8,
        _ => DataType::Int64,
    };
    let width = index.dtype.itemsize();
    let keys = match &masked {
        // Missing entries (-1) point at entry 0, as awkward makes them.
        Some((_, valid)) => {
            let raw = index_values(index, length)?;
            let fixed: Vec<i64> = raw
                .iter()
                .enumerate()
                .map(|(i, &k)| if valid.value(i) { k } else { 0 })
                .collect();
            match key_type {
                DataType::Int32 => arrow_buffer::Buffer::from_vec(
                    fixed.iter().map(|&k| k as i32).collect::<Vec<_>>(),
                ),
                DataType::UInt32 => arrow_buffer::Buffer::from_vec(
                    fixed.iter().map(|&k| k as u32).collect::<Vec<_>>(),
                ),
                DataType::Int8 => arrow_buffer::Buffer::from_vec(
                    fixed.iter().map(|&k| k as i8).collect::<Vec<_>>(),
                ),
                DataType::UInt8 => arrow_buffer::Buffer::from_vec(
                    fixed.iter().map(|&k| k as u8).collect::<Vec<_>>(),
                ),
                _ => arrow_buffer::Buffer::from_vec(fixed),
            }
        }
        None => shared(index.get()?.slice(0, length * width)?),
    };
    let nulls = masked.as_ref().map(|(_, v)| NullBuffer::new(v.clone()));
    let ty = DataType::Dictionary(
        Box::new(key_type),
        Box::new(values.data.data_type().clone()),
    );
    let builder = ArrayData::builder(ty)
        .len(length)
        .add_buffer(keys)
        .add_child_data(values.data)
        .nulls(nulls);
    let data = build(builder, node)?;
    let ext = match &masked {
        Some((option, valid)) => {
            let m = Mask {
                node: option,
                valid: Some(valid.clone()),
            };
            let mut params = crate::form::Parameters::new();
            params.insert("__array__".into(), "categorical".into());
            ext_meta_for(
                "IndexedArray",
                &params,
                serde_json::Value::Null,
                Some(&m),
                options,
                false,
            )
        }
        None => ext_meta(node, None, options, false),
    };
    Ok(Out { data, ext })
}
