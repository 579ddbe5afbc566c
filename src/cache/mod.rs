//! The shared, thread-safe buffer cache.
//!
//! One [`Cache`] can serve any number of arrays and sources. Entries are keyed
//! by the source's identity ([`crate::Source::id`]) and the buffer key, so two
//! arrays opened over the same container with the same cache read each key
//! once between them.
//!
//! - **Single flight.** Any number of threads asking for the same cold key
//!   cause one read; the others wait for it and get the same buffer or the
//!   same error. No lock is held while a source reads, so different keys load
//!   in parallel. A failed read is not cached: the next request tries again.
//!   A read that panics wakes its waiters with an error and leaves the cache usable.
//! - **Byte budget** (unbounded by default) on heap bytes. Past it, the least
//!   recently used entries are dropped from the cache. A dropped buffer that
//!   someone still holds stays valid, and asking for its key again while it is
//!   alive revives it without a read. Memory-mapped buffers cost no heap: they
//!   are counted apart and not evicted for the budget.
//! - **Stats and observation**: [`Cache::stats`], and an observer called on
//!   every source read as it happens.

mod flight;
pub(crate) mod sync;

use crate::buffer::{Buffer, Residence, WeakBuffer};
use crate::error::{Error, Result};
use crate::source::Source;
use flight::Flight;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use sync::{lock, Mutex};

/// How the cached bytes relate to the source's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Conv {
    /// As read.
    Raw,
    /// Byte-swapped in units of this many bytes.
    Swap(u8),
    /// Copied to an aligned allocation.
    Align(u8),
}

/// An entry's identity: source, buffer key, conversion.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) source: u64,
    pub(crate) key: Box<str>,
    pub(crate) conv: Conv,
}

/// One read from a source, as reported to the observer.
#[derive(Debug)]
#[non_exhaustive]
pub struct ReadEvent<'a> {
    /// The buffer key.
    pub key: &'a str,
    /// The number the cache gave the source (equal for equal [`crate::Source::id`]s).
    pub source: u64,
    /// Bytes read, or `None` if the key was missing or the read failed.
    pub bytes: Option<usize>,
    /// The error, if the read failed.
    pub error: Option<&'a Error>,
}

/// A snapshot of a cache's counters.
///
/// ```
/// use akbuf::Cache;
///
/// let stats = Cache::new().stats();
/// assert_eq!((stats.reads, stats.hits, stats.heap_bytes), (0, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads from sources (including failed ones and missing keys).
    pub reads: u64,
    /// Bytes those reads returned.
    pub bytes_read: u64,
    /// Reads that failed or found no key.
    pub failed_reads: u64,
    /// Requests served from the cache.
    pub hits: u64,
    /// Requests that joined a read already in flight.
    pub waits: u64,
    /// Requests served by reviving an evicted buffer still held elsewhere.
    pub revivals: u64,
    /// Entries dropped to respect the budget.
    pub evictions: u64,
    /// Heap bytes held by the cache now.
    pub heap_bytes: u64,
    /// Memory-mapped bytes held by the cache now.
    pub mapped_bytes: u64,
    /// Entries held now.
    pub entries: u64,
}

#[derive(Default)]
struct Counters {
    reads: AtomicU64,
    bytes_read: AtomicU64,
    failed_reads: AtomicU64,
    hits: AtomicU64,
    waits: AtomicU64,
    revivals: AtomicU64,
    evictions: AtomicU64,
}

type Outcome = Result<Option<Buffer>>;

struct State {
    lru: lru::LruCache<Arc<CacheKey>, Buffer>,
    inflight: HashMap<Arc<CacheKey>, Arc<Flight<Outcome>>>,
    evicted: HashMap<Arc<CacheKey>, WeakBuffer>,
    heap_bytes: u64,
    mapped_bytes: u64,
    sources: HashMap<String, u64>,
    next_source: u64,
}

/// An observer of source reads.
pub type Observer = Arc<dyn Fn(&ReadEvent<'_>) + Send + Sync>;

/// A shared, thread-safe cache of buffers (see the module docs).
///
/// ```
/// use akbuf::{Cache, MemorySource, Buffer, Form, Options, from_buffers};
/// use std::sync::Arc;
///
/// let cache = Arc::new(Cache::new());
/// let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "n"}"#)?;
/// let source = MemorySource::new().with("n-data", Buffer::from_slice(&[1i64, 2, 3]));
/// let opts = Options::default().with_cache(Arc::clone(&cache));
/// let a = from_buffers(&form, 3, source.clone(), opts.clone())?;
/// let b = from_buffers(&form, 3, source, opts)?; // same source identity
/// assert_eq!(a.to_json()?, b.to_json()?);
/// assert_eq!(cache.stats().reads, 1);
/// # Ok::<(), akbuf::Error>(())
/// ```
pub struct Cache {
    state: Mutex<State>,
    budget: Option<u64>,
    counters: Counters,
    observer: Option<Observer>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("budget", &self.budget)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for Cache {
    fn default() -> Cache {
        Cache::new()
    }
}

/// Clears the in-flight entry if the leader unwinds before finishing.
struct LeadGuard<'a> {
    cache: &'a Cache,
    key: &'a Arc<CacheKey>,
    flight: &'a Arc<Flight<Outcome>>,
    finished: bool,
}

impl Drop for LeadGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut st = lock(&self.cache.state);
            if st
                .inflight
                .get(self.key)
                .is_some_and(|f| Arc::ptr_eq(f, self.flight))
            {
                st.inflight.remove(self.key);
            }
            drop(st);
            self.flight.abandon();
        }
    }
}

