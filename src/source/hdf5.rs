//! HDF5 containers (feature `hdf5`), as Awkward's documentation writes them
//! with h5py: one group, one dataset per buffer key, the form and length as
//! attributes of the group.

use crate::buffer::{Buffer, ByteOrder};
use crate::container::Metadata;
use crate::error::{Error, Result};
use crate::form::Form;
use crate::source::Source;
use crate::sys;
use hdf5_metno as h5;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The group akbuf reads and writes when none is named.
pub const DEFAULT_GROUP: &str = "awkward";

/// A source over one group of an HDF5 file: each buffer key is a dataset.
///
/// A dataset is read only when its buffer is touched. Contiguous, unfiltered
/// datasets are taken straight from a memory map of the file at the
/// dataset's offset (no copy, and no trip through libhdf5's global lock);
/// chunked or compressed ones are read through libhdf5. Either way the bytes
/// are the dataset's raw bytes, whatever its HDF5 type (h5py's bool enum,
/// complex compound `{r, i}`, multi-dimensional datasets in C order,
/// big-endian types): the form and the group's `byteorder` say how to read
/// them, as for a directory container.
///
/// The group's attributes: `form` (the form's JSON), `length` (a JSON
/// integer, as a string or an integer attribute; a float such as 1.5 is
/// refused, as in `metadata.json`), and optionally `byteorder` (`<` or
/// `>`) and `buffer_key` (a template), as in `metadata.json`.
///
/// Only as much of a dataset is read as its node needs
/// ([`Source::read_prefix`]), and never more than its stored bytes can
/// back: a dataset that declares far more bytes than the file stores for it
/// (chunks never written, read back as fill values) is refused, naming the
/// key, before anything is allocated. HDF5 external links are followed
/// unless the source is [`Hdf5Source::confined`].
///
/// ```no_run
/// use akbuf::Hdf5Source;
///
/// let source = Hdf5Source::open("events.h5", "awkward")?;
/// let array = source.metadata()?.open(source)?;
/// println!("{}", array.type_string());
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone)]
pub struct Hdf5Source {
    path: PathBuf,
    group_name: String,
    group: h5::Group,
    /// The whole file, mapped; contiguous datasets are slices of it.
    map: Option<Buffer>,
    /// The file's size, for the backing check of datasets read through libhdf5.
    file_len: u64,
    confined: bool,
}

impl std::fmt::Debug for Hdf5Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hdf5Source")
            .field("path", &self.path)
            .field("group", &self.group_name)
            .finish()
    }
}

/// libhdf5's messages span lines (an error stack): one line for ours.
fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn h5err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Container {
        path: path.display().to_string(),
        message: one_line(&e.to_string()),
    }
}

fn source_err(key: &str, e: impl std::fmt::Display) -> Error {
    Error::source(key, one_line(&e.to_string()))
}

/// Marks a file's descriptor close-on-exec. libhdf5 opens files without
/// it, so a process the program starts would inherit the descriptor, and
/// with it HDF5's lock on the file, for as long as that process lives.
fn close_on_exec(file: &h5::File) {
    #[cfg(unix)]
    {
        use h5::plist::file_access::FileDriver;
        if !matches!(
            file.access_plist().map(|p| p.driver()),
            Ok(FileDriver::Sec2)
        ) {
            return;
        }
        let mut handle: *mut std::ffi::c_void = std::ptr::null_mut();
        h5::sync::sync(|| {
            // SAFETY: `file` is an open file (held for this call); for the
            // sec2 driver (checked above) libhdf5 sets `handle` to point at
            // the file's `int` descriptor, which stays valid while the file
            // is open. fcntl only changes that descriptor's flags.
            unsafe {
                let r = hdf5_metno_sys::h5f::H5Fget_vfd_handle(
                    file.id(),
                    hdf5_metno_sys::h5p::H5P_DEFAULT,
                    &mut handle,
                );
                if r >= 0 && !handle.is_null() {
                    let fd = *handle.cast::<libc::c_int>();
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                }
            }
        });
    }
}

/// Datasets read through libhdf5 may decompress to at most this many times
/// their stored bytes (deflate cannot exceed about 1032 to 1) ...
const MAX_RATIO: u64 = 1100;
/// ... plus this much, so that tiny datasets are never refused.
const BACKING_FLOOR: u64 = 1 << 20;

