//! Revival: entries dropped for the budget but still held elsewhere come
//! back without a read while alive. Generic over the entry's handle, for
//! any cache built on these parts.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// A weak handle to an evicted entry.
pub(crate) trait Handle {
    /// What a live handle gives back.
    type Strong;
    /// The entry, if someone still holds it.
    fn upgrade(&self) -> Option<Self::Strong>;
    /// Whether someone still holds it.
    fn alive(&self) -> bool;
}

impl Handle for crate::buffer::WeakBuffer {
    type Strong = crate::buffer::Buffer;
    fn upgrade(&self) -> Option<crate::buffer::Buffer> {
        crate::buffer::WeakBuffer::upgrade(self)
    }
    fn alive(&self) -> bool {
        crate::buffer::WeakBuffer::upgrade(self).is_some()
    }
}

impl<X> Handle for (std::sync::Weak<X>, u64) {
    type Strong = (std::sync::Arc<X>, u64);
    fn upgrade(&self) -> Option<(std::sync::Arc<X>, u64)> {
        self.0.upgrade().map(|x| (x, self.1))
    }
    fn alive(&self) -> bool {
        self.0.strong_count() > 0
    }
}

/// Entries evicted for the budget, by key, kept as weak handles.
pub(crate) struct Evicted<K, H, S> {
    map: HashMap<K, H, S>,
}

impl<K: Hash + Eq, H: Handle, S: BuildHasher + Default> Evicted<K, H, S> {
    pub(crate) fn new() -> Evicted<K, H, S> {
        Evicted {
            map: HashMap::default(),
        }
    }

    /// Whether there are none (checked first on hot paths: usually true).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Remembers an entry the budget dropped.
    pub(crate) fn insert(&mut self, key: K, handle: H) {
        self.map.insert(key, handle);
    }

    /// The entry under `key` if it is still alive; forgets it either way
    /// (a revived entry goes back into the cache).
    pub(crate) fn revive<Q>(&mut self, key: &Q) -> Option<H::Strong>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key).and_then(|h| h.upgrade())
    }

    /// Forgets `key` (it was loaded again).
    pub(crate) fn forget<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key);
    }

    /// Drops the handles no one holds any more, once there are many more
    /// of them than live entries (`live`), so the map stays small.
    pub(crate) fn tidy(&mut self, live: usize) {
        if self.map.len() > 1024 + 2 * live {
            self.map.retain(|_, h| h.alive());
        }
    }

    /// Drops every handle no one holds.
    pub(crate) fn purge(&mut self) {
        self.map.retain(|_, h| h.alive());
    }
}
