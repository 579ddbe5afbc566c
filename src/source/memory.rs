//! A source over buffers held in memory.

use super::Source;
use crate::buffer::Buffer;
use crate::error::Result;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Buffers in a map, keyed by buffer key.
///
/// ```
/// use akbuf::{Buffer, MemorySource, Source};
///
/// let mut source = MemorySource::new();
/// source.insert("node0-data", Buffer::from_slice(&[1i64, 2, 3]));
/// assert_eq!(source.size("node0-data"), Some(24));
/// assert!(source.read("nope")?.is_none());
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// Clones share their identity for a shared cache (see [`Source::id`]), so
/// they must not be changed after a cache has seen them.
#[derive(Clone, Debug)]
pub struct MemorySource {
    buffers: HashMap<String, Buffer>,
    id: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Default for MemorySource {
    fn default() -> MemorySource {
        MemorySource {
            buffers: HashMap::new(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> MemorySource {
        MemorySource::default()
    }

    /// Adds or replaces a buffer.
    pub fn insert(&mut self, key: impl Into<String>, buffer: Buffer) -> &mut MemorySource {
        self.buffers.insert(key.into(), buffer);
        self
    }

    /// Adds or replaces a buffer (builder style).
    pub fn with(mut self, key: impl Into<String>, buffer: Buffer) -> MemorySource {
        self.insert(key, buffer);
        self
    }

    /// The keys held, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.buffers.keys().map(String::as_str)
    }

    /// The buffer under `key`, without going through [`Source::read`].
    pub fn get(&self, key: &str) -> Option<&Buffer> {
        self.buffers.get(key)
    }

    /// Number of buffers.
    pub fn len(&self) -> usize {
        self.buffers.len()
    }

    /// Whether there are no buffers.
    pub fn is_empty(&self) -> bool {
        self.buffers.is_empty()
    }
}

impl FromIterator<(String, Buffer)> for MemorySource {
    fn from_iter<I: IntoIterator<Item = (String, Buffer)>>(iter: I) -> MemorySource {
        MemorySource {
            buffers: iter.into_iter().collect(),
            ..MemorySource::default()
        }
    }
}

impl Source for MemorySource {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        Ok(self.buffers.get(key).cloned())
    }
    fn size(&self, key: &str) -> Option<u64> {
        self.buffers.get(key).map(|b| b.len() as u64)
    }
    fn stat_many(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        keys.iter().map(|k| Ok(self.size(k))).collect()
    }
    fn describe(&self) -> String {
        format!("memory ({} buffers)", self.buffers.len())
    }
    fn id(&self) -> Option<String> {
        Some(format!("memory:{}", self.id))
    }
}
