//! Parquet files (feature `parquet`): an array written as the table
//! `ak.to_arrow_table` makes, through the parquet crate's Arrow writer (its
//! schema, with awkward's extension metadata, stored in the file so that
//! `ak.from_parquet` restores the awkward type), one row group per step of
//! rows, zstd-compressed as `ak.to_parquet` does by default.

use super::write_ipc::{atomic, pieces};
use crate::array::Array;
use crate::arrow::ToArrowOptions;
use crate::error::{Error, Result};
use std::path::Path;

/// Writes `array` as a Parquet file at `path`: the table
/// `ak.to_arrow_table(array)` makes, one row group per batch of about
/// [`crate::IPC_BATCH_BYTES`] of stored buffers (never across a partition's
/// end), zstd-compressed. Atomic like [`crate::write_arrow_ipc`]. Unions
/// are refused (Parquet has none; `ak.to_parquet` refuses them too).
///
/// ```
/// use akbuf::{write_parquet, ToArrowOptions};
///
/// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("events.parquet");
/// assert_eq!(write_parquet(&events, &out, &ToArrowOptions::default())?, 1000);
/// assert!(std::fs::metadata(&out)?.len() > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Container`] when `path` exists or cannot be written, or the
/// Parquet writer refuses a type; what [`Array::to_record_batch`] reports.
pub fn write_parquet(
    array: &Array,
    path: impl AsRef<Path>,
    options: &ToArrowOptions,
) -> Result<usize> {
    write(array, path.as_ref(), options, false)
}

/// [`write_parquet`], replacing a file at `path` when `replace`.
pub(crate) fn write(
    array: &Array,
    path: &Path,
    options: &ToArrowOptions,
    replace: bool,
) -> Result<usize> {
    atomic(path, replace, |tmp| write_into(array, tmp, options))
}

/// Refuses what Parquet cannot hold as the same type (pyarrow, and so
/// `ak.to_parquet`, refuses it too): fixed-size lists of size 0 (read
/// back without their rows), unions. (Timestamps in seconds are written in
/// milliseconds before: see [`in_millis`].)
fn storable(t: &arrow_schema::DataType, name: &str) -> Result<()> {
    use arrow_schema::DataType as D;
    let refuse = |what: &str| {
        Err(Error::Unsupported(format!(
            "column {name:?}: Parquet cannot hold {what} as such (ak.to_parquet refuses it too)"
        )))
    };
    match t {
        D::FixedSizeList(_, 0) => refuse("fixed-size lists of size 0"),
        D::Union(..) => refuse("unions"),
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => storable(f.data_type(), name),
        D::Struct(fields) => fields
            .iter()
            .try_for_each(|f| storable(f.data_type(), name)),
        _ => Ok(()),
    }
}

/// `batch` with its timestamps in seconds as timestamps in milliseconds,
/// at every depth, as pyarrow stores them for `ak.to_parquet` (Parquet has
/// no unit of seconds; `ak.from_parquet` reads them as `datetime64[ms]`).
fn in_millis(batch: arrow_array::RecordBatch) -> Result<arrow_array::RecordBatch> {
    use arrow_schema::{DataType as D, TimeUnit};
    fn has_seconds(t: &D) -> bool {
        match t {
            D::Timestamp(TimeUnit::Second, _) => true,
            D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => has_seconds(f.data_type()),
            D::Struct(fs) => fs.iter().any(|f| has_seconds(f.data_type())),
            _ => false,
        }
    }
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| has_seconds(f.data_type())) {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .map(millis_of)
        .collect::<Result<Vec<_>>>()?;
    let fields: Vec<arrow_schema::Field> = schema
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    let schema = arrow_schema::Schema::new_with_metadata(fields, schema.metadata().clone());
    arrow_array::RecordBatch::try_new(std::sync::Arc::new(schema), columns)
        .map_err(|e| Error::Unsupported(format!("timestamps in milliseconds: {e}")))
}

