//! Arrow's buffers as akbuf's: shared without a copy where they can be,
//! validity bits, indexes widened.

#[allow(unused_imports)]
use super::*;

/// Wraps an arrow buffer as an akbuf one (the same memory).
pub(super) fn share(b: &arrow_buffer::Buffer) -> Buffer {
    struct Owner(arrow_buffer::Buffer);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            self.0.as_slice()
        }
    }
    Buffer::from_owner(Owner(b.clone()))
}

/// `len` bytes of `b` from `offset`, or an error naming what is short.
pub(super) fn bytes_of(
    b: &arrow_buffer::Buffer,
    offset: usize,
    len: usize,
    what: &str,
) -> Result<Buffer> {
    let end = offset.checked_add(len).filter(|&e| e <= b.len());
    match end {
        Some(_) => Ok(share(&b.slice_with_length(offset, len))),
        None => Err(Error::Unsupported(format!(
            "arrow {what}: {len} bytes from {offset} asked of a buffer of {}",
            b.len()
        ))),
    }
}

/// A validity bitmap as awkward's mask bytes (lsb first, valid when set),
/// from bit 0: arrow's bytes when it starts on a byte, else shifted.
pub(super) fn validity_bits(nulls: &NullBuffer) -> Buffer {
    let bits = nulls.inner();
    if bits.offset() % 8 == 0 {
        let nbytes = bits.len().div_ceil(8);
        share(&bits.inner().slice_with_length(bits.offset() / 8, nbytes))
    } else {
        share(&bits.sliced())
    }
}

/// 64-bit values in native order, in one allocation.
pub(super) fn i64s(values: impl Iterator<Item = i64>) -> Buffer {
    let mut bytes = Vec::with_capacity(values.size_hint().0 * 8);
    for v in values {
        bytes.extend_from_slice(&v.to_ne_bytes());
    }
    Buffer::from_vec(bytes)
}

/// All valid: `ceil(n / 8)` bytes of ones (`generate_bitmasks`).
pub(super) fn all_valid(n: usize) -> Buffer {
    Buffer::from_vec(vec![0xff; n.div_ceil(8)])
}

pub(super) fn index_i64(b: &Buffer, itype: &str) -> Vec<i64> {
    match itype {
        "i32" => b
            .chunks_exact(4)
            .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        _ => b
            .chunks_exact(8)
            .map(|c| i64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    }
}

/// A dictionary's keys as an awkward index (i32 and i64 as they are, other
/// integer types widened to i64; missing keys -1).
pub(super) fn dictionary_index(keys: &dyn ArrowArray) -> Result<(Buffer, &'static str)> {
    use arrow_array::types::*;
    let nulls = keys.nulls().filter(|n| n.null_count() > 0);
    let valid = |i: usize| nulls.is_none_or(|n| n.is_valid(i));
    let wide = |v: Vec<i64>| -> (Buffer, &'static str) { (i64s(v.into_iter()), "i64") };
    macro_rules! widen {
        ($t:ty) => {{
            let k = keys.as_primitive::<$t>();
            wide(
                (0..k.len())
                    .map(|i| if valid(i) { k.value(i) as i64 } else { -1 })
                    .collect(),
            )
        }};
    }
    Ok(match keys.data_type() {
        DataType::Int32 if nulls.is_none() => (
            share(keys.as_primitive::<Int32Type>().values().inner()),
            "i32",
        ),
        DataType::Int64 if nulls.is_none() => (
            share(keys.as_primitive::<Int64Type>().values().inner()),
            "i64",
        ),
        DataType::Int8 => widen!(Int8Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int32 => widen!(Int32Type),
        DataType::Int64 => widen!(Int64Type),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::UInt64 => widen!(UInt64Type),
        other => {
            return Err(Error::Unsupported(format!(
                "arrow dictionary keys of type {other} are not integers"
            )))
        }
    })
}
