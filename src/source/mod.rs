//! Sources: where buffer bytes come from (the getter of awkward's container).
//!
//! A [`Source`] maps a buffer key to bytes. It knows nothing of forms or
//! layouts. Implementations: [`MemorySource`] (a map in memory), [`FnSource`]
//! (any closure), [`DirSource`] (a directory container, memory-mapped), and
//! [`Observed`] (wraps another source and reports every read).

pub(crate) mod dir;
mod func;
#[cfg(feature = "hdf5")]
pub(crate) mod hdf5;
mod memory;
mod observed;
#[cfg(feature = "remote")]
pub(crate) mod remote;
#[cfg(feature = "zarr")]
pub(crate) mod zarr;

pub use dir::DirSource;
pub use func::FnSource;
#[cfg(feature = "hdf5")]
pub use hdf5::Hdf5Source;
pub use memory::MemorySource;
pub use observed::Observed;
#[cfg(feature = "remote")]
pub use remote::RemoteSource;
#[cfg(feature = "zarr")]
pub use zarr::ZarrSource;

use crate::buffer::Buffer;
use crate::error::Result;
use std::sync::Arc;

/// A getter of buffers by key. Must be usable from many threads at once.
///
/// `read` is called at most once per key by a lazy array (and, with a shared
/// cache, at most once per key across arrays); it should return the whole
/// buffer. Returning `Ok(None)` means the key does not exist; the caller turns
/// that into [`crate::Error::MissingKey`] naming the node that needed it.
///
/// ```
/// use akbuf::{Buffer, Result, Source};
///
/// struct Zeros;
/// impl Source for Zeros {
///     fn read(&self, key: &str) -> Result<Option<Buffer>> {
///         Ok(key.ends_with("-data").then(|| Buffer::from_vec(vec![0; 64])))
///     }
/// }
/// assert_eq!(Zeros.read("node0-data")?.unwrap().len(), 64);
/// assert!(Zeros.read("node0-offsets")?.is_none());
/// # Ok::<(), akbuf::Error>(())
/// ```
pub trait Source: Send + Sync {
    /// Reads the buffer stored under `key`; `Ok(None)` if there is none.
    ///
    /// # Errors
    ///
    /// Whatever the underlying storage reports, as [`crate::Error::Source`].
    fn read(&self, key: &str) -> Result<Option<Buffer>>;

    /// Reads the buffer under `key` when only its first `len` bytes are
    /// needed: the result holds at least those bytes when they are stored
    /// (fewer only if the stored buffer is shorter), and may hold more.
    /// A lazy array asks this way, so a source whose reads cost (a dataset
    /// read through a library into memory, a remote object) need not fetch
    /// bytes no node uses, and never allocates for a declared size that no
    /// node needs. The default reads the whole buffer.
    ///
    /// ```
    /// use akbuf::{Buffer, MemorySource, Source};
    ///
    /// let source = MemorySource::new().with("k", Buffer::from_slice(&[1u8, 2, 3, 4]));
    /// assert!(source.read_prefix("k", 2)?.unwrap().len() >= 2);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Source::read`].
    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        let _ = len;
        self.read(key)
    }

    /// Bytes `range` of the buffer under `key` (a row slice needs only
    /// those): exactly `range.len()` bytes, fewer if the stored buffer ends
    /// first (the caller checks), `Ok(None)` if the key is missing. The
    /// default reads the whole buffer and slices it; directory and HDF5
    /// sources read only the range.
    ///
    /// ```
    /// use akbuf::{Buffer, MemorySource, Source};
    ///
    /// let source = MemorySource::new().with("k", Buffer::from_slice(&[1u8, 2, 3, 4]));
    /// assert_eq!(source.read_range("k", 1..3)?.unwrap().as_slice(), &[2, 3]);
    /// assert_eq!(source.read_range("k", 3..9)?.unwrap().as_slice(), &[4]); // the buffer ends
    /// assert!(source.read_range("missing", 0..1)?.is_none());
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Source::read`].
    fn read_range(&self, key: &str, range: std::ops::Range<usize>) -> Result<Option<Buffer>> {
        let Some(whole) = self.read(key)? else {
            return Ok(None);
        };
        let start = range.start.min(whole.len());
        let stop = range.end.clamp(start, whole.len());
        whole.slice(start, stop - start).map(Some)
    }

    /// Several reads at once, one result per request in order (each as
    /// [`Source::read`], [`Source::read_prefix`] or [`Source::read_range`]
    /// would give it). A source whose reads are round trips (a remote
    /// store) issues them together: in parallel, nearby ranges of one
    /// object merged; the default reads them one after the other.
    ///
    /// ```
    /// use akbuf::{Buffer, MemorySource, Source, Want};
    ///
    /// let source = MemorySource::new()
    ///     .with("a", Buffer::from_slice(&[1u8, 2]))
    ///     .with("b", Buffer::from_slice(&[3u8]));
    /// let got = source.read_many(&[("a", Want::All), ("b", Want::Prefix(1))]);
    /// assert_eq!(got.len(), 2);
    /// assert_eq!(got[1].as_ref().unwrap().as_ref().unwrap().as_slice(), &[3]);
    /// ```
    fn read_many(&self, requests: &[(&str, Want)]) -> Vec<Result<Option<Buffer>>> {
        requests
            .iter()
            .map(|(key, want)| want.clone().from(self, key))
            .collect()
    }

    /// The size in bytes of the buffer under `key`, if it can be known
    /// without reading it (a file's size, a map entry's length).
    fn size(&self, key: &str) -> Option<u64> {
        let _ = key;
        None
    }

    /// The stored sizes of `keys`, asking the storage where
    /// [`Source::size`] cannot tell without a request: `Ok(Some(n))` a
    /// buffer of `n` bytes is stored, `Ok(None)` none is, `Err` the size is
    /// not known (a source that learns sizes only by reading, or a request
    /// that failed). A remote store asks them in one batch of `HEAD`
    /// requests; the default answers from [`Source::size`] and calls
    /// every other size unknown, never missing.
    ///
    /// ```
    /// use akbuf::{Buffer, MemorySource, Source};
    ///
    /// let source = MemorySource::new().with("k", Buffer::from_slice(&[1u8, 2, 3]));
    /// let got = source.stat_many(&["k", "nope"]);
    /// assert_eq!(got[0].as_ref().unwrap(), &Some(3));
    /// assert_eq!(got[1].as_ref().unwrap(), &None); // a map knows what it lacks
    /// ```
    fn stat_many(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        keys.iter()
            .map(|k| match self.size(k) {
                Some(n) => Ok(Some(n)),
                None => Err(crate::error::Error::read_failed(
                    *k,
                    "its size is not known before it is read",
                )),
            })
            .collect()
    }

    /// A short description for messages (`dir:/data/events`).
    fn describe(&self) -> String {
        String::from("source")
    }

    /// The source's identity for a shared cache: two sources with the same
    /// id serve the same bytes under the same keys (a directory's canonical
    /// path). `None` (the default) means this source shares entries with no other.
    fn id(&self) -> Option<String> {
        None
    }
}