/// One column of [`in_millis`].
fn millis_of(a: &arrow_array::ArrayRef) -> Result<arrow_array::ArrayRef> {
    use arrow_array::{cast::AsArray, Array as _, ArrayRef};
    use arrow_schema::{DataType as D, TimeUnit};
    use std::sync::Arc;
    let bad = |e: arrow_schema::ArrowError| {
        Error::Unsupported(format!("timestamps in milliseconds: {e}"))
    };
    let with_type = |f: &arrow_schema::FieldRef, c: &ArrayRef| {
        Arc::new(f.as_ref().clone().with_data_type(c.data_type().clone()))
    };
    Ok(match a.data_type() {
        D::Timestamp(TimeUnit::Second, tz) => {
            let s = a.as_primitive::<arrow_array::types::TimestampSecondType>();
            let ms = s
                .values()
                .iter()
                .map(|&v| v.checked_mul(1000))
                .collect::<Option<Vec<i64>>>()
                .ok_or_else(|| {
                    Error::Unsupported(
                        "a timestamp in seconds past what milliseconds count (Parquet has no seconds)"
                            .into(),
                    )
                })?;
            Arc::new(
                arrow_array::TimestampMillisecondArray::new(ms.into(), s.nulls().cloned())
                    .with_timezone_opt(tz.clone()),
            )
        }
        D::List(f) => {
            let l = a.as_list::<i32>();
            let values = millis_of(l.values())?;
            Arc::new(
                arrow_array::ListArray::try_new(
                    with_type(f, &values),
                    l.offsets().clone(),
                    values,
                    l.nulls().cloned(),
                )
                .map_err(bad)?,
            )
        }
        D::LargeList(f) => {
            let l = a.as_list::<i64>();
            let values = millis_of(l.values())?;
            Arc::new(
                arrow_array::LargeListArray::try_new(
                    with_type(f, &values),
                    l.offsets().clone(),
                    values,
                    l.nulls().cloned(),
                )
                .map_err(bad)?,
            )
        }
        D::FixedSizeList(f, n) => {
            let l = a.as_fixed_size_list();
            let values = millis_of(l.values())?;
            Arc::new(
                arrow_array::FixedSizeListArray::try_new(
                    with_type(f, &values),
                    *n,
                    values,
                    l.nulls().cloned(),
                )
                .map_err(bad)?,
            )
        }
        D::Struct(fs) => {
            let st = a.as_struct();
            let columns = st
                .columns()
                .iter()
                .map(millis_of)
                .collect::<Result<Vec<_>>>()?;
            let fields: Vec<arrow_schema::FieldRef> = fs
                .iter()
                .zip(&columns)
                .map(|(f, c)| with_type(f, c))
                .collect();
            Arc::new(
                arrow_array::StructArray::try_new_with_length(
                    fields.into(),
                    columns,
                    st.nulls().cloned(),
                    st.len(),
                )
                .map_err(bad)?,
            )
        }
        _ => Arc::clone(a),
    })
}

/// The most rows of one row group (pyarrow's and arrow-rs's default).
const GROUP_ROWS: usize = 1 << 20;

fn write_into(array: &Array, tmp: &Path, options: &ToArrowOptions) -> Result<usize> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let io = |e: std::io::Error| Error::container_io(tmp.display(), "writing", e);
    let pq = |e: parquet::errors::ParquetError| {
        Error::container_caused(tmp.display(), "writing Parquet", e)
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io)?;
    let props_for = |schema: &arrow_schema::Schema| {
        // The schema's metadata (awkward's ak:parameters) as key-values of
        // the file too, where ak.from_parquet looks for it.
        let kv: Vec<parquet::file::metadata::KeyValue> = schema
            .metadata()
            .iter()
            .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone()))
            .collect();
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            // Awkward's numbers rarely repeat: dictionaries cost time and
            // bytes (with them, 1.15x the size of ak.to_parquet's file).
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(GROUP_ROWS))
            .set_key_value_metadata((!kv.is_empty()).then_some(kv))
            .build()
    };
    // Every array gives at least one piece (an empty one, for no rows).
    let pieces = pieces(array)?;
    let Some((first, rest)) = pieces.split_first() else {
        return Ok(0);
    };
    let first = in_millis(first.to_record_batch(options)?)?;
    let schema = first.schema();
    for field in schema.fields() {
        storable(field.data_type(), field.name())?;
    }
    let props = props_for(&schema);
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq)?;
    let mut rows = 0;
    let rest = rest
        .iter()
        .map(|piece| piece.to_record_batch(options).and_then(in_millis));
    for batch in std::iter::once(Ok(first)).chain(rest) {
        let batch = batch?;
        if batch.schema() != schema {
            return Err(Error::Unsupported(format!(
                "the rows from {rows} on make another Arrow schema than the rows before"
            )));
        }
        // One row group per batch, of at most GROUP_ROWS rows (arrow-rs's
        // writer would split a larger batch by recursing once per group).
        for start in (0..batch.num_rows()).step_by(GROUP_ROWS) {
            let len = GROUP_ROWS.min(batch.num_rows() - start);
            w.write(&batch.slice(start, len)).map_err(pq)?;
            w.flush().map_err(pq)?;
        }
        rows += batch.num_rows();
    }
    if rows == 0 {
        // No rows: one empty row group all the same (as pyarrow writes;
        // ak.from_parquet reads row group 0).
        let (mut file_writer, factory) = w.into_serialized_writer().map_err(pq)?;
        let columns = factory.create_column_writers(0).map_err(pq)?;
        let mut group = file_writer.next_row_group().map_err(pq)?;
        for column in columns {
            column
                .close()
                .map_err(pq)?
                .append_to_row_group(&mut group)
                .map_err(pq)?;
        }
        group.close().map_err(pq)?;
        let f = file_writer.into_inner().map_err(pq)?;
        f.sync_all().map_err(io)?;
        return Ok(rows);
    }
    let f = w.into_inner().map_err(pq)?;
    f.sync_all().map_err(io)?;
    Ok(rows)
}
