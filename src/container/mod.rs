//! Containers: what a stored array looks like on a storage, and the two
//! doors every caller goes through: [`open_locations`] (and [`open`],
//! [`open_with`], [`open_with_metadata`], [`read_metadata`]) in,
//! [`write_to`] out. A location is parsed once (`location.rs`), its format
//! found by the registry (`registry.rs`: by content, a name only as a
//! hint), and each format lives in a folder of its own behind the one
//! [`registry::Format`] trait:
//!
//! - `dir/`: a folder with `metadata.json` and one file per buffer key.
//! - `hdf5/`: a group of an HDF5 file, the metadata as its attributes.
//! - `arrow/`: Arrow IPC and Parquet files (a partition per batch).
//! - `remote/`: the directory container under a URL's prefix.
//!
//! `metadata.rs` is the protocol's header every format stores its own way;
//! `dataset.rs` many containers as one array. A container's bytes move
//! through a plain [`Source`](crate::Source) and [`Sink`](crate::Sink).

pub(crate) mod arrow;
pub(crate) mod dataset;
pub(crate) mod dir;
pub(crate) mod hdf5;
pub(crate) mod location;
pub(crate) mod metadata;
pub(crate) mod registry;
pub(crate) mod remote;
pub(crate) mod zarr;

pub use metadata::{Metadata, MAX_PARTITIONS, METADATA_LIMIT, PARTITIONED_BUFFER_KEY};

use crate::array::Array;
use crate::error::Result;
use crate::options::Options;
use crate::source::DirSource;
use crate::write::WriteOptions;
use location::Location;
use std::path::{Path, PathBuf};

/// The format of the file a location names, told by its content (not its
/// name): `"hdf5"` (`FILE:GROUP` too), `"parquet"` or `"arrow"` (Arrow
/// IPC); `None` for a directory, a URL, or anything else.
///
/// ```
/// let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// assert_eq!(akbuf::file_format(sample), None); // a directory container
/// let plain = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arrow/plain.parquet");
/// let misnamed = std::env::temp_dir().join(format!("akbuf-doc-{}.bin", std::process::id()));
/// std::fs::copy(plain, &misnamed)?;
/// assert_eq!(akbuf::file_format(&misnamed), Some("parquet"));
/// # std::fs::remove_file(&misnamed)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn file_format(path: impl AsRef<Path>) -> Option<&'static str> {
    let at = Location::parse(path.as_ref()).ok()?;
    match at {
        Location::File { .. } => registry::recognised(&at).map(|f| f.name()),
        _ => None,
    }
}

/// Opens a container lazily: reads its metadata, no buffer. `path` is a
/// directory container (or a folder of them: one array, see
/// [`open_locations`]), a file akbuf knows by its content (HDF5, with
/// `FILE:GROUP` naming a group; Parquet; Arrow IPC) or a URL (feature
/// `remote`). A directory is always a directory container, whatever its
/// name, and a file's name is only a hint where its content tells nothing.
///
/// ```no_run
/// let events = akbuf::open("data/events")?;
/// let pt = events.field("jets")?.field("pt")?;
/// println!("{} {}", pt.type_string(), pt.flat_values::<f32>()?.iter().sum::<f32>());
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// As [`Metadata::read_dir`] and [`crate::from_buffers`].
pub fn open(path: impl AsRef<Path>) -> Result<Array> {
    open_with(path, Options::default())
}

/// [`open`] with options: a shared cache, a caching policy, and
/// [`Options::confined`] for untrusted containers. The byte order and
/// buffer-key template come from the container's metadata.
///
/// ```
/// use akbuf::{open_with, Cache, Options};
/// use std::sync::Arc;
///
/// let cache = Arc::new(Cache::new());
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let events = open_with(path, Options::default().with_cache(Arc::clone(&cache)).confined())?;
/// events.field("run")?.to_json()?;
/// assert_eq!(cache.stats().reads, 1);
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// As [`open`].
pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Array> {
    open_locations([path], options).map(|(array, _)| array)
}

/// [`open_with`], also returning the container's metadata (its buffer-key
/// template, byte order and partitions: what a reader of the container's
/// buffers by key needs besides the array), read once. A folder of
/// containers has no one metadata: open it with [`open_locations`].
///
/// ```
/// use akbuf::{open_with_metadata, Options};
///
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let (events, meta) = open_with_metadata(path, Options::default())?;
/// assert_eq!((events.len(), meta.length), (1000, 1000));
/// assert_eq!(meta.buffer_key_template(), "{form_key}-{attribute}");
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// As [`open`].
pub fn open_with_metadata(path: impl AsRef<Path>, options: Options) -> Result<(Array, Metadata)> {
    let path = path.as_ref();
    let options = match open_dir_first(path, options)? {
        Ok(opened) => return Ok(opened),
        Err(options) => options,
    };
    let at = Location::parse(path)?;
    registry::find(&at).open(&at, options)
}

