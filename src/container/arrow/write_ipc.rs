//! Arrow IPC files (feature `arrow`): an array written as the table
//! `ak.to_arrow_table` makes, one record batch per step of rows, into a
//! temporary file renamed into place once complete.

use crate::array::{Array, ChunkSize};
use crate::arrow::ToArrowOptions;
use crate::error::{Error, Result};
use std::path::Path;

/// The stored bytes per record batch [`write_arrow_ipc`] and
/// [`crate::write_parquet`] aim at (64 MiB).
///
/// ```
/// assert_eq!(akbuf::IPC_BATCH_BYTES, 64 << 20);
/// ```
pub const IPC_BATCH_BYTES: u64 = 64 << 20;

/// Writes `array` as an Arrow IPC file at `path`: the table
/// `ak.to_arrow_table(array)` makes (pyarrow reads it, and `ak.from_arrow`
/// restores the awkward type from its extension metadata), in record
/// batches of about [`IPC_BATCH_BYTES`] of stored buffers each (never
/// across a partition's end), so memory stays bounded on huge arrays.
/// Atomic: written beside `path` and renamed into place, never replacing
/// an existing file; on error nothing is left.
///
/// ```
/// use akbuf::{write_arrow_ipc, ToArrowOptions};
///
/// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("events.arrow");
/// let rows = write_arrow_ipc(&events, &out, &ToArrowOptions::default())?;
/// assert_eq!(rows, 1000);
/// let file = std::fs::File::open(&out)?;
/// let reader = arrow_ipc::reader::FileReader::try_new(file, None)?;
/// assert_eq!(reader.schema().field(3).name(), "jets");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Container`] when `path` exists or cannot be written; what
/// [`Array::to_record_batch`] reports (the batches must share one schema).
pub fn write_arrow_ipc(
    array: &Array,
    path: impl AsRef<Path>,
    options: &ToArrowOptions,
) -> Result<usize> {
    write(array, path.as_ref(), options, false)
}

/// [`write_arrow_ipc`], replacing a file at `path` when `replace`.
pub(crate) fn write(
    array: &Array,
    path: &Path,
    options: &ToArrowOptions,
    replace: bool,
) -> Result<usize> {
    atomic(path, replace, |tmp| write_into(array, tmp, options))
}

/// Runs `write` into a temporary file beside `path`, then renames it into
/// place: never over anything unless `replace`, and then only over a
/// regular file (atomically: a reader sees the old file or the new one).
/// On error nothing is left and `path` is as it was.
pub(crate) fn atomic(
    path: &Path,
    replace: bool,
    write: impl FnOnce(&Path) -> Result<usize>,
) -> Result<usize> {
    let bad = |m: String| Error::container(path.display(), m);
    match std::fs::symlink_metadata(path) {
        Err(_) => {}
        Ok(m) if replace && m.file_type().is_file() => {}
        Ok(_) if replace => {
            return Err(bad(
                "exists and is not a file; refusing to replace it".into()
            ))
        }
        Ok(_) => {
            return Err(bad(
                "exists; akbuf replaces a file only when asked (--force)".into(),
            ))
        }
    }
    let name = path
        .file_name()
        .ok_or_else(|| bad("names no file".into()))?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = dir.join(format!(".{name}.akbuf-{}", std::process::id()));
    let result = write(&tmp);
    let result = result.and_then(|rows| {
        let renamed = match replace {
            true => std::fs::rename(&tmp, path),
            false => crate::sys::rename_noreplace(&tmp, path),
        };
        renamed.map_err(|e| {
            Error::container_io(path.display(), "renaming the finished file into place", e)
        })?;
        let _ = crate::sys::sync_dir(&dir);
        Ok(rows)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The arrays written as batches: one per step of rows within each
/// partition; an array that fits one batch goes whole (no slicing).
pub(crate) fn pieces(array: &Array) -> Result<Vec<Array>> {
    let wholes: Vec<Array> = if array.is_partitioned() {
        let parts: Vec<Array> = array
            .partitions()?
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            vec![array.partition_template()]
        } else {
            parts
        }
    } else {
        vec![array.clone()]
    };
    let mut pieces = Vec::new();
    for whole in wholes {
        let stored: u64 = whole.buffers().iter().filter_map(|b| b.stored_bytes).sum();
        if stored <= IPC_BATCH_BYTES || whole.is_empty() {
            pieces.push(whole);
        } else {
            for piece in whole.chunks(ChunkSize::Bytes(IPC_BATCH_BYTES))? {
                pieces.push(piece?);
            }
        }
    }
    Ok(pieces)
}

fn write_into(array: &Array, tmp: &Path, options: &ToArrowOptions) -> Result<usize> {
    let io = |e: std::io::Error| Error::container_io(tmp.display(), "writing", e);
    let arrow = |e: arrow_schema::ArrowError| {
        Error::container_caused(tmp.display(), "writing Arrow IPC", e)
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    // Every array gives at least one piece (an empty one, for no rows).
    let pieces = pieces(array)?;
    let Some((first, rest)) = pieces.split_first() else {
        return Ok(0);
    };
    let first = first.to_record_batch(options)?;
    let schema = first.schema();
    let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &schema).map_err(arrow)?;
    let mut rows = 0;
    let rest = rest.iter().map(|piece| piece.to_record_batch(options));
    for batch in std::iter::once(Ok(first)).chain(rest) {
        let batch = batch?;
        if batch.schema() != schema {
            return Err(Error::Unsupported(format!(
                "the rows from {rows} on make another Arrow schema than the rows before (a list's offsets narrowed in one batch and not in another?)"
            )));
        }
        if batch.num_rows() > 0 || rows == 0 {
            w.write(&batch).map_err(arrow)?;
        }
        rows += batch.num_rows();
    }
    w.finish().map_err(arrow)?;
    drop(w);
    use std::io::Write;
    out.flush().map_err(io)?;
    out.get_ref().sync_all().map_err(io)?;
    Ok(rows)
}
