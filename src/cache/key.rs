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

/// The cache's hasher: foldhash's fast hash with a fixed seed (keys come
/// from forms, not from an adversary, and a hit should cost nanoseconds;
/// foldhash is already in the tree through hashbrown).
pub(super) type KeyHash = foldhash::fast::FixedState;
