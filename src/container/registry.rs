//! The registry of container formats: every format akbuf reads or writes
//! implements [`Format`] in a folder of its own, and [`FORMATS`] lists them.
//! [`find`] picks the format of a location by its content (a folder's
//! marker file, a file's first bytes), a name only as a hint where nothing
//! tells (a destination that does not exist yet). The two doors,
//! [`super::open_locations`] and [`super::write_to`], ask nothing else.
//!
//! A format not built in (its feature off) stays listed: it still
//! recognises its files, and opening or writing one says which feature it
//! needs.

use super::location::Location;
use super::Metadata;
use crate::array::Array;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::write::WriteOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// One container format: how it is recognised, opened and written.
pub(crate) trait Format: Sync {
    /// The format's name (as [`crate::file_format`] gives it).
    fn name(&self) -> &'static str;

    /// Whether what `probe` shows (a folder, a file's bytes, a URL) is this
    /// format's, by content.
    fn recognises(&self, probe: &mut Probe<'_>) -> bool;

    /// Whether the name of `spec`, where nothing says more (no such file
    /// yet, or a file no format recognises), asks for this format.
    fn named(&self, _spec: &str) -> bool {
        false
    }

    /// Opens the container at `at`: reads its metadata, no buffer.
    fn open(&self, at: &Location, options: Options) -> Result<(Array, Metadata)>;

    /// Reads the container's metadata only.
    fn metadata(&self, at: &Location, options: Options) -> Result<Metadata> {
        self.open(at, options).map(|(_, m)| m)
    }

    /// Writes `array` at `at`, atomically: on error `at` is as it was.
    fn write(&self, array: &Array, at: &Location, options: &WriteOptions) -> Result<Metadata>;
}

/// Every format, in the order they are asked.
pub(crate) static FORMATS: &[&dyn Format] = &[
    &super::dir::DIRECTORY,
    &super::zarr::ZARR,
    &super::hdf5::HDF5,
    &super::arrow::PARQUET,
    &super::arrow::ARROW_IPC,
    &super::remote::REMOTE,
];

/// What a format may look at to recognise a location: the location, and
/// for a file its bytes (read on demand, at most a few small reads).
pub(crate) struct Probe<'a> {
    at: &'a Location,
    file: Option<Option<(std::fs::File, u64)>>,
}

impl<'a> Probe<'a> {
    pub(crate) fn new(at: &'a Location) -> Probe<'a> {
        Probe { at, file: None }
    }

    /// The location probed.
    pub(crate) fn location(&self) -> &'a Location {
        self.at
    }

    /// The file's length (`None` unless the location is a regular file
    /// that opens).
    pub(crate) fn file_len(&mut self) -> Option<u64> {
        self.file().map(|(_, n)| *n)
    }

    /// Whether the file holds `bytes` at `offset`.
    pub(crate) fn has_at(&mut self, offset: u64, bytes: &[u8]) -> bool {
        let Some((file, len)) = self.file() else {
            return false;
        };
        if offset.saturating_add(bytes.len() as u64) > *len {
            return false;
        }
        let mut buf = vec![0u8; bytes.len()];
        file.seek(SeekFrom::Start(offset)).is_ok() && read_full(file, &mut buf) && buf == bytes
    }

    fn file(&mut self) -> Option<&mut (std::fs::File, u64)> {
        if self.file.is_none() {
            self.file = Some(match self.at {
                // A regular file only, opened without blocking (a FIFO is
                // not waited on).
                Location::File { file, .. } => crate::sys::open_regular_with_len(file, false).ok(),
                _ => None,
            });
        }
        self.file.as_mut().and_then(Option::as_mut)
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> bool {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => return false,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// The format whose content `at` holds, if one recognises it.
pub(crate) fn recognised(at: &Location) -> Option<&'static dyn Format> {
    let mut probe = Probe::new(at);
    FORMATS.iter().copied().find(|f| f.recognises(&mut probe))
}

/// The format a name asks for.
fn named(spec: &str) -> Option<&'static dyn Format> {
    FORMATS.iter().copied().find(|f| f.named(spec))
}

/// The format of `at`: by content; where the content tells nothing (no
/// such file, a file or a folder no format knows: an empty `out.zarr`), by
/// name; else the directory container.
pub(crate) fn find(at: &Location) -> &'static dyn Format {
    recognised(at)
        .or_else(|| match at {
            Location::File { .. } | Location::Absent(_) | Location::Dir(_) => named(&at.spec()),
            Location::Url(_) => None,
        })
        .unwrap_or(&super::dir::DIRECTORY)
}

/// The error of a format whose feature this akbuf was built without.
pub(crate) fn not_built(at: &Location, what: &str, feature: &str) -> Error {
    Error::container(
        at.spec(),
        format!("{what}: this akbuf was built without the {feature} feature"),
    )
}

/// Whether `path` is a container of a format akbuf knows, by its content
/// (a folder with its marker file, a file by its bytes): what a folder of
/// containers holds.
pub(crate) fn is_container(path: &Path) -> bool {
    Location::parse(path)
        .is_ok_and(|at| !matches!(at, Location::Absent(_)) && recognised(&at).is_some())
}
