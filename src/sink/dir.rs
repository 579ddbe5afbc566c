//! The directory container, written atomically.

use super::{FillFn, Sink};
use crate::container::Metadata;
use crate::error::{Error, Result};
use crate::source::dir::is_plain_file_name;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes a directory container atomically: buffers go into a temporary
/// folder beside the target, and [`DirSink::commit`] writes `metadata.json`
/// and renames the folder into place. If anything fails, or the sink is
/// dropped without a commit, the temporary folder is removed and nothing is
/// left under the target name.
///
/// ```
/// use akbuf::{DirSink, Form, Metadata, Sink};
///
/// let dir = tempfile::tempdir()?;
/// let target = dir.path().join("numbers");
/// let mut sink = DirSink::create(&target)?;
/// sink.put("node0-data", &[1i64, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())?;
/// let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "node0"}"#)?;
/// sink.commit(&Metadata::new(form, 3))?;
/// assert_eq!(akbuf::open(&target)?.to_json()?, "[1,2,3]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DirSink {
    target: PathBuf,
    temp: PathBuf,
    committed: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn container_err(path: &Path, message: String) -> Error {
    Error::Container {
        path: path.display().to_string(),
        message,
    }
}

impl DirSink {
    /// Starts writing a container that will be named `target`.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] if `target` exists already or the temporary
    /// folder cannot be made.
    pub fn create(target: impl AsRef<Path>) -> Result<DirSink> {
        let target = target.as_ref().to_path_buf();
        if target.exists() {
            return Err(container_err(&target, "already exists".into()));
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .ok_or_else(|| container_err(&target, "the target has no folder name".into()))?;
        let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
        let temp = parent.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&temp)
            .map_err(|e| container_err(&temp, format!("cannot create a temporary folder: {e}")))?;
        Ok(DirSink {
            target,
            temp,
            committed: false,
        })
    }

    /// The folder the container will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes `metadata.json` and renames the folder into place.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when writing or renaming fails (for example,
    /// when something appeared under the target name meanwhile); the
    /// temporary folder is removed.
    pub fn commit(mut self, metadata: &Metadata) -> Result<()> {
        let meta = self.temp.join("metadata.json");
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&meta)?;
            f.write_all(metadata.to_json().as_bytes())?;
            f.sync_all()
        };
        write().map_err(|e| container_err(&self.target, format!("writing metadata.json: {e}")))?;
        if self.target.exists() {
            return Err(container_err(&self.target, "already exists".into()));
        }
        fs::rename(&self.temp, &self.target).map_err(|e| {
            container_err(
                &self.target,
                format!("moving the container into place: {e}"),
            )
        })?;
        self.committed = true;
        Ok(())
    }
}

impl DirSink {
    fn file_of(&self, key: &str) -> Result<PathBuf> {
        if !is_plain_file_name(key) || key == "metadata.json" {
            return Err(Error::sink(
                key,
                "a buffer key in a directory container must be a plain file name other than metadata.json",
            ));
        }
        Ok(self.temp.join(key))
    }
}

fn write_err(key: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Sink {
        key: key.to_string(),
        message: format!("{}: {e}", path.display()),
        io: Some(std::sync::Arc::new(e)),
    }
}

impl Sink for DirSink {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        let path = self.file_of(key)?;
        fs::write(&path, bytes).map_err(|e| write_err(key, &path, e))
    }

    fn put_with(&mut self, key: &str, _len: usize, fill: &mut FillFn<'_>) -> Result<()> {
        let path = self.file_of(key)?;
        let mut f = fs::File::create(&path).map_err(|e| write_err(key, &path, e))?;
        fill(&mut f).map_err(|e| write_err(key, &path, e))
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover temporary folder is hidden and never
            // under the target name.
            let _ = fs::remove_dir_all(&self.temp);
        }
    }
}
