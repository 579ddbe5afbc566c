//! Arrow's numbers, booleans, dates and times as `NumpyArray`s.

#[allow(unused_imports)]
use super::*;

/// Fixed-width numbers, dates, times and durations (awkward's dtype map).
pub(super) fn numpy(array: &dyn ArrowArray, dt: &DataType, params: Params) -> Result<Ak> {
    let unit = |u: &ArrowUnit| TimeUnit {
        multiple: 1,
        code: match u {
            ArrowUnit::Second => "s",
            ArrowUnit::Millisecond => "ms",
            ArrowUnit::Microsecond => "us",
            ArrowUnit::Nanosecond => "ns",
        },
    };
    // (the primitive, whether 32-bit values widen to 64)
    let (primitive, widen) = match dt {
        DataType::Int8 => (Primitive::Int8, false),
        DataType::Int16 => (Primitive::Int16, false),
        DataType::Int32 => (Primitive::Int32, false),
        DataType::Int64 => (Primitive::Int64, false),
        DataType::UInt8 => (Primitive::UInt8, false),
        DataType::UInt16 => (Primitive::UInt16, false),
        DataType::UInt32 => (Primitive::UInt32, false),
        DataType::UInt64 => (Primitive::UInt64, false),
        DataType::Float16 => (Primitive::Float16, false),
        DataType::Float32 => (Primitive::Float32, false),
        DataType::Float64 => (Primitive::Float64, false),
        DataType::Date32 => (Primitive::Datetime64(unit_d()), true),
        DataType::Date64 => (Primitive::Datetime64(unit(&ArrowUnit::Millisecond)), false),
        DataType::Time32(u) => (Primitive::Datetime64(unit(u)), true),
        DataType::Time64(u) => (Primitive::Datetime64(unit(u)), false),
        DataType::Timestamp(u, _) => (Primitive::Datetime64(unit(u)), false),
        DataType::Duration(u) => (Primitive::Timedelta64(unit(u)), false),
        other => {
            return Err(Error::Unsupported(format!(
                "arrow type {other} has no awkward equivalent"
            )))
        }
    };
    let data = array.to_data();
    let size = if widen { 4 } else { primitive.itemsize() };
    let (offset, len) = (data.offset() * size, data.len() * size);
    let Some(values) = data.buffers().first() else {
        return Err(Error::Unsupported(format!(
            "arrow {dt} array without values"
        )));
    };
    let bytes = bytes_of(values, offset, len, &dt.to_string())?;
    let data = if widen {
        i64s(
            bytes
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))),
        )
    } else {
        bytes
    };
    Ok(Ak::Numpy {
        primitive,
        data,
        params,
    })
}

pub(super) fn unit_d() -> TimeUnit {
    TimeUnit {
        multiple: 1,
        code: "D",
    }
}
