//! The single-flight guard (as quick-cache's `placeholder.rs`): what a probe
//! of the shards finds (a hit, a flight to wait for, a new loading slot),
//! and the `Lead` that holds a loading slot until it is finished with the
//! read's result, or cleared, its waiters woken, when dropped unfinished.

#[allow(unused_imports)]
use super::*;

/// What [`Cache::probe`] found.
pub(super) enum Probe<'a> {
    Hit(Buffer),
    /// A read in flight (its rendezvous, if it still has one).
    Wait(Option<Arc<Flight<Outcome>>>),
    Lead(Lead<'a>),
}

/// The loading slot of one key, held by the thread that will read it
/// (see [`Cache::claim`]). Dropped unfinished (the read panicked, or was
/// never made), it clears its slot and wakes whoever waits with an error.
pub(crate) struct Lead<'a> {
    cache: &'a Cache,
    shard: &'a RwLock<Shard>,
    owned: Option<K>,
}

impl<'a> Lead<'a> {
    pub(super) fn new(cache: &'a Cache, shard: &'a RwLock<Shard>, owned: K) -> Lead<'a> {
        Lead {
            cache,
            shard,
            owned: Some(owned),
        }
    }

    /// Stores the read's result (a buffer is cached; a missing key or an
    /// error is not) and hands it to every waiting thread.
    pub(crate) fn finish(mut self, result: Outcome) -> Outcome {
        let Some(owned) = self.owned.take() else {
            return result;
        };
        let cache = self.cache;
        let waiters = {
            let mut sh = write(self.shard);
            match &result {
                Ok(Some(b)) => cache.admit(&mut sh, &owned, b),
                _ => match sh.store.remove(&owned) {
                    Some(Slot::Loading(f)) => f,
                    _ => None,
                },
            }
        };
        if let Some(f) = waiters {
            f.finish(result.clone());
        }
        if matches!(result, Ok(Some(_))) {
            cache.evict_to_budget(&owned);
        }
        result
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        // Only the leader removes its entry, so the entry is this one's.
        if let Some(owned) = self.owned.take() {
            let slot = write(self.shard).store.remove(&owned);
            if let Some(Slot::Loading(Some(f))) = slot {
                f.abandon();
            }
        }
    }
}
