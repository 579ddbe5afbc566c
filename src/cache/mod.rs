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

mod budget;
pub(crate) mod flight;
mod key;
pub(crate) mod revive;
mod shard;
mod stats;
pub(crate) mod sync;

pub(crate) use key::Conv;
use key::{KeyRef, KeyView, K};
use shard::{Found, Shard, ShardLock, Shards, Slot, Store};
pub use stats::{CacheStats, ReadEvent};
use stats::{Counters, Hits};

use crate::buffer::Buffer;
use crate::disk::DiskCache;
use crate::error::{Error, Result};
use crate::source::Source;
use flight::Flight;
use once_cell::race::OnceBox;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use sync::{lock, read, write, Mutex, RwLock};

mod cached;
mod placeholder;
pub use cached::CachedSource;
use placeholder::*;

type Outcome = Result<Option<Buffer>>;

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
    shards: Shards,
    budget: Option<u64>,
    /// Whether memory-mapped bytes count against the budget too.
    count_mapped: bool,
    counters: Counters,
    observer: Option<Observer>,
    sources: Mutex<(HashMap<String, u64, key::KeyHash>, u64)>,
    evict_cursor: AtomicUsize,
    /// The persistent tier remote sources read through, if any.
    disk: Option<Arc<DiskCache>>,
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

impl Cache {
    /// An unbounded cache.
    pub fn new() -> Cache {
        Cache::with_shards(Shards::Many(std::array::from_fn(|_| OnceBox::new())))
    }

