//! HDF5 containers: a group of an HDF5 file (default `awkward`) with one
//! dataset per buffer key and the metadata as the group's attributes, as
//! Awkward's documentation writes them with h5py. Recognised by the HDF5
//! signature (at 0, or after a user block of 512, 1024, 2048... bytes), so
//! that an anndata `x.h5ad:obsm/airr` opens whatever the file is called.
//! Reading and writing need the `hdf5` feature (libhdf5); the format is
//! recognised without it, to say so.

#[cfg(feature = "hdf5")]
mod attrs;
#[cfg(feature = "hdf5")]
pub use attrs::{open_hdf5, write_hdf5};

use super::location::Location;
use super::registry::{Format, Probe};
use super::Metadata;
use crate::array::Array;
use crate::error::Result;
use crate::options::Options;
use crate::write::WriteOptions;

/// The group akbuf reads and writes when none is named.
pub const DEFAULT_GROUP: &str = "awkward";

/// The 8-byte HDF5 superblock signature.
const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Splits `FILE.h5:GROUP` into the file and the group (default
/// [`DEFAULT_GROUP`]) by the name: `.h5:` or `.hdf5:`. A path without
/// either names the file. (Where the file exists, [`crate::open`] splits at
/// any `:` after which the prefix is a file, whatever its name.)
///
/// ```
/// use akbuf::split_hdf5_path;
/// assert_eq!(split_hdf5_path("data/x.h5:events"), ("data/x.h5", "events"));
/// assert_eq!(split_hdf5_path("data/x.h5"), ("data/x.h5", "awkward"));
/// assert_eq!(split_hdf5_path("x.h5:a/b"), ("x.h5", "a/b"));
/// ```
pub fn split_hdf5_path(spec: &str) -> (&str, &str) {
    let file_end = spec
        .find(".h5:")
        .map(|i| i + 3)
        .or_else(|| spec.find(".hdf5:").map(|i| i + 5));
    match file_end {
        Some(i) => (&spec[..i], &spec[i + 1..]),
        None => (spec, DEFAULT_GROUP),
    }
}

/// Whether a name asks for an HDF5 file (`.h5` or `.hdf5`, maybe with
/// `:GROUP`): the hint the registry takes for a file that does not exist
/// yet (an existing file is known by its content).
///
/// ```
/// assert!(akbuf::is_hdf5_path("out/x.h5:events"));
/// assert!(!akbuf::is_hdf5_path("out/x.parquet"));
/// ```
pub fn is_hdf5_path(spec: &str) -> bool {
    let (file, _) = split_hdf5_path(spec);
    file.ends_with(".h5") || file.ends_with(".hdf5")
}

/// The HDF5 format.
pub(crate) struct Hdf5;

/// The one [`Hdf5`].
pub(crate) static HDF5: Hdf5 = Hdf5;

/// The file and group a location names: an existing file's own split, or
/// (nothing there yet) the name's.
#[cfg_attr(not(feature = "hdf5"), allow(dead_code))]
fn file_and_group(at: &Location) -> (std::path::PathBuf, String) {
    match at {
        Location::File { file, group } => (
            file.clone(),
            group.clone().unwrap_or_else(|| DEFAULT_GROUP.into()),
        ),
        _ => {
            let spec = at.spec();
            let (file, group) = split_hdf5_path(&spec);
            (file.into(), group.into())
        }
    }
}

impl Format for Hdf5 {
    fn name(&self) -> &'static str {
        "hdf5"
    }

    fn recognises(&self, probe: &mut Probe<'_>) -> bool {
        let Some(len) = probe.file_len() else {
            return false;
        };
        // The superblock is at 0 or at 512 << k (a user block before it).
        let mut at = 0u64;
        while at.saturating_add(8) <= len {
            if probe.has_at(at, SIGNATURE) {
                return true;
            }
            at = match at {
                0 => 512,
                _ => match at.checked_mul(2) {
                    Some(n) => n,
                    None => return false,
                },
            };
        }
        false
    }

    fn named(&self, spec: &str) -> bool {
        is_hdf5_path(spec)
    }

    #[cfg(feature = "hdf5")]
    fn open(&self, at: &Location, options: Options) -> Result<(Array, Metadata)> {
        let (file, group) = file_and_group(at);
        let mut source = crate::source::Hdf5Source::open(file, &group)?;
        if options.confined {
            source = source.confined();
        }
        let metadata = source.metadata()?;
        let array = metadata.open_with(source, options)?;
        Ok((array, metadata))
    }

    #[cfg(feature = "hdf5")]
    fn write(&self, array: &Array, at: &Location, options: &WriteOptions) -> Result<Metadata> {
        let (file, group) = file_and_group(at);
        write_hdf5(array, file, &group, options)
    }

    #[cfg(not(feature = "hdf5"))]
    fn open(&self, at: &Location, _: Options) -> Result<(Array, Metadata)> {
        Err(super::registry::not_built(at, "an HDF5 file", "hdf5"))
    }

    #[cfg(not(feature = "hdf5"))]
    fn write(&self, _: &Array, at: &Location, _: &WriteOptions) -> Result<Metadata> {
        Err(super::registry::not_built(at, "an HDF5 file", "hdf5"))
    }
}