/// Splits `FILE.h5:GROUP` into the file and the group (default
/// [`DEFAULT_GROUP`]). A path without `:` after its last `/` names the file.
///
/// ```
/// use akbuf::split_hdf5_path;
/// assert_eq!(split_hdf5_path("data/x.h5:events"), ("data/x.h5", "events"));
/// assert_eq!(split_hdf5_path("data/x.h5"), ("data/x.h5", "awkward"));
/// assert_eq!(split_hdf5_path("x.h5:a/b"), ("x.h5", "a/b"));
/// ```
pub fn split_hdf5_path(spec: &str) -> (&str, &str) {
    let file_end = spec
        .find(".h5:")
        .map(|i| i + 3)
        .or_else(|| spec.find(".hdf5:").map(|i| i + 5));
    match file_end {
        Some(i) => (&spec[..i], &spec[i + 1..]),
        None => (spec, DEFAULT_GROUP),
    }
}

/// Whether a path names an HDF5 file (`.h5` or `.hdf5`, maybe with `:GROUP`).
pub fn is_hdf5_path(spec: &str) -> bool {
    let (file, _) = split_hdf5_path(spec);
    file.ends_with(".h5") || file.ends_with(".hdf5")
}

/// Reads a string attribute (h5py writes `str` as variable-length UTF-8).
fn string_attr(group: &h5::Group, name: &str) -> Option<std::result::Result<String, h5::Error>> {
    let attr = group.attr(name).ok()?;
    let text = attr
        .read_scalar::<h5::types::VarLenUnicode>()
        .map(|s| s.as_str().to_string())
        .or_else(|_| {
            attr.read_scalar::<h5::types::VarLenAscii>()
                .map(|s| s.as_str().to_string())
        });
    Some(text)
}

impl Hdf5Source {
    /// Opens `group` of the HDF5 file at `path`. Reads no dataset.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] if the file or the group cannot be opened.
    pub fn open(path: impl AsRef<Path>, group: &str) -> Result<Hdf5Source> {
        let path = path.as_ref().to_path_buf();
        // A FIFO or a device is refused before libhdf5 opens (and blocks on) it.
        let plain = sys::open_regular(&path, false).map_err(|e| h5err(&path, e))?;
        let file_len = plain.metadata().map_err(|e| h5err(&path, e))?.len();
        let file = h5::File::open(&path).map_err(|e| h5err(&path, e))?;
        close_on_exec(&file);
        let g = file
            .group(group)
            .map_err(|e| h5err(&path, format!("group {group:?}: {e}")))?;
        // SAFETY: as for `DirSource`: a mapped file must not be modified
        // while mapped; containers are immutable while read, and akbuf
        // never writes into a file it maps.
        let map = unsafe { memmap2::Mmap::map(&plain) }
            .ok()
            .map(Buffer::from_mmap);
        Ok(Hdf5Source {
            path,
            group_name: group.to_string(),
            group: g,
            map,
            file_len,
            confined: false,
        })
    }

    /// The same source, refusing datasets whose data lies outside the file:
    /// reached through an HDF5 external link, stored in external files, or
    /// virtual (mapped from other datasets), for serving untrusted files.
    ///
    /// ```no_run
    /// use akbuf::{Hdf5Source, Source};
    ///
    /// let source = Hdf5Source::open("untrusted.h5", "awkward")?.confined();
    /// assert!(source.read("node0-data").is_err()); // say, an external link
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn confined(mut self) -> Hdf5Source {
        self.confined = true;
        self
    }

    /// Opens `FILE.h5` or `FILE.h5:GROUP` (see [`split_hdf5_path`]).
    ///
    /// # Errors
    ///
    /// As [`Hdf5Source::open`].
    pub fn open_spec(spec: &str) -> Result<Hdf5Source> {
        let (file, group) = split_hdf5_path(spec);
        Hdf5Source::open(file, group)
    }

