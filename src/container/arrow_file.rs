//! Arrow IPC and Parquet files as containers (feature `arrow`; Parquet with
//! feature `parquet`): a file of record batches opens as a partitioned
//! array, one partition per record batch (IPC) or row group (Parquet),
//! each converted by `ak.from_arrow`'s rules when first touched.
//!
//! Opening reads the file's footer only: the schema gives the form (every
//! option a bit mask, as awkward gives a table's form) and the footer the
//! partitions' lengths. A buffer key `part{P}-node{ID}-{attribute}` is
//! served by decoding partition `P`'s column that holds node `ID` (a
//! Parquet read decodes that column only; an IPC batch is mapped, not
//! read), converting it, and keeping its other buffers until they are
//! asked for. The keys above the columns (an option over the records)
//! decode every column of the partition.

use crate::arrow::import::{awkwardized, batch_layout, column_layout, emit, Ak, Import};
use crate::buffer::Buffer;
use crate::container::Metadata;
use crate::error::{Error, Result};
use crate::form::Form;
use crate::source::Source;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether `spec` names an Arrow IPC (`.arrow`, `.feather`, `.ipc`) or
/// Parquet (`.parquet`) file.
///
/// ```
/// assert!(akbuf::is_arrow_path("out/events.parquet"));
/// assert!(akbuf::is_arrow_path("events.ARROW"));
/// assert!(!akbuf::is_arrow_path("events.h5"));
/// ```
pub fn is_arrow_path(spec: &str) -> bool {
    let lower = spec.to_ascii_lowercase();
    [".arrow", ".feather", ".ipc", ".parquet"]
        .iter()
        .any(|e| lower.ends_with(e))
}

/// A file of record batches.
pub(crate) trait Batches: Send + Sync {
    /// The file's schema.
    fn schema(&self) -> SchemaRef;
    /// Rows per partition.
    fn lengths(&self) -> Vec<usize>;
    /// Partition `i`, only these columns (schema positions, ascending).
    fn batch(&self, i: usize, columns: &[usize]) -> Result<RecordBatch>;
    /// The file, for messages.
    fn path(&self) -> &Path;
}

fn arrow_err(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::container(path.display(), format!("{what}: {e}"))
}

/// Runs a decoding library on the file's bytes, a panic of it (on bytes it
/// did not expect) an error naming the file, as every bad input is.
fn guarded<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::container(
            path.display(),
            format!("{what}: the decoder failed on these bytes"),
        ))
    })
}

/// An Arrow IPC file, mapped: batches decoded in place (zero copy).
struct IpcFile {
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
    fn open(path: &Path) -> Result<IpcFile> {
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
        let footer = arrow_ipc::root_as_footer(&data[footer_start..n - 10])
            .map_err(|e| arrow_err(path, "reading the footer", e))?;
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

/// A Parquet file: one partition per row group, columns decoded on demand.
#[cfg(feature = "parquet")]
struct ParquetFile {
    path: PathBuf,
    /// The file, mapped: column chunks are read from its pages, not copied.
    data: bytes::Bytes,
    meta: parquet::arrow::arrow_reader::ArrowReaderMetadata,
    lengths: Vec<usize>,
}

/// Whether a type holds date64 anywhere.
#[cfg(feature = "parquet")]
fn has_date64(ty: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType::*;
    match ty {
        Date64 => true,
        List(f) | LargeList(f) | FixedSizeList(f, _) | Map(f, _) => has_date64(f.data_type()),
        Struct(fs) => fs.iter().any(|f| has_date64(f.data_type())),
        Union(fs, _) => fs.iter().any(|(_, f)| has_date64(f.data_type())),
        Dictionary(_, v) => has_date64(v),
        _ => false,
    }
}

/// The type with date32 for every date64.
#[cfg(feature = "parquet")]
fn without_date64(ty: &arrow_schema::DataType) -> arrow_schema::DataType {
    use arrow_schema::DataType::*;
    let field = |f: &arrow_schema::FieldRef| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(without_date64(f.data_type())),
        )
    };
    match ty {
        Date64 => Date32,
        List(f) => List(field(f)),
        LargeList(f) => LargeList(field(f)),
        FixedSizeList(f, n) => FixedSizeList(field(f), *n),
        Struct(fs) => Struct(fs.iter().map(field).collect::<Vec<_>>().into()),
        Dictionary(k, v) => Dictionary(k.clone(), Box::new(without_date64(v))),
        other => other.clone(),
    }
}

