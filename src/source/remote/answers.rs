//! What a remote answer must be before a byte of it is used (its
//! encoding, its range, the object's version, its body's length), and a
//! buffer read's one time budget.

use super::RemoteSource;
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::objstore::{encoded, one_line};
use futures::stream::StreamExt;
use object_store::{GetOptions, GetRange};
use std::future::Future;
use std::ops::Range;

/// Which version of an object a response came from.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Version {
    pub(super) e_tag: Option<String>,
    /// The store's version id (S3's `x-amz-version-id`), if any.
    pub(super) version: Option<String>,
    pub(super) size: u64,
    /// `Last-Modified` in seconds, 0 when the server sent none.
    pub(super) modified: i64,
}

impl Version {
    pub(super) fn of(meta: &object_store::ObjectMeta) -> Version {
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
    pub(super) fn same(&self, other: &Version) -> bool {
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

    pub(super) fn describe(&self) -> String {
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

/// How every error for an object that is no longer the version an open
/// read begins.
pub(super) const CHANGED: &str = "changed since it was opened";

/// Whether `e` says an object changed since the open (no other request
/// can mend that).
pub(super) fn is_changed(e: &Error) -> bool {
    matches!(e, Error::Source { message, .. } if message.contains(CHANGED))
}

/// A buffer read's time budget: it expires once `limit` has passed since
/// the last sign of life from the server (an answer's head or a piece of
/// a body), however many requests, retries and fallbacks the read makes.
pub(super) struct Watch {
    start: std::time::Instant,
    /// Nanoseconds from `start` to the last sign of life.
    last: std::sync::atomic::AtomicU64,
    pub(super) limit: std::time::Duration,
}

impl Watch {
    pub(super) fn new(limit: std::time::Duration) -> Watch {
        Watch {
            start: std::time::Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
            limit,
        }
    }

    pub(super) fn alive(&self) {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last
            .fetch_max(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the budget is spent.
    pub(super) fn spent(&self) -> bool {
        let last =
            std::time::Duration::from_nanos(self.last.load(std::sync::atomic::Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last) >= self.limit
    }

    /// Ends once the budget is spent.
    pub(super) async fn expired(&self) {
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

/// Whether a ranged request failed because the server would not answer a
/// range (416 for an empty object or a range past the end, or a whole
/// `200` to a ranged request): only then is another request worth it.
pub(super) fn range_refused(e: &object_store::Error) -> bool {
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
    /// Records the version `meta` describes as the one `key` is read at,
    /// or checks that it is that version. Returns the object's size.
    pub(super) fn pin(&self, key: &str, meta: &object_store::ObjectMeta) -> Result<u64> {
        let seen = Version::of(meta);
        let mut versions = self.versions.lock();
        match versions.get(key) {
            Some(first) if !first.same(&seen) => Err(self.bad(
                key,
                format!(
                    "{CHANGED}: first {}, now {}; refusing to mix two versions",
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

    /// Pins `key` at `version` unless it is pinned at another; whether it
    /// is now at `version`.
    pub(super) fn pin_at(&self, key: &str, version: Version) -> bool {
        let mut versions = self.versions.lock();
        match versions.get(key) {
            Some(first) => first.same(&version),
            None => {
                versions.insert(key.to_string(), version);
                true
            }
        }
    }

    /// Checks an answer's head against what was asked: no content
    /// encoding, the version `key` is read at, and exactly the bytes
    /// `asked` (the whole object when `None`; a range past the object's
    /// end is clamped to it). Returns the bytes its body must hold.
    pub(super) fn check_head(
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
    pub(super) fn bad(&self, key: &str, message: String) -> Error {
        Error::Source {
            key: key.to_string(),
            message: format!("{}/{key}: {message}", self.store.url),
            cause: None,
        }
    }

    pub(super) fn error(&self, key: &str, e: object_store::Error) -> Error {
        if let object_store::Error::Precondition { .. } = &e {
            let pinned = self.versions.lock().get(key).map(Version::describe);
            let message = match pinned {
                Some(v) => format!(
                    "{CHANGED}: the server no longer has the version read then ({v}); refusing to mix two versions"
                ),
                None => format!("{CHANGED}: modified after the container was opened; refusing to mix two versions"),
            };
            return Error::Source {
                key: key.to_string(),
                message: format!("{}/{key}: {message}", self.store.url),
                cause: Some(crate::error::Cause::new(e)),
            };
        }
        let text = one_line(&e);
        if text.contains("timed out") {
            // A request's own time limit is the read's budget.
            return self.timed_out(key);
        }
        Error::Source {
            key: key.to_string(),
            message: format!("{}/{key}: {}", self.store.url, one_line(&e)),
            cause: Some(crate::error::Cause::new(e)),
        }
    }

    /// Runs one buffer read within its time budget.
    pub(super) async fn bounded<T>(
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
    pub(super) fn timed_out(&self, key: &str) -> Error {
        Error::Source {
            key: key.to_string(),
            message: format!(
                "{}/{key}: no answer from the server for {:?} (the request timeout: Fetch::timeout, --request-timeout, AKBUF_REQUEST_TIMEOUT)",
                self.store.url, self.store.fetch.timeout
            ),
            cause: Some(crate::error::Cause::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "request timeout",
            ))),
        }
    }

    /// One ranged `GET` (a whole one when `range` is `None`), its head
    /// checked.
    pub(super) async fn request(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        watch: &Watch,
    ) -> std::result::Result<(object_store::GetResult, Range<u64>), Fail> {
        // The version this open reads: the one the key is pinned at
        // (If-Match), else none written since the open (If-Unmodified-Since).
        // A weak ETag never matches If-Match (a strong comparison): it is
        // checked against the answer's instead.
        let tag = self
            .versions
            .lock()
            .get(key)
            .and_then(|v| v.e_tag.clone())
            .filter(|t| !t.starts_with("W/"));
        let options = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            if_unmodified_since: tag.is_none().then_some(self.opened),
            if_match: tag,
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
    pub(super) async fn body(
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
    pub(super) fn long(&self, key: &str, len: usize) -> Error {
        self.bad(
            key,
            format!("the response body holds more than the {len} bytes its head announced"),
        )
    }

    /// The body of `r` into `out`, which it must fill exactly.
    pub(super) async fn body_into(
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
}

/// Why a request gave no usable answer: the store's error (retried
/// already), or an answer that broke the protocol.
pub(super) enum Fail {
    Store(object_store::Error),
    Bad(Error),
}

impl Fail {
    pub(super) fn into_error(self, source: &RemoteSource, key: &str) -> Error {
        match self {
            Fail::Store(e) => source.error(key, e),
            Fail::Bad(e) => e,
        }
    }
}
