//! The object-store kit of remote containers: the store behind a URL
//! (made once per bucket or host and settings, its retries, time limits and
//! `Accept-Encoding: identity`), the runtime requests run on, and uploads.

use super::Fetch;
use crate::error::{Error, Result};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutPayload};
use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
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
                .map_err(|e| Error::container_caused(url, "", e))?;
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
        // A nested key (a Zarr store's `a/c/0`): one segment per part.
        key.split('/')
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    pub(crate) fn block<F: Future + Send>(&self, future: F) -> F::Output
    where
        F::Output: Send,
    {
        block_on(&self.handle, future)
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
    crate::error::describe(e)
}

/// Uploads `bytes` to `key` under the store's prefix.
pub(crate) async fn put(store: &Store, key: &str, bytes: Vec<u8>) -> object_store::Result<()> {
    store
        .store
        .put(&store.location(key), PutPayload::from(bytes))
        .await
        .map(drop)
}

/// The `Content-Encoding` of an answer, unless none was applied.
pub(crate) fn encoded(r: &object_store::GetResult) -> Option<String> {
    let enc = r
        .attributes
        .get(&object_store::Attribute::ContentEncoding)?
        .trim()
        .to_string();
    (!enc.is_empty() && !enc.eq_ignore_ascii_case("identity")).then_some(enc)
}
