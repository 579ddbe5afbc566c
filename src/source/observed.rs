//! A source wrapper that reports every read.

use super::Source;
use crate::buffer::Buffer;
use crate::error::Result;

/// Wraps a source and calls an observer after every read with the key and
/// the number of bytes read (`None` when the key was missing or the read failed).
///
/// ```
/// use akbuf::{Buffer, MemorySource, Observed, Source};
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&log);
/// let inner = MemorySource::new().with("a", Buffer::from_vec(vec![1, 2]));
/// let source = Observed::new(inner, move |key: &str, bytes: Option<usize>| {
///     sink.lock().unwrap().push((key.to_string(), bytes));
/// });
/// source.read("a")?;
/// assert_eq!(*log.lock().unwrap(), vec![("a".to_string(), Some(2))]);
/// # Ok::<(), akbuf::Error>(())
/// ```
pub struct Observed<S, F> {
    inner: S,
    observer: F,
}

impl<S, F> Observed<S, F>
where
    S: Source,
    F: Fn(&str, Option<usize>) + Send + Sync,
{
    /// Wraps `inner`, reporting reads to `observer`.
    pub fn new(inner: S, observer: F) -> Observed<S, F> {
        Observed { inner, observer }
    }

    /// The wrapped source.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn observe(&self, key: &str, result: Result<Option<Buffer>>) -> Result<Option<Buffer>> {
        let bytes = match &result {
            Ok(Some(b)) => Some(b.len()),
            _ => None,
        };
        (self.observer)(key, bytes);
        result
    }
}

impl<S, F> Source for Observed<S, F>
where
    S: Source,
    F: Fn(&str, Option<usize>) + Send + Sync,
{
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        self.observe(key, self.inner.read(key))
    }
    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        self.observe(key, self.inner.read_prefix(key, len))
    }
    fn read_range(&self, key: &str, range: std::ops::Range<usize>) -> Result<Option<Buffer>> {
        self.observe(key, self.inner.read_range(key, range))
    }
    fn read_many(&self, requests: &[(&str, super::Want)]) -> Vec<Result<Option<Buffer>>> {
        let results = self.inner.read_many(requests);
        requests
            .iter()
            .zip(results)
            .map(|((key, _), r)| self.observe(key, r))
            .collect()
    }
    fn size(&self, key: &str) -> Option<u64> {
        self.inner.size(key)
    }
    fn stat_many(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        self.inner.stat_many(keys)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn id(&self) -> Option<String> {
        self.inner.id()
    }
}
