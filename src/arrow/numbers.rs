//! `NumpyArray` to Arrow: numbers, booleans, dates and times, and inner
//! shapes as fixed-size lists.

#[allow(unused_imports)]
use super::*;

/// The arrow type of a primitive, as `pyarrow.from_numpy_dtype`.
pub(super) fn primitive_type(p: Primitive, node: &Node) -> Result<DataType> {
    // pyarrow's from_numpy_dtype: the unit's multiple is dropped (the
    // counts stay as stored: datetime64[10s] becomes timestamp[s]).
    let unit = |u: TimeUnit| -> Result<ArrowUnit> {
        Ok(match u.code {
            "s" => ArrowUnit::Second,
            "ms" => ArrowUnit::Millisecond,
            "us" => ArrowUnit::Microsecond,
            "ns" => ArrowUnit::Nanosecond,
            _ => {
                return Err(Error::Unsupported(format!(
                    "arrow has no time unit {u} (at {})",
                    node.info.path
                )))
            }
        })
    };
    Ok(match p {
        Primitive::Bool => DataType::Boolean,
        Primitive::Int8 => DataType::Int8,
        Primitive::UInt8 => DataType::UInt8,
        Primitive::Int16 => DataType::Int16,
        Primitive::UInt16 => DataType::UInt16,
        Primitive::Int32 => DataType::Int32,
        Primitive::UInt32 => DataType::UInt32,
        Primitive::Int64 => DataType::Int64,
        Primitive::UInt64 => DataType::UInt64,
        Primitive::Float16 => DataType::Float16,
        Primitive::Float32 => DataType::Float32,
        Primitive::Float64 => DataType::Float64,
        // Days: date32 (awkward converts datetime64[D] to int32 days; any
        // other multiple of days keeps its int64 bytes, read as date32 by
        // pyarrow, and so here).
        Primitive::Datetime64(TimeUnit { code: "D", .. }) => DataType::Date32,
        Primitive::Datetime64(u) => DataType::Timestamp(unit(u)?, None),
        Primitive::Timedelta64(u) => DataType::Duration(unit(u)?),
        other => {
            return Err(Error::Unsupported(format!(
                "arrow has no type for {} (at {}), as pyarrow has none",
                other, node.info.path
            )))
        }
    })
}

pub(super) fn numpy(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Numpy {
        data,
        primitive,
        inner_shape,
    } = &node.data
    else {
        unreachable!("numpy() is called for NumpyArray nodes")
    };
    let ty = primitive_type(*primitive, node)?;
    if !inner_shape.is_empty() {
        return inner_shaped(node, mask, length, options, ty);
    }
    let bytes = data.get()?;
    let values = match primitive {
        Primitive::Bool => {
            // One byte per value to one bit per value (a copy, as awkward's packbits).
            bits(bytes.as_slice()[..length].iter().map(|&b| b != 0)).into_inner()
        }
        Primitive::Datetime64(TimeUnit {
            multiple: 1,
            code: "D",
        }) => {
            // int64 days to int32 days (date32), as awkward converts them.
            let days: Vec<i32> = bytes.as_slice()[..length * 8]
                .chunks_exact(8)
                .map(|c| i64::from_ne_bytes(c.try_into().unwrap_or([0; 8])) as i32)
                .collect();
            arrow_buffer::Buffer::from_vec(days)
        }
        _ => {
            let size = primitive.itemsize();
            shared(bytes.slice(0, length * size)?)
        }
    };
    let nulls = mask.as_ref().and_then(|m| null_buffer(&m.valid));
    let builder = ArrayData::builder(ty)
        .len(length)
        .add_buffer(values)
        .nulls(nulls);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, mask.as_ref(), options, false),
    })
}

/// A NumpyArray with an inner shape, as awkward's `to_RegularArray`:
/// fixed-size lists around the flat values (shared), the node's
/// parameters on the outermost level.
pub(super) fn inner_shaped(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
    ty: DataType,
) -> Result<Out> {
    let NodeData::Numpy {
        data,
        primitive,
        inner_shape,
    } = &node.data
    else {
        unreachable!("inner_shaped() is called for NumpyArray nodes")
    };
    if matches!(primitive, Primitive::Bool | Primitive::Datetime64(_)) {
        return Err(Error::Unsupported(format!(
            "to_arrow does not export booleans or dates with an inner shape yet (at {})",
            node.info.path
        )));
    }
    let overflow = || blame(node, "data", "the inner shape overflows");
    let total = inner_shape
        .iter()
        .try_fold(length, |a, &d| a.checked_mul(d))
        .ok_or_else(overflow)?;
    let values = shared(data.get()?.slice(0, total * primitive.itemsize())?);
    let none = crate::form::Parameters::new();
    let builder = ArrayData::builder(ty).len(total).add_buffer(values);
    let mut level = Out {
        data: build(builder, node)?,
        ext: ext_meta_for(
            "NumpyArray",
            &none,
            serde_json::Value::Null,
            None,
            options,
            false,
        ),
    };
    let mut count = total;
    for (depth, &size) in inner_shape.iter().enumerate().rev() {
        count /= size.max(1);
        if size == 0 {
            count = inner_shape[..depth].iter().product::<usize>() * length;
        }
        let outermost = depth == 0;
        let width = i32::try_from(size).map_err(|_| overflow())?;
        let item = with_ext(
            Field::new("item", level.data.data_type().clone(), false),
            level.ext.take(),
        );
        let mut builder = ArrayData::builder(DataType::FixedSizeList(Arc::new(item), width))
            .len(count)
            .add_child_data(level.data);
        if outermost {
            builder = builder.nulls(mask.as_ref().and_then(|m| null_buffer(&m.valid)));
        }
        level = Out {
            data: build(builder, node)?,
            ext: if outermost {
                ext_meta_for(
                    "RegularArray",
                    node.form.parameters(),
                    serde_json::Value::Null,
                    mask.as_ref(),
                    options,
                    false,
                )
            } else {
                ext_meta_for(
                    "RegularArray",
                    &none,
                    serde_json::Value::Null,
                    None,
                    options,
                    false,
                )
            },
        };
    }
    Ok(level)
}
