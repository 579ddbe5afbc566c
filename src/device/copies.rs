//! The cache of device copies: one upload per (source, key, device), with the
//! host cache's rules. Any number of threads asking for the same buffer on the
//! same device cause one upload; the others wait for it and get the same copy
//! or the same error. A failed upload is not cached; one that panics wakes its
//! waiters with an error and leaves the cache usable. Past the byte budget
//! (unbounded by default) the least recently used copies leave the cache; a
//! copy still held elsewhere stays valid and comes back without an upload if
//! asked for again while alive.
//!
//! Generic over what a copy is, so that its rules are tested on machines
//! without a GPU (with a stand-in upload); the `cuda` feature stores
//! `cudarc` device slices in it.

use crate::cache::flight::Flight;
use crate::cache::revive::Evicted;
use crate::cache::sync::{lock, Mutex};
use crate::error::{Error, Result};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};

/// Which copy: the source's number in the host cache, the buffer key, the
/// device ordinal, and whether the host bytes were byte-swapped before the
/// upload (two arrays over one source may read it in different byte orders).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CopyKey {
    pub(crate) source: u64,
    pub(crate) key: Arc<str>,
    pub(crate) ordinal: usize,
    pub(crate) swapped: bool,
}

/// Runs `cleanup` if dropped before [`OnUnwind::disarm`]: a leader that
/// panics clears its flight and wakes its waiters.
pub(crate) struct OnUnwind<F: FnMut()> {
    cleanup: Option<F>,
}

impl<F: FnMut()> OnUnwind<F> {
    pub(crate) fn new(cleanup: F) -> OnUnwind<F> {
        OnUnwind {
            cleanup: Some(cleanup),
        }
    }

    /// The leader finished: nothing to clean up.
    pub(crate) fn disarm(mut self) {
        self.cleanup = None;
    }
}

impl<F: FnMut()> Drop for OnUnwind<F> {
    fn drop(&mut self) {
        if let Some(f) = &mut self.cleanup {
            f();
        }
    }
}

type Outcome<X> = Result<Arc<X>>;

struct State<X> {
    /// Copies held, with their sizes, least recently used first out.
    ready: lru::LruCache<CopyKey, (Arc<X>, u64)>,
    /// Uploads in flight.
    loading: HashMap<CopyKey, Arc<Flight<Outcome<X>>>>,
    /// Copies dropped for the budget (with their sizes), revived if still
    /// alive when asked for (the host cache's rule, `cache::revive`).
    evicted: Evicted<CopyKey, (Weak<X>, u64), RandomState>,
}

/// Counters of a [`Copies`] cache.
#[derive(Default)]
pub(crate) struct CopyCounters {
    pub(crate) uploads: AtomicU64,
    pub(crate) upload_bytes: AtomicU64,
    pub(crate) failed_uploads: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) waits: AtomicU64,
    pub(crate) revivals: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) resident_bytes: AtomicU64,
}

/// A single-flight, budgeted cache of device copies (see the module docs).
pub(crate) struct Copies<X> {
    state: Mutex<State<X>>,
    budget: Option<u64>,
    pub(crate) counters: CopyCounters,
}

impl<X: Send + Sync> Copies<X> {
    /// An empty cache holding at most `budget` bytes of copies (unbounded if `None`).
    pub(crate) fn new(budget: Option<u64>) -> Copies<X> {
        Copies {
            state: Mutex::new(State {
                ready: lru::LruCache::unbounded(),
                loading: HashMap::new(),
                evicted: Evicted::new(),
            }),
            budget,
            counters: CopyCounters::default(),
        }
    }

    /// The copy under `key`: held, revived, joined in flight, or made by
    /// `upload` (which returns the copy and its size in bytes; run with no
    /// lock held).
    pub(crate) fn get_or_upload(
        &self,
        key: &CopyKey,
        upload: impl FnOnce() -> Result<(X, u64)>,
    ) -> Outcome<X> {
        let c = &self.counters;
        let mut st = lock(&self.state);
        if let Some((x, _)) = st.ready.get(key) {
            let x = Arc::clone(x);
            drop(st);
            c.hits.fetch_add(1, Relaxed);
            return Ok(x);
        }
        if let Some(f) = st.loading.get(key) {
            let f = Arc::clone(f);
            drop(st);
            c.waits.fetch_add(1, Relaxed);
            return f.wait().unwrap_or_else(|| {
                Err(Error::Device {
                    device: format!("device {}", key.ordinal),
                    message: format!("the upload of {:?} panicked in another thread", key.key),
                })
            });
        }
        if !st.evicted.is_empty() {
            if let Some((x, n)) = st.evicted.revive(key) {
                st.ready.put(key.clone(), (Arc::clone(&x), n));
                c.resident_bytes.fetch_add(n, Relaxed);
                self.evict_to_budget(&mut st, key);
                drop(st);
                c.revivals.fetch_add(1, Relaxed);
                return Ok(x);
            }
        }
        let flight = Arc::new(Flight::new());
        st.loading.insert(key.clone(), Arc::clone(&flight));
        drop(st);

        // An upload that unwinds clears its flight and wakes its waiters.
        let guard = OnUnwind::new(|| {
            if let Some(f) = lock(&self.state).loading.remove(key) {
                f.abandon();
            }
        });
        let result = upload();
        let outcome = {
            let mut st = lock(&self.state);
            st.loading.remove(key);
            match result {
                Ok((x, n)) => {
                    let x = Arc::new(x);
                    c.uploads.fetch_add(1, Relaxed);
                    c.upload_bytes.fetch_add(n, Relaxed);
                    c.resident_bytes.fetch_add(n, Relaxed);
                    st.ready.put(key.clone(), (Arc::clone(&x), n));
                    self.evict_to_budget(&mut st, key);
                    Ok(x)
                }
                Err(e) => {
                    c.failed_uploads.fetch_add(1, Relaxed);
                    Err(e)
                }
            }
        };
        guard.disarm();
        flight.finish(outcome.clone());
        outcome
    }

