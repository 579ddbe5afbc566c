//! Containers in object stores and behind HTTP (feature `remote`): a
//! directory container stored as a prefix, `metadata.json` and one object
//! per buffer key, read through the `object_store` crate.
//!
//! object_store is async; [`RemoteSource`] keeps the synchronous
//! [`Source`] API by running its requests on a runtime of its own (two
//! worker threads, made on first use and shared by every remote source) or
//! on a caller's. Every read is one round trip or, for a read larger than
//! [`Fetch::max_request`], parallel range requests of that size written
//! into one allocation; [`Source::read_many`] issues a whole selection at
//! once, [`Fetch::parallel`] requests in flight, nearby ranges of one
//! object merged ([`Fetch::gap`]).

mod answers;
mod revalidate;
mod tier;

use crate::buffer::{Buffer, Residence};
use crate::disk::DiskCache;
use crate::error::{Error, Result};
use crate::objstore::plan::{coalesce, cut, destination, Job};
use crate::objstore::{Fetch, Store};
use crate::source::{Source, Want};
use answers::{range_refused, Fail, Version, Watch};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A directory container stored in an object store or behind HTTP, read
/// through `object_store` (feature `remote`).
///
/// Reads are requests: a whole buffer is one `GET` (or, from
/// [`Fetch::max_request`] bytes on, parallel range requests into one
/// allocation), a range is a ranged `GET`; sizes learnt from responses are
/// kept, never asked twice. A missing object is a missing key (`Ok(None)`);
/// transient failures are retried [`Fetch::retries`] times with backoff.
/// A server that answers a range inside an object with the whole object
/// (one without ranges) is read by whole objects from then on, each cut to
/// the bytes asked for.
///
/// Every response is checked before a byte of it is used: the status and
/// `Content-Range` must answer the bytes asked for, the body must hold
/// exactly those bytes, no `Content-Encoding` may have been applied (akbuf
/// asks for `identity`), and every response for one object must come from
/// the version its first response came from (the same ETag and version
/// id, else the same size and `Last-Modified`): an object rewritten while
/// it is read is an error naming the key, never two versions stitched
/// together. A buffer read has one time budget, [`Fetch::timeout`]: it
/// fails once that long has passed without a byte from the server,
/// whatever its requests, retries and fallbacks.
///
/// ```
/// use akbuf::{Fetch, RemoteSource, Source};
///
/// // A local folder through object_store's file store, as a URL.
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let source = RemoteSource::open(&format!("file://{path}"), &Fetch::default())?;
/// assert_eq!(source.read("node10-offsets")?.unwrap().len(), 8008);
/// assert_eq!(source.size("node10-offsets"), Some(8008)); // learnt, not asked
/// assert!(source.read("no-such-key")?.is_none());
/// # Ok::<(), akbuf::Error>(())
/// ```
pub struct RemoteSource {
    store: Store,
    /// The version each object was first served at (its size included).
    versions: Mutex<HashMap<String, Version>>,
    /// Set once the server refused a range inside an object (it answers
    /// ranges with the whole object): from then on every read is one
    /// plain `GET` of its object, cut to the bytes asked for.
    no_ranges: std::sync::atomic::AtomicBool,
    /// When the source was made, rounded up to the next second: objects
    /// modified later changed since the open (`If-Unmodified-Since`).
    opened: chrono::DateTime<chrono::Utc>,
    /// The disk tier, if any.
    disk: Option<Arc<DiskCache>>,
    /// The version of `metadata.json` this open read (its disk name; empty
    /// when not read or unnamed).
    container: Mutex<String>,
    /// `metadata.json`'s version as a listing at open gave it.
    listed_metadata: Mutex<Option<answers::Version>>,
    /// A Zarr store's keys (nested: `node4-offsets/c/0`): the name of
    /// its group's metadata object (`zarr.json`, or a Zarr v2 group's
    /// `.zattrs`).
    zarr: Option<&'static str>,
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource")
            .field("url", &self.store.url)
            .finish()
    }
}