    /// An unbounded cache with a single shard: the cheapest to make, and what
    /// an array opened without a shared cache makes for itself. Right for one
    /// array or few threads; [`Cache::new`] spreads keys over shards so that
    /// threads hitting different keys share no lock.
    ///
    /// ```
    /// use akbuf::{Buffer, Cache, CachedSource, MemorySource, Source};
    /// use std::sync::Arc;
    ///
    /// let inner = MemorySource::new().with("k", Buffer::from_vec(vec![7]));
    /// let source = CachedSource::new(inner, Arc::new(Cache::unsharded()));
    /// source.read("k")?;
    /// source.read("k")?;
    /// assert_eq!(source.cache().stats().reads, 1);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn unsharded() -> Cache {
        Cache::with_shards(Shards::One(ShardLock::new(false)))
    }

    fn with_shards(shards: Shards) -> Cache {
        let hits = match shards {
            Shards::One(_) => Hits::One(AtomicU64::new(0)),
            Shards::Many(_) => Hits::Striped(Box::default()),
        };
        Cache {
            shards,
            budget: None,
            count_mapped: false,
            counters: Counters {
                reads: AtomicU64::new(0),
                bytes_read: AtomicU64::new(0),
                failed_reads: AtomicU64::new(0),
                hits,
                waits: AtomicU64::new(0),
                revivals: AtomicU64::new(0),
                evictions: AtomicU64::new(0),
                heap_bytes: AtomicU64::new(0),
                mapped_bytes: AtomicU64::new(0),
                entries: AtomicU64::new(0),
            },
            observer: None,
            sources: Mutex::new((HashMap::default(), 0)),
            evict_cursor: AtomicUsize::new(0),
            disk: None,
        }
    }

    /// A cache that holds at most `bytes` heap bytes (memory-mapped buffers
    /// are not counted against it).
    #[must_use]
    pub fn with_budget(bytes: u64) -> Cache {
        Cache {
            budget: Some(bytes),
            ..Cache::new()
        }
    }

    /// Counts memory-mapped buffers against the budget too, so that the
    /// budget bounds every byte the cache keeps resident (a mapping's pages
    /// leave the process's resident set when its last holder drops it).
    /// Without it, only heap bytes count: mapped pages are the kernel's page
    /// cache, which it reclaims by itself.
    ///
    /// ```
    /// use akbuf::Cache;
    ///
    /// let cache = Cache::with_budget(64 << 20).counting_mapped();
    /// assert!(cache.counts_mapped());
    /// assert!(!Cache::with_budget(64 << 20).counts_mapped());
    /// ```
    #[must_use]
    pub fn counting_mapped(mut self) -> Cache {
        self.count_mapped = true;
        self
    }

    /// Whether mapped bytes count against the budget (see
    /// [`Cache::counting_mapped`]).
    ///
    /// ```
    /// assert!(!akbuf::Cache::new().counts_mapped());
    /// assert!(akbuf::Cache::new().counting_mapped().counts_mapped());
    /// ```
    pub fn counts_mapped(&self) -> bool {
        self.count_mapped
    }

    /// Sets the observer called after every source read, on the reading thread.
    #[must_use]
    pub fn with_observer(
        mut self,
        observer: impl Fn(&ReadEvent<'_>) + Send + Sync + 'static,
    ) -> Cache {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Adds a persistent tier on local disk: every remote container opened
    /// over this cache keeps the byte ranges it fetches there, keyed by
    /// store, object and version, and a later process reads them from disk
    /// after one revalidation request (see [`DiskCache`]).
    ///
    /// ```
    /// use akbuf::{Cache, DiskCache};
    ///
    /// let cache = Cache::new().with_disk(DiskCache::new("/tmp/akbuf-cache").with_budget(1 << 30));
    /// assert_eq!(cache.disk().unwrap().budget(), 1 << 30);
    /// assert!(Cache::new().disk().is_none());
    /// // One tier shared by several caches:
    /// let disk = std::sync::Arc::new(DiskCache::new("/tmp/akbuf-cache"));
    /// let other = Cache::new().with_disk(std::sync::Arc::clone(&disk));
    /// assert!(std::sync::Arc::ptr_eq(other.disk().unwrap(), &disk));
    /// ```
    #[must_use]
    pub fn with_disk(mut self, disk: impl Into<Arc<DiskCache>>) -> Cache {
        self.disk = Some(disk.into());
        self
    }

    /// The disk tier, if any (see [`Cache::with_disk`]).
    ///
    /// ```
    /// assert!(akbuf::Cache::new().disk().is_none());
    /// ```
    pub fn disk(&self) -> Option<&Arc<DiskCache>> {
        self.disk.as_ref()
    }

    /// The heap byte budget, if any.
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            reads: c.reads.load(Relaxed),
            bytes_read: c.bytes_read.load(Relaxed),
            failed_reads: c.failed_reads.load(Relaxed),
            hits: c.hits.load(),
            waits: c.waits.load(Relaxed),
            revivals: c.revivals.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            heap_bytes: c.heap_bytes.load(Relaxed),
            mapped_bytes: c.mapped_bytes.load(Relaxed),
            entries: c.entries.load(Relaxed),
        }
    }

    /// Drops every entry. Buffers still held elsewhere stay valid and are
    /// revived without a read if asked for again while alive.
    pub fn clear(&self) {
        for shard in (0..self.shards.count()).filter_map(|i| self.shards.made(i)) {
            let mut guard = write(&shard.lock);
            let sh = &mut *guard;
            let ready: Vec<K> = match &sh.store {
                Store::Plain(m) => m
                    .iter()
                    .filter(|(_, s)| matches!(s, Slot::Ready(_)))
                    .map(|(k, _)| k.clone())
                    .collect(),
                Store::Lru(l) => l
                    .iter()
                    .filter(|(_, s)| matches!(s, Slot::Ready(_)))
                    .map(|(k, _)| k.clone())
                    .collect(),
            };
            for k in ready {
                self.set_aside(sh, k);
            }
            sh.evicted.purge();
        }
    }

    /// Moves the ready entry under `k` out of a shard (whose write lock the
    /// caller holds) into its evicted map, uncharged: still revivable while
    /// anyone holds it. A loading slot, or none, is left alone. Returns
    /// whether an entry moved.
    fn set_aside(&self, sh: &mut Shard, k: K) -> bool {
        if !matches!(sh.store.peek(&k), Some(Slot::Ready(_))) {
            return false;
        }
        let Some(Slot::Ready(e)) = sh.store.remove(&k) else {
            return false;
        };
        self.charge(&e.buf, false);
        sh.evicted.insert(k, e.buf.downgrade());
        true
    }

    /// Drops the entries of `key` read from source number `source`, in every
    /// conversion the cache holds; returns how many it dropped. A buffer still
    /// held elsewhere stays valid and is revived without a read while alive.
    pub(crate) fn forget(&self, source: u64, key: &str) -> usize {
        let mut dropped = 0;
        for conv in Conv::all() {
            let view = KeyRef(source, conv, key);
            let view: &dyn KeyView = &view;
            let Some(shard) = self.shards.of_if_made(view) else {
                continue;
            };
            let mut guard = write(&shard.lock);
            let sh = &mut *guard;
            if !matches!(sh.store.peek(view), Some(Slot::Ready(_))) {
                continue; // (no key allocated for the conversions not held)
            }
            let k = K {
                source,
                conv,
                key: Arc::from(key),
            };
            if self.set_aside(sh, k) {
                sh.evicted.purge();
                dropped += 1;
            }
        }
        dropped
    }

    /// The number this cache uses for a source: equal identities share one
    /// number; a source without identity gets a fresh one.
    pub(crate) fn source_number(&self, id: Option<String>) -> u64 {
        let mut guard = lock(&self.sources);
        let (ids, next) = &mut *guard;
        *next += 1;
        let fresh = *next;
        match id {
            Some(id) => *ids.entry(id).or_insert(fresh),
            None => fresh,
        }
    }

    /// Reads `key` from `source` (at least its first `need` bytes when
    /// given, see [`Source::read_prefix`]), counting it and telling the
    /// observer. A read that panics is counted as a failed read and
    /// reported before the panic goes on.
    pub(crate) fn read(
        &self,
        source_number: u64,
        source: &dyn Source,
        key: &str,
        want: crate::source::Want,
    ) -> Outcome {
        /// Counts and reports the read if the source panics.
        struct OnPanic<'a> {
            cache: &'a Cache,
            source: u64,
            key: &'a str,
            armed: bool,
        }
        impl Drop for OnPanic<'_> {
            fn drop(&mut self) {
                if self.armed {
                    let c = &self.cache.counters;
                    c.reads.fetch_add(1, Relaxed);
                    c.failed_reads.fetch_add(1, Relaxed);
                    if let Some(obs) = &self.cache.observer {
                        let err = Error::read_failed(self.key, "the source panicked");
                        // An observer that panics too must not abort the process.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            obs(&ReadEvent {
                                key: self.key,
                                source: self.source,
                                bytes: None,
                                error: Some(&err),
                            })
                        }));
                    }
                }
            }
        }
        let mut guard = OnPanic {
            cache: self,
            source: source_number,
            key,
            armed: true,
        };
        let result = want.from(source, key);
        guard.armed = false;
        self.count(source_number, key, &result);
        result
    }

    /// Tells the observer of a load that is not a source's read (a
    /// container's decoded chunk, under its own key), counting nothing.
    pub(crate) fn observe(&self, source_number: u64, key: &str, result: &Outcome) {
        if let Some(obs) = &self.observer {
            obs(&ReadEvent {
                key,
                source: source_number,
                bytes: result
                    .as_ref()
                    .ok()
                    .and_then(|b| b.as_ref().map(Buffer::len)),
                error: result.as_ref().err(),
            });
        }
    }

    /// Counts one finished read and tells the observer.
    fn count(&self, source_number: u64, key: &str, result: &Outcome) {
        let c = &self.counters;
        c.reads.fetch_add(1, Relaxed);
        match result {
            Ok(Some(b)) => c.bytes_read.fetch_add(b.len() as u64, Relaxed),
            _ => c.failed_reads.fetch_add(1, Relaxed),
        };
        self.observe(source_number, key, result);
    }

    /// Reads several requests from `source` at once
    /// ([`Source::read_many`]), counting and observing each as
    /// [`Cache::read`] does.
    pub(crate) fn read_many(
        &self,
        source_number: u64,
        source: &dyn Source,
        requests: &[(&str, crate::source::Want)],
    ) -> Vec<Outcome> {
        let results = source.read_many(requests);
        for ((key, _), result) in requests.iter().zip(&results) {
            self.count(source_number, key, result);
        }
        results
    }

    /// The buffer under (source, key, conv): from the cache, by reviving an
    /// evicted buffer still alive, by joining a read in flight, or by running
    /// `load` (with no lock held). `Ok(None)` (a missing key) and errors are
    /// not cached.
    pub(crate) fn get_or_load(
        &self,
        source: u64,
        key: &str,
        conv: Conv,
        shared_key: impl FnOnce() -> Arc<str>,
        load: impl FnOnce() -> Outcome,
    ) -> Outcome {
        match self.probe(source, key, conv, shared_key) {
            Probe::Hit(b) => Ok(Some(b)),
            Probe::Lead(lead) => {
                let result = load();
                lead.finish(result)
            }
            Probe::Wait(flight) => {
                self.counters.waits.fetch_add(1, Relaxed);
                flight.and_then(|f| f.wait()).unwrap_or_else(|| {
                    Err(Error::read_failed(
                        key,
                        "the read panicked in another thread",
                    ))
                })
            }
        }
    }

    /// Claims the load of (source, key, conv) without waiting: `None` when
    /// the cache holds it or another thread is loading it, else the
    /// [`Lead`] whose [`Lead::finish`] stores the result and wakes any
    /// thread that came to wait meanwhile (a `Lead` dropped unfinished
    /// clears its slot and wakes them with an error). For batched reads:
    /// claim every key first, read the claimed ones together, finish each.
    pub(crate) fn claim(&self, source: u64, key: &Arc<str>, conv: Conv) -> Option<Lead<'_>> {
        match self.probe(source, key, conv, || Arc::clone(key)) {
            Probe::Lead(lead) => Some(lead),
            Probe::Hit(_) | Probe::Wait(_) => None,
        }
    }

    /// Finds (source, key, conv): a hit (from the store or revived), a read
    /// in flight to wait for, or a new loading slot this caller leads.
    fn probe(
        &self,
        source: u64,
        key: &str,
        conv: Conv,
        shared_key: impl FnOnce() -> Arc<str>,
    ) -> Probe<'_> {
        let view = KeyRef(source, conv, key);
        let view: &dyn KeyView = &view;
        let shard = &self.shards.of(view, self.budget.is_some()).lock;
        // The hit path takes only its shard's read lock and allocates nothing.
        // An unsharded cache skips it: it belongs to one array, whose lazy
        // buffers keep their own handles, so nearly every request it sees is
        // a miss, and the write lock below serves a hit as well.
        if matches!(self.shards, Shards::Many(_)) {
            let sh = read(shard);
            if let Some(Slot::Ready(e)) = sh.store.peek(view) {
                if !e.touched.load(Relaxed) {
                    e.touched.store(true, Relaxed);
                }
                let b = e.buf.clone();
                drop(sh);
                self.counters.hits.add();
                return Probe::Hit(b);
            }
        }
        let mut guard = write(shard);
        let sh = &mut *guard;
        // One probe finds the key or makes its loading slot.
        let found = match &mut sh.store {
            Store::Plain(m) => {
                let owned = K {
                    source,
                    conv,
                    key: shared_key(),
                };
                match m.entry(owned) {
                    MapEntry::Occupied(o) => Found::Slot(o.into_mut()),
                    MapEntry::Vacant(v) if sh.evicted.is_empty() => {
                        let owned = v.key().clone();
                        v.insert(Slot::Loading(None));
                        Found::Inserted(owned)
                    }
                    MapEntry::Vacant(v) => Found::Absent(v.into_key()),
                }
            }
            Store::Lru(l) => match l.get_mut(view) {
                Some(slot) => Found::Slot(slot),
                None => Found::Absent(K {
                    source,
                    conv,
                    key: shared_key(),
                }),
            },
        };
        match found {
            Found::Slot(Slot::Ready(e)) => {
                let b = e.buf.clone();
                drop(guard);
                self.counters.hits.add();
                Probe::Hit(b)
            }
            Found::Slot(Slot::Loading(f)) => Probe::Wait(Some(Arc::clone(
                f.get_or_insert_with(|| Arc::new(Flight::new())),
            ))),
            Found::Inserted(owned) => {
                drop(guard);
                Probe::Lead(Lead::new(self, shard, owned))
            }
            Found::Absent(owned) => {
                let revived = if sh.evicted.is_empty() {
                    None
                } else {
                    sh.evicted.revive(view)
                };
                if let Some(b) = revived {
                    self.admit(sh, &owned, &b);
                    drop(guard);
                    self.counters.revivals.fetch_add(1, Relaxed);
                    self.evict_to_budget(&owned);
                    return Probe::Hit(b);
                }
                sh.store.insert(owned.clone(), Slot::Loading(None));
                drop(guard);
                Probe::Lead(Lead::new(self, shard, owned))
            }
        }
    }

    /// Whether the entry of (source, key, conv) is ready, without
    /// counting a hit or touching its place in the LRU order.
    pub(crate) fn holds(&self, source: u64, key: &str, conv: Conv) -> bool {
        let view = KeyRef(source, conv, key);
        let view: &dyn KeyView = &view;
        let Some(shard) = self.shards.of_if_made(view) else {
            return false;
        };
        let sh = read(&shard.lock);
        matches!(sh.store.peek(view), Some(Slot::Ready(_)))
    }

    /// The cached buffer under (source, key, conv), if there is one; never
    /// reads, never builds a shard. Counted as a hit when found.
    pub(crate) fn peek(&self, source: u64, key: &str, conv: Conv) -> Option<Buffer> {
        let view = KeyRef(source, conv, key);
        let view: &dyn KeyView = &view;
        let shard = self.shards.of_if_made(view)?;
        let sh = read(&shard.lock);
        let Some(Slot::Ready(e)) = sh.store.peek(view) else {
            return None;
        };
        let b = e.buf.clone();
        drop(sh);
        self.counters.hits.add();
        Some(b)
    }
}

