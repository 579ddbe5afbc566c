//! The directory container in an object store (feature `remote`): the
//! same `metadata.json` and one object per buffer key under a prefix.
//! Reading goes through [`RemoteSource`](crate::RemoteSource), writing
//! through [`RemoteSink`](crate::RemoteSink) (`metadata.json` last).

use super::{recorded_template, written_metadata, Metadata};
use crate::array::Array;
use crate::error::Result;
use crate::options::Fetch;
use crate::sink::RemoteSink;
use crate::write::{to_buffers, WriteOptions};

/// Writes `array` as a directory container at `url` (`s3://bucket/prefix`,
/// `gs://…`, `az://…`, `file:///…`): every buffer, then `metadata.json`,
/// so that the container is readable only once complete. On any error the
/// objects already uploaded are deleted. The prefix must hold no object.
///
/// ```
/// use akbuf::{write_url, Fetch, WriteOptions};
///
/// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let dir = tempfile::tempdir()?;
/// let url = format!("file://{}/copy", dir.path().display());
/// write_url(&events.field("run")?, &url, &WriteOptions::default(), &Fetch::default())?;
/// assert_eq!(akbuf::open(&url)?.to_json()?, events.field("run")?.to_json()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`crate::Error::Container`] naming the URL (bad URL or settings, an
/// occupied prefix, the store's refusal), and what [`to_buffers`] reports.
pub fn write_url(
    array: &Array,
    url: &str,
    options: &WriteOptions,
    fetch: &Fetch,
) -> Result<Metadata> {
    let template = recorded_template(options, "a remote container")?;
    let mut sink = RemoteSink::create(url, fetch)?;
    let (form, _) = to_buffers(array, &mut sink, options)?;
    let meta = written_metadata(form, array, options, template)?;
    sink.commit(&meta)?;
    Ok(meta)
}
