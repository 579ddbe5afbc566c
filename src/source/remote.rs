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

use crate::buffer::{Buffer, Residence};
use crate::error::{Error, Result};
use crate::options::Fetch;
use crate::source::{Source, Want};
use futures::future::{BoxFuture, FutureExt};
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::path::Path as StorePath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutPayload,
};
use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

/// The runtime remote sources run on unless given a handle.
fn shared_runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceCell<tokio::runtime::Runtime> = OnceCell::new();
    RUNTIME.get_or_try_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("akbuf-remote")
            .enable_all()
            .build()
            .map_err(|e| Error::container("remote", format!("cannot start its runtime: {e}")))
    })
}

/// Runs `future` to its end from synchronous code: on the calling thread,
/// or, when that thread is itself inside a runtime (where blocking on
/// another would panic), on a helper thread.
pub(crate) fn block_on<F: Future + Send>(handle: &tokio::runtime::Handle, future: F) -> F::Output
where
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return handle.block_on(future);
    }
    std::thread::scope(|s| match s.spawn(|| handle.block_on(future)).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// A store, the prefix of the container in it, and how to fetch.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) prefix: StorePath,
    /// The container's URL, for messages.
    pub(crate) url: String,
    pub(crate) handle: tokio::runtime::Handle,
    pub(crate) fetch: Fetch,
}

impl Store {
    /// The store behind `url`, configured from the environment and `fetch`.
    /// A `file://` URL is a local folder through object_store's file store.
    pub(crate) fn open(url: &str, fetch: &Fetch) -> Result<Store> {
        let bad = |m: String| Error::container(url, m);
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a valid URL: {e}")))?;
        if parsed.scheme() == "file" {
            let path = parsed
                .to_file_path()
                .map_err(|()| bad("not a local file path".into()))?;
            let local = object_store::local::LocalFileSystem::new_with_prefix(&path)
                .map_err(|e| bad(one_line(&e)))?;
            return Store::new(Arc::new(local), StorePath::default(), url, fetch);
        }
        let (scheme, prefix) = ObjectStoreScheme::parse(&parsed)
            .map_err(|e| bad(format!("not a store akbuf knows: {e}")))?;
        let store = shared_store(scheme, &parsed, fetch).map_err(bad)?;
        Store::new(store, prefix, url, fetch)
    }

    /// `store` with the container under `prefix`, on `fetch`'s runtime
    /// (or akbuf's own).
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        prefix: StorePath,
        url: &str,
        fetch: &Fetch,
    ) -> Result<Store> {
        let handle = match &fetch.handle {
            Some(h) => h.clone(),
            None => shared_runtime()?.handle().clone(),
        };
        Ok(Store {
            store,
            prefix,
            url: url.trim_end_matches('/').to_string(),
            handle,
            fetch: fetch.clone(),
        })
    }

    /// The object of `key` (one path segment under the prefix: a key with
    /// `/` or `..` stays inside it, escaped).
    pub(crate) fn location(&self, key: &str) -> StorePath {
        self.prefix.clone().join(key)
    }

    pub(crate) fn block<F: Future + Send>(&self, future: F) -> F::Output
    where
        F::Output: Send,
    {
        block_on(&self.handle, future)
    }

    /// Reads the container's `metadata.json` (at most `limit` bytes).
    pub(crate) fn read_text(&self, name: &str, limit: u64) -> Result<String> {
        let loc = self.location(name);
        let url = format!("{}/{name}", self.url);
        let got = self.block(async {
            let r = self.store.get_opts(&loc, GetOptions::default()).await?;
            if r.meta.size > limit {
                return Ok(Err(r.meta.size));
            }
            r.bytes().await.map(Ok)
        });
        match got {
            Ok(Ok(bytes)) => String::from_utf8(bytes.to_vec())
                .map_err(|_| Error::container(&url, "not UTF-8 text")),
            Ok(Err(size)) => Err(Error::container(
                &url,
                format!("{size} bytes, more than the {limit} akbuf reads"),
            )),
            Err(object_store::Error::NotFound { .. }) => Err(Error::Container {
                path: url,
                message: "no such object".into(),
                cause: Some(Arc::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such object",
                ))),
            }),
            Err(e) => Err(Error::Container {
                path: url,
                message: one_line(&e),
                cause: Some(Arc::new(std::io::Error::other(e))),
            }),
        }
    }
}