    /// The form, length, byte order and buffer-key template stored as the
    /// group's attributes.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when `form` or `length` is missing or malformed.
    pub fn metadata(&self) -> Result<Metadata> {
        let bad = |m: String| h5err(&self.path, format!("group {:?}: {m}", self.group_name));
        let form = match string_attr(&self.group, "form") {
            Some(Ok(text)) => text,
            Some(Err(e)) => return Err(bad(format!("attribute \"form\": {e}"))),
            None => return Err(bad("no attribute \"form\"".into())),
        };
        let form = Form::from_json(&form)?;
        let length = match string_attr(&self.group, "length") {
            Some(Ok(text)) => text.trim().parse::<usize>().map_err(|_| {
                bad(format!(
                    "attribute \"length\" must be a non-negative integer, not {text:?}"
                ))
            })?,
            _ => {
                use h5::types::TypeDescriptor as T;
                let attr = self
                    .group
                    .attr("length")
                    .map_err(|_| bad("no attribute \"length\"".into()))?;
                let integer = attr
                    .dtype()
                    .and_then(|t| t.to_descriptor())
                    .map(|d| matches!(d, T::Integer(_) | T::Unsigned(_)))
                    .map_err(|e| bad(format!("attribute \"length\": {e}")))?;
                if !integer {
                    let shown = attr
                        .read_scalar::<f64>()
                        .map(|f| f.to_string())
                        .unwrap_or_else(|_| "not a number".into());
                    return Err(bad(format!(
                        "attribute \"length\" must be a non-negative integer, not {shown}"
                    )));
                }
                let n = attr
                    .read_scalar::<i64>()
                    .map_err(|e| bad(format!("attribute \"length\": {e}")))?;
                usize::try_from(n).map_err(|_| {
                    bad(format!(
                        "attribute \"length\" must be a non-negative integer, not {n}"
                    ))
                })?
            }
        };
        let mut meta = Metadata::new(form, length);
        if let Some(Ok(b)) = string_attr(&self.group, "byteorder") {
            meta.byteorder = ByteOrder::parse(&b)
                .ok_or_else(|| bad(format!("attribute \"byteorder\" is {b:?}")))?;
        }
        if let Some(Ok(t)) = string_attr(&self.group, "buffer_key") {
            meta.buffer_key = Some(t);
        }
        Ok(meta)
    }

    fn dataset(&self, key: &str) -> Result<Option<h5::Dataset>> {
        if key.is_empty() || key.contains('/') || !self.group.link_exists(key) {
            return Ok(None);
        }
        let ds = self.group.dataset(key).map_err(|e| source_err(key, e))?;
        if self.confined {
            self.check_inside(key, &ds)?;
        }
        Ok(Some(ds))
    }

    /// For a confined source: the dataset's data lies in this file.
    fn check_inside(&self, key: &str, ds: &h5::Dataset) -> Result<()> {
        let outside =
            |what: String| Error::source(key, format!("{what}: outside the container (confined)"));
        let canonical = |p: &Path| std::fs::canonicalize(p).ok();
        let here = canonical(&self.path);
        let there = ds.filename();
        if here.is_none() || canonical(Path::new(&there)) != here {
            return Err(outside(format!(
                "the dataset lives in {there:?} (an external link)"
            )));
        }
        let dcpl = ds.dcpl().map_err(|e| source_err(key, e))?;
        if dcpl.layout() == h5::plist::dataset_create::Layout::Virtual {
            return Err(outside(
                "the dataset is virtual (mapped from other datasets)".into(),
            ));
        }
        if !dcpl.external().is_empty() {
            return Err(outside(
                "the dataset's data is stored in external files".into(),
            ));
        }
        Ok(())
    }
}

/// The size of a dataset's data in bytes.
fn byte_len(key: &str, ds: &h5::Dataset) -> Result<usize> {
    let dtype = ds.dtype().map_err(|e| source_err(key, e))?;
    ds.size().checked_mul(dtype.size()).ok_or_else(|| {
        Error::source(
            key,
            format!(
                "the dataset declares {} items of {} bytes, more bytes than fit in memory",
                ds.size(),
                dtype.size()
            ),
        )
    })
}

