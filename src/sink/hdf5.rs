//! A sink into a group of an HDF5 file (feature `hdf5`): one `uint8`
//! dataset per key, written under a temporary group renamed into place.
//! Which attributes the group gets is the container's business
//! (`crate::container::hdf5`).

use crate::error::{Error, Result};
use crate::source::hdf5::{close_on_exec, h5_caused, h5err};
use crate::sys;
use hdf5_metno as h5;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A sink that writes a group of an HDF5 file as Awkward's documentation
/// does with h5py: one dataset per buffer key (raw bytes, `uint8`, which
/// awkward's `from_buffers` reinterprets by the form, as it does any
/// `uint8` array), then the form and length (JSON) as attributes of the
/// group, and `byteorder`/`buffer_key` when they are not the defaults.
///
/// The group is written under a temporary name beside it
/// (`.<name>.akbuf-tmp-<pid>-<n>`) and renamed by [`Hdf5Sink::finish`]: a
/// write that fails or is dropped unlinks the temporary group and the
/// parent groups it made, and removes the file if it made it, so the file
/// holds what it held before (HDF5 does not give back the space of
/// unlinked objects, so an existing file may have grown). Temporary groups
/// of writers that were killed are removed by the next write beside them.
///
/// ```
/// use akbuf::{from_buffers, to_buffers, Buffer, Form, Hdf5Sink, Metadata, MemorySource, Options, WriteOptions};
///
/// let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "float64", "form_key": "x"}"#)?;
/// let array = from_buffers(&form, 2, MemorySource::new().with("x-data", Buffer::from_slice(&[1.5f64, 2.5])), Options::default())?;
/// let tmp = tempfile::tempdir().unwrap();
/// let path = tmp.path().join("out.h5");
/// let mut sink = Hdf5Sink::create(&path, "awkward")?;
/// let (form, length) = to_buffers(&array, &mut sink, &WriteOptions::default())?;
/// sink.finish(&Metadata::new(form, length))?;
/// assert_eq!(akbuf::open_hdf5(&path, "awkward")?.to_json()?, "[1.5,2.5]");
/// # Ok::<(), akbuf::Error>(())
/// ```
pub struct Hdf5Sink {
    path: PathBuf,
    /// The group's path in the file, and its parent's.
    name: String,
    parent: String,
    /// The temporary group's path in the file.
    temp: String,
    file: Option<h5::File>,
    group: Option<h5::Group>,
    /// Parent groups this sink made, outermost first.
    made: Vec<String>,
    made_file: bool,
    replace: bool,
    written: std::collections::HashSet<String>,
    finished: bool,
}

impl std::fmt::Debug for Hdf5Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hdf5Sink")
            .field("path", &self.path)
            .field("group", &self.name)
            .finish()
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `a/b/c` to (`a/b`, `c`); `c` to (``, `c`).
fn split_group(group: &str) -> (&str, &str) {
    match group.rfind('/') {
        Some(i) => (&group[..i], &group[i + 1..]),
        None => ("", group),
    }
}

fn join_group(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// The writer's PID in `.<name>.akbuf-tmp-<pid>-<n>` (or `-old-`).
fn writer_pid(link: &str, name: &str) -> Option<u32> {
    let rest = link.strip_prefix('.')?.strip_prefix(name)?;
    let rest = rest
        .strip_prefix(".akbuf-tmp-")
        .or_else(|| rest.strip_prefix(".akbuf-old-"))?;
    let (pid, n) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(n))
        .then(|| pid.parse().ok())
        .flatten()
}

impl Hdf5Sink {
    /// Starts writing `group` in the HDF5 file at `path` (the file is
    /// created if it does not exist; an existing group is never
    /// overwritten).
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when the file cannot be opened or the group exists.
    pub fn create(path: impl AsRef<Path>, group: &str) -> Result<Hdf5Sink> {
        Hdf5Sink::start(path.as_ref(), group, false)
    }

    /// Starts writing `group`, replacing it when [`Hdf5Sink::finish`]
    /// succeeds if it exists (`akbuf copy --force`); until then the old
    /// group is untouched.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when the file cannot be opened.
    pub fn replace(path: impl AsRef<Path>, group: &str) -> Result<Hdf5Sink> {
        Hdf5Sink::start(path.as_ref(), group, true)
    }

