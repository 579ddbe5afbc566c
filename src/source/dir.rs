//! The directory container: one file per buffer key, memory-mapped.

use super::Source;
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::sys;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Reads buffers from a directory holding one raw file per key.
///
/// Each file is memory-mapped when read, so its bytes are used in place:
/// no heap copy, and the page cache is shared between processes.
///
/// A key must be a plain file name: keys containing `/`, `\`, NUL, or equal
/// to `.`/`..` are refused, so a form cannot make akbuf read outside the folder.
///
/// Only regular files are read: a FIFO, a device or a socket under a key's
/// name is refused without blocking (it is opened with `O_NONBLOCK` and
/// checked before any read). The key `metadata.json` is refused too: it
/// names the container's metadata, never a buffer.
///
/// Symbolic links are followed, unless the source is
/// [`DirSource::confined`]: then a buffer file that resolves outside the
/// folder is refused.
///
/// **The mmap contract.** Like every memory map, the mapping assumes that
/// the files are not truncated or modified while an array reads them
/// (truncating a mapped file makes the next touch of the lost pages a
/// `SIGBUS`). akbuf's own writer never modifies a container in place: it
/// writes a new folder and renames it, and `akbuf copy --force` swaps the
/// whole folder.
///
/// ```
/// use akbuf::{DirSource, Source};
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("node0-data"), [1u8, 2, 3])?;
/// let source = DirSource::new(dir.path());
/// assert_eq!(source.read("node0-data")?.unwrap().as_slice(), &[1, 2, 3]);
/// assert!(source.read("node1-data")?.is_none());
/// assert!(source.read("../etc/passwd").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DirSource {
    root: PathBuf,
    confined: bool,
    /// Keys are `/`-separated paths of plain names (a Zarr store's
    /// `node4-offsets/c/0`), not one file name.
    nested: bool,
}

impl DirSource {
    /// A source over the files in `root`.
    pub fn new(root: impl AsRef<Path>) -> DirSource {
        DirSource {
            root: root.as_ref().to_path_buf(),
            confined: false,
            nested: false,
        }
    }

    /// A source over the files under `root` whose keys are `/`-separated
    /// paths, each part a plain name (a Zarr store's keys): `..`, `.`, an
    /// empty part, a backslash or NUL are refused as in [`DirSource`], so a key
    /// never leaves the folder but through a link (refused when confined).
    #[cfg(feature = "zarr")]
    pub(crate) fn nested(root: impl AsRef<Path>) -> DirSource {
        DirSource {
            nested: true,
            ..DirSource::new(root)
        }
    }

    /// The same source, refusing buffer files that resolve (through
    /// symbolic links) outside the folder, for serving untrusted data.
    ///
    /// ```
    /// use akbuf::{DirSource, Source};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let outside = tempfile::NamedTempFile::new()?;
    /// std::fs::write(dir.path().join("node1-data"), [1u8])?;
    /// # #[cfg(unix)] {
    /// std::os::unix::fs::symlink(outside.path(), dir.path().join("node0-data"))?;
    /// std::os::unix::fs::symlink("node1-data", dir.path().join("node2-data"))?;
    /// let source = DirSource::new(dir.path()).confined();
    /// assert!(source.read("node0-data").is_err()); // outside
    /// assert_eq!(source.read("node2-data")?.unwrap().as_slice(), &[1]); // inside
    /// assert!(DirSource::new(dir.path()).read("node0-data")?.is_some()); // followed by default
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn confined(mut self) -> DirSource {
        self.confined = true;
        self
    }