/// Rows decoded per step of a row group (steps are concatenated).
#[cfg(feature = "parquet")]
const PARQUET_STEP: usize = 1 << 16;

#[cfg(feature = "parquet")]
impl ParquetFile {
    fn open(path: &Path) -> Result<ParquetFile> {
        use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
        let io = |e| Error::container_io(path.display(), "opening", e);
        let (file, _) = crate::sys::open_regular_with_len(path, false).map_err(io)?;
        // SAFETY: as for IPC files above: a read-only private map, which
        // another process truncating the file would break.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let data = bytes::Bytes::from_owner(map);
        let meta = guarded(path, "reading the footer", || {
            let meta = ArrowReaderMetadata::load(&data, ArrowReaderOptions::new())
                .map_err(|e| arrow_err(path, "not a Parquet file", e))?;
            // Parquet stores date64 as days (DATE, int32), which pyarrow reads
            // back as date32, whatever the embedded Arrow schema says.
            let schema = meta.schema();
            if !schema.fields().iter().any(|f| has_date64(f.data_type())) {
                return Ok(meta);
            }
            let fields: Vec<arrow_schema::Field> = schema
                .fields()
                .iter()
                .map(|f| {
                    f.as_ref()
                        .clone()
                        .with_data_type(without_date64(f.data_type()))
                })
                .collect();
            let days = arrow_schema::Schema::new_with_metadata(fields, schema.metadata().clone());
            let options = ArrowReaderOptions::new().with_schema(Arc::new(days));
            ArrowReaderMetadata::try_new(meta.metadata().clone(), options)
                .map_err(|e| arrow_err(path, "reading the schema", e))
        })?;
        let lengths = meta
            .metadata()
            .row_groups()
            .iter()
            .map(|g| usize::try_from(g.num_rows()))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| {
                Error::container(path.display(), "a row group with a negative row count")
            })?;
        Ok(ParquetFile {
            path: path.to_path_buf(),
            data,
            meta,
            lengths,
        })
    }
}

