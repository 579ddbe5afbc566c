//! The directory container, written atomically.

use super::{written_twice, FillFn, Sink};
use crate::error::{Error, Result};
use crate::source::dir::is_plain_file_name;
use crate::sys;
use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes a directory container atomically: buffers go into a temporary
/// folder beside the target, and [`DirSink::commit`] writes `metadata.json`
/// and renames the folder into place. If anything fails, or the sink is
/// dropped without a commit, the temporary folder is removed, and so are
/// the missing parent folders the sink made: the destination is left
/// exactly as it was.
///
/// The temporary folder is named `.<name>.akbuf-tmp-<pid>-<n>` beside the
/// target. One left by a writer that was killed (its process is gone) is
/// removed by the next write to the same target.
///
/// Every buffer file and `metadata.json` is flushed to disk before the
/// rename, so a crash leaves either the whole container or none of it.
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
    /// Parent folders this sink made, outermost first.
    made: Vec<PathBuf>,
    written: HashSet<String>,
    replace: bool,
    /// The file that makes a folder a container of the sink's kind (what
    /// `--force` may replace): `metadata.json`, or a Zarr group's `zarr.json`.
    marker: &'static str,
    committed: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The marker in the names of temporary folders.
const TEMP: &str = ".akbuf-tmp-";
/// The marker in the name a replaced container has while it is removed.
const OLD: &str = ".akbuf-old-";

pub(crate) fn container_err(path: &Path, message: String) -> Error {
    Error::container(path.display(), message)
}

fn container_io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::container_io(path.display(), what, e)
}

/// Whether `dir` is something `--force` may replace: an empty folder or a
/// container (a folder with its `marker` file, `metadata.json`).
fn replaceable(dir: &Path, marker: &str) -> Result<()> {
    let meta = fs::symlink_metadata(dir).map_err(|e| container_io(dir, "cannot inspect it", e))?;
    if !meta.is_dir() {
        return Err(container_err(
            dir,
            "exists and is not a folder; refusing to replace it".into(),
        ));
    }
    let has_meta = dir.join(marker).is_file();
    let empty = fs::read_dir(dir)
        .map_err(|e| container_io(dir, "cannot list it", e))?
        .next()
        .is_none();
    if has_meta || empty {
        Ok(())
    } else {
        Err(container_err(
            dir,
            format!("exists and is not a container (no {marker}); refusing to replace it"),
        ))
    }
}

