//! The byte budget: what entries cost, and evicting the least recently
//! used ones (with a second chance for those hit since they last moved).

use super::flight::Flight;
use super::key::K;
use super::shard::{Entry, Shard, Slot, Store};
use super::sync::write;
use super::{Cache, Outcome};
use crate::buffer::{Buffer, Residence};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

impl Cache {
    pub(super) fn charge(&self, b: &Buffer, add: bool) {
        let n = b.len() as u64;
        let slot = match b.residence() {
            Residence::Heap => &self.counters.heap_bytes,
            Residence::Mapped => &self.counters.mapped_bytes,
        };
        if add {
            slot.fetch_add(n, Relaxed);
            self.counters.entries.fetch_add(1, Relaxed);
        } else {
            slot.fetch_sub(n, Relaxed);
            self.counters.entries.fetch_sub(1, Relaxed);
        }
    }

    /// Puts a buffer in a shard (whose write lock the caller holds), in
    /// place of the key's loading slot if there is one; returns that slot's
    /// rendezvous, if a waiter made one.
    pub(super) fn admit(
        &self,
        sh: &mut Shard,
        key: &K,
        b: &Buffer,
    ) -> Option<Arc<Flight<Outcome>>> {
        self.charge(b, true);
        let ready = Slot::Ready(Entry {
            buf: b.clone(),
            touched: AtomicBool::new(false),
        });
        let old = match sh.store.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, ready)),
            None => {
                sh.store.insert(key.clone(), ready);
                None
            }
        };
        if !sh.evicted.is_empty() {
            sh.evicted.forget(key);
            sh.evicted.tidy(sh.store.len());
        }
        match old {
            Some(Slot::Ready(e)) => {
                self.charge(&e.buf, false);
                None
            }
            Some(Slot::Loading(f)) => f,
            None => None,
        }
    }

    /// Evicts least recently used heap entries until the budget holds, one
    /// shard at a time (no two shard locks are ever held together), sparing
    /// `keep`, the entry just admitted.
    #[inline]
    pub(super) fn evict_to_budget(&self, keep: &K) {
        if let Some(budget) = self.budget {
            self.evict_over(budget, keep);
        }
    }

    pub(super) fn evict_over(&self, budget: u64, keep: &K) {
        let mut idle = 0;
        let count = self.shards.count();
        let held = || {
            let heap = self.counters.heap_bytes.load(Relaxed);
            match self.count_mapped {
                true => heap + self.counters.mapped_bytes.load(Relaxed),
                false => heap,
            }
        };
        while held() > budget && idle < count {
            let i = self.evict_cursor.fetch_add(1, Relaxed) % count;
            let Some(shard) = self.shards.made(i) else {
                idle += 1;
                continue;
            };
            let mut guard = write(&shard.lock);
            let sh = &mut *guard;
            let mut evicted = false;
            let Store::Lru(lru) = &mut sh.store else {
                idle += 1;
                continue;
            };
            for _ in 0..lru.len() {
                // Only heap entries count against the budget (mapped ones
                // too when it counts them); skip the others.
                let counted = |b: &Buffer| self.count_mapped || b.residence() == Residence::Heap;
                let victim = lru.iter().rev().find_map(|(k, s)| match s {
                    Slot::Ready(e) if counted(&e.buf) && k != keep => {
                        Some((k.clone(), e.touched.swap(false, Relaxed)))
                    }
                    _ => None,
                });
                let Some((victim, touched)) = victim else {
                    break;
                };
                if touched {
                    // Hit since it last moved: a second chance, as most recent.
                    lru.promote(&victim);
                    continue;
                }
                if let Some(Slot::Ready(old)) = lru.pop(&victim) {
                    self.charge(&old.buf, false);
                    sh.evicted.insert(victim, old.buf.downgrade());
                    self.counters.evictions.fetch_add(1, Relaxed);
                    evicted = true;
                }
                break;
            }
            idle = if evicted { 0 } else { idle + 1 };
        }
    }
}
