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
            if let Some(enc) = encoded(&r) {
                return Ok(Err(format!(
                    "sent with Content-Encoding {enc:?}, which akbuf did not ask for (it asks for identity)"
                )));
            }
            if r.meta.size > limit {
                return Ok(Err(format!(
                    "{} bytes, more than the {limit} akbuf reads",
                    r.meta.size
                )));
            }
            let size = r.meta.size;
            let bytes = r.bytes().await?;
            if bytes.len() as u64 != size {
                return Ok(Err(format!(
                    "the body holds {} bytes where its head announced {size}",
                    bytes.len()
                )));
            }
            Ok(Ok(bytes))
        });
        match got {
            Ok(Ok(bytes)) => String::from_utf8(bytes.to_vec())
                .map_err(|_| Error::container(&url, "not UTF-8 text")),
            Ok(Err(message)) => Err(Error::container(&url, message)),
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
        // Retries stop within the read's time budget (see `Watch`).
        retry_timeout: fetch.timeout,
    };
    // Bodies as stored: a gzip-encoded answer would be read as numbers.
    let mut identity = object_store::HeaderMap::new();
    identity.insert(
        "accept-encoding",
        object_store::HeaderValue::from_static("identity"),
    );
    let mut client = ClientOptions::new()
        .with_default_headers(identity)
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
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource")
            .field("url", &self.store.url)
            .finish()
    }
}

/// Which version of an object a response came from.
#[derive(Clone, Debug, PartialEq)]
struct Version {
    e_tag: Option<String>,
    /// The store's version id (S3's `x-amz-version-id`), if any.
    version: Option<String>,
    size: u64,
    /// `Last-Modified` in seconds, 0 when the server sent none.
    modified: i64,
}

impl Version {
    fn of(meta: &object_store::ObjectMeta) -> Version {
        Version {
            e_tag: meta.e_tag.clone(),
            version: meta.version.clone(),
            size: meta.size,
            modified: meta.last_modified.timestamp(),
        }
    }

    /// Whether `other` is the same version: the same ETag and version id
    /// where both have them, and always the same size and, where both
    /// say, the same `Last-Modified`.
    fn same(&self, other: &Version) -> bool {
        let tags = match (&self.e_tag, &other.e_tag) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let ids = match (&self.version, &other.version) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let dates = self.modified == 0 || other.modified == 0 || self.modified == other.modified;
        tags && ids && dates && self.size == other.size
    }

    fn describe(&self) -> String {
        let mut s = format!("{} bytes", self.size);
        if let Some(t) = &self.e_tag {
            s.push_str(&format!(", ETag {t}"));
        }
        if let Some(v) = &self.version {
            s.push_str(&format!(", version {v}"));
        }
        if self.modified != 0 {
            s.push_str(&format!(", modified at {} s", self.modified));
        }
        s
    }
}

/// A buffer read's time budget: it expires once `limit` has passed since
/// the last sign of life from the server (an answer's head or a piece of
/// a body), however many requests, retries and fallbacks the read makes.
struct Watch {
    start: std::time::Instant,
    /// Nanoseconds from `start` to the last sign of life.
    last: std::sync::atomic::AtomicU64,
    limit: std::time::Duration,
}

impl Watch {
    fn new(limit: std::time::Duration) -> Watch {
        Watch {
            start: std::time::Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
            limit,
        }
    }