impl RemoteSource {
    /// The container at `url` (`s3://bucket/prefix`, `gs://…`, `az://…`,
    /// `http(s)://host/path`, `file:///path`), with credentials and
    /// endpoints from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`) and
    /// `fetch.config`. Makes no request.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the URL for a bad URL, an unknown store
    /// or setting, or a store that cannot be configured.
    pub fn open(url: &str, fetch: &Fetch) -> Result<RemoteSource> {
        Store::open(url, fetch).map(RemoteSource::from_store)
    }

    /// A source over any object store (an in-memory one, a wrapped one):
    /// the container's objects are under `prefix`; `url` names it in
    /// messages.
    ///
    /// ```
    /// use akbuf::{Fetch, RemoteSource, Source};
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use std::sync::Arc;
    ///
    /// let store = Arc::new(InMemory::new());
    /// let rt = tokio::runtime::Runtime::new()?;
    /// rt.block_on(store.put(&Path::from("events/node1-data"), vec![1u8, 2, 3].into()))?;
    /// let source = RemoteSource::with_store(store, "events", "memory:///events", &Fetch::default())?;
    /// assert_eq!(source.read("node1-data")?.unwrap().as_slice(), &[1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Container`] for a bad prefix.
    pub fn with_store(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        url: &str,
        fetch: &Fetch,
    ) -> Result<RemoteSource> {
        let prefix = StorePath::parse(prefix.trim_matches('/'))
            .map_err(|e| Error::container(url, format!("not a valid object path: {e}")))?;
        Store::new(store, prefix, url, fetch).map(RemoteSource::from_store)
    }

