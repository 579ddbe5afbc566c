//! A sink that keeps buffers in memory.

use super::{written_twice, FillFn, Sink};
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::source::MemorySource;

/// Buffers kept in memory, in the order they were put; becomes a
/// [`MemorySource`] to read them back.
///
/// ```
/// use akbuf::{MemorySink, Sink, Source};
///
/// let mut sink = MemorySink::new();
/// sink.put("a", &[7])?;
/// sink.put("b", &[8, 9])?;
/// assert_eq!(sink.keys().collect::<Vec<_>>(), ["a", "b"]);
/// let source = sink.into_source();
/// assert_eq!(source.read("b")?.unwrap().as_slice(), &[8, 9]);
/// // A key is written once.
/// let mut sink = MemorySink::new();
/// sink.put("a", &[1])?;
/// assert!(sink.put("a", &[2]).is_err());
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    buffers: Vec<(String, Buffer)>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// The keys, in the order they were put.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.buffers.iter().map(|(k, _)| k.as_str())
    }

    /// The buffer put under `key`.
    pub fn get(&self, key: &str) -> Option<&Buffer> {
        self.buffers.iter().find(|(k, _)| k == key).map(|(_, b)| b)
    }

    /// The buffers, in the order they were put.
    pub fn buffers(&self) -> &[(String, Buffer)] {
        &self.buffers
    }

    /// A source serving these buffers.
    pub fn into_source(self) -> MemorySource {
        self.buffers.into_iter().collect()
    }
}

impl MemorySink {
    fn fresh(&self, key: &str) -> Result<()> {
        if self.buffers.iter().any(|(k, _)| k == key) {
            return Err(written_twice(key));
        }
        Ok(())
    }
}

impl Sink for MemorySink {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        self.fresh(key)?;
        self.buffers
            .push((key.to_string(), Buffer::copy_from_slice(bytes)));
        Ok(())
    }

    fn put_with(&mut self, key: &str, len: usize, fill: &mut FillFn<'_>) -> Result<()> {
        self.fresh(key)?;
        let mut v = Vec::new();
        // The length is a hint: what `fill` writes is what is kept.
        let _ = v.try_reserve_exact(len);
        fill(&mut v).map_err(|e| Error::sink_io(key, e))?;
        self.buffers.push((key.to_string(), Buffer::from_vec(v)));
        Ok(())
    }
}