/// Removes the temporary and half-replaced folders of `name` in `parent`
/// whose writer process is gone.
fn remove_stale(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    }) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some(pid) = writer_pid(file_name, name) else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !sys::process_alive(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The writer's PID in `.<name>.akbuf-tmp-<pid>-<n>` (or `-old-`).
fn writer_pid(file_name: &str, name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_prefix(name)?;
    let rest = rest.strip_prefix(TEMP).or_else(|| rest.strip_prefix(OLD))?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

impl DirSink {
    /// Starts writing a container that will be named `target`. Missing
    /// parent folders are made (and removed again if the write fails).
    ///
    /// # Errors
    ///
    /// [`Error::Container`] if `target` exists already or the temporary
    /// folder cannot be made.
    pub fn create(target: impl AsRef<Path>) -> Result<DirSink> {
        DirSink::start(target.as_ref(), false, "metadata.json")
    }

    /// Starts writing a container that will replace `target` if it exists
    /// (`akbuf copy --force`). The old container stays whole until the new
    /// one is complete, and is then swapped out in one step (atomically on
    /// Linux, with `RENAME_EXCHANGE`) and removed. Only an empty folder or
    /// a container (a folder with `metadata.json`) is replaced.
    ///
    /// ```
    /// use akbuf::{DirSink, Form, Metadata, Sink};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let target = dir.path().join("numbers");
    /// let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int8", "form_key": "node0"}"#)?;
    /// for value in [1u8, 2] {
    ///     let mut sink = DirSink::replace(&target)?;
    ///     sink.put("node0-data", &[value])?;
    ///     sink.commit(&Metadata::new(form.clone(), 1))?;
    /// }
    /// assert_eq!(akbuf::open(&target)?.to_json()?, "[2]");
    /// assert_eq!(std::fs::read_dir(dir.path())?.count(), 1); // nothing left beside it
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Container`] if `target` is something other than an empty
    /// folder or a container, or the temporary folder cannot be made.
    pub fn replace(target: impl AsRef<Path>) -> Result<DirSink> {
        DirSink::start(target.as_ref(), true, "metadata.json")
    }

    /// A folder written atomically as [`DirSink::create`] (`replace`:
    /// [`DirSink::replace`]) for a container whose `marker` file is not
    /// `metadata.json` (a Zarr group's `zarr.json`): what other sinks of
    /// folders build on.
    pub(crate) fn start(target: &Path, replace: bool, marker: &'static str) -> Result<DirSink> {
        let target = target.to_path_buf();
        if fs::symlink_metadata(&target).is_ok() {
            if !replace {
                return Err(container_err(
                    &target,
                    "already exists (use --force to replace it)".into(),
                ));
            }
            replaceable(&target, marker)?;
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .filter(|n| n != "." && n != "..")
            .ok_or_else(|| container_err(&target, "the target has no folder name".into()))?;
        let parent = target.parent().map(Path::to_path_buf).unwrap_or_default();
        // The parent folders that are missing, outermost first.
        let mut made = Vec::new();
        let mut p = parent.as_path();
        while !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err() {
            made.push(p.to_path_buf());
            p = match p.parent() {
                Some(q) => q,
                None => break,
            };
        }
        made.reverse();
        for dir in &made {
            if let Err(e) = fs::create_dir(dir) {
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    remove_made(&made);
                    return Err(container_err(
                        dir,
                        format!("cannot create the parent folder: {e}"),
                    ));
                }
            }
        }
        remove_stale(&parent, &name);
        let temp = parent.join(format!(
            ".{name}{TEMP}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if let Err(e) = fs::create_dir(&temp) {
            remove_made(&made);
            return Err(container_err(
                &temp,
                format!("cannot create a temporary folder: {e}"),
            ));
        }
        Ok(DirSink {
            target,
            temp,
            made,
            written: HashSet::new(),
            replace,
            marker,
            committed: false,
        })
    }

    /// The temporary folder being written (renamed to the target by the
    /// commit).
    #[cfg_attr(not(feature = "zarr"), allow(dead_code))]
    pub(crate) fn folder(&self) -> &Path {
        &self.temp
    }

    /// The folder the container will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes one last file, `name` (the container's metadata), then renames
    /// the folder into place, replacing the target if the sink was made by
    /// [`DirSink::replace`]. The container's `commit` calls this with
    /// `metadata.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when writing or renaming fails; the temporary
    /// folder is removed and the target is as it was.
    pub fn commit_with(mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let meta = self.temp.join(name);
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&meta)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            sys::sync_dir(&self.temp)
        };
        write().map_err(|e| container_io(&self.target, &format!("writing {name}"), e))?;
        let exists = fs::symlink_metadata(&self.target).is_ok();
        if exists && self.replace {
            replaceable(&self.target, self.marker)?;
            self.swap_in()?;
        } else {
            sys::rename_noreplace(&self.temp, &self.target).map_err(|e| {
                let message = if e.kind() == std::io::ErrorKind::AlreadyExists {
                    "already exists (something appeared under this name during the write)"
                        .to_string()
                } else {
                    format!("moving the container into place: {e}")
                };
                container_err(&self.target, message)
            })?;
        }
        self.committed = true;
        if let Some(parent) = self.target.parent() {
            let _ = sys::sync_dir(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            });
        }
        Ok(())
    }

    /// Puts the new container in place of the old one and removes the old.
    fn swap_in(&mut self) -> Result<()> {
        let moving = |e: std::io::Error| container_io(&self.target, "replacing the container", e);
        if sys::rename_exchange(&self.temp, &self.target).map_err(moving)? {
            // The old container is now under the temporary name.
            let _ = fs::remove_dir_all(&self.temp);
            return Ok(());
        }
        let name = self
            .target
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let old = self.temp.with_file_name(format!(
            ".{name}{OLD}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::rename(&self.target, &old).map_err(moving)?;
        if let Err(e) = fs::rename(&self.temp, &self.target) {
            let _ = fs::rename(&old, &self.target);
            return Err(moving(e));
        }
        let _ = fs::remove_dir_all(&old);
        Ok(())
    }

    fn file_of(&self, key: &str) -> Result<PathBuf> {
        self.check_key(key)?;
        if self.written.contains(key) {
            return Err(written_twice(key));
        }
        Ok(self.temp.join(key))
    }

    fn create_file(&mut self, key: &str) -> Result<(PathBuf, fs::File)> {
        let path = self.file_of(key)?;
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                // Two keys one file system takes for the same name.
                std::io::ErrorKind::AlreadyExists => Error::sink(
                    key,
                    format!(
                        "{} exists already: the file system does not tell this key from one written before",
                        path.display()
                    ),
                ),
                _ => write_err(key, &path, e),
            })?;
        self.written.insert(key.to_string());
        Ok((path, file))
    }
}

/// Removes the folders in `made` (outermost first) that are still empty.
fn remove_made(made: &[PathBuf]) {
    for dir in made.iter().rev() {
        if fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

fn write_err(key: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Sink {
        key: key.to_string(),
        message: format!("{}: {e}", path.display()),
        cause: Some(crate::error::Cause::new(e)),
    }
}

impl Sink for DirSink {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        let (path, mut f) = self.create_file(key)?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| write_err(key, &path, e))
    }

    fn put_with(&mut self, key: &str, _len: usize, fill: &mut FillFn<'_>) -> Result<()> {
        let (path, mut f) = self.create_file(key)?;
        fill(&mut f)
            .and_then(|()| f.sync_all())
            .map_err(|e| write_err(key, &path, e))
    }

    fn appender(&mut self, key: &str) -> Result<Option<Box<dyn super::Append>>> {
        let (_, f) = self.create_file(key)?;
        Ok(Some(Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            f,
        ))))
    }

    fn check_key(&self, key: &str) -> Result<()> {
        if !is_plain_file_name(key) || key == "metadata.json" {
            return Err(Error::sink(
                key,
                "a buffer key in a directory container must be a plain file name other than metadata.json",
            ));
        }
        Ok(())
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.temp);
            remove_made(&self.made);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::writer_pid;

    #[test]
    fn temporary_names_are_recognised_exactly() {
        assert_eq!(writer_pid(".out.akbuf-tmp-123-4", "out"), Some(123));
        assert_eq!(writer_pid(".out.akbuf-old-9-0", "out"), Some(9));
        assert_eq!(writer_pid(".out.akbuf-tmp-123-", "out"), None);
        assert_eq!(writer_pid(".out.akbuf-tmp-12x-1", "out"), None);
        assert_eq!(writer_pid(".outer.akbuf-tmp-1-1", "out"), None);
        assert_eq!(writer_pid("out.akbuf-tmp-1-1", "out"), None);
        assert_eq!(writer_pid(".out.tmp-1-1", "out"), None);
    }
}
