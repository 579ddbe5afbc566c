//! Writing a directory container into an object store (feature `remote`):
//! one object per buffer key under the prefix, `metadata.json` last, so
//! that a half-finished upload is never a readable container; a sink
//! dropped before [`RemoteSink::commit`] deletes what it uploaded.

use crate::error::{Error, Result};
use crate::objstore::{put, Fetch, Store};
use crate::sink::{written_twice, FillFn, Sink};
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, WriteMultipart};
use std::collections::HashSet;

/// A sink writing a directory container under a URL's prefix
/// (`s3://bucket/prefix`, `gs://…`, `az://…`, `file:///…`).
///
/// Nothing is readable until [`RemoteSink::commit`] writes `metadata.json`;
/// a sink dropped without committing (a failed write) deletes every
/// object it uploaded, so the destination is as it was.
///
/// ```
/// use akbuf::{Fetch, Metadata, RemoteSink, Sink};
///
/// let dir = tempfile::tempdir()?;
/// let url = format!("file://{}/out", dir.path().display());
/// let mut sink = RemoteSink::create(&url, &Fetch::default())?;
/// sink.put("node0-data", &[1, 2, 3])?;
/// assert!(akbuf::open(&url).is_err()); // no metadata.json yet
/// sink.commit(&Metadata::new(akbuf::Form::from_json(r#"{"class": "NumpyArray", "primitive": "uint8", "form_key": "node0"}"#)?, 3))?;
/// assert_eq!(akbuf::open(&url)?.to_json()?, "[1,2,3]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RemoteSink {
    store: Store,
    written: Vec<String>,
    keys: HashSet<String>,
    committed: bool,
    /// A Zarr group's objects: nested keys (`node4-offsets/c/0`), each
    /// part a plain name; `zarr.json` at the top is the commit's.
    zarr: bool,
}

impl std::fmt::Debug for RemoteSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSink")
            .field("url", &self.store.url)
            .field("written", &self.written.len())
            .finish()
    }
}