    /// Whether this source is confined.
    pub fn is_confined(&self) -> bool {
        self.confined
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf> {
        if self.nested {
            if !key.split('/').all(is_plain_file_name) {
                return Err(Error::read_failed(
                    key,
                    "a key of a store must be a path of plain names",
                ));
            }
            return Ok(self.root.join(key));
        }
        if !is_plain_file_name(key) {
            return Err(Error::read_failed(
                key,
                "a buffer key in a directory container must be a plain file name",
            ));
        }
        if key == "metadata.json" {
            return Err(Error::read_failed(
                key,
                "metadata.json is the container's metadata, not a buffer",
            ));
        }
        Ok(self.root.join(key))
    }

    /// The file to open for `key`: the path itself, or for a confined
    /// source its resolved path once it is known to lie inside the folder
    /// (`None` if there is no file).
    fn resolve(&self, key: &str, path: PathBuf) -> Result<Option<PathBuf>> {
        if !self.confined {
            return Ok(Some(path));
        }
        match confined_path(&self.root, &path) {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::read_io(key, e)),
        }
    }
}

/// `path` with every link resolved, if it lies inside `root` (resolved too).
///
/// # Errors
///
/// `NotFound` if it does not exist; `PermissionDenied` saying so if it
/// resolves outside `root`.
pub(crate) fn confined_path(root: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let root = std::fs::canonicalize(root)?;
    let real = std::fs::canonicalize(path)?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(std::io::Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{} resolves to {}, outside the container (confined)",
                path.display(),
                real.display()
            ),
        ))
    }
}

/// Whether a buffer key can name a file of a directory container: not empty,
/// not `.` or `..`, no path separator or NUL.
pub(crate) fn is_plain_file_name(key: &str) -> bool {
    !(key.is_empty() || key == "." || key == ".." || key.contains(['/', '\\', '\0']))
}

impl Source for DirSource {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        self.map(key, None)
    }

    fn read_range(&self, key: &str, range: std::ops::Range<usize>) -> Result<Option<Buffer>> {
        self.map(key, Some(range))
    }

    fn size(&self, key: &str) -> Option<u64> {
        let path = self.path_of(key).ok()?;
        let path = self.resolve(key, path).ok()??;
        std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    fn stat_many(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        // A file's size is its metadata: no file, no buffer.
        keys.iter().map(|k| Ok(self.size(k))).collect()
    }

    fn describe(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    fn id(&self) -> Option<String> {
        let root = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        Some(format!("dir:{}", root.display()))
    }
}

impl DirSource {
    /// Maps the file of `key`: whole, or only the pages holding `range`
    /// (clipped to the file), sliced to it.
    fn map(&self, key: &str, range: Option<std::ops::Range<usize>>) -> Result<Option<Buffer>> {
        let path = self.path_of(key)?;
        let Some(path) = self.resolve(key, path)? else {
            return Ok(None);
        };
        let (file, len) = match sys::open_regular_with_len(&path, self.confined) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Source {
                    key: key.to_string(),
                    message: format!("{}: {e}", path.display()),
                    cause: Some(crate::error::Cause::new(e)),
                })
            }
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let (start, stop) = match &range {
            Some(r) => (r.start.min(len), r.end.clamp(r.start.min(len), len)),
            None => (0, len),
        };
        if start == stop {
            return Ok(Some(Buffer::empty()));
        }
        // Map from the page holding `start`: the offset must be page-aligned.
        let page = sys::page_size();
        let from = start - start % page;
        let mut options = memmap2::MmapOptions::new();
        if range.is_some() {
            options.offset(from as u64).len(stop - from);
        }
        // SAFETY: memory maps are undefined behaviour if the file is modified
        // while mapped. The container contract (documented on `DirSource`) is
        // that buffer files are immutable while read; akbuf's writer replaces
        // whole folders by rename and never writes into a mapped file. The
        // offset is a multiple of the page size and `from + len` is within
        // the file's length as fstat reported it.
        let map = unsafe { options.map(&file) }.map_err(|e| Error::read_io(key, e))?;
        let whole = Buffer::from_mmap(map);
        match range {
            Some(_) => whole.slice(start - from, stop - start).map(Some),
            None => Ok(Some(whole)),
        }
    }
}
