//! The directory container: a folder with `metadata.json` (`{"form": ...,
//! "length": N}`, optional `"byteorder"` and `"buffer_key"`) and one raw
//! file per buffer key. Its bytes move through [`DirSource`] (memory maps)
//! and [`DirSink`] (a temporary folder renamed into place); this module owns
//! `metadata.json`.

use super::location::Location;
use super::metadata::{recorded_template, written_metadata, Metadata, METADATA_LIMIT};
use super::registry::{Format, Probe};
use crate::array::Array;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::sink::DirSink;
use crate::source::DirSource;
use crate::write::{to_buffers, WriteOptions};
use std::path::Path;

/// The directory container: a folder with `metadata.json`.
pub(crate) struct Directory;

/// The one [`Directory`].
pub(crate) static DIRECTORY: Directory = Directory;

impl Format for Directory {
    fn name(&self) -> &'static str {
        "directory"
    }

    fn recognises(&self, probe: &mut Probe<'_>) -> bool {
        matches!(probe.location(), Location::Dir(d) if d.join("metadata.json").exists())
    }

    fn open(&self, at: &Location, options: Options) -> Result<(Array, Metadata)> {
        let dir = local(at);
        let metadata = Metadata::read_dir_with(dir, options.confined)?;
        let mut source = DirSource::new(dir);
        if options.confined {
            source = source.confined();
        }
        let array = metadata.open_with(source, options)?;
        Ok((array, metadata))
    }

    fn metadata(&self, at: &Location, options: Options) -> Result<Metadata> {
        Metadata::read_dir_with(local(at), options.confined)
    }

    fn write(&self, array: &Array, at: &Location, options: &WriteOptions) -> Result<Metadata> {
        write_dir(array, local(at), options)
    }
}

/// The folder of a local location (a URL is the remote format's).
fn local(at: &Location) -> &Path {
    at.path().unwrap_or(Path::new(""))
}

/// From this size on, `metadata.json` is read through a memory map
/// populated in one call rather than copied into fresh heap pages, each a
/// page fault (a form of thousands of fields is hundreds of KiB).
const MAP_FROM: u64 = 64 << 10;

/// Hands a regular file's text to `parse`, refusing one over `limit` bytes
/// or not UTF-8.
pub(crate) fn with_text<R>(
    path: &Path,
    limit: u64,
    no_follow: bool,
    parse: impl FnOnce(&str) -> R,
) -> std::io::Result<R> {
    use std::io::Read;
    let (file, len) = crate::sys::open_regular_with_len(path, no_follow)?;
    if len > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{len} bytes or more, over the limit of {limit} bytes"),
        ));
    }
    let utf8 = |e: std::str::Utf8Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    if len >= MAP_FROM {
        // SAFETY: a map is undefined behaviour if the file changes while
        // mapped. As for buffer files (`DirSource`), a container's files
        // are immutable while read: akbuf's writer writes `metadata.json`
        // into a temporary folder and renames the folder into place, and
        // replaces a container by exchanging folders, never in place. The
        // map lives only while the text is parsed.
        let mapped = unsafe { memmap2::MmapOptions::new().populate().map(&file) };
        // (A file system that cannot map the file is read as any other.)
        if let Ok(map) = mapped {
            return Ok(parse(std::str::from_utf8(&map).map_err(utf8)?));
        }
    }
    // One read of the length fstat gave (a regular file: it does not grow
    // without end as a device would; one changed meanwhile reads short and fails).
    let mut bytes = vec![0u8; len as usize];
    (&file).read_exact(&mut bytes)?;
    Ok(parse(std::str::from_utf8(&bytes).map_err(utf8)?))
}

impl Metadata {
    /// Reads `DIR/metadata.json`.
    ///
    /// Only a regular file is read (a FIFO or a device under that name is
    /// refused without blocking), and at most [`METADATA_LIMIT`] bytes of it.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the folder when it cannot be read, and
    /// the errors of [`Metadata::from_json`].
    pub fn read_dir(dir: impl AsRef<Path>) -> Result<Metadata> {
        Metadata::read_dir_with(dir.as_ref(), false)
    }

    /// [`Metadata::read_dir`], refusing a `metadata.json` that resolves
    /// outside `dir` when `confined`.
    pub(crate) fn read_dir_with(dir: &Path, confined: bool) -> Result<Metadata> {
        let bad = |message: String| Error::container(dir.display(), message);
        let io = |e| Error::container_io(dir.display(), "reading metadata.json", e);
        let mut path = dir.join("metadata.json");
        if confined {
            path = crate::source::dir::confined_path(dir, &path).map_err(io)?;
        }
        with_text(&path, METADATA_LIMIT, confined, Metadata::from_json)
            .map_err(io)?
            .map_err(|e| match e {
                Error::Container { message, .. } => bad(format!("metadata.json: {message}")),
                other => other,
            })
    }
}

impl DirSink {
    /// Writes `metadata.json` and renames the folder into place (replacing
    /// the target if the sink was made by [`DirSink::replace`]).
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when writing or renaming fails (for example,
    /// when something appeared under the target name meanwhile); the
    /// temporary folder is removed and the target is as it was.
    pub fn commit(self, metadata: &Metadata) -> Result<()> {
        self.commit_with("metadata.json", metadata.to_json().as_bytes())
    }
}

/// Writes `array` as a directory container at `dir`, atomically: into a
/// temporary folder beside it, renamed into place once complete, with
/// `metadata.json` (which records `byteorder` and `buffer_key` when they are
/// not the defaults). On any error nothing is left under `dir`.
///
/// ```
/// use akbuf::{from_buffers, write_dir, Buffer, Form, MemorySource, Options, WriteOptions, ByteOrder};
///
/// let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "int16", "form_key": "x"}"#)?;
/// let source = MemorySource::new().with("x-data", Buffer::from_slice(&[1i16, -2]));
/// let array = from_buffers(&form, 2, source, Options::default())?;
/// let tmp = tempfile::tempdir()?;
/// let out = tmp.path().join("copy");
/// let meta = write_dir(&array, &out, &WriteOptions::default().with_byteorder(ByteOrder::Big))?;
/// assert_eq!(meta.byteorder, ByteOrder::Big);
/// assert_eq!(std::fs::read(out.join("node0-data"))?, [0, 1, 0xff, 0xfe]);
/// assert_eq!(akbuf::open(&out)?.to_json()?, "[1,-2]");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Argument`] when the buffer key is a closure (a directory records
/// it as a template), [`Error::Container`] when `dir` exists (unless
/// [`WriteOptions::with_replace`]), and whatever
/// [`to_buffers`] reports.
pub fn write_dir(array: &Array, dir: impl AsRef<Path>, options: &WriteOptions) -> Result<Metadata> {
    let template = recorded_template(options, "a directory container")?;
    let mut sink = if options.replace {
        DirSink::replace(dir)?
    } else {
        DirSink::create(dir)?
    };
    let (form, _) = to_buffers(array, &mut sink, options)?;
    let meta = written_metadata(form, array, options, template)?;
    sink.commit(&meta)?;
    Ok(meta)
}
