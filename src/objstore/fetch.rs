//! [`Fetch`]: how a remote container's bytes are fetched.

/// How a remote container's buffers are fetched (feature `remote`):
/// request coalescing, request sizes, parallelism, retries and the store's
/// settings. The defaults are uproot's coalescing rules (ranges closer
/// than 32 KiB merged, at most 10 MiB a request) and object_store's
/// parallelism (10 requests in flight).
///
/// ```
/// use akbuf::{Fetch, Options};
///
/// let fetch = Fetch::default();
/// assert_eq!((fetch.gap, fetch.max_request, fetch.parallel), (32 << 10, 10 << 20, 10));
/// let opts = Options::default().with_fetch(
///     Fetch::default()
///         .with_config("aws_endpoint", "http://127.0.0.1:9000")
///         .with_parallel(32),
/// );
/// assert_eq!(opts.fetch.parallel, 32);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Fetch {
    /// Ranges of one object at most this many bytes apart are fetched by
    /// one request (default 32 KiB, as uproot).
    pub gap: usize,
    /// The most bytes one request asks for: a larger read is split into
    /// parallel range requests of this size (default 10 MiB, as uproot).
    pub max_request: usize,
    /// Requests in flight at once for one batch or one large read
    /// (default 10, as object_store's `get_ranges`).
    pub parallel: usize,
    /// How many times a transient failure (a 5xx answer, a reset
    /// connection, a timeout) is retried, with exponential backoff from
    /// 50 ms up to 2 s (default 4).
    pub retries: usize,
    /// The time budget of one buffer read (default 30 s): it fails once
    /// this long has passed without a byte from the server, whatever its
    /// requests, retries and fallbacks; one request's own limit, and the
    /// time its retries may take, are the same. The CLI's
    /// `--request-timeout SECS` (or `AKBUF_REQUEST_TIMEOUT`) sets it.
    pub timeout: std::time::Duration,
    /// Store settings under object_store's names (`aws_endpoint`,
    /// `aws_access_key_id`, `aws_region`, `google_service_account`,
    /// `azure_storage_account_name`, ...), over those of the environment
    /// (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
    pub config: Vec<(String, String)>,
    /// The tokio runtime to run requests on (default: one of akbuf's own,
    /// two threads, shared by every remote container).
    #[cfg(feature = "remote")]
    pub handle: Option<tokio::runtime::Handle>,
}

impl Default for Fetch {
    fn default() -> Fetch {
        Fetch {
            gap: 32 << 10,
            max_request: 10 << 20,
            parallel: 10,
            retries: 4,
            timeout: std::time::Duration::from_secs(30),
            config: Vec::new(),
            #[cfg(feature = "remote")]
            handle: None,
        }
    }
}

impl Fetch {
    /// Adds a store setting (see [`Fetch::config`]).
    ///
    /// ```
    /// let fetch = akbuf::Fetch::default().with_config("aws_region", "eu-west-1");
    /// assert_eq!(fetch.config, vec![("aws_region".to_string(), "eu-west-1".to_string())]);
    /// ```
    #[must_use]
    pub fn with_config(mut self, key: &str, value: &str) -> Fetch {
        self.config.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets the time budget of one buffer read (see [`Fetch::timeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let fetch = akbuf::Fetch::default().with_timeout(Duration::from_secs(5));
    /// assert_eq!(fetch.timeout, Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Fetch {
        self.timeout = timeout;
        self
    }

    /// Sets the requests in flight at once (at least one).
    ///
    /// ```
    /// assert_eq!(akbuf::Fetch::default().with_parallel(0).parallel, 1);
    /// ```
    #[must_use]
    pub fn with_parallel(mut self, parallel: usize) -> Fetch {
        self.parallel = parallel.max(1);
        self
    }

    /// Sets the largest gap merged and the largest request.
    ///
    /// ```
    /// let fetch = akbuf::Fetch::default().with_coalescing(1 << 20, 8 << 20);
    /// assert_eq!((fetch.gap, fetch.max_request), (1 << 20, 8 << 20));
    /// ```
    #[must_use]
    pub fn with_coalescing(mut self, gap: usize, max_request: usize) -> Fetch {
        self.gap = gap;
        self.max_request = max_request.max(1);
        self
    }

    /// Sets the retries of a transient failure.
    ///
    /// ```
    /// assert_eq!(akbuf::Fetch::default().with_retries(0).retries, 0);
    /// ```
    #[must_use]
    pub fn with_retries(mut self, retries: usize) -> Fetch {
        self.retries = retries;
        self
    }

    /// Runs requests on this runtime instead of akbuf's own.
    ///
    /// ```
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let fetch = akbuf::Fetch::default().with_handle(runtime.handle().clone());
    /// assert!(fetch.handle.is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "remote")]
    #[must_use]
    pub fn with_handle(mut self, handle: tokio::runtime::Handle) -> Fetch {
        self.handle = Some(handle);
        self
    }
}