/// The store for `url`'s bucket or host with these settings: made once
/// per process and shared, so that every container opened there reuses
/// its connection pool (a new client would connect anew, a round trip or
/// more per connection). The environment is read when it is first made.
fn shared_store(
    scheme: ObjectStoreScheme,
    url: &url::Url,
    fetch: &Fetch,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    static STORES: OnceCell<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceCell::new();
    let id = format!(
        "{}|{:?}|{}|{:?}|{}",
        &url[..url::Position::BeforePath],
        fetch.config,
        fetch.retries,
        fetch.timeout,
        fetch.parallel
    );
    let stores = STORES.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(s) = stores.lock().get(&id) {
        return Ok(Arc::clone(s));
    }
    let store = build_store(scheme, url, fetch)?;
    Ok(Arc::clone(stores.lock().entry(id).or_insert(store)))
}

/// A store of this scheme: its builder from the environment, then the
/// URL, then `fetch`'s settings, retries and time limits.
fn build_store(
    scheme: ObjectStoreScheme,
    url: &url::Url,
    fetch: &Fetch,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    use object_store::{BackoffConfig, ClientOptions, RetryConfig};
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: std::time::Duration::from_millis(50),
            max_backoff: std::time::Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: fetch.retries,
        retry_timeout: std::time::Duration::from_secs(60),
    };
    let mut client = ClientOptions::new()
        .with_timeout(fetch.timeout)
        .with_connect_timeout(std::time::Duration::from_secs(5))
        .with_pool_max_idle_per_host(64.max(fetch.parallel));
    let plain_http = |endpoint: Option<&str>| endpoint.is_some_and(|e| e.starts_with("http://"));
    let unknown = |k: &str| format!("unknown setting {k:?} for {}", url.scheme());
    // The builders share no trait: the same two steps, written once.
    macro_rules! configured {
        ($builder:expr) => {{
            let mut b = $builder;
            for (k, v) in &fetch.config {
                b = b.with_config(k.to_ascii_lowercase().parse().map_err(|_| unknown(k))?, v);
            }
            b
        }};
    }
    macro_rules! built {
        ($builder:expr) => {
            Arc::new(
                $builder
                    .with_retry(retry)
                    .with_client_options(client)
                    .build()
                    .map_err(|e| one_line(&e))?,
            )
        };
    }
    Ok(match scheme {
        ObjectStoreScheme::AmazonS3 => {
            let b =
                configured!(object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str()));
            let endpoint = b.get_config_value(&object_store::aws::AmazonS3ConfigKey::Endpoint);
            if plain_http(endpoint.as_deref()) {
                client = client.with_allow_http(true);
            }
            built!(b)
        }
        ObjectStoreScheme::GoogleCloudStorage => built!(configured!(
            object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url.as_str())
        )),
        ObjectStoreScheme::MicrosoftAzure => built!(configured!(
            object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url.as_str())
        )),
        ObjectStoreScheme::Http => {
            let base = &url[..url::Position::BeforePath];
            let b = configured!(object_store::http::HttpBuilder::new().with_url(base));
            if url.scheme() == "http" {
                client = client.with_allow_http(true);
            }
            built!(b)
        }
        other => {
            return Err(format!(
                "{other:?} stores are not opened as remote containers"
            ))
        }
    })
}

/// An object_store error on one line (its chain joined).
pub(crate) fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text.replace('\n', " ")
}

