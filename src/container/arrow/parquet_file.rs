//! Parquet files read as batches (feature `parquet`): one partition per
//! row group, only the columns asked for decoded, in steps, a column's
//! leaves in parallel in large row groups.

use super::batches::{arrow_err, guarded, Batches};
use crate::error::{Error, Result};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A Parquet file: one partition per row group, columns decoded on demand.
pub(super) struct ParquetFile {
    path: PathBuf,
    /// The file, mapped: column chunks are read from its pages, not copied.
    data: bytes::Bytes,
    meta: parquet::arrow::arrow_reader::ArrowReaderMetadata,
    lengths: Vec<usize>,
}

/// Whether a type holds date64 anywhere.
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
const PARQUET_STEP: usize = 1 << 16;

impl ParquetFile {
    pub(super) fn open(path: &Path) -> Result<ParquetFile> {
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
            let threads = crate::sys::cores();
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
const PARALLEL_FROM: usize = 1 << 14;

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
        let what = format!("reading row group {i}");
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.data.clone(),
            self.meta.clone(),
        )
        .with_row_groups(vec![i])
        .with_projection(mask)
        .with_batch_size(self.lengths[i].clamp(1, PARQUET_STEP))
        .build()
        .map_err(|e| arrow_err(&self.path, &what, e))?;
        let schema = arrow_array::RecordBatchReader::schema(&reader);
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| arrow_err(&self.path, &what, e))?;
        let batch = match batches.len() {
            0 => RecordBatch::new_empty(schema),
            1 => batches.into_iter().next().unwrap_or_else(|| unreachable!()),
            _ => arrow_select::concat::concat_batches(&schema, &batches)
                .map_err(|e| arrow_err(&self.path, &what, e))?,
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