#[cfg(feature = "parquet")]
impl Batches for ParquetFile {
    fn schema(&self) -> SchemaRef {
        self.meta.schema().clone()
    }
    fn lengths(&self) -> Vec<usize> {
        self.lengths.clone()
    }
    fn batch(&self, i: usize, columns: &[usize]) -> Result<RecordBatch> {
        use parquet::arrow::ProjectionMask;
        let descr = self.meta.parquet_schema();
        // One column of several leaves: the leaves decoded in parallel
        // (Parquet keeps each leaf's levels with it) and put together.
        if let [c] = columns {
            let leaves: Vec<usize> = (0..descr.num_columns())
                .filter(|&l| descr.get_column_root_idx(l) == *c)
                .collect();
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            if leaves.len() > 1 && threads > 1 && self.lengths[i] >= PARALLEL_FROM {
                return self.column_in_parallel(i, *c, &leaves, threads);
            }
        }
        let mask = ProjectionMask::roots(descr, columns.iter().copied());
        guarded(&self.path, &format!("row group {i}"), || self.read(i, mask))
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

/// Row groups from this many rows on decode a column's leaves in parallel.
#[cfg(feature = "parquet")]
const PARALLEL_FROM: usize = 1 << 14;

#[cfg(feature = "parquet")]
impl ParquetFile {
    /// Row group `i`'s column `c`, its `leaves` split among `threads`.
    fn column_in_parallel(
        &self,
        i: usize,
        c: usize,
        leaves: &[usize],
        threads: usize,
    ) -> Result<RecordBatch> {
        use parquet::arrow::ProjectionMask;
        let descr = self.meta.parquet_schema();
        let per = leaves.len().div_ceil(threads.min(leaves.len()));
        let parts: Vec<Result<RecordBatch>> = std::thread::scope(|s| {
            let handles: Vec<_> = leaves
                .chunks(per)
                .map(|group| {
                    let mask = ProjectionMask::leaves(descr, group.iter().copied());
                    let what = format!("row group {i}");
                    s.spawn(move || guarded(&self.path, &what, || self.read(i, mask)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Argument("decoding a Parquet column panicked".into()))
                    })
                })
                .collect()
        });
        let arrays = parts
            .into_iter()
            .map(|b| b.map(|b| b.column(0).clone()))
            .collect::<Result<Vec<_>>>()?;
        let schema = self.meta.schema();
        let field = schema.field(c);
        let fail = |e| arrow_err(&self.path, &format!("reading row group {i}"), e);
        let merged = merge_pruned(field.data_type(), &arrays).map_err(fail)?;
        let one = Arc::new(arrow_schema::Schema::new(vec![field.clone()]));
        RecordBatch::try_new(one, vec![merged]).map_err(fail)
    }

    /// Row group `i`, the columns of `mask`.
    fn read(&self, i: usize, mask: parquet::arrow::ProjectionMask) -> Result<RecordBatch> {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let fail =
            |e: &dyn std::fmt::Display| arrow_err(&self.path, &format!("reading row group {i}"), e);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.data.clone(),
            self.meta.clone(),
        )
        .with_row_groups(vec![i])
        .with_projection(mask)
        .with_batch_size(self.lengths[i].clamp(1, PARQUET_STEP))
        .build()
        .map_err(|e| fail(&e))?;
        let schema = arrow_array::RecordBatchReader::schema(&reader);
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| fail(&e))?;
        let batch = match batches.len() {
            0 => RecordBatch::new_empty(schema),
            1 => batches.into_iter().next().unwrap_or_else(|| unreachable!()),
            _ => arrow_select::concat::concat_batches(&schema, &batches).map_err(|e| fail(&e))?,
        };
        if batch.num_rows() != self.lengths[i] {
            return Err(Error::container(
                self.path.display(),
                format!(
                    "row group {i} gave {} rows, its metadata says {}",
                    batch.num_rows(),
                    self.lengths[i]
                ),
            ));
        }
        Ok(batch)
    }
}