impl Cache {
    /// An unbounded cache.
    pub fn new() -> Cache {
        Cache {
            state: Mutex::new(State {
                lru: lru::LruCache::unbounded(),
                inflight: HashMap::new(),
                evicted: HashMap::new(),
                heap_bytes: 0,
                mapped_bytes: 0,
                sources: HashMap::new(),
                next_source: 0,
            }),
            budget: None,
            counters: Counters::default(),
            observer: None,
        }
    }

    /// A cache that holds at most `bytes` heap bytes (memory-mapped buffers
    /// are not counted against it).
    pub fn with_budget(bytes: u64) -> Cache {
        Cache {
            budget: Some(bytes),
            ..Cache::new()
        }
    }

    /// Sets the observer called after every source read, on the reading thread.
    pub fn with_observer(
        mut self,
        observer: impl Fn(&ReadEvent<'_>) + Send + Sync + 'static,
    ) -> Cache {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The heap byte budget, if any.
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let (heap, mapped, entries) = {
            let st = lock(&self.state);
            (st.heap_bytes, st.mapped_bytes, st.lru.len() as u64)
        };
        let c = &self.counters;
        CacheStats {
            reads: c.reads.load(Relaxed),
            bytes_read: c.bytes_read.load(Relaxed),
            failed_reads: c.failed_reads.load(Relaxed),
            hits: c.hits.load(Relaxed),
            waits: c.waits.load(Relaxed),
            revivals: c.revivals.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            heap_bytes: heap,
            mapped_bytes: mapped,
            entries,
        }
    }

    /// Drops every entry. Buffers still held elsewhere stay valid and are
    /// revived without a read if asked for again while alive.
    pub fn clear(&self) {
        let mut st = lock(&self.state);
        while let Some((k, b)) = st.lru.pop_lru() {
            st.evicted.insert(k, b.downgrade());
        }
        st.heap_bytes = 0;
        st.mapped_bytes = 0;
        st.evicted.retain(|_, w| w.upgrade().is_some());
    }

    /// The number this cache uses for a source: equal identities share one
    /// number; a source without identity gets a fresh one.
    pub(crate) fn source_number(&self, id: Option<String>) -> u64 {
        let mut st = lock(&self.state);
        st.next_source += 1;
        let fresh = st.next_source;
        match id {
            Some(id) => *st.sources.entry(id).or_insert(fresh),
            None => fresh,
        }
    }

    /// Reads `key` from `source`, counting it and telling the observer.
    pub(crate) fn read(&self, source_number: u64, source: &dyn Source, key: &str) -> Outcome {
        let result = source.read(key);
        let c = &self.counters;
        c.reads.fetch_add(1, Relaxed);
        let bytes = match &result {
            Ok(Some(b)) => {
                c.bytes_read.fetch_add(b.len() as u64, Relaxed);
                Some(b.len())
            }
            _ => {
                c.failed_reads.fetch_add(1, Relaxed);
                None
            }
        };
        if let Some(obs) = &self.observer {
            obs(&ReadEvent {
                key,
                source: source_number,
                bytes,
                error: result.as_ref().err(),
            });
        }
        result
    }

    fn charge(st: &mut State, b: &Buffer, add: bool) {
        let n = b.len() as u64;
        let slot = match b.residence() {
            Residence::Heap => &mut st.heap_bytes,
            Residence::Mapped => &mut st.mapped_bytes,
        };
        *slot = if add {
            *slot + n
        } else {
            slot.saturating_sub(n)
        };
    }

    /// Puts a buffer in the cache and evicts to the budget.
    fn admit(&self, st: &mut State, key: &Arc<CacheKey>, b: &Buffer) {
        Cache::charge(st, b, true);
        if let Some(old) = st.lru.put(Arc::clone(key), b.clone()) {
            Cache::charge(st, &old, false);
        }
        st.evicted.remove(key);
        let Some(budget) = self.budget else { return };
        while st.heap_bytes > budget {
            // Only heap entries count against the budget; skip mapped ones.
            let victim = st
                .lru
                .iter()
                .rev()
                .find(|(_, v)| v.residence() == Residence::Heap)
                .map(|(k, _)| Arc::clone(k));
            let Some(victim) = victim else { break };
            if let Some(old) = st.lru.pop(&victim) {
                Cache::charge(st, &old, false);
                st.evicted.insert(victim, old.downgrade());
                self.counters.evictions.fetch_add(1, Relaxed);
            }
        }
        if st.evicted.len() > 1024 + 2 * st.lru.len() {
            st.evicted.retain(|_, w| w.upgrade().is_some());
        }
    }

    /// The buffer under `key`: from the cache, by reviving an evicted buffer
    /// still alive, by joining a read in flight, or by running `load` (with
    /// no lock held). `Ok(None)` (a missing key) and errors are not cached.
    pub(crate) fn get_or_load(
        &self,
        key: &Arc<CacheKey>,
        load: impl FnOnce() -> Outcome,
    ) -> Outcome {
        let flight = {
            let mut st = lock(&self.state);
            if let Some(b) = st.lru.get(&**key) {
                let b = b.clone();
                drop(st);
                self.counters.hits.fetch_add(1, Relaxed);
                return Ok(Some(b));
            }
            if let Some(w) = st.evicted.get(&**key) {
                match w.upgrade() {
                    Some(b) => {
                        self.admit(&mut st, key, &b);
                        drop(st);
                        self.counters.revivals.fetch_add(1, Relaxed);
                        return Ok(Some(b));
                    }
                    None => {
                        st.evicted.remove(&**key);
                    }
                }
            }
            match st.inflight.get(&**key) {
                Some(f) => Err(Arc::clone(f)),
                None => {
                    let f = Arc::new(Flight::new());
                    st.inflight.insert(Arc::clone(key), Arc::clone(&f));
                    Ok(f)
                }
            }
        };
        match flight {
            Err(waiting) => {
                self.counters.waits.fetch_add(1, Relaxed);
                waiting.wait().unwrap_or_else(|| {
                    Err(Error::source(
                        key.key.to_string(),
                        "the read panicked in another thread",
                    ))
                })
            }
            Ok(leading) => {
                let mut guard = LeadGuard {
                    cache: self,
                    key,
                    flight: &leading,
                    finished: false,
                };
                let result = load();
                {
                    let mut st = lock(&self.state);
                    st.inflight.remove(&**key);
                    if let Ok(Some(b)) = &result {
                        self.admit(&mut st, key, b);
                    }
                }
                leading.finish(result.clone());
                guard.finished = true;
                result
            }
        }
    }
}

#[cfg(all(test, feature = "shuttle"))]
mod shuttle_tests {
    //! Model checking of the single-flight path: random schedules of
    //! threads asking for the same keys, with reads that succeed, fail or panic.
    use super::*;
    use crate::source::MemorySource;
    use std::sync::atomic::AtomicUsize;