    /// Drops least recently used copies until the budget holds, sparing `keep`.
    fn evict_to_budget(&self, st: &mut State<X>, keep: &CopyKey) {
        let Some(budget) = self.budget else { return };
        let c = &self.counters;
        while c.resident_bytes.load(Relaxed) > budget {
            let Some((k, (x, n))) = st.ready.pop_lru() else {
                break;
            };
            if &k == keep {
                // The newest copy is the only one left: it stays, over budget.
                st.ready.put(k, (x, n));
                break;
            }
            c.resident_bytes.fetch_sub(n, Relaxed);
            c.evictions.fetch_add(1, Relaxed);
            st.evicted.insert(k, (Arc::downgrade(&x), n));
        }
        st.evicted.tidy(st.ready.len());
    }
}

#[cfg(test)]
mod tests {
    //! The rules of device copies, with a stand-in upload (no GPU needed).
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Barrier;
    use std::time::Duration;

    fn key(k: &str) -> CopyKey {
        CopyKey {
            source: 1,
            key: Arc::from(k),
            ordinal: 0,
            swapped: false,
        }
    }

    #[test]
    fn eight_threads_one_upload() {
        let copies = Arc::new(Copies::<Vec<u8>>::new(None));
        let calls = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (copies, calls, barrier) = (
                    Arc::clone(&copies),
                    Arc::clone(&calls),
                    Arc::clone(&barrier),
                );
                std::thread::spawn(move || {
                    barrier.wait();
                    copies
                        .get_or_upload(&key("pt"), || {
                            calls.fetch_add(1, Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                            Ok((vec![7; 16], 16))
                        })
                        .unwrap()
                })
            })
            .collect();
        let got: Vec<Arc<Vec<u8>>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(calls.load(Relaxed), 1);
        assert!(got.iter().all(|g| Arc::ptr_eq(g, &got[0])));
        let c = &copies.counters;
        assert_eq!(c.uploads.load(Relaxed), 1);
        assert_eq!(c.upload_bytes.load(Relaxed), 16);
        assert_eq!(c.waits.load(Relaxed) + c.hits.load(Relaxed), 7);
    }

    #[test]
    fn a_failed_upload_is_retried() {
        let copies = Copies::<Vec<u8>>::new(None);
        let err = copies
            .get_or_upload(&key("k"), || Err(Error::read_failed("k", "out of memory")))
            .unwrap_err();
        assert!(err.to_string().contains("out of memory"));
        let ok = copies
            .get_or_upload(&key("k"), || Ok((vec![1], 1)))
            .unwrap();
        assert_eq!(*ok, vec![1]);
        assert_eq!(copies.counters.failed_uploads.load(Relaxed), 1);
        assert_eq!(copies.counters.uploads.load(Relaxed), 1);
    }

    #[test]
    fn a_panicking_upload_leaves_the_cache_usable() {
        let copies = Arc::new(Copies::<Vec<u8>>::new(None));
        let started = Arc::new(Barrier::new(2));
        let leader = {
            let (copies, started) = (Arc::clone(&copies), Arc::clone(&started));
            std::thread::spawn(move || {
                copies.get_or_upload(&key("k"), || {
                    started.wait();
                    std::thread::sleep(Duration::from_millis(50));
                    panic!("driver exploded")
                })
            })
        };
        started.wait();
        // The leader registered its upload before starting it, so this joins it.
        let follower = copies.get_or_upload(&key("k"), || Ok((vec![2], 1)));
        assert!(leader.join().is_err());
        let e = follower.unwrap_err();
        assert!(e.to_string().contains("panicked in another thread"), "{e}");
        // Nothing was left behind: the next request uploads.
        let again = copies
            .get_or_upload(&key("k"), || Ok((vec![3], 1)))
            .unwrap();
        assert_eq!(*again, vec![3]);
        assert_eq!(copies.counters.uploads.load(Relaxed), 1);
    }

    #[test]
    fn the_budget_evicts_and_a_held_copy_comes_back_without_an_upload() {
        let copies = Copies::<Vec<u8>>::new(Some(100));
        let uploads = AtomicUsize::new(0);
        let up = |v: u8| {
            uploads.fetch_add(1, Relaxed);
            Ok((vec![v; 60], 60))
        };
        let a = copies.get_or_upload(&key("a"), || up(1)).unwrap();
        copies.get_or_upload(&key("b"), || up(2)).unwrap();
        // Over budget: "a", least recently used, leaves the cache.
        assert_eq!(copies.counters.evictions.load(Relaxed), 1);
        assert_eq!(copies.counters.resident_bytes.load(Relaxed), 60);
        // Still held by `a`: revived without an upload.
        let again = copies.get_or_upload(&key("a"), || up(9)).unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(uploads.load(Relaxed), 2);
        assert_eq!(copies.counters.revivals.load(Relaxed), 1);
        // "b" was dropped for "a" and nobody holds it: uploaded again.
        drop(copies.get_or_upload(&key("c"), || up(3)).unwrap());
        let b = copies.get_or_upload(&key("b"), || up(4)).unwrap();
        assert_eq!(b[0], 4);
        assert_eq!(uploads.load(Relaxed), 4);
    }
}