/// A directory container stored in an object store or behind HTTP, read
/// through `object_store` (feature `remote`).
///
/// Reads are requests: a whole buffer is one `GET` (or, from
/// [`Fetch::max_request`] bytes on, parallel range requests into one
/// allocation), a range is a ranged `GET`; sizes learnt from responses are
/// kept, never asked twice. A missing object is a missing key (`Ok(None)`);
/// transient failures are retried [`Fetch::retries`] times with backoff.
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
    sizes: Mutex<HashMap<String, u64>>,
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
        RemoteSource {
            store,
            sizes: Mutex::new(HashMap::new()),
        }
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

    /// The container's `metadata.json`, parsed.
    pub(crate) fn metadata(&self) -> Result<crate::container::Metadata> {
        let text = self
            .store
            .read_text("metadata.json", crate::container::METADATA_LIMIT)?;
        crate::container::Metadata::from_json(&text).map_err(|e| match e {
            Error::Container { message, .. } => {
                Error::container(&self.store.url, format!("metadata.json: {message}"))
            }
            other => other,
        })
    }

    /// Refuses a key that is not one plain object name under the prefix:
    /// servers decode escapes and resolve `..` (nginx serves
    /// `prefix/..%2Fx` as `x`), so a key with `/`, `\`, `%`, a control
    /// character, or that is `.`, `..` or `metadata.json`, could name an
    /// object outside the container.
    fn check(key: &str) -> Result<()> {
        if !plain_key(key) {
            return Err(Error::read_failed(
                key,
                "a buffer key of a remote container must be a plain object name (no '/', '\\', '%' or control characters, not '.', '..' or metadata.json)",
            ));
        }
        Ok(())
    }

    fn learn(&self, key: &str, size: u64) {
        self.sizes.lock().insert(key.to_string(), size);
    }

    fn error(&self, key: &str, e: object_store::Error) -> Error {
        Error::Source {
            key: key.to_string(),
            message: format!("{}/{key}: {}", self.store.url, one_line(&e)),
            io: Some(Arc::new(std::io::Error::other(e))),
        }
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
    /// requests of at most `max_request` bytes.
    async fn fill(
        &self,
        key: &str,
        range: Range<u64>,
        dest: &mut [u8],
    ) -> object_store::Result<()> {
        let loc = self.store.location(key);
        let step = self.store.fetch.max_request.max(1);
        let mut jobs: Vec<BoxFuture<'_, object_store::Result<()>>> = Vec::new();
        for (part, out) in self.parts(range).into_iter().zip(dest.chunks_mut(step)) {
            let loc = &loc;
            jobs.push(
                async move {
                    let options = GetOptions {
                        range: Some(GetRange::Bounded(part)),
                        ..GetOptions::default()
                    };
                    let r = self.store.store.get_opts(loc, options).await?;
                    copy_stream(r.into_stream(), out).await
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
    async fn get_whole(&self, key: &str) -> Result<Option<Buffer>> {
        let step = self.store.fetch.max_request.max(1) as u64;
        let known = self.sizes.lock().get(key).copied();
        if let Some(size) = known.filter(|&s| s > step) {
            return self.get_range(key, 0..size).await;
        }
        // The first part by range: its answer tells the size, and a large
        // object's rest is then asked in parallel parts (a plain GET of a
        // large object cut short would have sent more than is kept).
        let loc = self.store.location(key);
        let first_part = GetOptions {
            range: Some(GetRange::Bounded(0..step)),
            ..GetOptions::default()
        };
        let r = match self.store.store.get_opts(&loc, first_part).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            // An empty object (416 from S3, a whole 200 from nginx), or a
            // server without ranges: one plain GET.
            Err(_) => match self.store.store.get_opts(&loc, GetOptions::default()).await {
                Ok(r) => {
                    self.learn(key, r.meta.size);
                    let bytes = r.bytes().await.map_err(|e| self.error(key, e))?;
                    return Ok(Some(Buffer::from_owner(bytes)));
                }
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.error(key, e)),
            },
        };
        let size = r.meta.size;
        self.learn(key, size);
        if size <= step {
            let bytes = r.bytes().await.map_err(|e| self.error(key, e))?;
            return Ok(Some(Buffer::from_owner(bytes)));
        }
        let total = usize::try_from(size)
            .map_err(|_| Error::read_failed(key, format!("{size} bytes do not fit in memory")))?;
        let mut dest = destination(total).map_err(|e| Error::read_io(key, e))?;
        let (head, tail) = dest.split_at_mut(step as usize);
        let first = copy_stream(r.into_stream(), head);
        let rest = self.fill(key, step..size, tail);
        futures::future::try_join(first, rest)
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(Some(Buffer::with_residence(dest, Residence::Heap)))
    }

    /// Bytes `range` of the object (fewer if it ends first).
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Option<Buffer>> {
        let known = self.sizes.lock().get(key).copied();
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
                    self.learn(key, meta.size);
                    Ok(Some(Buffer::from_vec(Vec::new())))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.error(key, e)),
            };
        }
        let step = self.store.fetch.max_request.max(1) as u64;
        if range.end - range.start <= step {
            return self.get_span(key, range).await;
        }
        let (first, size) = match known {
            Some(size) => (None, size),
            None => {
                // The first part tells the size; the rest follows in parallel.
                let Some(first) = self.get_span(key, range.start..range.start + step).await? else {
                    return Ok(None);
                };
                match self.sizes.lock().get(key).copied() {
                    Some(size) if size > range.start + step => (Some(first), size),
                    _ => return Ok(Some(first)),
                }
            }
        };
        let range = range.start..range.end.min(size);
        let len = usize::try_from(range.end - range.start)
            .map_err(|_| Error::read_failed(key, "the range does not fit in memory"))?;
        let mut dest = destination(len).map_err(|e| Error::read_io(key, e))?;
        let rest = match &first {
            Some(first) => {
                dest[..first.len()].copy_from_slice(first.as_slice());
                let done = first.len();
                self.fill(key, range.start + done as u64..range.end, &mut dest[done..])
                    .await
            }
            None => self.fill(key, range, &mut dest).await,
        };
        match rest {
            Ok(()) => Ok(Some(Buffer::with_residence(dest, Residence::Heap))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(key, e)),
        }
    }

    /// Bytes `range` of the object by one ranged request (fewer if it ends
    /// first; none past its end).
    async fn get_span(&self, key: &str, range: Range<u64>) -> Result<Option<Buffer>> {
        let loc = self.store.location(key);
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        match self.store.store.get_opts(&loc, options).await {
            Ok(r) => {
                self.learn(key, r.meta.size);
                let bytes = r.bytes().await.map_err(|e| self.error(key, e))?;
                Ok(Some(Buffer::from_owner(bytes)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => {
                // A range past the end: the buffer is shorter.
                match self.store.store.head(&loc).await {
                    Ok(meta) if meta.size <= range.start => {
                        self.learn(key, meta.size);
                        Ok(Some(Buffer::from_vec(Vec::new())))
                    }
                    _ => Err(self.error(key, e)),
                }
            }
        }
    }

    /// One request, as [`Want`] says.
    async fn get(&self, key: &str, want: &Want) -> Result<Option<Buffer>> {
        match want {
            Want::All => self.get_whole(key).await,
            // Only the bytes a node needs: a stored object larger than its
            // node's need (hostile or not) is never fetched past it.
            Want::Prefix(n) => self.get_range(key, 0..*n as u64).await,
            Want::Range(r) => self.get_range(key, r.start as u64..r.end as u64).await,
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
                            self.get_range(key, range.start as u64..range.end as u64)
                                .await
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
}

/// The memory a large read lands in: an anonymous map of its own (given
/// back at drop), in huge pages where the kernel offers them (a 1 GiB
/// read then takes 512 page faults instead of 262,144).
fn destination(len: usize) -> std::io::Result<memmap2::MmapMut> {
    let map = memmap2::MmapMut::map_anon(len)?;
    #[cfg(target_os = "linux")]
    {
        // Advice only: refused, the map works with small pages.
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    Ok(map)
}

/// Checks that a part was filled.
fn short(got: usize, want: usize) -> object_store::Result<()> {
    if got < want {
        return Err(object_store::Error::Generic {
            store: "akbuf",
            source: format!("the response ended after {got} of {want} bytes").into(),
        });
    }
    Ok(())
}

/// Copies a response body into `out`, which it must fill exactly.
async fn copy_stream(
    mut body: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    out: &mut [u8],
) -> object_store::Result<()> {
    let mut at = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let n = chunk.len().min(out.len() - at);
        out[at..at + n].copy_from_slice(&chunk[..n]);
        at += n;
    }
    short(at, out.len())
}

/// The bytes of `want` out of a merged response that starts at `base`. A
/// piece under half of the response is copied out, so that a small buffer
/// never keeps a large response alive uncounted; a larger one shares it,
/// holding at most twice the bytes a budget charges it for.
fn cut(parent: &Buffer, base: usize, want: &Range<usize>) -> Result<Buffer> {
    let start = (want.start - base).min(parent.len());
    let stop = (want.end - base).clamp(start, parent.len());
    let piece = parent.slice(start, stop - start)?;
    if piece.len() * 2 < parent.len() {
        return Ok(Buffer::copy_from_slice(piece.as_slice()));
    }
    Ok(piece)
}

/// One request of a batch.
#[derive(Debug, PartialEq)]
enum Job<'a> {
    /// Request `r` of the batch, alone.
    One(usize),
    /// One ranged request of `key` covering the ranges of `members`.
    Merged {
        key: &'a str,
        range: Range<usize>,
        members: Vec<usize>,
    },
}

/// Plans a batch: every non-range request alone; the ranges of each key
/// sorted and merged while the gap to the next is at most `fetch.gap` and
/// the merged request at most `fetch.max_request` (a single range larger
/// than that is still one job, split into parts when fetched).
fn coalesce<'a>(requests: &[(&'a str, Want)], fetch: &Fetch) -> Vec<Job<'a>> {
    let mut jobs = Vec::new();
    let mut ranges: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (key, want)) in requests.iter().enumerate() {
        match want {
            Want::Range(_) => ranges.entry(key).or_default().push(i),
            _ => jobs.push(Job::One(i)),
        }
    }
    let mut keys: Vec<_> = ranges.into_iter().collect();
    keys.sort_by_key(|(_, members)| members[0]);
    let range_of = |i: usize| match &requests[i].1 {
        Want::Range(r) => r.clone(),
        _ => 0..0,
    };
    for (key, mut members) in keys {
        members.sort_by_key(|&i| (range_of(i).start, range_of(i).end));
        let mut current: Option<(Range<usize>, Vec<usize>)> = None;
        for m in members {
            let r = range_of(m);
            current = match current {
                Some((span, mut group))
                    if r.start <= span.end.saturating_add(fetch.gap)
                        && r.end.max(span.end) - span.start <= fetch.max_request =>
                {
                    group.push(m);
                    Some((span.start..span.end.max(r.end), group))
                }
                Some((span, group)) => {
                    jobs.push(Job::Merged {
                        key,
                        range: span,
                        members: group,
                    });
                    Some((r, vec![m]))
                }
                None => Some((r, vec![m])),
            };
        }
        if let Some((span, group)) = current {
            jobs.push(Job::Merged {
                key,
                range: span,
                members: group,
            });
        }
    }
    jobs
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
        RemoteSource::check(key)?;
        self.store.block(self.get_whole(key))
    }

    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        RemoteSource::check(key)?;
        self.store.block(self.get(key, &Want::Prefix(len)))
    }

    fn read_range(&self, key: &str, range: Range<usize>) -> Result<Option<Buffer>> {
        RemoteSource::check(key)?;
        self.store
            .block(self.get_range(key, range.start as u64..range.end as u64))
    }

    fn read_many(&self, requests: &[(&str, Want)]) -> Vec<Result<Option<Buffer>>> {
        // Refused keys answer alone; the rest go as one batch.
        let ok: Vec<(&str, Want)> = requests
            .iter()
            .filter(|(k, _)| plain_key(k))
            .cloned()
            .collect();
        let mut fetched = self.store.block(self.get_many(&ok)).into_iter();
        requests
            .iter()
            .map(|(k, _)| match RemoteSource::check(k) {
                Ok(()) => fetched
                    .next()
                    .unwrap_or_else(|| Err(Error::read_failed(*k, "a request was lost"))),
                Err(e) => Err(e),
            })
            .collect()
    }

    fn size(&self, key: &str) -> Option<u64> {
        self.sizes.lock().get(key).copied()
    }

    fn describe(&self) -> String {
        self.store.url.clone()
    }

    fn id(&self) -> Option<String> {
        Some(self.store.url.clone())
    }
}