    fn key(k: &str) -> Arc<CacheKey> {
        Arc::new(CacheKey {
            source: 1,
            key: k.into(),
            conv: Conv::Raw,
        })
    }

    #[test]
    fn one_read_per_key_under_any_schedule() {
        shuttle::check_random(
            || {
                let cache = Arc::new(Cache::new());
                let source = Arc::new(
                    MemorySource::new()
                        .with("a", Buffer::from_vec(vec![1; 8]))
                        .with("b", Buffer::from_vec(vec![2; 8])),
                );
                let handles: Vec<_> = (0..3)
                    .map(|i| {
                        let cache = Arc::clone(&cache);
                        let source = Arc::clone(&source);
                        shuttle::thread::spawn(move || {
                            for k in if i % 2 == 0 { ["a", "b"] } else { ["b", "a"] } {
                                let b = cache
                                    .get_or_load(&key(k), || cache.read(1, &*source, k))
                                    .unwrap()
                                    .unwrap();
                                assert_eq!(b.len(), 8);
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
                assert_eq!(cache.stats().reads, 2);
            },
            2000,
        );
    }

    #[test]
    fn a_failure_is_shared_then_retried() {
        shuttle::check_random(
            || {
                let cache = Arc::new(Cache::new());
                let calls = Arc::new(AtomicUsize::new(0));
                let handles: Vec<_> = (0..3)
                    .map(|_| {
                        let cache = Arc::clone(&cache);
                        let calls = Arc::clone(&calls);
                        shuttle::thread::spawn(move || {
                            cache.get_or_load(&key("k"), || {
                                if calls.fetch_add(1, Relaxed) == 0 {
                                    Err(Error::source("k", "boom"))
                                } else {
                                    Ok(Some(Buffer::from_vec(vec![0; 4])))
                                }
                            })
                        })
                    })
                    .collect();
                let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
                // The first wave fails for everyone in it; later waves succeed.
                let failed = results.iter().filter(|r| r.is_err()).count();
                assert!(failed >= 1);
                let again = cache
                    .get_or_load(&key("k"), || Ok(Some(Buffer::from_vec(vec![0; 4]))))
                    .unwrap();
                assert!(again.is_some());
                assert!(calls.load(Relaxed) <= 3);
            },
            2000,
        );
    }
}