    fn alive(&self) {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last
            .fetch_max(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// Ends once the budget is spent.
    async fn expired(&self) {
        loop {
            let last = std::time::Duration::from_nanos(
                self.last.load(std::sync::atomic::Ordering::Relaxed),
            );
            let idle = self.start.elapsed().saturating_sub(last);
            if idle >= self.limit {
                return;
            }
            tokio::time::sleep(self.limit - idle).await;
        }
    }
}

/// The `Content-Encoding` of an answer, unless none was applied.
fn encoded(r: &object_store::GetResult) -> Option<String> {
    let enc = r
        .attributes
        .get(&object_store::Attribute::ContentEncoding)?
        .trim()
        .to_string();
    (!enc.is_empty() && !enc.eq_ignore_ascii_case("identity")).then_some(enc)
}

/// Whether a ranged request failed because the server would not answer a
/// range (416 for an empty object or a range past the end, or a whole
/// `200` to a ranged request): only then is another request worth it.
fn range_refused(e: &object_store::Error) -> bool {
    if matches!(e, object_store::Error::NotSupported { .. }) {
        // The HTTP store's "Range request not supported".
        return true;
    }
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if text.contains("non-partial response")
            || text.contains("416")
            || text.contains("Range Not Satisfiable")
        {
            return true;
        }
        cause = c.source();
    }
    false
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
            versions: Mutex::new(HashMap::new()),
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

    /// The size of `key` as far as it is known.
    fn known(&self, key: &str) -> Option<u64> {
        self.versions.lock().get(key).map(|v| v.size)
    }

    /// Records the version `meta` describes as the one `key` is read at,
    /// or checks that it is that version. Returns the object's size.
    fn pin(&self, key: &str, meta: &object_store::ObjectMeta) -> Result<u64> {
        let seen = Version::of(meta);
        let mut versions = self.versions.lock();
        match versions.get(key) {
            Some(first) if !first.same(&seen) => Err(self.bad(
                key,
                format!(
                    "the object changed while it was read: first {}, then {}; refusing to mix two versions",
                    first.describe(),
                    seen.describe()
                ),
            )),
            Some(_) => Ok(seen.size),
            None => {
                versions.insert(key.to_string(), seen.clone());
                Ok(seen.size)
            }
        }
    }

    /// Checks an answer's head against what was asked: no content
    /// encoding, the version `key` is read at, and exactly the bytes
    /// `asked` (the whole object when `None`; a range past the object's
    /// end is clamped to it). Returns the bytes its body must hold.
    fn check_head(
        &self,
        key: &str,
        r: &object_store::GetResult,
        asked: Option<&Range<u64>>,
    ) -> Result<Range<u64>> {
        if let Some(enc) = encoded(r) {
            {
                return Err(self.bad(
                    key,
                    format!(
                        "the server sent it with Content-Encoding {enc:?}, which akbuf did not ask for (it asks for identity) and does not decode"
                    ),
                ));
            }
        }
        let size = self.pin(key, &r.meta)?;
        let expected = match asked {
            Some(a) => a.start.min(size)..a.end.min(size),
            None => 0..size,
        };
        if r.range != expected {
            return Err(self.bad(
                key,
                format!(
                    "asked for bytes {}..{} of {size}, the server answered bytes {}..{}",
                    expected.start, expected.end, r.range.start, r.range.end
                ),
            ));
        }
        Ok(expected)
    }

    /// The error for a response that breaks the protocol.
    fn bad(&self, key: &str, message: String) -> Error {
        Error::Source {
            key: key.to_string(),
            message: format!("{}/{key}: {message}", self.store.url),
            io: None,
        }
    }

    fn error(&self, key: &str, e: object_store::Error) -> Error {
        let text = one_line(&e);
        if text.contains("timed out") {
            // A request's own time limit is the read's budget.
            return self.timed_out(key);
        }
        Error::Source {
            key: key.to_string(),
            message: format!("{}/{key}: {}", self.store.url, one_line(&e)),
            io: Some(Arc::new(std::io::Error::other(e))),
        }
    }

    /// Runs one buffer read within its time budget.
    async fn bounded<T>(
        &self,
        key: &str,
        watch: &Watch,
        read: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let read = std::pin::pin!(read);
        let expired = std::pin::pin!(watch.expired());
        match futures::future::select(read, expired).await {
            futures::future::Either::Left((got, _)) => got,
            futures::future::Either::Right(_) => Err(self.timed_out(key)),
        }
    }

    /// The error for a read whose time budget ran out.
    fn timed_out(&self, key: &str) -> Error {
        Error::Source {
            key: key.to_string(),
            message: format!(
                "{}/{key}: no answer from the server for {:?} (the request timeout: Fetch::timeout, --request-timeout, AKBUF_REQUEST_TIMEOUT)",
                self.store.url, self.store.fetch.timeout
            ),
            io: Some(Arc::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request timeout",
            ))),
        }
    }

    /// One ranged `GET` (a whole one when `range` is `None`), its head
    /// checked.
    async fn request(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        watch: &Watch,
    ) -> std::result::Result<(object_store::GetResult, Range<u64>), Fail> {
        let options = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let r = self
            .store
            .store
            .get_opts(&self.store.location(key), options)
            .await
            .map_err(Fail::Store)?;
        watch.alive();
        let body = self
            .check_head(key, &r, range.as_ref())
            .map_err(Fail::Bad)?;
        Ok((r, body))
    }

    /// The body of `r`: exactly `len` bytes, else an error.
    async fn body(
        &self,
        key: &str,
        r: object_store::GetResult,
        len: u64,
        watch: &Watch,
    ) -> Result<Buffer> {
        let len = usize::try_from(len)
            .map_err(|_| Error::read_failed(key, format!("{len} bytes do not fit in memory")))?;
        let mut stream = r.into_stream();
        let mut chunks: Vec<bytes::Bytes> = Vec::new();
        let mut got = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.error(key, e))?;
            watch.alive();
            got = got.saturating_add(chunk.len());
            if got > len {
                return Err(self.long(key, len));
            }
            chunks.push(chunk);
        }
        if got < len {
            return Err(self.bad(
                key,
                format!("the response ended after {got} of {len} bytes"),
            ));
        }
        Ok(match chunks.len() {
            0 => Buffer::from_vec(Vec::new()),
            1 => Buffer::from_owner(chunks.pop().unwrap_or_default()),
            _ => {
                let mut all = Vec::with_capacity(len);
                chunks.iter().for_each(|c| all.extend_from_slice(c));
                Buffer::from_vec(all)
            }
        })
    }

    /// The error for a body longer than the bytes its head announced.
    fn long(&self, key: &str, len: usize) -> Error {
        self.bad(
            key,
            format!("the response body holds more than the {len} bytes its head announced"),
        )
    }

    /// The body of `r` into `out`, which it must fill exactly.
    async fn body_into(
        &self,
        key: &str,
        r: object_store::GetResult,
        out: &mut [u8],
        watch: &Watch,
    ) -> Result<()> {
        let mut stream = r.into_stream();
        let mut at = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.error(key, e))?;
            watch.alive();
            if chunk.len() > out.len() - at {
                return Err(self.long(key, out.len()));
            }
            out[at..at + chunk.len()].copy_from_slice(&chunk);
            at += chunk.len();
        }
        if at < out.len() {
            return Err(self.bad(
                key,
                format!("the response ended after {at} of {} bytes", out.len()),
            ));
        }
        Ok(())
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
    ) -> Result<()> {
        let step = self.store.fetch.max_request.max(1);
        let mut jobs: Vec<BoxFuture<'_, Result<()>>> = Vec::new();
        for (part, out) in self.parts(range).into_iter().zip(dest.chunks_mut(step)) {
            jobs.push(
                async move {
                    let (r, body) = self
                        .request(key, Some(part), watch)
                        .await
                        .map_err(|f| f.into_error(self, key))?;
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
        let rest = self.fill(key, step..size, tail, watch);
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
                )
                .await?
            }
            None => self.fill(key, range, &mut dest, watch).await?,
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
                    _ => Err(self.error(key, e)),
                }
            }
            Err(f) => Err(f.into_error(self, key)),
        }
    }

    /// One buffer read, as [`Want`] says, within its time budget.
    async fn get(&self, key: &str, want: &Want) -> Result<Option<Buffer>> {
        let watch = Watch::new(self.store.fetch.timeout);
        let read = async {
            match want {
                Want::All => self.get_whole(key, &watch).await,
                // Only the bytes a node needs: a stored object larger than its
                // node's need (hostile or not) is never fetched past it.
                Want::Prefix(n) => self.get_range(key, 0..*n as u64, &watch).await,
                Want::Range(r) => {
                    self.get_range(key, r.start as u64..r.end as u64, &watch)
                        .await
                }
            }
        };
        self.bounded(key, &watch, read).await
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
            RemoteSource::check(key)?;
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

/// Why a request gave no usable answer: the store's error (retried
/// already), or an answer that broke the protocol.
enum Fail {
    Store(object_store::Error),
    Bad(Error),
}

impl Fail {
    fn into_error(self, source: &RemoteSource, key: &str) -> Error {
        match self {
            Fail::Store(e) => source.error(key, e),
            Fail::Bad(e) => e,
        }
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
        self.store.block(self.get(key, &Want::All))
    }

    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        RemoteSource::check(key)?;
        self.store.block(self.get(key, &Want::Prefix(len)))
    }

    fn read_range(&self, key: &str, range: Range<usize>) -> Result<Option<Buffer>> {
        RemoteSource::check(key)?;
        self.store.block(self.get(key, &Want::Range(range)))
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
