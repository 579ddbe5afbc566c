//! The directory container in an object store: the same `metadata.json`
//! and one object per buffer key under a prefix (`s3://bucket/prefix`,
//! `gs://…`, `az://…`, `http(s)://…`). Reading goes through
//! [`RemoteSource`](crate::RemoteSource), writing through
//! [`RemoteSink`](crate::RemoteSink) (`metadata.json` last); this module
//! owns reading and committing `metadata.json` there. Needs the `remote`
//! feature; a `file://` URL is its local path and opens without it.

#[cfg(feature = "remote")]
mod write;
#[cfg(feature = "remote")]
pub use write::write_url;

use super::location::Location;
use super::registry::{Format, Probe};
use super::Metadata;
use crate::array::Array;
use crate::error::Result;
use crate::options::Options;
use crate::write::WriteOptions;

/// Containers under a URL.
pub(crate) struct Remote;

/// The one [`Remote`].
pub(crate) static REMOTE: Remote = Remote;

impl Format for Remote {
    fn name(&self) -> &'static str {
        "remote"
    }

    fn recognises(&self, probe: &mut Probe<'_>) -> bool {
        matches!(probe.location(), Location::Url(_))
    }

    #[cfg(feature = "remote")]
    fn open(&self, at: &Location, options: Options) -> Result<(Array, Metadata)> {
        let mut source = crate::source::RemoteSource::open(&at.spec(), &options.fetch)?;
        if let Some(disk) = options.cache.as_ref().and_then(|c| c.disk()) {
            source = source.with_disk(std::sync::Arc::clone(disk));
        }
        let metadata = write::read_metadata(&source)?;
        let array = metadata.open_with(source, options)?;
        Ok((array, metadata))
    }

    #[cfg(feature = "remote")]
    fn write(&self, array: &Array, at: &Location, options: &WriteOptions) -> Result<Metadata> {
        if options.replace {
            return Err(crate::error::Error::Argument(format!(
                "cannot replace a remote container ({}): an object store has no atomic rename",
                at.spec()
            )));
        }
        write_url(array, &at.spec(), options, &options.fetch)
    }

    #[cfg(not(feature = "remote"))]
    fn open(&self, at: &Location, _: Options) -> Result<(Array, Metadata)> {
        Err(super::registry::not_built(at, "a URL", "remote"))
    }

    #[cfg(not(feature = "remote"))]
    fn write(&self, _: &Array, at: &Location, _: &WriteOptions) -> Result<Metadata> {
        Err(super::registry::not_built(at, "a URL", "remote"))
    }
}