#[cfg(all(test, shuttle))]
mod shuttle_tests {
    //! Model checking of the single-flight path: random schedules of
    //! threads asking for the same keys, with reads that succeed, fail or panic.
    use super::*;
    use crate::source::MemorySource;
    use std::sync::atomic::AtomicUsize;

    fn get(cache: &Cache, k: &str, load: impl FnOnce() -> Outcome) -> Outcome {
        cache.get_or_load(1, k, Conv::Raw, || Arc::from(k), load)
    }

    /// Both kinds of cache: sharded (hits under a read lock) and unsharded
    /// (every request under the write lock).
    const KINDS: [fn() -> Cache; 2] = [Cache::new, Cache::unsharded];

    #[test]
    fn one_read_per_key_under_any_schedule() {
        for make in KINDS {
            shuttle::check_random(
                move || {
                    let cache = Arc::new(make());
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
                                    let b = get(&cache, k, || {
                                        cache.read(1, &*source, k, crate::source::Want::All)
                                    })
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
    }

    #[test]
    fn a_failure_is_shared_then_retried() {
        for make in KINDS {
            shuttle::check_random(
                move || {
                    let cache = Arc::new(make());
                    let calls = Arc::new(AtomicUsize::new(0));
                    let handles: Vec<_> = (0..3)
                        .map(|_| {
                            let cache = Arc::clone(&cache);
                            let calls = Arc::clone(&calls);
                            shuttle::thread::spawn(move || {
                                get(&cache, "k", || {
                                    if calls.fetch_add(1, Relaxed) == 0 {
                                        Err(Error::read_failed("k", "boom"))
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
                    let again =
                        get(&cache, "k", || Ok(Some(Buffer::from_vec(vec![0; 4])))).unwrap();
                    assert!(again.is_some());
                    assert!(calls.load(Relaxed) <= 3);
                },
                2000,
            );
        }
    }
}
