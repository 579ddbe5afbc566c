//! Cache keys: (source number, conversion, buffer key), looked up without
//! allocating through a borrowed view, hashed with FxHash.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

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

impl Conv {
    /// Every conversion a cache may hold (units of 1 to 32 bytes).
    pub(crate) fn all() -> impl Iterator<Item = Conv> {
        let units = [1u8, 2, 4, 8, 16, 32];
        std::iter::once(Conv::Raw)
            .chain(units.into_iter().map(Conv::Swap))
            .chain(units.into_iter().map(Conv::Align))
    }
}

/// A view of a key's parts, so that owned keys (in the maps) and borrowed
/// ones (in a lookup) hash and compare alike: lookups allocate nothing.
pub(super) trait KeyView {
    fn parts(&self) -> (u64, Conv, &str);
}

impl KeyView for K {
    fn parts(&self) -> (u64, Conv, &str) {
        (self.source, self.conv, &self.key)
    }
}

pub(super) struct KeyRef<'a>(pub(super) u64, pub(super) Conv, pub(super) &'a str);

impl KeyView for KeyRef<'_> {
    fn parts(&self) -> (u64, Conv, &str) {
        (self.0, self.1, self.2)
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let (s, c, k) = self.parts();
        s.hash(h);
        c.hash(h);
        k.hash(h);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

/// An entry's identity, as held by the maps: source, buffer key (shared
/// with the lazy buffer that asked, so making it allocates nothing), conversion.
#[derive(Clone)]
pub(super) struct K {
    pub(super) source: u64,
    pub(super) conv: Conv,
    pub(super) key: Arc<str>,
}

impl Hash for K {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self as &dyn KeyView).hash(h);
    }
}

impl PartialEq for K {
    fn eq(&self, other: &K) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for K {}

impl<'a> Borrow<dyn KeyView + 'a> for K {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// The cache's hasher: FxHash (rustc's), written here. Keys come from
/// forms, not from an adversary, and a hit should cost nanoseconds: with
/// foldhash (tried, and already in the tree) a single-thread hit took 75 ns
/// against 64 ns with this, and a hit of two threads on two keys 87 ns
/// against 70 (`cargo bench -p akbuf-bench --bench cache`, BENCHMARKS.md).
#[derive(Default, Clone, Copy)]
pub(super) struct Fx(u64);

impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Builds [`Fx`] hashers.
pub(super) type KeyHash = std::hash::BuildHasherDefault<Fx>;