    pub(crate) fn from_store(store: Store) -> RemoteSource {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let opened = i64::try_from(now)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s.saturating_add(1), 0))
            .unwrap_or_default();
        RemoteSource {
            store,
            versions: Mutex::new(HashMap::new()),
            no_ranges: std::sync::atomic::AtomicBool::new(false),
            opened,
            disk: None,
            container: Mutex::new(String::new()),
            listed_metadata: Mutex::new(None),
            zarr: None,
        }
    }

    /// Serves a Zarr group's keys instead of a directory container's:
    /// nested keys whose every part is a plain object name
    /// (`node4-offsets/c/0`), the metadata object the group's `zarr.json`.
    #[cfg_attr(not(feature = "zarr"), allow(dead_code))]
    #[must_use]
    pub(crate) fn for_zarr(mut self) -> RemoteSource {
        self.zarr = Some("zarr.json");
        self
    }

    /// [`RemoteSource::for_zarr`] for a Zarr v2 group: its metadata object
    /// the group's `.zattrs` (its attributes: the form and the length).
    #[cfg_attr(not(feature = "zarr"), allow(dead_code))]
    #[must_use]
    pub(crate) fn for_zarr_v2(mut self) -> RemoteSource {
        self.zarr = Some(".zattrs");
        self
    }

    /// The container's metadata object.
    pub(crate) fn metadata_name(&self) -> &'static str {
        self.zarr.unwrap_or("metadata.json")
    }

    /// Whether `key` names an object of this container (see
    /// [`RemoteSource::check`]).
    fn key_ok(&self, key: &str) -> bool {
        if let Some(metadata) = self.zarr {
            key != metadata && key.split('/').all(plain_key)
        } else {
            plain_key(key)
        }
    }

    /// Reads through `disk`, a persistent tier on local disk (as a
    /// [`Cache`](crate::Cache) with [`with_disk`](crate::Cache::with_disk)
    /// gives a remote container opened over it): byte ranges already
    /// there at the version read are served from it, the others fetched
    /// and kept.
    ///
    /// ```
    /// use akbuf::{DiskCache, Fetch, RemoteSource, Source};
    /// use std::sync::Arc;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let disk = Arc::new(DiskCache::new(dir.path()));
    /// let url = format!("file://{}", concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"));
    /// let source = RemoteSource::open(&url, &Fetch::default())?.with_disk(Arc::clone(&disk));
    /// source.read("node10-offsets")?;
    /// assert_eq!(disk.stats().stored, 1);
    /// // Another source (another process): once an answer told it the
    /// // object's version, what the tier holds at that version is served
    /// // from disk.
    /// let again = RemoteSource::open(&url, &Fetch::default())?.with_disk(Arc::clone(&disk));
    /// again.read_prefix("node10-offsets", 8)?;
    /// let more = again.read_range("node10-offsets", 8..16)?.unwrap();
    /// assert_eq!(more.len(), 8);
    /// assert_eq!(disk.stats().hits, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_disk(mut self, disk: Arc<DiskCache>) -> RemoteSource {
        self.disk = Some(disk);
        self
    }

    /// The container's URL (without a trailing `/`).
    ///
    /// ```
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events/");
    /// let source = akbuf::RemoteSource::open(&format!("file://{path}"), &Default::default())?;
    /// assert!(source.url().ends_with("/data/events"));
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn url(&self) -> &str {
        &self.store.url
    }

    /// Refuses a key that is not one plain object name under the prefix:
    /// servers decode escapes and resolve `..` (nginx serves
    /// `prefix/..%2Fx` as `x`), so a key with `/`, `\`, `%`, a control
    /// character, or that is `.`, `..` or `metadata.json`, could name an
    /// object outside the container.
    fn check(&self, key: &str) -> Result<()> {
        if !self.key_ok(key) {
            return Err(Error::read_failed(
                key,
                "a buffer key of a remote container must be a plain object name (no '/', '\\', '%' or control characters, not '.', '..' or metadata.json)",
            ));
        }
        Ok(())
    }

    /// The size of `key` as far as it is known.
    fn known(&self, key: &str) -> Option<u64> {
        self.versions.lock().get(key).map(|v| v.size)
    }
    /// The parts of `range` a read splits into: `max_request` bytes each.
    fn parts(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let step = self.store.fetch.max_request.max(1) as u64;
        let mut out = Vec::new();
        let mut at = range.start;
        while at < range.end {
            let end = range.end.min(at.saturating_add(step));
            out.push(at..end);
            at = end;
        }
        out
    }

    /// Bytes `range` of `key` into `dest` (exactly its length), in parallel
    /// requests of at most `max_request` bytes, each from the version the
    /// key is read at.
    async fn fill(
        &self,
        key: &str,
        range: Range<u64>,
        dest: &mut [u8],
        watch: &Watch,
        learn: bool,
    ) -> Result<()> {
        let step = self.store.fetch.max_request.max(1);
        let mut jobs: Vec<BoxFuture<'_, Result<()>>> = Vec::new();
        for (part, out) in self.parts(range).into_iter().zip(dest.chunks_mut(step)) {
            jobs.push(
                async move {
                    let (r, body) = self.request(key, Some(part), watch).await.map_err(|f| {
                        // A part inside the object, refused: a server
                        // without ranges (`get` reads it whole).
                        if learn && matches!(&f, Fail::Store(e) if range_refused(e)) {
                            self.no_ranges.store(true, Ordering::Relaxed);
                        }
                        f.into_error(self, key)
                    })?;
                    if (body.end - body.start) as usize != out.len() {
                        return Err(self.bad(
                            key,
                            format!(
                                "the object ends at byte {} where {} bytes were expected",
                                body.end,
                                out.len()
                            ),
                        ));
                    }
                    self.body_into(key, r, out, watch).await
                }
                .boxed(),
            );
        }
        stream::iter(jobs)
            .buffer_unordered(self.store.fetch.parallel.max(1))
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }

    /// The whole object: one ranged `GET` of its first `max_request`
    /// bytes, and for a larger object the rest in parallel parts.
    async fn get_whole(&self, key: &str, watch: &Watch) -> Result<Option<Buffer>> {
        let step = self.store.fetch.max_request.max(1) as u64;
        if let Some(size) = self.known(key).filter(|&s| s > step) {
            return self.get_range(key, 0..size, watch).await;
        }
        // The first part by range: its answer tells the size, and a large
        // object's rest is then asked in parallel parts (a plain GET of a
        // large object cut short would have sent more than is kept).
        let (r, body) = match self.request(key, Some(0..step), watch).await {
            Ok(got) => got,
            Err(Fail::Store(object_store::Error::NotFound { .. })) => return Ok(None),
            // An empty object (416 from S3, a whole 200 from nginx), or a
            // server without ranges: one plain GET. Nothing else is asked
            // again: a failure already had its retries.
            Err(Fail::Store(e)) if range_refused(&e) => {
                return match self.request(key, None, watch).await {
                    Ok((r, body)) => self.body(key, r, body.end, watch).await.map(Some),
                    Err(Fail::Store(object_store::Error::NotFound { .. })) => Ok(None),
                    Err(f) => Err(f.into_error(self, key)),
                };
            }
            Err(f) => return Err(f.into_error(self, key)),
        };
        let size = r.meta.size;
        if size <= step {
            return self
                .body(key, r, body.end - body.start, watch)
                .await
                .map(Some);
        }
        let total = usize::try_from(size)
            .map_err(|_| Error::read_failed(key, format!("{size} bytes do not fit in memory")))?;
        let mut dest = destination(total).map_err(|e| Error::read_io(key, e))?;
        let (head, tail) = dest.split_at_mut(step as usize);
        let first = self.body_into(key, r, head, watch);
        let rest = self.fill(key, step..size, tail, watch, true);
        futures::future::try_join(first, rest).await?;
        Ok(Some(Buffer::with_residence(dest, Residence::Heap)))
    }

    /// Bytes `range` of the object (fewer if it ends first).
    async fn get_range(
        &self,
        key: &str,
        range: Range<u64>,
        watch: &Watch,
    ) -> Result<Option<Buffer>> {
        let known = self.known(key);
        let range = match known {
            Some(size) => range.start.min(size)..range.end.min(size),
            None => range,
        };
        if range.is_empty() {
            // Whether the key exists still matters.
            if known.is_some() {
                return Ok(Some(Buffer::from_vec(Vec::new())));
            }
            return match self.store.store.head(&self.store.location(key)).await {
                Ok(meta) => {
                    watch.alive();
                    self.pin(key, &meta)?;
                    Ok(Some(Buffer::from_vec(Vec::new())))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.error(key, e)),
            };
        }
        let step = self.store.fetch.max_request.max(1) as u64;
        if range.end - range.start <= step {
            return self.get_span(key, range, watch).await;
        }
        if known.is_none() {
            // All parts at once (one round trip): the object is expected to
            // hold the range, as a node's need says. An answer that is not
            // that (a shorter or missing object, a server without ranges, a
            // bad answer) is left to the careful path below.
            let len = usize::try_from(range.end - range.start)
                .map_err(|_| Error::read_failed(key, "the range does not fit in memory"))?;
            let mut dest = destination(len).map_err(|e| Error::read_io(key, e))?;
            match self.fill(key, range.clone(), &mut dest, watch, false).await {
                Ok(()) => return Ok(Some(Buffer::with_residence(dest, Residence::Heap))),
                Err(e) if answers::is_changed(&e) => return Err(e),
                Err(_) => {}
            }
        }
        let (first, size) = match known {
            Some(size) => (None, size),
            None => {
                // The first part tells the size; the rest follows in parallel.
                let Some(first) = self
                    .get_span(key, range.start..range.start + step, watch)
                    .await?
                else {
                    return Ok(None);
                };
                match self.known(key) {
                    Some(size) if size > range.start + step => (Some(first), size),
                    _ => return Ok(Some(first)),
                }
            }
        };
        let range = range.start..range.end.min(size);
        let len = usize::try_from(range.end - range.start)
            .map_err(|_| Error::read_failed(key, "the range does not fit in memory"))?;
        let mut dest = destination(len).map_err(|e| Error::read_io(key, e))?;
        match &first {
            Some(first) => {
                dest[..first.len()].copy_from_slice(first.as_slice());
                let done = first.len();
                self.fill(
                    key,
                    range.start + done as u64..range.end,
                    &mut dest[done..],
                    watch,
                    true,
                )
                .await?
            }
            None => self.fill(key, range, &mut dest, watch, true).await?,
        };
        Ok(Some(Buffer::with_residence(dest, Residence::Heap)))
    }

    /// Bytes `range` of the object by one ranged request (fewer if it ends
    /// first; none past its end).
    async fn get_span(
        &self,
        key: &str,
        range: Range<u64>,
        watch: &Watch,
    ) -> Result<Option<Buffer>> {
        match self.request(key, Some(range.clone()), watch).await {
            Ok((r, body)) => self
                .body(key, r, body.end - body.start, watch)
                .await
                .map(Some),
            Err(Fail::Store(object_store::Error::NotFound { .. })) => Ok(None),
            Err(Fail::Store(e)) if range_refused(&e) => {
                // A range past the end: the buffer is shorter.
                match self.store.store.head(&self.store.location(key)).await {
                    Ok(meta) if meta.size <= range.start => {
                        watch.alive();
                        self.pin(key, &meta)?;
                        Ok(Some(Buffer::from_vec(Vec::new())))
                    }
                    // Bytes that are there, refused: a server without
                    // ranges (`get` reads whole objects from now on).
                    Ok(meta) => {
                        watch.alive();
                        self.pin(key, &meta)?;
                        self.no_ranges.store(true, Ordering::Relaxed);
                        Err(self.error(key, e))
                    }
                    _ => Err(self.error(key, e)),
                }
            }
            Err(f) => Err(f.into_error(self, key)),
        }
    }

    /// Bytes `range` of the object (fewer if it ends first), from one
    /// plain `GET` of the whole object: for a server without ranges.
    async fn get_cut(&self, key: &str, range: Range<u64>, watch: &Watch) -> Result<Option<Buffer>> {
        let whole = match self.request(key, None, watch).await {
            Ok((r, body)) => self.body(key, r, body.end, watch).await?,
            Err(Fail::Store(object_store::Error::NotFound { .. })) => return Ok(None),
            Err(f) => return Err(f.into_error(self, key)),
        };
        let len = whole.len() as u64;
        let (start, end) = (range.start.min(len), range.end.min(len));
        whole
            .slice(start as usize, (end - start) as usize)
            .map(Some)
    }

    /// One buffer read, as [`Want`] says, within its time budget: from
    /// the disk tier if it holds the bytes at the version read, else from
    /// the store (kept on disk then), this process's turn taken on the
    /// object so that processes sharing the tier fetch it once.
    async fn get(&self, key: &str, want: &Want) -> Result<Option<Buffer>> {
        let watch = Watch::new(self.store.fetch.timeout);
        let range = match want {
            Want::All => 0..u64::MAX,
            Want::Prefix(n) => 0..*n as u64,
            Want::Range(r) => r.start as u64..r.end as u64,
        };
        let Some(disk) = &self.disk else {
            return self.get_net(key, want, range, &watch).await;
        };
        if let Some(bytes) = self.disk_read(key, &range) {
            return Ok(Some(bytes));
        }
        let _turn = self.turn(key, &watch).await;
        if let Some(bytes) = self.disk_read(key, &range) {
            return Ok(Some(bytes));
        }
        disk.missed();
        let got = self.get_net(key, want, range.clone(), &watch).await;
        if let Ok(Some(bytes)) = &got {
            self.disk_keep(key, range.start, bytes);
        }
        got
    }

    /// One buffer read from the store.
    async fn get_net(
        &self,
        key: &str,
        want: &Want,
        range: Range<u64>,
        watch: &Watch,
    ) -> Result<Option<Buffer>> {
        if self.no_ranges.load(Ordering::Relaxed) {
            let whole = self.get_cut(key, range, watch);
            return self.bounded(key, watch, whole).await;
        }
        let read = async {
            match want {
                Want::All => self.get_whole(key, watch).await,
                // Only the bytes a node needs: a stored object larger than its
                // node's need (hostile or not) is never fetched past it.
                Want::Prefix(n) => self.get_range(key, 0..*n as u64, watch).await,
                Want::Range(r) => {
                    self.get_range(key, r.start as u64..r.end as u64, watch)
                        .await
                }
            }
        };
        match self.bounded(key, watch, read).await {
            // This read found that the server answers no range: once more,
            // whole (within the same budget).
            Err(_) if self.no_ranges.load(Ordering::Relaxed) => {
                let whole = self.get_cut(key, range, watch);
                self.bounded(key, watch, whole).await
            }
            other => other,
        }
    }

    /// Reads the requests together: whole reads and prefixes one request
    /// each; ranges of one object merged when closer than [`Fetch::gap`]
    /// (up to [`Fetch::max_request`] a request) and cut apart again.
    async fn get_many(&self, requests: &[(&str, Want)]) -> Vec<Result<Option<Buffer>>> {
        let plan = coalesce(requests, &self.store.fetch);
        let mut jobs: Vec<BoxFuture<'_, (usize, Result<Option<Buffer>>)>> = Vec::new();
        for (i, job) in plan.iter().enumerate() {
            jobs.push(
                async move {
                    let got = match job {
                        Job::One(r) => self.get(requests[*r].0, &requests[*r].1).await,
                        Job::Merged { key, range, .. } => {
                            self.get(key, &Want::Range(range.clone())).await
                        }
                    };
                    (i, got)
                }
                .boxed(),
            );
        }
        let fetched: Vec<(usize, Result<Option<Buffer>>)> = stream::iter(jobs)
            .buffer_unordered(self.store.fetch.parallel.max(1))
            .collect()
            .await;
        let mut out: Vec<Option<Result<Option<Buffer>>>> = requests.iter().map(|_| None).collect();
        for (i, got) in fetched {
            match &plan[i] {
                Job::One(r) => out[*r] = Some(got),
                Job::Merged { range, members, .. } => {
                    for &m in members {
                        let Want::Range(want) = &requests[m].1 else {
                            continue;
                        };
                        out[m] = Some(got.clone().and_then(|b| match b {
                            Some(parent) => cut(&parent, range.start, want).map(Some),
                            None => Ok(None),
                        }));
                    }
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Err(Error::read_failed("?", "a request was lost"))))
            .collect()
    }

    /// The stored sizes of `keys`: known ones at once, the others by
    /// `HEAD` requests, [`Fetch::parallel`] at a time.
    async fn stat(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        let mut jobs: Vec<BoxFuture<'_, Result<Option<u64>>>> = Vec::new();
        for &key in keys {
            jobs.push(self.stat_one(key).boxed());
        }
        stream::iter(jobs)
            .buffered(self.store.fetch.parallel.max(1))
            .collect()
            .await
    }

    /// The stored size of `key`: known, or asked by a `HEAD` request.
    async fn stat_one(&self, key: &str) -> Result<Option<u64>> {
        {
            self.check(key)?;
            if let Some(n) = self.known(key) {
                return Ok(Some(n));
            }
            let watch = Watch::new(self.store.fetch.timeout);
            let head = async {
                match self.store.store.head(&self.store.location(key)).await {
                    Ok(meta) => self.pin(key, &meta).map(Some),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(self.error(key, e)),
                }
            };
            self.bounded(key, &watch, head).await
        }
    }
}