/// Uploads `bytes` to `key` under the store's prefix.
pub(crate) async fn put(store: &Store, key: &str, bytes: Vec<u8>) -> object_store::Result<()> {
    store
        .store
        .put(&store.location(key), PutPayload::from(bytes))
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetch(gap: usize, max: usize) -> Fetch {
        Fetch {
            gap,
            max_request: max,
            ..Fetch::default()
        }
    }

    #[test]
    fn coalescing_merges_close_ranges_of_one_key() {
        let reqs = [
            ("a", Want::Range(100..200)),
            ("b", Want::All),
            ("a", Want::Range(0..50)),
            ("a", Want::Range(10_000..10_100)),
            ("a", Want::Range(250..300)),
        ];
        let jobs = coalesce(&reqs, &fetch(64, 1 << 20));
        assert_eq!(
            jobs,
            vec![
                Job::One(1),
                Job::Merged {
                    key: "a",
                    range: 0..300,
                    members: vec![2, 0, 4]
                },
                Job::Merged {
                    key: "a",
                    range: 10_000..10_100,
                    members: vec![3]
                },
            ]
        );
        // A request size limit splits what the gap would merge.
        let jobs = coalesce(&reqs, &fetch(64, 200));
        assert_eq!(jobs.len(), 4, "{jobs:?}");
    }

    #[test]
    fn small_cuts_are_copied_out() {
        let parent = Buffer::from_vec((0u8..100).collect());
        let small = cut(&parent, 1000, &(1010..1020)).unwrap();
        assert_eq!(small.as_slice(), &(10u8..20).collect::<Vec<_>>()[..]);
        assert_ne!(small.as_slice().as_ptr(), parent.as_slice()[10..].as_ptr());
        let big = cut(&parent, 1000, &(1000..1090)).unwrap();
        assert_eq!(big.as_slice().as_ptr(), parent.as_slice().as_ptr());
    }
}