impl RemoteSink {
    /// A sink for a new container at `url`: refused if an object already
    /// exists under the prefix (or, where the store cannot list, if it
    /// has a `metadata.json`). Makes one request.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the URL: a bad URL or configuration, an
    /// existing container, or the store's refusal (credentials, endpoint).
    pub fn create(url: &str, fetch: &Fetch) -> Result<RemoteSink> {
        if url.starts_with("file://") {
            // A local store needs its folder before it opens.
            std::fs::create_dir_all(crate::url::file_url_path(url)?)
                .map_err(|e| Error::container_io(url, "creating the folder", e))?;
        }
        let store = Store::open(url, fetch)?;
        let prefix = store.prefix.clone();
        let occupied = store.block(async {
            let mut listing = store.store.list(Some(&prefix));
            match listing.try_next().await {
                Ok(first) => Ok(first.map(|m| m.location.to_string())),
                Err(object_store::Error::NotImplemented { .. })
                | Err(object_store::Error::NotSupported { .. }) => {
                    match store.store.head(&store.location("metadata.json")).await {
                        Ok(_) => Ok(Some("metadata.json".to_string())),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        });
        match occupied {
            Ok(None) => {}
            Ok(Some(what)) => {
                return Err(Error::container(
                    url,
                    format!("already holds objects ({what}); akbuf writes only to an empty prefix"),
                ))
            }
            Err(e) => return Err(Error::container_caused(url, "", e)),
        }
        Ok(RemoteSink {
            store,
            written: Vec::new(),
            keys: HashSet::new(),
            committed: false,
            zarr: false,
        })
    }

    /// Takes a Zarr group's keys instead of a directory container's (see
    /// the field `zarr`).
    #[cfg_attr(not(feature = "zarr"), allow(dead_code))]
    #[must_use]
    pub(crate) fn for_zarr(mut self) -> RemoteSink {
        self.zarr = true;
        self
    }

    /// The container's URL.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let url = format!("file://{}/out", dir.path().display());
    /// let sink = akbuf::RemoteSink::create(&url, &Default::default())?;
    /// assert_eq!(sink.url(), url);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn url(&self) -> &str {
        &self.store.url
    }

    /// Writes one last object, `name` (a container's metadata), after
    /// which the sink's objects stay: [`RemoteSink::commit`] with
    /// `metadata.json` (see the example on [`RemoteSink`]).
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when the upload fails; then every object this
    /// sink uploaded is deleted.
    pub fn commit_with(mut self, name: &str, bytes: &[u8]) -> Result<()> {
        match self.store.block(put(&self.store, name, bytes.to_vec())) {
            Ok(()) => {
                self.committed = true;
                Ok(())
            }
            Err(e) => Err(Error::container_caused(
                &self.store.url,
                &format!("writing {name}"),
                e,
            )),
        }
    }
}

impl Drop for RemoteSink {
    fn drop(&mut self) {
        if self.committed || self.written.is_empty() {
            return;
        }
        let store = &self.store;
        let written = std::mem::take(&mut self.written);
        // Best effort: the objects of an upload that failed.
        store.block(async {
            for key in &written {
                let _ = store.store.delete(&store.location(key)).await;
            }
        });
    }
}

impl Sink for RemoteSink {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        self.put_owned(key, bytes.to_vec())
    }

    /// A buffer larger than one part ([`Fetch::max_request`], at least
    /// S3's 5 MiB) goes up as a multipart upload, streamed: at most
    /// [`Fetch::parallel`] parts in memory and in flight, and no 5 GiB
    /// single-request limit.
    fn put_with(&mut self, key: &str, len: usize, fill: &mut FillFn<'_>) -> Result<()> {
        let part = self.store.fetch.max_request.max(5 << 20);
        if len <= part {
            let mut v = Vec::with_capacity(len);
            fill(&mut v).map_err(|e| Error::sink_io(key, e))?;
            return self.put_owned(key, v);
        }
        self.check_key(key)?;
        if !self.keys.insert(key.to_string()) {
            return Err(written_twice(key));
        }
        let store = &self.store;
        let failed =
            |e: object_store::Error| Error::sink_caused(key, &format!("{}/{key}", store.url), e);
        let loc = store.location(key);
        let upload = store
            .block(store.store.put_multipart(&loc))
            .map_err(failed)?;
        let mut writer = Parts {
            store,
            upload: WriteMultipart::new_with_chunk_size(upload, part),
        };
        let filled = fill(&mut writer);
        let upload = writer.upload;
        match filled {
            Ok(()) => match store.block(upload.finish()) {
                Ok(_) => {
                    self.written.push(key.to_string());
                    Ok(())
                }
                Err(e) => Err(failed(e)),
            },
            Err(e) => {
                // The parts uploaded so far are discarded with the upload.
                let _ = store.block(upload.abort());
                Err(Error::sink_io(key, e))
            }
        }
    }

    fn check_key(&self, key: &str) -> Result<()> {
        let plain = crate::source::remote::plain_key;
        if self.zarr && key != "zarr.json" && key.split('/').all(plain) {
            return Ok(());
        }
        if self.zarr || !plain(key) {
            return Err(Error::sink(
                key,
                "a buffer key of a remote container must be a plain object name (no '/', '\\', '%' or control characters, not '.', '..' or metadata.json)",
            ));
        }
        Ok(())
    }
}

/// A multipart upload as a `Write`: parts of the chunk size go up as
/// they fill, at most `parallel` at once.
struct Parts<'a> {
    store: &'a Store,
    upload: WriteMultipart,
}

impl std::io::Write for Parts<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let upload = &mut self.upload;
        let parallel = self.store.fetch.parallel.max(1);
        self.store
            .block(upload.wait_for_capacity(parallel))
            .map_err(std::io::Error::other)?;
        // Parts are spawned on the store's runtime as they fill.
        let _runtime = self.store.handle.enter();
        upload.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RemoteSink {
    fn put_owned(&mut self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.reserve(key)?.send(bytes)
    }

    /// Takes `key` for one object (checked, never twice, recorded first:
    /// a failed upload may have left it behind and a sink dropped
    /// uncommitted deletes it) and gives its upload, which needs no hold
    /// on the sink: a Zarr group's chunks go up from several threads at
    /// once.
    pub(crate) fn reserve(&mut self, key: &str) -> Result<Upload> {
        self.check_key(key)?;
        if !self.keys.insert(key.to_string()) {
            return Err(written_twice(key));
        }
        self.written.push(key.to_string());
        Ok(Upload {
            store: self.store.clone(),
            key: key.to_string(),
        })
    }
}

/// One object's upload, taken from a [`RemoteSink`] by `reserve`.
pub(crate) struct Upload {
    store: Store,
    key: String,
}

impl Upload {
    /// Sends the object in one request.
    pub(crate) fn send(self, bytes: Vec<u8>) -> Result<()> {
        let (store, key) = (&self.store, self.key.as_str());
        store
            .block(put(store, key, bytes))
            .map_err(|e| Error::sink_caused(key, &format!("{}/{key}", store.url), e))
    }
}
