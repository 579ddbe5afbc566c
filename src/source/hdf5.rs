//! HDF5 containers (feature `hdf5`), as Awkward's documentation writes them
//! with h5py: one group, one dataset per buffer key, the form and length as
//! attributes of the group.

use crate::buffer::{Buffer, ByteOrder};
use crate::container::Metadata;
use crate::error::{Error, Result};
use crate::form::Form;
use crate::source::Source;
use hdf5_metno as h5;
use std::path::{Path, PathBuf};

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
/// integer, as a string or an integer), and optionally `byteorder` (`<` or
/// `>`) and `buffer_key` (a template), as in `metadata.json`.
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
}

impl std::fmt::Debug for Hdf5Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hdf5Source")
            .field("path", &self.path)
            .field("group", &self.group_name)
            .finish()
    }
}

fn h5err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Container {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

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
        let file = h5::File::open(&path).map_err(|e| h5err(&path, e))?;
        let g = file
            .group(group)
            .map_err(|e| h5err(&path, format!("group {group:?}: {e}")))?;
        let map = std::fs::File::open(&path).ok().and_then(|f| {
            // SAFETY: as for `DirSource`: a mapped file must not be modified
            // while mapped; containers are immutable while read, and akbuf
            // never writes into a file it maps.
            unsafe { memmap2::Mmap::map(&f) }
                .ok()
                .map(Buffer::from_mmap)
        });
        Ok(Hdf5Source {
            path,
            group_name: group.to_string(),
            group: g,
            map,
        })
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
            Some(Ok(text)) => text
                .trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("attribute \"length\" is {text:?}, not an integer")))?,
            _ => {
                let attr = self
                    .group
                    .attr("length")
                    .map_err(|_| bad("no attribute \"length\"".into()))?;
                let n = attr
                    .read_scalar::<i64>()
                    .map_err(|e| bad(format!("attribute \"length\": {e}")))?;
                usize::try_from(n).map_err(|_| bad(format!("attribute \"length\" is {n}")))?
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
        self.group
            .dataset(key)
            .map(Some)
            .map_err(|e| Error::source(key, e.to_string()))
    }
}

/// The size of a dataset's data in bytes.
fn byte_len(key: &str, ds: &h5::Dataset) -> Result<usize> {
    let dtype = ds.dtype().map_err(|e| Error::source(key, e.to_string()))?;
    Ok(ds.size() * dtype.size())
}

/// Reads a dataset's `len` raw bytes through libhdf5, in its own type (no
/// conversion).
fn read_raw(key: &str, ds: &h5::Dataset, len: usize) -> Result<Buffer> {
    use hdf5_metno_sys::{h5d, h5p, h5s, h5t};
    let id = ds.id();
    h5::sync::sync(|| {
        // SAFETY: `id` is a valid open dataset (held by `ds` for this whole
        // call). Its own file type is used as the memory type, so libhdf5
        // converts nothing and writes exactly `size * type size` bytes: the
        // buffer is that long. Variable-length types, whose memory form is
        // pointers, are refused before reading. The type id is closed on
        // every path. All calls run under hdf5-metno's global lock.
        unsafe {
            let t = h5d::H5Dget_type(id);
            if t < 0 {
                return Err(Error::source(key, "cannot get the dataset's type"));
            }
            let vlen = h5t::H5Tdetect_class(t, h5t::H5T_class_t::H5T_VLEN) > 0
                || h5t::H5Tis_variable_str(t) > 0;
            let result = if vlen {
                Err(Error::source(
                    key,
                    "the dataset has a variable-length type, not a flat buffer",
                ))
            } else {
                Buffer::filled(len, |out| {
                    let r = h5d::H5Dread(
                        id,
                        t,
                        h5s::H5S_ALL,
                        h5s::H5S_ALL,
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
            h5t::H5Tclose(t);
            result
        }
    })
}

impl Source for Hdf5Source {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        let Some(ds) = self.dataset(key)? else {
            return Ok(None);
        };
        let len = byte_len(key, &ds)?;
        if len == 0 {
            return Ok(Some(Buffer::empty()));
        }
        let direct = !ds.is_chunked() && ds.filters().is_empty();
        if let (true, Some(offset), Some(map)) = (direct, ds.offset(), &self.map) {
            if ds.storage_size() as usize == len {
                if let Ok(b) = map.slice(offset as usize, len) {
                    return Ok(Some(b));
                }
            }
        }
        read_raw(key, &ds, len).map(Some)
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
    group: h5::Group,
}

impl std::fmt::Debug for Hdf5Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hdf5Sink")
            .field("path", &self.path)
            .finish()
    }
}

impl Hdf5Sink {
    /// Creates `group` in the HDF5 file at `path` (the file is created if
    /// it does not exist; an existing group is never overwritten).
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when the file cannot be opened or the group exists.
    pub fn create(path: impl AsRef<Path>, group: &str) -> Result<Hdf5Sink> {
        let path = path.as_ref().to_path_buf();
        let file = if path.exists() {
            h5::File::append(&path)
        } else {
            h5::File::create(&path)
        }
        .map_err(|e| h5err(&path, e))?;
        if file.link_exists(group) {
            return Err(h5err(&path, format!("group {group:?} already exists")));
        }
        let g = file
            .create_group(group)
            .map_err(|e| h5err(&path, format!("group {group:?}: {e}")))?;
        Ok(Hdf5Sink { path, group: g })
    }

    /// Writes the group's attributes: `form`, `length` (JSON), and
    /// `byteorder`/`buffer_key` when not the defaults.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when an attribute cannot be written.
    pub fn finish(self, metadata: &Metadata) -> Result<()> {
        let put = |name: &str, value: &str| -> Result<()> {
            let v: h5::types::VarLenUnicode = value
                .parse()
                .map_err(|e| h5err(&self.path, format!("attribute {name}: {e}")))?;
            self.group
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
        Ok(())
    }
}

impl crate::sink::Sink for Hdf5Sink {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        if key.is_empty() || key.contains('/') || key == "." {
            return Err(Error::sink(
                key,
                "a dataset name cannot be empty or contain '/'",
            ));
        }
        self.group
            .new_dataset::<u8>()
            .shape(bytes.len())
            .create(key)
            .and_then(|ds| ds.write_raw(bytes))
            .map_err(|e| Error::sink(key, e.to_string()))
    }
}

/// Writes `array` into `group` of the HDF5 file at `path` with
/// [`Hdf5Sink`] and [`crate::to_buffers`].
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
    let mut sink = Hdf5Sink::create(path, group)?;
    let (form, length) = crate::to_buffers(array, &mut sink, options)?;
    let meta = crate::write::written_metadata(form, length, options, template);
    sink.finish(&meta)?;
    Ok(meta)
}
