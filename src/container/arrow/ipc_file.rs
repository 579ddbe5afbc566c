//! Arrow IPC files read as batches: the file mapped, its footer read for
//! the batches' lengths, its schema checked as arrow-rs's conversion
//! assumes it (`check_field`) and each record or dictionary batch's message
//! checked against its body (`check_message`) before it is decoded in
//! place with `FileDecoder` (zero copy).

use super::batches::{arrow_err, guarded, Batches};
use crate::error::{Error, Result};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An Arrow IPC file, mapped: batches decoded in place (zero copy).
pub(super) struct IpcFile {
    path: PathBuf,
    data: arrow_buffer::Buffer,
    schema: SchemaRef,
    decoder: arrow_ipc::reader::FileDecoder,
    blocks: Vec<arrow_ipc::Block>,
    lengths: Vec<usize>,
    /// The last batch decoded (its columns are mapped pages: decoding is
    /// cheap, validating is not).
    last: Mutex<Option<(usize, RecordBatch)>>,
}

/// Bytes `offset..offset + len` of the file, or an error naming the file.
fn block_bytes(
    path: &Path,
    data: &arrow_buffer::Buffer,
    offset: i64,
    len: usize,
) -> Result<arrow_buffer::Buffer> {
    let start = usize::try_from(offset).ok();
    match start.and_then(|s| s.checked_add(len).map(|e| (s, e))) {
        Some((s, e)) if e <= data.len() => Ok(data.slice_with_length(s, len)),
        _ => Err(Error::container(
            path.display(),
            format!(
                "a block of {len} bytes at {offset} lies outside the file ({} bytes)",
                data.len()
            ),
        )),
    }
}

/// The flatbuffer of an IPC message at the start of `buf` (after the
/// continuation marker and length, or the legacy length alone).
fn message_bytes(buf: &[u8], meta_len: usize) -> &[u8] {
    let skip = if buf.len() >= 4 && buf[..4] == [0xff; 4] {
        8
    } else {
        4
    };
    buf.get(skip.min(meta_len)..meta_len.min(buf.len()))
        .unwrap_or_default()
}

impl IpcFile {
    pub(super) fn open(path: &Path) -> Result<IpcFile> {
        let io = |e| Error::container_io(path.display(), "opening", e);
        let (file, _) = crate::sys::open_regular_with_len(path, false).map_err(io)?;
        // SAFETY: the map is read-only and private; as for every mapped
        // container, a file truncated by another process while mapped is
        // outside what akbuf can guard against.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let data = arrow_buffer::Buffer::from(bytes::Bytes::from_owner(map));
        let bad =
            |what: &str| Error::container(path.display(), format!("not an Arrow IPC file: {what}"));
        let n = data.len();
        if n < 10 + 6 || &data[..6] != b"ARROW1" || &data[n - 6..] != b"ARROW1" {
            return Err(bad("no ARROW1 magic at both ends"));
        }
        let mut trailer = [0u8; 10];
        trailer.copy_from_slice(&data[n - 10..]);
        let footer_len = arrow_ipc::reader::read_footer_length(trailer)
            .map_err(|e| arrow_err(path, "reading the footer", e))?;
        let footer_start = (n - 10)
            .checked_sub(footer_len)
            .ok_or_else(|| bad("the footer is longer than the file"))?;
        // (The flatbuffer verifier's error is no std error: said, not kept.)
        let footer = arrow_ipc::root_as_footer(&data[footer_start..n - 10])
            .map_err(|e| bad(&format!("reading the footer: {e}")))?;
        let fb_schema = footer.schema().ok_or_else(|| bad("no schema"))?;
        if fb_schema.fields().is_none() {
            return Err(bad("a schema without fields"));
        }
        fb_schema
            .fields()
            .iter()
            .flatten()
            .try_for_each(|f| check_field(f, 0))
            .map_err(|m| bad(&format!("its schema: {m}")))?;
        let schema = Arc::new(arrow_ipc::convert::fb_to_schema(fb_schema));
        let mut decoder = arrow_ipc::reader::FileDecoder::new(schema.clone(), footer.version());
        for block in footer.dictionaries().iter().flatten() {
            let len = block_len(block);
            let buf = block_bytes(path, &data, block.offset(), len)?;
            check_message(path, "a dictionary batch", block, &buf)?;
            decoder
                .read_dictionary(block, &buf)
                .map_err(|e| arrow_err(path, "reading a dictionary", e))?;
        }
        let blocks: Vec<arrow_ipc::Block> = footer
            .recordBatches()
            .map(|b| b.iter().copied().collect())
            .unwrap_or_default();
        let mut lengths = Vec::with_capacity(blocks.len());
        for block in &blocks {
            let buf = block_bytes(path, &data, block.offset(), block_len(block))?;
            let meta_len = usize::try_from(block.metaDataLength()).unwrap_or(0);
            let rows = arrow_ipc::root_as_message(message_bytes(&buf, meta_len))
                .ok()
                .and_then(|m| m.header_as_record_batch())
                .map(|b| b.length())
                .ok_or_else(|| bad("a record batch block without a record batch"))?;
            lengths.push(usize::try_from(rows).map_err(|_| bad("a negative row count"))?);
        }
        Ok(IpcFile {
            path: path.to_path_buf(),
            data,
            schema,
            decoder,
            blocks,
            lengths,
            last: Mutex::new(None),
        })
    }
}