/// Reads the first `rows` rows (along the first dimension; all of a
/// scalar dataset) of a dataset's raw bytes through libhdf5, in its own
/// type (no conversion): `len` bytes.
fn read_raw(key: &str, ds: &h5::Dataset, rows: Option<u64>, len: usize) -> Result<Buffer> {
    use hdf5_metno_sys::{h5d, h5i, h5p, h5s, h5t};
    let id = ds.id();
    h5::sync::sync(|| {
        // SAFETY: `id` is a valid open dataset (held by `ds` for this whole
        // call). Its own file type is used as the memory type, so libhdf5
        // converts nothing. With `rows`, the file selection is the first
        // `rows` rows and the memory space has exactly their shape, so
        // libhdf5 writes exactly `len` bytes (rows times the bytes of one
        // row, as the caller computed); without, the whole dataset, `len`
        // bytes. The buffer is `len` bytes long. Variable-length types,
        // whose memory form is pointers, are refused before reading. Every
        // id made here is closed on every path. All calls run under
        // hdf5-metno's global lock.
        unsafe {
            let t = h5d::H5Dget_type(id);
            if t < 0 {
                return Err(Error::source(key, "cannot get the dataset's type"));
            }
            let vlen = h5t::H5Tdetect_class(t, h5t::H5T_class_t::H5T_VLEN) > 0
                || h5t::H5Tis_variable_str(t) > 0;
            let (mut file_space, mut mem_space) = (h5s::H5S_ALL, h5s::H5S_ALL);
            let mut ok = !vlen;
            if let (false, Some(rows)) = (vlen, rows) {
                file_space = h5d::H5Dget_space(id);
                let ndim = if file_space < 0 {
                    -1
                } else {
                    h5s::H5Sget_simple_extent_ndims(file_space)
                };
                ok = false;
                if ndim > 0 {
                    let mut dims = vec![0u64; ndim as usize];
                    if h5s::H5Sget_simple_extent_dims(
                        file_space,
                        dims.as_mut_ptr(),
                        std::ptr::null_mut(),
                    ) == ndim
                    {
                        let start = vec![0u64; ndim as usize];
                        dims[0] = rows;
                        ok = h5s::H5Sselect_hyperslab(
                            file_space,
                            h5s::H5S_seloper_t::H5S_SELECT_SET,
                            start.as_ptr(),
                            std::ptr::null(),
                            dims.as_ptr(),
                            std::ptr::null(),
                        ) >= 0;
                        mem_space = h5s::H5Screate_simple(ndim, dims.as_ptr(), std::ptr::null());
                        ok = ok && mem_space >= 0;
                    }
                }
            }
            let result = if vlen {
                Err(Error::source(
                    key,
                    "the dataset has a variable-length type, not a flat buffer",
                ))
            } else if !ok {
                Err(Error::source(key, "cannot select the rows to read"))
            } else {
                Buffer::filled(len, |out| {
                    let r = h5d::H5Dread(
                        id,
                        t,
                        mem_space,
                        file_space,
                        h5p::H5P_DEFAULT,
                        out.as_mut_ptr().cast(),
                    );
                    if r < 0 {
                        Err(Error::source(key, "libhdf5 failed to read the dataset"))
                    } else {
                        Ok(())
                    }
                })
            };
            for space in [file_space, mem_space] {
                if space != h5s::H5S_ALL && h5i::H5Iis_valid(space) > 0 {
                    h5s::H5Sclose(space);
                }
            }
            h5t::H5Tclose(t);
            result
        }
    })
}

impl Hdf5Source {
    /// Reads `key`, only as many whole rows as hold `need` bytes when given.
    fn read_dataset(&self, key: &str, need: Option<usize>) -> Result<Option<Buffer>> {
        let Some(ds) = self.dataset(key)? else {
            return Ok(None);
        };
        let len = byte_len(key, &ds)?;
        if len == 0 {
            return Ok(Some(Buffer::empty()));
        }
        // Mapped in place only if the data is in this file, contiguous and
        // unfiltered (an external link leads to another file's offsets).
        let direct = !ds.is_chunked()
            && ds.filters().is_empty()
            && Path::new(&ds.filename()) == self.path.as_path();
        if let (true, Some(offset), Some(map)) = (direct, ds.offset(), &self.map) {
            if ds.storage_size() as usize == len {
                if let Ok(b) = map.slice(offset as usize, len) {
                    return Ok(Some(b));
                }
            }
        }
        // Through libhdf5 into memory: only the rows the node needs.
        let shape = ds.shape();
        let (rows, want) = match (need, shape.first()) {
            (Some(need), Some(&d0)) if need < len && d0 > 0 => {
                let row = len / d0;
                let rows = need.div_ceil(row.max(1)).min(d0);
                (Some(rows as u64), rows * row)
            }
            _ => (None, len),
        };
        // Never allocate for bytes the file does not hold.
        let stored = ds.storage_size().min(self.file_len);
        let ratio = if ds.filters().is_empty() {
            1
        } else {
            MAX_RATIO
        };
        let backed = stored.saturating_mul(ratio).saturating_add(BACKING_FLOOR);
        if want as u64 > backed {
            return Err(Error::source(
                key,
                format!(
                    "the dataset declares {len} bytes, and {want} of them are needed, but the file stores only {stored} bytes for it: refusing to read values no stored byte backs"
                ),
            ));
        }
        read_raw(key, &ds, rows, want).map(Some)
    }
}

