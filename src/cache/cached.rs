//! [`CachedSource`]: any source read through a cache.

#[allow(unused_imports)]
use super::*;

/// A source that reads through a cache: wrap any source once and every
/// reader of the wrapper shares the cache's single flight, budget and stats.
///
/// ```
/// use akbuf::{Buffer, Cache, CachedSource, MemorySource, Source};
/// use std::sync::Arc;
///
/// let cache = Arc::new(Cache::new());
/// let inner = MemorySource::new().with("k", Buffer::from_vec(vec![1, 2, 3]));
/// let source = CachedSource::new(inner, Arc::clone(&cache));
/// source.read("k")?;
/// source.read("k")?;
/// assert_eq!((cache.stats().reads, cache.stats().hits), (1, 1));
/// # Ok::<(), akbuf::Error>(())
/// ```
pub struct CachedSource<S> {
    inner: S,
    cache: Arc<Cache>,
    number: u64,
}

impl<S: Source> CachedSource<S> {
    /// Wraps `inner`; entries are shared with other wrappers of sources with
    /// the same [`Source::id`].
    pub fn new(inner: S, cache: Arc<Cache>) -> CachedSource<S> {
        let number = cache.source_number(inner.id());
        CachedSource {
            inner,
            cache,
            number,
        }
    }

    /// The cache.
    pub fn cache(&self) -> &Arc<Cache> {
        &self.cache
    }
}

impl<S> fmt::Debug for CachedSource<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedSource")
            .field("source", &self.number)
            .finish()
    }
}

impl<S: Source> Source for CachedSource<S> {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        self.cache.get_or_load(
            self.number,
            key,
            Conv::Raw,
            || Arc::from(key),
            || {
                self.cache
                    .read(self.number, &self.inner, key, crate::source::Want::All)
            },
        )
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
