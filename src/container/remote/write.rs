//! A remote container's `metadata.json`, read and committed (feature
//! `remote`), and [`write_url`].

use super::super::metadata::{recorded_template, written_metadata, Metadata, METADATA_LIMIT};
use crate::array::Array;
use crate::error::{Error, Result};
use crate::objstore::Fetch;
use crate::sink::RemoteSink;
use crate::source::RemoteSource;
use crate::write::{to_buffers, WriteOptions};

/// The container's `metadata.json`, parsed.
pub(super) fn read_metadata(source: &RemoteSource) -> Result<Metadata> {
    let text = source.read_metadata(METADATA_LIMIT)?;
    Metadata::from_json(&text).map_err(|e| match e {
        Error::Container { message, .. } => {
            Error::container(source.url(), format!("metadata.json: {message}"))
        }
        other => other,
    })
}

impl RemoteSink {
    /// Writes `metadata.json`, the last object: the container is readable
    /// from then on.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the URL when the store refuses it; the
    /// objects already uploaded are then deleted.
    pub fn commit(self, metadata: &Metadata) -> Result<()> {
        self.commit_with("metadata.json", metadata.to_json().as_bytes())
    }
}

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
