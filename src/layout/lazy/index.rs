//! `Index`: a materialized index buffer of any index type, read as `i64`.

#[allow(unused_imports)]
use super::*;

/// A materialized index buffer of any index type, read as `i64`.
#[derive(Clone, Debug)]
pub(crate) enum Index {
    I8(TypedBuffer<i8>),
    U8(TypedBuffer<u8>),
    I32(TypedBuffer<i32>),
    U32(TypedBuffer<u32>),
    I64(TypedBuffer<i64>),
}

impl Index {
    pub(crate) fn new(t: IndexType, b: Buffer) -> Result<Index> {
        Ok(match t {
            IndexType::I8 => Index::I8(TypedBuffer::try_new(b)?),
            IndexType::U8 => Index::U8(TypedBuffer::try_new(b)?),
            IndexType::I32 => Index::I32(TypedBuffer::try_new(b)?),
            IndexType::U32 => Index::U32(TypedBuffer::try_new(b)?),
            IndexType::I64 => Index::I64(TypedBuffer::try_new(b)?),
        })
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Index::I8(b) => b.buffer().len(),
            Index::U8(b) => b.buffer().len(),
            Index::I32(b) => b.buffer().len(),
            Index::U32(b) => b.buffer().len(),
            Index::I64(b) => b.buffer().len(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Index::I8(b) => b.len(),
            Index::U8(b) => b.len(),
            Index::I32(b) => b.len(),
            Index::U32(b) => b.len(),
            Index::I64(b) => b.len(),
        }
    }

    /// Element `i` as `i64`; the caller guarantees `i < len()`.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> i64 {
        match self {
            Index::I8(b) => i64::from(b[i]),
            Index::U8(b) => i64::from(b[i]),
            Index::I32(b) => i64::from(b[i]),
            Index::U32(b) => i64::from(b[i]),
            Index::I64(b) => b[i],
        }
    }
}