/// Most paths are directory containers: reading their `metadata.json`
/// first spares asking what the path is (a system call on every open).
/// The options back where the path has no `metadata.json` to read.
fn open_dir_first(path: &Path, options: Options) -> Result<Result<(Array, Metadata), Options>> {
    if options.confined || crate::url::is_url(&path.to_string_lossy()) {
        return Ok(Err(options));
    }
    match Metadata::read_dir_with(path, false) {
        Ok(metadata) => {
            let array = metadata.open_with(DirSource::new(path), options)?;
            Ok(Ok((array, metadata)))
        }
        Err(e)
            if e.io_error().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                )
            }) =>
        {
            Ok(Err(options))
        }
        Err(e) => Err(e),
    }
}

/// The one door in: opens what `locations` name as one array, lazily. One
/// location is a container (with its metadata) or a folder of containers
/// (a dataset, in name order: no one metadata); several are one dataset
/// (see [`crate::open_dataset`]). Every caller that opens a location (the
/// command line, the Python package, the query engine) comes through here.
///
/// ```
/// use akbuf::{open_locations, write_dir, Options, WriteOptions};
///
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let (events, meta) = open_locations([path], Options::default())?;
/// assert_eq!(meta.map(|m| m.length), Some(1000));
///
/// let dir = tempfile::tempdir()?;
/// for (i, rows) in [0..400, 400..1000].into_iter().enumerate() {
///     write_dir(&events.slice(rows)?, dir.path().join(format!("part{i}")), &WriteOptions::default())?;
/// }
/// let (all, meta) = open_locations([dir.path()], Options::default())?;
/// assert_eq!((all.len(), all.num_partitions(), meta), (1000, 2, None));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`open`] and [`crate::open_dataset`].
pub fn open_locations<P: AsRef<Path>>(
    locations: impl IntoIterator<Item = P>,
    options: Options,
) -> Result<(Array, Option<Metadata>)> {
    let paths: Vec<PathBuf> = locations
        .into_iter()
        .map(|p| p.as_ref().to_path_buf())
        .collect();
    let [path] = paths.as_slice() else {
        return dataset::open_dataset_with(paths, options).map(|a| (a, None));
    };
    let options = match open_dir_first(path, options)? {
        Ok((array, metadata)) => return Ok((array, Some(metadata))),
        Err(options) => options,
    };
    let at = Location::parse(path)?;
    if dataset::is_folder_of_containers(&at) {
        return dataset::open_dataset_with([path], options).map(|a| (a, None));
    }
    let (array, metadata) = registry::find(&at).open(&at, options)?;
    Ok((array, Some(metadata)))
}

/// The metadata (form, length, byte order, buffer-key template) of the
/// container at `path` (as [`open`] takes it), reading nothing else.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let meta = akbuf::read_metadata(path)?;
/// assert_eq!(meta.length, 1000);
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// As [`Metadata::read_dir`].
pub fn read_metadata(path: impl AsRef<Path>) -> Result<Metadata> {
    let at = Location::parse(path.as_ref())?;
    registry::find(&at).metadata(&at, Options::default())
}

/// The one door out, the mirror of [`open`]: writes `array` at `location`
/// in the format found there by content (an existing HDF5 file gets a new
/// group; a folder, a directory container), or, where nothing exists yet,
/// the one its name asks for (`.h5[:GROUP]`/`.hdf5`: HDF5; `.parquet`;
/// `.arrow`/`.feather`/`.ipc`: Arrow IPC; a URL: a remote container),
/// else a directory container. Atomic: on any error the destination is as
/// it was; something already there is replaced only with
/// [`WriteOptions::with_replace`] (a file by a file, a container by a
/// container). Returns the metadata the written container opens with.
///
/// ```
/// use akbuf::{open, write_to, WriteOptions};
///
/// let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let dir = tempfile::tempdir()?;
/// let copy = dir.path().join("copy");
/// let meta = write_to(&events, &copy, &WriteOptions::default())?;
/// assert_eq!(meta.length, 1000);
/// assert_eq!(open(&copy)?.field("run")?.to_json()?, events.field("run")?.to_json()?);
/// assert!(write_to(&events, &copy, &WriteOptions::default()).is_err()); // never clobbered
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Container`](crate::Error::Container) for a destination that exists (unless replacing)
/// or cannot be written, or a format this akbuf was built without; what
/// [`crate::to_buffers`] (or the Arrow conversion) reports.
pub fn write_to(
    array: &Array,
    location: impl AsRef<Path>,
    options: &WriteOptions,
) -> Result<Metadata> {
    let at = Location::parse(location.as_ref())?;
    registry::find(&at).write(array, &at, options)
}