/// What one read asks of a source: a request of [`Source::read_many`].
///
/// ```
/// use akbuf::{Buffer, MemorySource, Source, Want};
///
/// let source = MemorySource::new().with("k", Buffer::from_slice(&[1u8, 2, 3, 4]));
/// let got = source.read_many(&[("k", Want::Range(1..3)), ("nope", Want::All)]);
/// assert_eq!(got[0].as_ref().unwrap().as_ref().unwrap().as_slice(), &[2, 3]);
/// assert!(got[1].as_ref().unwrap().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// The whole buffer ([`Source::read`]).
    All,
    /// At least its first bytes ([`Source::read_prefix`]).
    Prefix(usize),
    /// These bytes ([`Source::read_range`]).
    Range(std::ops::Range<usize>),
}

impl Want {
    /// Asks `source` for it, alone.
    pub(crate) fn from<S: Source + ?Sized>(self, source: &S, key: &str) -> Result<Option<Buffer>> {
        match self {
            Want::All => source.read(key),
            Want::Prefix(n) => source.read_prefix(key, n),
            Want::Range(r) => source.read_range(key, r),
        }
    }
}

impl<S: Source + ?Sized> Source for Arc<S> {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        (**self).read(key)
    }
    fn read_many(&self, requests: &[(&str, Want)]) -> Vec<Result<Option<Buffer>>> {
        (**self).read_many(requests)
    }
    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        (**self).read_prefix(key, len)
    }
    fn read_range(&self, key: &str, range: std::ops::Range<usize>) -> Result<Option<Buffer>> {
        (**self).read_range(key, range)
    }
    fn size(&self, key: &str) -> Option<u64> {
        (**self).size(key)
    }
    fn stat_many(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        (**self).stat_many(keys)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn id(&self) -> Option<String> {
        (**self).id()
    }
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        (**self).read(key)
    }
    fn read_many(&self, requests: &[(&str, Want)]) -> Vec<Result<Option<Buffer>>> {
        (**self).read_many(requests)
    }
    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        (**self).read_prefix(key, len)
    }
    fn read_range(&self, key: &str, range: std::ops::Range<usize>) -> Result<Option<Buffer>> {
        (**self).read_range(key, range)
    }
    fn size(&self, key: &str) -> Option<u64> {
        (**self).size(key)
    }
    fn stat_many(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        (**self).stat_many(keys)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn id(&self) -> Option<String> {
        (**self).id()
    }
}
