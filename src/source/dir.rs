//! The directory container: one file per buffer key, memory-mapped.

use super::Source;
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use std::fs::File;
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
/// Like every memory map, the mapping assumes the files are not truncated or
/// modified while an array reads them; akbuf's own writer never modifies a
/// container in place (it writes a new folder and renames it).
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
}

impl DirSource {
    /// A source over the files in `root`.
    pub fn new(root: impl AsRef<Path>) -> DirSource {
        DirSource {
            root: root.as_ref().to_path_buf(),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf> {
        if !is_plain_file_name(key) {
            return Err(Error::source(
                key,
                "a buffer key in a directory container must be a plain file name",
            ));
        }
        Ok(self.root.join(key))
    }
}

/// Whether a buffer key can name a file of a directory container: not empty,
/// not `.` or `..`, no path separator or NUL.
pub(crate) fn is_plain_file_name(key: &str) -> bool {
    !(key.is_empty() || key == "." || key == ".." || key.contains(['/', '\\', '\0']))
}

impl Source for DirSource {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        let path = self.path_of(key)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(key, e)),
        };
        let meta = file.metadata().map_err(|e| Error::io(key, e))?;
        if !meta.is_file() {
            return Err(Error::source(
                key,
                format!("{} is not a regular file", path.display()),
            ));
        }
        if meta.len() == 0 {
            return Ok(Some(Buffer::empty()));
        }
        // SAFETY: memory maps are undefined behaviour if the file is modified
        // while mapped. The container contract (documented on `DirSource`) is
        // that buffer files are immutable while read; akbuf's writer replaces
        // whole folders by rename and never writes into a mapped file.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(key, e))?;
        Ok(Some(Buffer::from_mmap(map)))
    }

    fn size(&self, key: &str) -> Option<u64> {
        let path = self.path_of(key).ok()?;
        std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    fn describe(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    fn id(&self) -> Option<String> {
        let root = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        Some(format!("dir:{}", root.display()))
    }
}
