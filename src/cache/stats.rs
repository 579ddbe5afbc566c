//! What a cache counts, and what its observer sees.

use crate::error::Error;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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

/// A counter padded to 64 bytes, so that neighbours do not share its cache
/// line. Padding rather than `repr(align)`: over-aligned allocations take
/// malloc's slow path, and every array without a shared cache allocates one.
#[derive(Default)]
pub(super) struct Padded {
    pub(super) n: AtomicU64,
    pub(super) _pad: [u64; 7],
}

pub(super) const STRIPES: usize = 8;

/// Hits are counted on per-thread stripes, so that threads hitting the cache
/// at once do not fight over one counter.
#[derive(Default)]
pub(super) struct Striped([Padded; STRIPES]);

impl Striped {
    pub(super) fn add(&self) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                NEXT.fetch_add(1, Relaxed) as usize % STRIPES
            };
        }
        let i = STRIPE.with(|s| *s);
        self.0[i].n.fetch_add(1, Relaxed);
    }
    pub(super) fn load(&self) -> u64 {
        self.0.iter().map(|p| p.n.load(Relaxed)).sum()
    }
}

/// The hit counter: striped in a shared cache, whose hits many threads may
/// count at once; one word in an unsharded one, which every array opened
/// without a shared cache makes (half a kilobyte of stripes would be most of
/// what making it costs).
pub(super) enum Hits {
    One(AtomicU64),
    Striped(Box<Striped>),
}

impl Hits {
    pub(super) fn add(&self) {
        match self {
            Hits::One(n) => {
                n.fetch_add(1, Relaxed);
            }
            Hits::Striped(s) => s.add(),
        }
    }
    pub(super) fn load(&self) -> u64 {
        match self {
            Hits::One(n) => n.load(Relaxed),
            Hits::Striped(s) => s.load(),
        }
    }
}

pub(super) struct Counters {
    pub(super) reads: AtomicU64,
    pub(super) bytes_read: AtomicU64,
    pub(super) failed_reads: AtomicU64,
    pub(super) hits: Hits,
    pub(super) waits: AtomicU64,
    pub(super) revivals: AtomicU64,
    pub(super) evictions: AtomicU64,
    pub(super) heap_bytes: AtomicU64,
    pub(super) mapped_bytes: AtomicU64,
    pub(super) entries: AtomicU64,
}