/// Checks a schema's fields as arrow-rs's conversion assumes them (it
/// panics on anything else): every type one it knows, with widths, units
/// and precisions it knows and the children its kind has; dictionaries
/// keyed by integers of a width it knows. Nesting is bounded.
fn check_field(f: arrow_ipc::Field<'_>, depth: usize) -> std::result::Result<(), String> {
    use arrow_ipc::{DateUnit, IntervalUnit, Precision, TimeUnit as U, Type, UnionMode as M};
    if depth > 64 {
        return Err("fields nested more than 64 deep".into());
    }
    let widths = |w: i32| matches!(w, 8 | 16 | 32 | 64);
    {
        let name = f.name().unwrap_or("?");
        let bad = |what: &str| Err(format!("field {name:?}: {what}"));
        if let Some(d) = f.dictionary() {
            if !d.indexType().is_some_and(|i| widths(i.bitWidth())) {
                return bad("a dictionary without an integer index of 8, 16, 32 or 64 bits");
            }
        }
        let children = f.children().map_or(0, |c| c.len());
        let units = [U::SECOND, U::MILLISECOND, U::MICROSECOND, U::NANOSECOND];
        let ok = match f.type_type() {
            Type::Null
            | Type::Bool
            | Type::Binary
            | Type::Utf8
            | Type::LargeBinary
            | Type::LargeUtf8
            | Type::BinaryView
            | Type::Utf8View
            | Type::Struct_ => true,
            Type::Int => f.type_as_int().is_some_and(|i| widths(i.bitWidth())),
            Type::FloatingPoint => f.type_as_floating_point().is_some_and(|p| {
                matches!(
                    p.precision(),
                    Precision::HALF | Precision::SINGLE | Precision::DOUBLE
                )
            }),
            Type::Date => f
                .type_as_date()
                .is_some_and(|d| matches!(d.unit(), DateUnit::DAY | DateUnit::MILLISECOND)),
            Type::Time => f.type_as_time().is_some_and(|t| {
                matches!(
                    (t.unit(), t.bitWidth()),
                    (U::SECOND | U::MILLISECOND, 32) | (U::MICROSECOND | U::NANOSECOND, 64)
                )
            }),
            Type::Timestamp => f
                .type_as_timestamp()
                .is_some_and(|t| units.contains(&t.unit())),
            Type::Duration => f
                .type_as_duration()
                .is_some_and(|t| units.contains(&t.unit())),
            Type::Interval => f.type_as_interval().is_some_and(|i| {
                matches!(
                    i.unit(),
                    IntervalUnit::YEAR_MONTH
                        | IntervalUnit::DAY_TIME
                        | IntervalUnit::MONTH_DAY_NANO
                )
            }),
            Type::List | Type::LargeList | Type::ListView | Type::LargeListView | Type::Map => {
                children == 1
            }
            Type::FixedSizeList => {
                children == 1
                    && f.type_as_fixed_size_list()
                        .is_some_and(|l| l.listSize() >= 0)
            }
            Type::FixedSizeBinary => f
                .type_as_fixed_size_binary()
                .is_some_and(|b| b.byteWidth() >= 0),
            Type::RunEndEncoded => children == 2,
            Type::Decimal => f.type_as_decimal().is_some_and(|d| {
                matches!(d.bitWidth(), 32 | 64 | 128 | 256)
                    && u8::try_from(d.precision()).is_ok()
                    && i8::try_from(d.scale()).is_ok()
            }),
            Type::Union => f.type_as_union().is_some_and(|u| {
                let ids_ok = u.typeIds().is_none_or(|ids| {
                    let ids: Vec<i32> = ids.iter().collect();
                    let mut seen = std::collections::HashSet::new();
                    ids.len() == children
                        && ids
                            .iter()
                            .all(|&i| i8::try_from(i).is_ok_and(|i| i >= 0) && seen.insert(i))
                });
                matches!(u.mode(), M::Dense | M::Sparse) && ids_ok && children <= 127
            }),
            other => return bad(&format!("type {other:?}, which arrow-rs does not read")),
        };
        if !ok {
            return bad(&format!("a {:?} type arrow-rs cannot read", f.type_type()));
        }
        f.children()
            .iter()
            .flatten()
            .try_for_each(|c| check_field(c, depth + 1))
    }
}

