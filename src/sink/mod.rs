//! Sinks: where `to_buffers` puts buffers (awkward's container on the write side).
//!
//! A [`Sink`] only accepts a key and bytes, as awkward's `MutableMapping`
//! container does. [`MemorySink`] keeps them in memory; [`DirSink`] writes a
//! directory container atomically.

mod dir;
#[cfg(feature = "hdf5")]
mod hdf5;
mod memory;
#[cfg(feature = "remote")]
mod remote;
#[cfg(feature = "zarr")]
pub(crate) mod zarr;

pub use dir::DirSink;
#[cfg(feature = "hdf5")]
pub use hdf5::Hdf5Sink;
pub use memory::MemorySink;
#[cfg(feature = "remote")]
pub use remote::RemoteSink;

use crate::error::{Error, Result};

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
    ///
    /// A key is written once: every sink of this crate refuses a second
    /// `put` under a key it already holds (with [`Error::Sink`]), so that
    /// no buffer is ever silently replaced by another.
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()>;

    /// Whether this sink can store a buffer under `key`, asked for every
    /// key by [`crate::to_buffers`] before it writes anything (a directory
    /// refuses keys that are not plain file names, and `metadata.json`).
    /// The default accepts every key.
    ///
    /// ```
    /// use akbuf::{DirSink, MemorySink, Sink};
    ///
    /// assert!(MemorySink::new().check_key("a/b").is_ok());
    /// let tmp = tempfile::tempdir()?;
    /// let sink = DirSink::create(tmp.path().join("out"))?;
    /// assert!(sink.check_key("node0-data").is_ok());
    /// assert!(sink.check_key("metadata.json").is_err());
    /// assert!(sink.check_key("../x").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Sink`] naming the key and why it cannot be stored.
    fn check_key(&self, key: &str) -> Result<()> {
        let _ = key;
        Ok(())
    }

    /// Stores `len` bytes under `key`, written piece by piece by `fill`, so
    /// that a large buffer can go from source to sink without ever being
    /// whole in memory. The default gathers the pieces and calls
    /// [`Sink::put`]; [`DirSink`] streams them into the file.
    ///
    /// ```
    /// use akbuf::{MemorySink, Sink};
    /// use std::io::Write;
    ///
    /// let mut sink = MemorySink::new();
    /// sink.put_with("k", 4, &mut |w: &mut dyn Write| {
    ///     w.write_all(&[1, 2])?;
    ///     w.write_all(&[3, 4])
    /// })?;
    /// assert_eq!(sink.get("k").unwrap().as_slice(), &[1, 2, 3, 4]);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// What `fill` or the destination reports, naming the key.
    fn put_with(&mut self, key: &str, len: usize, fill: &mut FillFn<'_>) -> Result<()> {
        let mut v = Vec::with_capacity(len);
        fill(&mut v).map_err(|e| Error::sink_io(key, e))?;
        self.put(key, &v)
    }

    /// A writer that builds the buffer under `key` piece by piece while
    /// other buffers are written too (writing a partitioned array as one
    /// piece appends each partition's rows to every buffer), or `None`
    /// where the sink cannot (then the pieces gather in a spool first and
    /// go in with [`Sink::put_with`]). The key counts as written once the
    /// writer exists. The default: `None`; [`DirSink`] appends to the file.
    ///
    /// ```
    /// use akbuf::{MemorySink, Sink};
    ///
    /// assert!(MemorySink::new().appender("node0-data")?.is_none()); // spooled instead
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Sink::put`] (a key written twice, a file that cannot be made).
    fn appender(&mut self, key: &str) -> Result<Option<Box<dyn Append>>> {
        let _ = key;
        Ok(None)
    }
}

/// A buffer written in pieces over time (see [`Sink::appender`]).
///
/// ```
/// use akbuf::{DirSink, Sink};
/// use std::io::Write;
///
/// let tmp = tempfile::tempdir()?;
/// let mut sink = DirSink::create(tmp.path().join("out"))?;
/// let mut a = sink.appender("node0-data")?.expect("a directory appends");
/// a.write_all(&[1, 2])?;
/// a.write_all(&[3])?;
/// a.finish()?;
/// sink.commit_with("metadata.json", b"{}")?;
/// assert_eq!(std::fs::read(tmp.path().join("out/node0-data"))?, [1, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Append: std::io::Write + Send {
    /// Completes the buffer: everything written reaches the destination
    /// (flushed and, for files, synced).
    ///
    /// # Errors
    ///
    /// What flushing or syncing reports.
    fn finish(self: Box<Self>) -> std::io::Result<()>;
}

impl Append for std::io::BufWriter<std::fs::File> {
    fn finish(mut self: Box<Self>) -> std::io::Result<()> {
        use std::io::Write;
        self.flush()?;
        self.get_ref().sync_all()
    }
}

/// What [`Sink::put_with`] calls to write a buffer's bytes, in order.
pub type FillFn<'a> = dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()> + 'a;

impl<S: Sink + ?Sized> Sink for &mut S {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        (**self).put(key, bytes)
    }
    fn put_with(&mut self, key: &str, len: usize, fill: &mut FillFn<'_>) -> Result<()> {
        (**self).put_with(key, len, fill)
    }
    fn check_key(&self, key: &str) -> Result<()> {
        (**self).check_key(key)
    }
    fn appender(&mut self, key: &str) -> Result<Option<Box<dyn Append>>> {
        (**self).appender(key)
    }
}

/// The error of a second `put` under one key.
pub(crate) fn written_twice(key: &str) -> Error {
    Error::sink(
        key,
        "this key was already written to this sink (a sink takes each key once)",
    )
}