/// Whether `key` is one plain object name (see [`RemoteSource::check`]).
pub(crate) fn plain_key(key: &str) -> bool {
    crate::source::dir::is_plain_file_name(key)
        && key != "metadata.json"
        && !key.contains('%')
        && !key.chars().any(char::is_control)
}

impl Source for RemoteSource {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        self.check(key)?;
        self.store.block(self.get(key, &Want::All))
    }

    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        self.check(key)?;
        self.store.block(self.get(key, &Want::Prefix(len)))
    }

    fn read_range(&self, key: &str, range: Range<usize>) -> Result<Option<Buffer>> {
        self.check(key)?;
        self.store.block(self.get(key, &Want::Range(range)))
    }

    fn read_many(&self, requests: &[(&str, Want)]) -> Vec<Result<Option<Buffer>>> {
        // Refused keys answer alone; the rest go as one batch.
        let ok: Vec<(&str, Want)> = requests
            .iter()
            .filter(|(k, _)| self.key_ok(k))
            .cloned()
            .collect();
        let mut fetched = self.store.block(self.get_many(&ok)).into_iter();
        requests
            .iter()
            .map(|(k, _)| match self.check(k) {
                Ok(()) => fetched
                    .next()
                    .unwrap_or_else(|| Err(Error::read_failed(*k, "a request was lost"))),
                Err(e) => Err(e),
            })
            .collect()
    }

    fn size(&self, key: &str) -> Option<u64> {
        self.known(key)
    }

    fn stat_many(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        self.store.block(self.stat(keys))
    }

    fn describe(&self) -> String {
        self.store.url.clone()
    }

    fn id(&self) -> Option<String> {
        Some(self.store.url.clone())
    }
}
