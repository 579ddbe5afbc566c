//! The bytes of an HDF5 group's datasets (feature `hdf5`): each buffer key
//! is a dataset. What the group's attributes mean (form, length) is the
//! container's business: `crate::container::hdf5`.

use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::source::Source;
use crate::sys;
use hdf5_metno as h5;
use std::path::{Path, PathBuf};

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
pub(crate) fn one_line(text: &str) -> String {
    crate::error::flat(text)
}

pub(crate) fn h5err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::container(path.display(), one_line(&e.to_string()))
}

/// A container error of libhdf5's (or the file system's), kept as the
/// typed source.
pub(crate) fn h5_caused(
    path: &Path,
    what: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::container_caused(path.display(), what, e)
}

fn source_err(key: &str, e: h5::Error) -> Error {
    Error::read_caused(key, "", e)
}

/// Marks a file's descriptor close-on-exec. libhdf5 opens files without
/// it, so a process the program starts would inherit the descriptor, and
/// with it HDF5's lock on the file, for as long as that process lives.
pub(crate) fn close_on_exec(file: &h5::File) {
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

impl Hdf5Source {
    /// Opens `group` of the HDF5 file at `path`. Reads no dataset.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] if the file or the group cannot be opened.
    pub fn open(path: impl AsRef<Path>, group: &str) -> Result<Hdf5Source> {
        let path = path.as_ref().to_path_buf();
        // A FIFO or a device is refused before libhdf5 opens (and blocks on) it.
        let plain = sys::open_regular(&path, false)
            .map_err(|e| Error::container_io(path.display(), "opening the file", e))?;
        let file_len = plain.metadata().map_err(|e| h5_caused(&path, "", e))?.len();
        let file = h5::File::open(&path).map_err(|e| h5_caused(&path, "", e))?;
        close_on_exec(&file);
        let g = file
            .group(group)
            .map_err(|e| h5_caused(&path, &format!("group {group:?}"), e))?;
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

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The group's name in the file.
    pub fn group_name(&self) -> &str {
        &self.group_name
    }

    /// The open group, for the container's metadata.
    pub(crate) fn group(&self) -> &h5::Group {
        &self.group
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
    #[must_use]
    pub fn confined(mut self) -> Hdf5Source {
        self.confined = true;
        self
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
        let outside = |what: String| {
            Error::read_failed(key, format!("{what}: outside the container (confined)"))
        };
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
        Error::read_failed(
            key,
            format!(
                "the dataset declares {} items of {} bytes, more bytes than fit in memory",
                ds.size(),
                dtype.size()
            ),
        )
    })
}

/// Reads `rows` (a first row and a count, along the first dimension; all
/// of a scalar dataset when `None`) of a dataset's raw bytes through
/// libhdf5, in its own type (no conversion): `len` bytes.
fn read_raw(key: &str, ds: &h5::Dataset, rows: Option<(u64, u64)>, len: usize) -> Result<Buffer> {
    use hdf5_metno_sys::{h5d, h5i, h5p, h5s, h5t};
    let id = ds.id();
    h5::sync::sync(|| {
        // SAFETY: `id` is a valid open dataset (held by `ds` for this whole
        // call). Its own file type is used as the memory type, so libhdf5
        // converts nothing. With `rows`, the file selection is those rows
        // (the caller keeps them within the dataset) and the memory space
        // has exactly their shape, so
        // libhdf5 writes exactly `len` bytes (rows times the bytes of one
        // row, as the caller computed); without, the whole dataset, `len`
        // bytes. The buffer is `len` bytes long. Variable-length types,
        // whose memory form is pointers, are refused before reading. Every
        // id made here is closed on every path. All calls run under
        // hdf5-metno's global lock.
        unsafe {
            let t = h5d::H5Dget_type(id);
            if t < 0 {
                return Err(Error::read_failed(key, "cannot get the dataset's type"));
            }
            let vlen = h5t::H5Tdetect_class(t, h5t::H5T_class_t::H5T_VLEN) > 0
                || h5t::H5Tis_variable_str(t) > 0;
            let (mut file_space, mut mem_space) = (h5s::H5S_ALL, h5s::H5S_ALL);
            let mut ok = !vlen;
            if let (false, Some((first, rows))) = (vlen, rows) {
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
                        let mut start = vec![0u64; ndim as usize];
                        start[0] = first;
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
                Err(Error::read_failed(
                    key,
                    "the dataset has a variable-length type, not a flat buffer",
                ))
            } else if !ok {
                Err(Error::read_failed(key, "cannot select the rows to read"))
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
                        Err(Error::read_failed(
                            key,
                            "libhdf5 failed to read the dataset",
                        ))
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
    /// Reads `key`: whole, its first `need` bytes, or bytes `range`, in
    /// whole rows (sliced to the bytes asked for).
    fn read_dataset(&self, key: &str, want: Want) -> Result<Option<Buffer>> {
        let Some(ds) = self.dataset(key)? else {
            return Ok(None);
        };
        let len = byte_len(key, &ds)?;
        // The bytes asked for, clipped to the dataset.
        let (from, to) = match &want {
            Want::All => (0, len),
            Want::Prefix(n) => (0, (*n).min(len)),
            Want::Range(r) => (r.start.min(len), r.end.clamp(r.start.min(len), len)),
        };
        if len == 0 || from == to && !matches!(want, Want::All) {
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
                    return match want {
                        Want::Range(_) => b.slice(from, to - from).map(Some),
                        _ => Ok(Some(b)),
                    };
                }
            }
        }
        // Through libhdf5 into memory: only the rows holding the bytes.
        let shape = ds.shape();
        let (rows, skip, read) = match shape.first() {
            Some(&d0) if d0 > 0 && (from > 0 || to < len) => {
                let row = (len / d0).max(1);
                let (r0, r1) = (from / row, to.div_ceil(row).min(d0));
                (
                    Some((r0 as u64, (r1 - r0) as u64)),
                    from - r0 * row,
                    (r1 - r0) * row,
                )
            }
            _ => (None, from, len),
        };
        // Never allocate for bytes the file does not hold.
        let stored = ds.storage_size().min(self.file_len);
        let ratio = if ds.filters().is_empty() {
            1
        } else {
            MAX_RATIO
        };
        let backed = stored.saturating_mul(ratio).saturating_add(BACKING_FLOOR);
        if read as u64 > backed {
            return Err(Error::read_failed(
                key,
                format!(
                    "the dataset declares {len} bytes, and {read} of them are needed, but the file stores only {stored} bytes for it: refusing to read values no stored byte backs"
                ),
            ));
        }
        let b = read_raw(key, &ds, rows, read)?;
        match want {
            Want::Range(_) => b.slice(skip, to - from).map(Some),
            _ => Ok(Some(b)),
        }
    }
}

use super::Want;

impl Source for Hdf5Source {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        self.read_dataset(key, Want::All)
    }

    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        self.read_dataset(key, Want::Prefix(len))
    }

    fn read_range(&self, key: &str, range: std::ops::Range<usize>) -> Result<Option<Buffer>> {
        self.read_dataset(key, Want::Range(range))
    }

    fn size(&self, key: &str) -> Option<u64> {
        let ds = self.dataset(key).ok()??;
        byte_len(key, &ds).ok().map(|n| n as u64)
    }

    fn stat_many(&self, keys: &[&str]) -> Vec<Result<Option<u64>>> {
        keys.iter()
            .map(|&k| match self.dataset(k)? {
                Some(ds) => byte_len(k, &ds).map(|n| Some(n as u64)),
                None => Ok(None),
            })
            .collect()
    }

    fn describe(&self) -> String {
        format!("hdf5:{}:{}", self.path.display(), self.group_name)
    }

    fn id(&self) -> Option<String> {
        let path = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        Some(format!("hdf5:{}:{}", path.display(), self.group_name))
    }
}