/// One column put together from arrays of it pruned to different leaves
/// (each a struct with some of the fields): lists' offsets and validity
/// from the first, each field from the arrays that hold it.
#[cfg(feature = "parquet")]
fn merge_pruned(
    ty: &arrow_schema::DataType,
    parts: &[arrow_array::ArrayRef],
) -> std::result::Result<arrow_array::ArrayRef, arrow_schema::ArrowError> {
    use arrow_array::cast::AsArray;
    use arrow_array::Array as _;
    use arrow_schema::{ArrowError, DataType};
    let first = parts
        .first()
        .ok_or_else(|| ArrowError::InvalidArgumentError("no part to merge".into()))?;
    if parts.len() == 1 && first.data_type() == ty {
        return Ok(first.clone());
    }
    let bad = || ArrowError::InvalidArgumentError(format!("pieces of {ty} of another type"));
    let values = |f: fn(&arrow_array::ArrayRef) -> Option<arrow_array::ArrayRef>| {
        parts
            .iter()
            .map(f)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(bad)
    };
    Ok(match ty {
        DataType::Struct(fields) => {
            let columns = fields
                .iter()
                .map(|f| {
                    let holding: Vec<_> = parts
                        .iter()
                        .filter_map(|p| p.as_struct_opt()?.column_by_name(f.name()).cloned())
                        .collect();
                    merge_pruned(f.data_type(), &holding)
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let nulls = first.as_struct_opt().ok_or_else(bad)?.nulls().cloned();
            Arc::new(arrow_array::StructArray::try_new(
                fields.clone(),
                columns,
                nulls,
            )?)
        }
        DataType::List(f) => {
            let l = first.as_list_opt::<i32>().ok_or_else(bad)?;
            let inner = values(|p| Some(p.as_list_opt::<i32>()?.values().clone()))?;
            Arc::new(arrow_array::ListArray::try_new(
                f.clone(),
                l.offsets().clone(),
                merge_pruned(f.data_type(), &inner)?,
                l.nulls().cloned(),
            )?)
        }
        DataType::LargeList(f) => {
            let l = first.as_list_opt::<i64>().ok_or_else(bad)?;
            let inner = values(|p| Some(p.as_list_opt::<i64>()?.values().clone()))?;
            Arc::new(arrow_array::LargeListArray::try_new(
                f.clone(),
                l.offsets().clone(),
                merge_pruned(f.data_type(), &inner)?,
                l.nulls().cloned(),
            )?)
        }
        DataType::FixedSizeList(f, n) => {
            let l = first.as_fixed_size_list_opt().ok_or_else(bad)?;
            let inner = values(|p| Some(p.as_fixed_size_list_opt()?.values().clone()))?;
            Arc::new(arrow_array::FixedSizeListArray::try_new(
                f.clone(),
                *n,
                merge_pruned(f.data_type(), &inner)?,
                l.nulls().cloned(),
            )?)
        }
        other => {
            return Err(ArrowError::InvalidArgumentError(format!(
                "cannot put a column of type {other} together from {} pieces",
                parts.len()
            )))
        }
    })
}

/// Where each node of the template lies: the column holding it, or none
/// (the nodes above the columns).
struct Plan {
    form: Form,
    /// `column[id]`: the column of node `id`.
    column: Vec<Option<usize>>,
    /// `first[c]`: the id of column `c`'s top node.
    first: Vec<usize>,
    /// The template's form of each column (keys included), to check partitions against.
    column_forms: Vec<String>,
    /// One column named "": the array is that column.
    single: bool,
    /// The schema as awkward reads it (`awkward_array_metadata` applied).
    schema: arrow_schema::Schema,
    /// A size-0 regular array at the top: awkward makes it of no rows.
    no_rows: bool,
}

fn count_nodes(ak: &Ak) -> usize {
    let form = emit(ak, 0).map(|(f, _)| f.node_count()).unwrap_or(1);
    form.max(1)
}

impl Plan {
    fn new(schema: &SchemaRef) -> Result<Plan> {
        let empty = RecordBatch::new_empty(schema.clone());
        let imp = Import {
            generate_bitmasks: true,
        };
        let whole = batch_layout(imp, &empty)?;
        let ak_schema = awkwardized(schema);
        let no_rows = whole.top_length(1) == 0;
        let (form, _) = emit(&whole, 0)?;
        let nodes = form.node_count();
        let single = schema.fields().len() == 1 && schema.field(0).name().is_empty();
        let mut column = vec![None; nodes];
        let mut first = Vec::new();
        let mut column_forms = Vec::new();
        if single {
            column.iter_mut().for_each(|c| *c = Some(0));
            first.push(0);
            column_forms.push(form.to_json());
        } else {
            // Above the columns: the record, and an option over it.
            let above = match whole {
                Ak::Record { .. } => 1,
                _ => 2,
            };
            let mut next = above;
            for (c, col) in empty.columns().iter().enumerate() {
                let ak = column_layout(imp, &ak_schema, c, col.as_ref())?;
                let n = count_nodes(&ak);
                first.push(next);
                column_forms.push(emit(&ak, next)?.0.to_json());
                for slot in column.iter_mut().skip(next).take(n) {
                    *slot = Some(c);
                }
                next += n;
            }
        }
        Ok(Plan {
            form,
            column,
            first,
            column_forms,
            single,
            schema: ak_schema,
            no_rows,
        })
    }
}

/// Serves `part{P}-node{ID}-{attribute}` keys from a file of batches.
pub(crate) struct BatchSource {
    inner: Arc<Inner>,
    /// Buffers converted but not yet asked for, by the (partition, column)
    /// decoded (`None`: every column); the oldest dropped beyond a few.
    kept: Mutex<VecDeque<(Unit, HashMap<String, Buffer>)>>,
    /// The unit read last, and the next one being converted on a thread of
    /// its own when reads go in order (a copy), so that decoding the next
    /// column overlaps writing this one.
    last: Mutex<Option<Unit>>,
    ahead: Mutex<Option<(Unit, Ahead)>>,
}

/// A unit converting on a thread of its own.
type Ahead = std::thread::JoinHandle<Result<HashMap<String, Buffer>>>;

/// What one conversion covers: a partition's column (`None`: every column).
type Unit = (usize, Option<usize>);

/// The file and its plan, shared with the thread reading ahead.
struct Inner {
    file: Box<dyn Batches>,
    plan: Plan,
}

/// Decoded columns whose buffers are kept for their next key.
const KEPT: usize = 8;

/// `part{P}-node{ID}-{attribute}` → (P, ID).
fn parse_key(key: &str) -> Option<(usize, usize)> {
    let rest = key.strip_prefix("part")?;
    let (p, rest) = rest.split_once("-node")?;
    let (id, _) = rest.split_once('-')?;
    Some((p.parse().ok()?, id.parse().ok()?))
}

impl BatchSource {
    fn open(file: Box<dyn Batches>) -> Result<BatchSource> {
        let plan = Plan::new(&file.schema())?;
        Ok(BatchSource {
            inner: Arc::new(Inner { file, plan }),
            kept: Mutex::new(VecDeque::new()),
            last: Mutex::new(None),
            ahead: Mutex::new(None),
        })
    }

    /// The container's metadata: the template's form, the partitions' lengths.
    pub(crate) fn metadata(&self) -> Metadata {
        self.inner.metadata()
    }

    /// The unit after `u` in a copy's order (columns, then partitions).
    fn after(&self, u: Unit) -> Option<Unit> {
        let (p, c) = (u.0, u.1?);
        let columns = self.inner.plan.first.len();
        if c + 1 < columns {
            Some((p, Some(c + 1)))
        } else {
            (p + 1 < self.inner.file.lengths().len()).then_some((p + 1, Some(0)))
        }
    }

    /// `unit`'s buffers: converted ahead, or now.
    fn converted(&self, unit: Unit) -> Result<HashMap<String, Buffer>> {
        let ready = {
            let mut ahead = self.ahead.lock();
            match ahead.take() {
                Some((u, handle)) if u == unit => Some(handle),
                other => {
                    *ahead = other;
                    None
                }
            }
        };
        match ready {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(Error::Argument("converting a column panicked".into()))),
            None => self.inner.convert(unit.0, unit.1),
        }
    }

    /// Starts converting the unit after `unit` when reads go in order.
    fn read_ahead(&self, unit: Unit) {
        let sequential = {
            let mut last = self.last.lock();
            let was = last.replace(unit);
            was.and_then(|w| self.after(w)) == Some(unit)
        };
        let Some(next) = self.after(unit).filter(|_| sequential) else {
            return;
        };
        let mut ahead = self.ahead.lock();
        if ahead.as_ref().is_some_and(|(u, _)| *u == next) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("akbuf-read-ahead".into())
            .spawn(move || inner.convert(next.0, next.1));
        // (No thread: no read-ahead; the unit is converted when asked for.)
        *ahead = spawned.ok().map(|h| (next, h));
    }
}

impl Inner {
    /// The container's metadata: the template's form, the partitions' lengths.
    fn metadata(&self) -> Metadata {
        let mut lengths = self.file.lengths();
        if self.plan.no_rows {
            lengths.iter_mut().for_each(|n| *n = 0);
        }
        let mut m = Metadata::partitioned(self.plan.form.clone(), lengths);
        m.buffer_key = Some("part{partition}-{form_key}-{attribute}".into());
        m
    }

    /// Converts partition `p`'s column `c` (or every column) into buffers.
    fn convert(&self, p: usize, c: Option<usize>) -> Result<HashMap<String, Buffer>> {
        let imp = Import {
            generate_bitmasks: true,
        };
        let schema = self.file.schema();
        let (ak, first, want) = match c {
            Some(c) if !self.plan.single => {
                let batch = self.file.batch(p, &[c])?;
                // A whole batch (IPC), or only the column asked for (Parquet).
                let at = if batch.num_columns() == schema.fields().len() {
                    c
                } else {
                    0
                };
                let column = batch.columns().get(at).ok_or_else(|| {
                    Error::container(
                        self.file.path().display(),
                        format!("partition {p} lacks column {c}"),
                    )
                })?;
                let ak = column_layout(imp, &self.plan.schema, c, column.as_ref())?;
                (ak, self.plan.first[c], Some(&self.plan.column_forms[c]))
            }
            _ => {
                let all: Vec<usize> = (0..schema.fields().len()).collect();
                let batch = self.file.batch(p, &all)?;
                // The file's schema (a projection may drop its metadata).
                let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                    .map_err(|e| arrow_err(self.file.path(), "reading a batch", e))?;
                (batch_layout(imp, &batch)?, 0, None)
            }
        };
        let (form, source) = emit(&ak, first)?;
        let expected = want.cloned().unwrap_or_else(|| self.plan.form.to_json());
        if form.to_json() != expected {
            return Err(Error::container(
                self.file.path().display(),
                format!(
                    "partition {p} converts to another form than the file's schema gives: {} instead of {expected}",
                    form.to_json()
                ),
            ));
        }
        Ok(source
            .keys()
            .filter_map(|k| source.get(k).map(|b| (format!("part{p}-{k}"), b.clone())))
            .collect())
    }
}

impl Source for BatchSource {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        let Some((p, id)) = parse_key(key) else {
            return Ok(None);
        };
        if p >= self.inner.file.lengths().len() || id >= self.inner.plan.column.len() {
            return Ok(None);
        }
        let unit = (p, self.inner.plan.column[id]);
        {
            let mut kept = self.kept.lock();
            if let Some((_, bufs)) = kept.iter_mut().find(|(u, _)| *u == unit) {
                if let Some(b) = bufs.remove(key) {
                    return Ok(Some(b));
                }
            }
        }
        let mut bufs = self.converted(unit).map_err(|e| match e {
            Error::Container { message, .. } => Error::read_failed(key, message),
            other => other,
        })?;
        self.read_ahead(unit);
        let found = bufs.remove(key);
        let mut kept = self.kept.lock();
        kept.retain(|(u, _)| *u != unit);
        kept.push_back((unit, bufs));
        while kept.len() > KEPT {
            kept.pop_front();
        }
        Ok(found)
    }
    fn describe(&self) -> String {
        format!("{}", self.inner.file.path().display())
    }
}

/// The source of an Arrow IPC or Parquet file (by its extension).
pub(crate) fn batch_source(path: &Path) -> Result<BatchSource> {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    batch_source_of(path, lower.ends_with(".parquet"))
}

/// A Parquet (`parquet`) or Arrow IPC file's batches as a source.
pub(crate) fn batch_source_of(path: &Path, parquet: bool) -> Result<BatchSource> {
    if parquet {
        #[cfg(feature = "parquet")]
        return BatchSource::open(Box::new(ParquetFile::open(path)?));
        #[cfg(not(feature = "parquet"))]
        return Err(Error::container(
            path.display(),
            "this akbuf was built without the parquet feature",
        ));
    }
    let file = guarded(path, "reading the footer", || IpcFile::open(path))?;
    BatchSource::open(Box::new(file))
}