    fn start(path: &Path, group: &str, replace: bool) -> Result<Hdf5Sink> {
        let path = path.to_path_buf();
        let group = group.trim_matches('/');
        let (parent, name) = split_group(group);
        if name.is_empty() || name == "." || name == ".." {
            return Err(h5err(&path, format!("{group:?} is not a group name")));
        }
        let made_file = std::fs::symlink_metadata(&path).is_err();
        let file = if made_file {
            h5::File::create_excl(&path)
        } else {
            sys::open_regular(&path, false)
                .map_err(|e| Error::container_io(path.display(), "opening the file", e))?;
            h5::File::append(&path)
        }
        .map_err(|e| h5_caused(&path, "", e))?;
        close_on_exec(&file);
        let mut sink = Hdf5Sink {
            temp: String::new(),
            path,
            name: group.to_string(),
            parent: parent.to_string(),
            file: Some(file),
            group: None,
            made: Vec::new(),
            made_file,
            replace,
            written: std::collections::HashSet::new(),
            finished: false,
        };
        let file = sink.file.as_ref().expect("just set");
        if !replace && file.link_exists(group) {
            return Err(h5err(
                &sink.path,
                format!("group {group:?} already exists (use --force to replace it)"),
            ));
        }
        // The parent groups that are missing, outermost first.
        let mut prefix = String::new();
        for part in parent.split('/').filter(|p| !p.is_empty()) {
            prefix = join_group(&prefix, part);
            if !file.link_exists(&prefix) {
                sink.made.push(prefix.clone());
            }
        }
        if let Ok(p) = if parent.is_empty() {
            file.group("/")
        } else {
            file.group(parent)
        } {
            sink.remove_stale(&p, name);
        }
        let temp = join_group(
            parent,
            &format!(
                ".{name}.akbuf-tmp-{}-{}",
                std::process::id(),
                TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
        );
        let g = file
            .create_group(&temp)
            .map_err(|e| h5_caused(&sink.path, &format!("group {group:?}"), e))?;
        sink.temp = temp;
        sink.group = Some(g);
        Ok(sink)
    }

    /// Unlinks the temporary groups beside `name` whose writer is gone.
    fn remove_stale(&self, parent: &h5::Group, name: &str) {
        let Ok(links) = parent.member_names() else {
            return;
        };
        for link in links {
            if writer_pid(&link, name).is_some_and(|pid| !sys::process_alive(pid)) {
                let _ = parent.unlink(&link);
            }
        }
    }

    fn group(&self) -> Result<&h5::Group> {
        self.group
            .as_ref()
            .ok_or_else(|| h5err(&self.path, "the sink is finished"))
    }

    /// Writes string attributes on the group, then renames it into place
    /// (replacing an existing group if the sink was made by
    /// [`Hdf5Sink::replace`]). The container writes the metadata this way
    /// ([`Hdf5Sink::finish`]).
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when an attribute cannot be written or the
    /// group cannot be renamed (it appeared meanwhile); nothing is left.
    pub fn finish_with_attrs(mut self, attrs: &[(&str, &str)]) -> Result<()> {
        let group = self.group()?;
        for (name, value) in attrs {
            let v: h5::types::VarLenUnicode = value
                .parse()
                .map_err(|e| h5_caused(&self.path, &format!("attribute {name}"), e))?;
            group
                .new_attr::<h5::types::VarLenUnicode>()
                .create(*name)
                .and_then(|a| a.write_scalar(&v))
                .map_err(|e| h5_caused(&self.path, &format!("attribute {name}"), e))?;
        }
        self.group = None;
        let file = self.file.as_ref().expect("open until dropped");
        let rename = |from: &str, to: &str| {
            file.relink(from, to)
                .map_err(|e| h5_caused(&self.path, "renaming the group into place", e))
        };
        if self.replace && file.link_exists(&self.name) {
            let (_, name) = split_group(&self.name);
            let old = join_group(
                &self.parent,
                &format!(
                    ".{name}.akbuf-old-{}-{}",
                    std::process::id(),
                    TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
                ),
            );
            rename(&self.name, &old)?;
            if let Err(e) = rename(&self.temp, &self.name) {
                let _ = file.relink(&old, &self.name);
                return Err(e);
            }
            let _ = file.unlink(&old);
        } else {
            rename(&self.temp, &self.name)?;
        }
        file.flush().map_err(|e| h5_caused(&self.path, "", e))?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for Hdf5Sink {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.group = None;
        if let Some(file) = self.file.take() {
            let _ = file.unlink(&self.temp);
            for g in self.made.iter().rev() {
                let _ = file.unlink(g);
            }
            let _ = file.flush();
            drop(file);
        }
        if self.made_file {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl crate::sink::Sink for Hdf5Sink {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        self.check_key(key)?;
        if self.written.contains(key) {
            return Err(crate::sink::written_twice(key));
        }
        self.group()?
            .new_dataset::<u8>()
            .shape(bytes.len())
            .create(key)
            .and_then(|ds| ds.write_raw(bytes))
            .map_err(|e| sink_err(key, e))?;
        self.written.insert(key.to_string());
        Ok(())
    }

    fn check_key(&self, key: &str) -> Result<()> {
        if key.is_empty() || key.contains('/') || key == "." || key == ".." {
            return Err(Error::sink(
                key,
                "a dataset name cannot be empty, . or .., or contain '/'",
            ));
        }
        Ok(())
    }
}

fn sink_err(key: &str, e: h5::Error) -> Error {
    Error::sink_caused(key, "", e)
}