impl Source for Hdf5Source {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        self.read_dataset(key, None)
    }

    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        self.read_dataset(key, Some(len))
    }

    fn size(&self, key: &str) -> Option<u64> {
        let ds = self.dataset(key).ok()??;
        byte_len(key, &ds).ok().map(|n| n as u64)
    }

    fn describe(&self) -> String {
        format!("hdf5:{}:{}", self.path.display(), self.group_name)
    }

    fn id(&self) -> Option<String> {
        let path = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        Some(format!("hdf5:{}:{}", path.display(), self.group_name))
    }
}

/// Opens the array stored in `group` of an HDF5 file.
///
/// # Errors
///
/// As [`Hdf5Source::open`] and [`Hdf5Source::metadata`].
pub fn open_hdf5(path: impl AsRef<Path>, group: &str) -> Result<crate::Array> {
    let source = Hdf5Source::open(path, group)?;
    let meta = source.metadata()?;
    meta.open(source)
}

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
/// use akbuf::{from_buffers, to_buffers, Buffer, Form, Hdf5Sink, Hdf5Source, Metadata, MemorySource, Options, WriteOptions};
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
            sys::open_regular(&path, false).map_err(|e| h5err(&path, e))?;
            h5::File::append(&path)
        }
        .map_err(|e| h5err(&path, e))?;
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
            .map_err(|e| h5err(&sink.path, format!("group {group:?}: {e}")))?;
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

    /// Writes the group's attributes: `form`, `length` (JSON), and
    /// `byteorder`/`buffer_key` when not the defaults, then renames the
    /// group into place.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when an attribute cannot be written or the
    /// group cannot be renamed (it appeared meanwhile); nothing is left.
    pub fn finish(mut self, metadata: &Metadata) -> Result<()> {
        let group = self.group()?;
        let put = |name: &str, value: &str| -> Result<()> {
            let v: h5::types::VarLenUnicode = value
                .parse()
                .map_err(|e| h5err(&self.path, format!("attribute {name}: {e}")))?;
            group
                .new_attr::<h5::types::VarLenUnicode>()
                .create(name)
                .and_then(|a| a.write_scalar(&v))
                .map_err(|e| h5err(&self.path, format!("attribute {name}: {e}")))
        };
        put("form", &metadata.form.to_json())?;
        put("length", &metadata.length.to_string())?;
        if metadata.byteorder == ByteOrder::Big {
            put("byteorder", ">")?;
        }
        if let Some(t) = metadata
            .buffer_key
            .as_deref()
            .filter(|t| *t != "{form_key}-{attribute}")
        {
            put("buffer_key", t)?;
        }
        self.group = None;
        let file = self.file.as_ref().expect("open until dropped");
        let rename = |from: &str, to: &str| {
            file.relink(from, to)
                .map_err(|e| h5err(&self.path, format!("renaming the group into place: {e}")))
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
        file.flush().map_err(|e| h5err(&self.path, e))?;
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
            .map_err(|e| source_sink_err(key, e))?;
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

fn source_sink_err(key: &str, e: impl std::fmt::Display) -> Error {
    Error::sink(key, one_line(&e.to_string()))
}

/// Writes `array` into `group` of the HDF5 file at `path` with
/// [`Hdf5Sink`] and [`crate::to_buffers`] (replacing the group if
/// `options.replace` is set).
///
/// # Errors
///
/// As [`Hdf5Sink::create`] and [`crate::to_buffers`]; [`Error::Argument`]
/// for a buffer-key closure (the group records a template).
pub fn write_hdf5(
    array: &crate::Array,
    path: impl AsRef<Path>,
    group: &str,
    options: &crate::WriteOptions,
) -> Result<Metadata> {
    let template = crate::write::recorded_template(options, "an HDF5 group")?;
    let mut sink = if options.replace {
        Hdf5Sink::replace(path, group)?
    } else {
        Hdf5Sink::create(path, group)?
    };
    let (form, length) = crate::to_buffers(array, &mut sink, options)?;
    let meta = crate::write::written_metadata(form, length, options, template);
    sink.finish(&meta)?;
    Ok(meta)
}
