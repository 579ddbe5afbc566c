//! Sinks: where `to_buffers` puts buffers (awkward's container on the write side).
//!
//! A [`Sink`] only accepts a key and bytes, as awkward's `MutableMapping`
//! container does. [`MemorySink`] keeps them in memory; [`DirSink`] writes a
//! directory container atomically.

mod dir;
mod memory;

pub use dir::DirSink;
pub use memory::MemorySink;

use crate::error::Result;

/// A destination for buffers.
///
/// ```
/// use akbuf::{MemorySink, Sink};
///
/// let mut sink = MemorySink::new();
/// sink.put("node0-data", &[1, 2, 3])?;
/// assert_eq!(sink.get("node0-data").unwrap().as_slice(), &[1, 2, 3]);
/// # Ok::<(), akbuf::Error>(())
/// ```
pub trait Sink {
    /// Stores `bytes` under `key`.
    ///
    /// # Errors
    ///
    /// Whatever the destination reports, naming the key.
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()>;
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        (**self).put(key, bytes)
    }
}
