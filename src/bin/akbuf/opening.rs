//! What a command reads: a location opened through the library's door, its
//! fields, columns and rows chosen, with the options the flags ask for.

#[allow(unused_imports)]
use crate::*;

/// `array[start:stop]`, lazily (nothing read until touched): both ends
/// clipped to the length, as a Python slice is.
pub(super) fn rows(array: Array, rows: Option<Rows>) -> Result<Array, Error> {
    match rows {
        None => Ok(array),
        Some(Rows(a, b)) => {
            let n = array.len();
            let b = b.unwrap_or(n).min(n);
            array.slice(a.unwrap_or(0).min(b)..b)
        }
    }
}

/// Opens `at`, goes into its fields and takes its rows.
pub(super) fn open_at(at: &At, trace: bool, confined: bool) -> Result<Array, Error> {
    let array = project(open(&at.path, trace, confined)?, &at.fields)?;
    rows(select(array, &at.columns)?, at.rows)
}

/// Only these fields of the record (none: all of them).
pub(super) fn select(array: Array, columns: &[String]) -> Result<Array, Error> {
    match columns.is_empty() {
        true => Ok(array),
        false => array.select(columns),
    }
}

/// Whether a source is an Arrow IPC or Parquet file (read with feature
/// `arrow`), by its content.
pub(super) fn is_batch_file(path: &Path) -> bool {
    matches!(akbuf::file_format(path), Some("arrow" | "parquet"))
}

pub(super) fn project(mut array: Array, fields: &[String]) -> Result<Array, Error> {
    for f in fields {
        // `--field ''` names a field called "" (an error where there is
        // none), not the array itself.
        array = match f.is_empty() {
            true => array.field("")?,
            false => array.field_path(f)?,
        };
    }
    Ok(array)
}

/// Uploads every buffer of `on_device` (once each), copies each back, and
/// opens the same container and fields over the copies: what is shown then
/// went to the device and back.
#[cfg(feature = "cuda")]
pub(super) fn round_trip(
    path: &Path,
    fields: &[String],
    on_device: &Array,
) -> Result<Array, Error> {
    let mut copies = akbuf::MemorySource::new();
    for b in on_device.device_buffers()? {
        copies = copies.with(b.key(), b.to_host()?);
    }
    let meta = akbuf::read_metadata(path)?;
    // Device copies are in the host's byte order, whatever the container's.
    let options = meta.options()?.with_byteorder(ByteOrder::native());
    project(
        akbuf::from_buffers(&meta.form, meta.length, copies, options)?,
        fields,
    )
}

/// Without the `cuda` feature no array reaches a device (`to_device` fails first).
#[cfg(not(feature = "cuda"))]
pub(super) fn round_trip(_: &Path, _: &[String], on_device: &Array) -> Result<Array, Error> {
    Ok(on_device.clone())
}

pub(super) fn open(path: &Path, trace: bool, confined: bool) -> Result<Array, Error> {
    let options = if confined {
        Options::default().confined()
    } else {
        Options::default()
    }
    .with_fetch(fetch());
    if !trace && DISK.get().is_none() {
        // A private cache: the container's identity is never asked for.
        return open_any(path, options);
    }
    open_with_cache(path, trace, confined, Cache::new())
}

pub(super) fn open_with_cache(
    path: &Path,
    trace: bool,
    confined: bool,
    cache: Cache,
) -> Result<Array, Error> {
    open_any(path, read_options(trace, confined, cache))
}

/// Options reading through `cache`, printing every read when `trace`.
pub(super) fn read_options(trace: bool, confined: bool, cache: Cache) -> Options {
    let mut cache = with_disk(cache);
    if trace {
        // The cache's observer sees every read from the source as it happens.
        cache = cache.with_observer(|e: &ReadEvent<'_>| match e.bytes {
            Some(n) => eprintln!("read {} {n}", e.key),
            None => eprintln!("read {} failed", e.key),
        });
    }
    let mut options = Options::default()
        .with_cache(Arc::new(cache))
        .with_fetch(fetch());
    if confined {
        options = options.confined();
    }
    options
}

/// A container, or a folder of containers (a dataset: one array over all
/// of them, in name order), through the library's one door.
pub(super) fn open_any(path: &Path, options: Options) -> Result<Array, Error> {
    akbuf::open_locations([path], options).map(|(array, _)| array)
}