/// Checks what a record batch's message says of its body before arrow-rs
/// decodes it (arrow-rs trusts it and panics on a buffer past the body):
/// the message parses, and every buffer and every node lies within what
/// the block holds. `buf` is the block: the message, then the body.
fn check_message(path: &Path, what: &str, block: &arrow_ipc::Block, buf: &[u8]) -> Result<()> {
    let bad = |m: String| Error::container(path.display(), format!("{what}: {m}"));
    let meta_len = usize::try_from(block.metaDataLength())
        .map_err(|_| bad("a negative metadata length".into()))?;
    let body_len =
        u64::try_from(block.bodyLength()).map_err(|_| bad("a negative body length".into()))?;
    let meta = buf
        .get(..meta_len)
        .ok_or_else(|| bad("the block ends in its metadata".into()))?;
    // The encapsulated message: [0xFFFFFFFF] length, then the flatbuffer.
    let (len_at, fb_at): (usize, usize) = match meta.get(..4) {
        Some([0xFF, 0xFF, 0xFF, 0xFF]) => (4, 8),
        _ => (0, 4),
    };
    let len = meta
        .get(len_at..len_at + 4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad("no message length".into()))?;
    let fb = meta.get(fb_at..fb_at.saturating_add(len)).ok_or_else(|| {
        bad(format!(
            "a message of {len} bytes in {meta_len} of metadata"
        ))
    })?;
    let message = arrow_ipc::root_as_message(fb).map_err(|e| bad(format!("not a message: {e}")))?;
    // A record batch, or a dictionary batch's record batch.
    let batch = match message.header_as_record_batch() {
        Some(b) => b,
        None => message
            .header_as_dictionary_batch()
            .and_then(|d| d.data())
            .ok_or_else(|| bad("the message is not a record batch".into()))?,
    };
    if batch.length() < 0 {
        return Err(bad(format!("a length of {}", batch.length())));
    }
    for (k, b) in batch.buffers().into_iter().flatten().enumerate() {
        let end = u64::try_from(b.offset())
            .ok()
            .zip(u64::try_from(b.length()).ok())
            .and_then(|(o, l)| o.checked_add(l));
        if end.is_none_or(|e| e > body_len) {
            return Err(bad(format!(
                "buffer {k} at {} of {} bytes lies outside the {body_len}-byte body",
                b.offset(),
                b.length()
            )));
        }
    }
    for (k, n) in batch.nodes().into_iter().flatten().enumerate() {
        if n.length() < 0 || n.null_count() < 0 || n.null_count() > n.length() {
            return Err(bad(format!(
                "node {k}: a length of {} with {} nulls",
                n.length(),
                n.null_count()
            )));
        }
    }
    Ok(())
}

fn block_len(block: &arrow_ipc::Block) -> usize {
    let meta = usize::try_from(block.metaDataLength()).unwrap_or(usize::MAX);
    let body = usize::try_from(block.bodyLength()).unwrap_or(usize::MAX);
    meta.saturating_add(body)
}

impl Batches for IpcFile {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn lengths(&self) -> Vec<usize> {
        self.lengths.clone()
    }
    fn batch(&self, i: usize, columns: &[usize]) -> Result<RecordBatch> {
        if let Some((_, b)) = self.last.lock().as_ref().filter(|(n, _)| *n == i) {
            return Ok(b.clone());
        }
        let block = &self.blocks[i];
        let buf = block_bytes(&self.path, &self.data, block.offset(), block_len(block))?;
        let fail = |e| arrow_err(&self.path, &format!("reading record batch {i}"), e);
        check_message(&self.path, &format!("record batch {i}"), block, &buf)?;
        let batch = guarded(&self.path, &format!("record batch {i}"), || {
            self.decoder.read_record_batch(block, &buf).map_err(fail)
        })?
        .ok_or_else(|| {
            Error::container(self.path.display(), format!("record batch {i} is empty"))
        })?;
        if batch.num_rows() != self.lengths[i] {
            return Err(Error::container(
                self.path.display(),
                format!(
                    "record batch {i} has {} rows, its header {}",
                    batch.num_rows(),
                    self.lengths[i]
                ),
            ));
        }
        // Every column (mapped, not read): callers look only at `columns`.
        let _ = columns;
        *self.last.lock() = Some((i, batch.clone()));
        Ok(batch)
    }
    fn path(&self) -> &Path {
        &self.path
    }
}
