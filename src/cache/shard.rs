//! Shards: where entries live (a plain map, or an LRU when there is a
//! budget), made on first use, and the guard that clears a read in flight
//! when its leader unwinds.

use super::flight::Flight;
use super::key::{KeyHash, KeyView, K};
use super::revive::Evicted;
use super::sync::RwLock;
use super::Outcome;
use crate::buffer::{Buffer, WeakBuffer};
use once_cell::race::OnceBox;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// A cached buffer. `touched` records a hit since the entry last moved in the
/// LRU order: hits only read-lock their shard, so they cannot reorder it;
/// eviction gives touched entries a second chance instead.
pub(super) struct Entry {
    pub(super) buf: Buffer,
    pub(super) touched: AtomicBool,
}

/// Keys are spread over shards by hash, so threads hitting different keys
/// share no lock.
pub(super) const SHARDS: usize = 16;

/// What a shard holds under a key: a buffer, or a read in flight (with the
/// rendezvous for its waiters, made by the first waiter, so a read nobody
/// waits for allocates none). One map for both: a miss inserts once.
pub(super) enum Slot {
    Ready(Entry),
    Loading(Option<Arc<Flight<Outcome>>>),
}

/// What the write-locked probe of a miss found.
pub(super) enum Found<'a> {
    /// The key's slot.
    Slot(&'a mut Slot),
    /// Nothing: a loading slot was put under the key.
    Inserted(K),
    /// Nothing, and nothing put: the key may be among the evicted.
    Absent(K),
}

/// A shard's map: a plain hash map when the cache has no budget (nothing is
/// ever evicted, so no order is kept), an LRU list when it has one.
pub(super) enum Store {
    Plain(HashMap<K, Slot, KeyHash>),
    Lru(lru::LruCache<K, Slot, KeyHash>),
}

impl Store {
    pub(super) fn peek(&self, k: &dyn KeyView) -> Option<&Slot> {
        match self {
            Store::Plain(m) => m.get(k),
            Store::Lru(l) => l.peek(k),
        }
    }
    /// For the LRU, also marks the key most recently used.
    pub(super) fn get_mut(&mut self, k: &dyn KeyView) -> Option<&mut Slot> {
        match self {
            Store::Plain(m) => m.get_mut(k),
            Store::Lru(l) => l.get_mut(k),
        }
    }
    pub(super) fn insert(&mut self, k: K, slot: Slot) {
        match self {
            Store::Plain(m) => {
                m.insert(k, slot);
            }
            Store::Lru(l) => {
                l.put(k, slot);
            }
        }
    }
    pub(super) fn remove(&mut self, k: &dyn KeyView) -> Option<Slot> {
        match self {
            Store::Plain(m) => m.remove(k),
            Store::Lru(l) => l.pop(k),
        }
    }
    pub(super) fn len(&self) -> usize {
        match self {
            Store::Plain(m) => m.len(),
            Store::Lru(l) => l.len(),
        }
    }
}

pub(super) struct Shard {
    pub(super) store: Store,
    pub(super) evicted: Evicted<K, WeakBuffer, KeyHash>,
}

/// A shard's lock (each in its own allocation, so shards share no cache line).
pub(super) struct ShardLock {
    pub(super) lock: RwLock<Shard>,
}

impl ShardLock {
    pub(super) fn new(budgeted: bool) -> ShardLock {
        let store = if budgeted {
            Store::Lru(lru::LruCache::unbounded_with_hasher(KeyHash::default()))
        } else {
            Store::Plain(HashMap::default())
        };
        ShardLock {
            lock: RwLock::new(Shard {
                store,
                evicted: Evicted::new(),
            }),
        }
    }
}

pub(super) fn shard_of(key: &dyn KeyView) -> usize {
    // The high bits are the best mixed.
    (KeyHash::default().hash_one(key) >> 60) as usize % SHARDS
}

/// A cache's shards.
pub(super) enum Shards {
    /// A private cache's (one array's, made when it was opened without a
    /// shared cache): one shard, inline, so that making the cache is one
    /// allocation. Its hits are rare (an array's lazy buffers keep their own
    /// handles), and every array opened pays for making its cache.
    One(ShardLock),
    /// A shared cache's: keys spread over [`SHARDS`] shards, each made on
    /// first use, so that threads hitting different keys share no lock.
    Many([OnceBox<ShardLock>; SHARDS]),
}

impl Shards {
    /// The shard of `key`, made if need be.
    pub(super) fn of(&self, key: &dyn KeyView, budgeted: bool) -> &ShardLock {
        match self {
            Shards::One(s) => s,
            Shards::Many(m) => m[shard_of(key)].get_or_init(|| Box::new(ShardLock::new(budgeted))),
        }
    }

    /// The shard of `key` if it has been made.
    pub(super) fn of_if_made(&self, key: &dyn KeyView) -> Option<&ShardLock> {
        match self {
            Shards::One(s) => Some(s),
            Shards::Many(m) => m[shard_of(key)].get(),
        }
    }

    /// The number of shards there can be.
    pub(super) fn count(&self) -> usize {
        match self {
            Shards::One(_) => 1,
            Shards::Many(_) => SHARDS,
        }
    }

    /// Shard `i` (below [`Shards::count`]) if it has been made.
    pub(super) fn made(&self, i: usize) -> Option<&ShardLock> {
        match self {
            Shards::One(s) => Some(s),
            Shards::Many(m) => m[i].get(),
        }
    }
}
