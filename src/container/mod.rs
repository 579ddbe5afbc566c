//! Containers: what a stored array looks like on a storage, and opening
//! one. A container owns its metadata (the form, the length, the byte order
//! and the buffer-key template) and where it keeps them; its bytes move
//! through a plain [`Source`](crate::Source) and [`Sink`](crate::Sink).
//!
//! - `dir`: a folder with `metadata.json` and one file per buffer key.
//! - `hdf5` (feature `hdf5`): a group of an HDF5 file, with the metadata as
//!   attributes of the group.

#[cfg(feature = "arrow")]
pub(crate) mod arrow_file;
pub(crate) mod dataset;
pub(crate) mod dir;
#[cfg(feature = "hdf5")]
pub(crate) mod hdf5;
#[cfg(feature = "arrow")]
pub(crate) mod ipc;
#[cfg(feature = "parquet")]
pub(crate) mod parquet;
#[cfg(feature = "remote")]
pub(crate) mod remote;
pub(crate) mod sniff;

/// The URL schemes of remote containers.
const SCHEMES: &[&str] = &[
    "s3", "s3a", "gs", "az", "adl", "azure", "abfs", "abfss", "http", "https", "file",
];

/// Whether `spec` is a container URL (`s3://`, `gs://`, `az://`,
/// `http(s)://`, `file://`, ...) rather than a local path. Opening one
/// needs the `remote` feature (`file://` URLs open locally without it).
///
/// ```
/// assert!(akbuf::is_url("s3://bucket/events"));
/// assert!(akbuf::is_url("https://example.org/data/events"));
/// assert!(!akbuf::is_url("data/events"));
/// assert!(!akbuf::is_url("C:/data"));
/// ```
pub fn is_url(spec: &str) -> bool {
    spec.split_once("://")
        .is_some_and(|(scheme, _)| SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()))
}

/// The local path of a `file://` URL.
pub(crate) fn file_url_path(spec: &str) -> Result<std::path::PathBuf> {
    let rest = &spec["file://".len()..];
    // file:///abs/path (an empty host) or file://localhost/abs/path.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(Error::container(
            spec,
            "a file URL names an absolute path (file:///...)",
        ));
    }
    let mut bytes = Vec::with_capacity(path.len());
    let raw = path.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                bytes.push(b);
                i += 3;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    let text =
        String::from_utf8(bytes).map_err(|_| Error::container(spec, "the path is not UTF-8"))?;
    Ok(std::path::PathBuf::from(text))
}

use crate::array::{from_buffers, Array};
use crate::buffer::ByteOrder;
use crate::error::{Error, Result};
use crate::form::json::J;
use crate::form::Form;
use crate::options::{BufferKey, Options};
use crate::source::{DirSource, Source};
use crate::write::WriteOptions;
use serde_json::Value;
use std::path::Path;

/// The most bytes of `metadata.json` akbuf reads (256 MiB): a form for a
/// hundred thousand fields is a few MiB, and a file linked to `/dev/zero`
/// or grown without end must not be read until memory runs out.
pub const METADATA_LIMIT: u64 = 256 << 20;

/// The most partitions a container may list (a lengths list longer than
/// this is refused before anything is made for it).
pub const MAX_PARTITIONS: usize = 1 << 24;

/// The buffer-key template of a partitioned container that names none.
pub const PARTITIONED_BUFFER_KEY: &str = "part{partition}-{form_key}-{attribute}";

/// The contents of `metadata.json`: form, length, and the optional
/// `byteorder` and `buffer_key`; for a partitioned container (awkward 1.x)
/// the length is a list of partition lengths, with an optional
/// `partition_start`.
///
/// ```
/// use akbuf::{ByteOrder, Metadata};
///
/// let m = Metadata::from_json(r#"{"form": "float64", "length": 3, "byteorder": ">"}"#)?;
/// assert_eq!(m.length, 3);
/// assert_eq!(m.byteorder, ByteOrder::Big);
/// assert_eq!(m.form.type_string(), "float64");
///
/// let p = Metadata::from_json(r#"{"form": "float64", "length": [2, 0, 5], "partition_start": 4}"#)?;
/// assert_eq!((p.length, p.partitions.as_deref(), p.partition_start), (7, Some(&[2, 0, 5][..]), 4));
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metadata {
    /// The form.
    pub form: Form,
    /// The number of elements (of all partitions together).
    pub length: usize,
    /// Byte order of the buffers (absent in the file means `<`).
    pub byteorder: ByteOrder,
    /// Buffer-key template (absent means `{form_key}-{attribute}`, or
    /// `part{partition}-{form_key}-{attribute}` for a partitioned container).
    pub buffer_key: Option<String>,
    /// The partitions' lengths, for a partitioned container.
    pub partitions: Option<Vec<usize>>,
    /// The number of the first partition (`{partition}` in the keys).
    pub partition_start: usize,
}

impl Metadata {
    /// Metadata with the defaults for byte order and buffer keys.
    pub fn new(form: Form, length: usize) -> Metadata {
        Metadata {
            form,
            length,
            byteorder: ByteOrder::Little,
            buffer_key: None,
            partitions: None,
            partition_start: 0,
        }
    }

    /// Metadata of a partitioned container: one form, these lengths.
    ///
    /// ```
    /// use akbuf::{Form, Metadata};
    ///
    /// let m = Metadata::partitioned(Form::from_json("int8")?, vec![3, 0, 2]);
    /// assert_eq!(m.length, 5);
    /// assert!(m.to_json().contains(r#""length": [3, 0, 2]"#));
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn partitioned(form: Form, lengths: Vec<usize>) -> Metadata {
        let mut m = Metadata::new(
            form,
            lengths.iter().fold(0usize, |a, &n| a.saturating_add(n)),
        );
        m.partitions = Some(lengths);
        m
    }

    /// The buffer-key template this container uses (its own, or the
    /// default of its kind).
    pub fn buffer_key_template(&self) -> &str {
        match (&self.buffer_key, &self.partitions) {
            (Some(t), _) => t,
            (None, Some(_)) => PARTITIONED_BUFFER_KEY,
            (None, None) => "{form_key}-{attribute}",
        }
    }

    /// The text of `metadata.json`: `{"form": ..., "length": N}`, plus
    /// `"byteorder"` and `"buffer_key"` when they are not the defaults.
    ///
    /// ```
    /// use akbuf::{ByteOrder, Form, Metadata};
    ///
    /// let mut m = Metadata::new(Form::from_json("int8")?, 2);
    /// assert_eq!(m.to_json(), r#"{"form": {"class": "NumpyArray", "primitive": "int8", "inner_shape": [], "parameters": {}, "form_key": null}, "length": 2}"#);
    /// m.byteorder = ByteOrder::Big;
    /// assert!(m.to_json().ends_with(r#""length": 2, "byteorder": ">"}"#));
    /// assert_eq!(Metadata::from_json(&m.to_json())?, m);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("form".into(), self.form_value());
        match &self.partitions {
            Some(lengths) => {
                m.insert("length".into(), lengths.clone().into());
                if self.partition_start != 0 {
                    m.insert("partition_start".into(), self.partition_start.into());
                }
            }
            None => {
                m.insert("length".into(), self.length.into());
            }
        }
        if self.byteorder == ByteOrder::Big {
            m.insert("byteorder".into(), ">".into());
        }
        let default = match self.partitions {
            Some(_) => PARTITIONED_BUFFER_KEY,
            None => "{form_key}-{attribute}",
        };
        if let Some(t) = &self.buffer_key {
            if t != default {
                m.insert("buffer_key".into(), t.as_str().into());
            }
        }
        crate::pyjson::dumps(&Value::Object(m))
    }

    /// The form as stored: as awkward 2 writes it, or for a partitioned
    /// container (which awkward 1 reads whole) as awkward 1 reads it too
    /// ([`Form::to_value_compatible`]).
    pub(crate) fn form_value(&self) -> Value {
        match self.partitions {
            Some(_) => self.form.to_value_compatible(),
            None => self.form.to_value(true),
        }
    }

    /// Parses the text of a `metadata.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] for bad JSON or a missing or wrong `length`,
    /// `byteorder` or `buffer_key`; [`Error::Form`] for a bad form.
    pub fn from_json(text: &str) -> Result<Metadata> {
        if let Some((form, length, byteorder, buffer_key)) = crate::form::fast::metadata(text) {
            let mut m = Metadata::new(form, length);
            m.byteorder = byteorder;
            m.buffer_key = buffer_key;
            return Ok(m);
        }
        Metadata::from_json_general(text)
    }

    /// [`Metadata::from_json`] without the fast path: every metadata.json,
    /// with the exact error messages.
    pub(crate) fn from_json_general(text: &str) -> Result<Metadata> {
        let bad = |m: String| Error::container("metadata.json", m);
        let obj: J<'_> =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        if !matches!(obj, J::Obj(_)) {
            return Err(bad("not a JSON object".into()));
        }
        let form = match obj.get("form") {
            Some(J::Str(s)) => Form::from_json(s)?,
            Some(f) => crate::form::parse::parse(f, "/")?,
            None => return Err(bad("no \"form\"".into())),
        };
        let (length, partitions) = match obj.get("length") {
            Some(j) => parse_length(j).map_err(bad)?,
            None => return Err(bad("no \"length\"".into())),
        };
        let partition_start = match obj.get("partition_start") {
            None | Some(J::Null) => 0,
            Some(j) => j
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "\"partition_start\" must be a non-negative integer, not {j}"
                    ))
                })?,
        };
        let byteorder = match obj.get("byteorder") {
            None | Some(J::Null) => ByteOrder::Little,
            Some(J::Str(s)) => ByteOrder::parse(s)
                .ok_or_else(|| bad(format!("\"byteorder\" must be \"<\" or \">\", not {s:?}")))?,
            Some(other) => {
                return Err(bad(format!(
                    "\"byteorder\" must be \"<\" or \">\", not {other}"
                )))
            }
        };
        let buffer_key = match obj.get("buffer_key") {
            None | Some(J::Null) => None,
            Some(J::Str(s)) => Some(s.to_string()),
            Some(other) => {
                return Err(bad(format!("\"buffer_key\" must be a string, not {other}")))
            }
        };
        let m = Metadata {
            form,
            length,
            byteorder,
            buffer_key,
            partitions,
            partition_start,
        };
        m.check_template().map_err(bad)?;
        Ok(m)
    }

    /// A partitioned container's keys must tell its partitions apart.
    pub(crate) fn check_template(&self) -> std::result::Result<(), String> {
        let count = self.partitions.as_ref().map_or(1, Vec::len);
        if self.partition_start.checked_add(count).is_none() {
            return Err(format!(
                "\"partition_start\" {} and {count} partitions overflow the partitions' numbering",
                self.partition_start
            ));
        }
        if self.partitions.as_ref().is_some_and(|p| p.len() > 1) {
            let template = self.buffer_key_template();
            if !template.contains("{partition}") {
                return Err(format!(
                    "\"buffer_key\" {template:?} has no {{partition}}, so the partitions' buffers would share keys"
                ));
            }
        }
        Ok(())
    }

    /// The `from_buffers` options this metadata asks for.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] for a bad buffer-key template (what a file
    /// holds: bad data, not a bad argument).
    pub fn options(&self) -> Result<Options> {
        let mut o = Options::default().with_byteorder(self.byteorder);
        if self.buffer_key.is_some() || self.partitions.is_some() {
            let key = BufferKey::template(self.buffer_key_template()).map_err(|e| match e {
                Error::Argument(m) => {
                    Error::container("metadata.json", format!("\"buffer_key\": {m}"))
                }
                other => other,
            })?;
            // One array: `{partition}` is the first partition's number.
            o = o.with_buffer_key(match self.partitions {
                Some(_) => key,
                None => key.for_partition(self.partition_start),
            });
        }
        Ok(o)
    }

    /// Opens an array over `source` with this metadata and other options
    /// (a shared cache, a caching policy); the byte order and buffer-key
    /// template come from the metadata. Reads nothing.
    ///
    /// # Errors
    ///
    /// As [`from_buffers`].
    pub fn open_with<S: Source + 'static>(&self, source: S, options: Options) -> Result<Array> {
        let mine = self.options()?;
        let options = Options {
            byteorder: mine.byteorder,
            buffer_key: mine.buffer_key,
            ..options
        };
        match &self.partitions {
            Some(lengths) => Array::partitioned(
                std::sync::Arc::new(self.form.clone()),
                lengths.clone(),
                self.partition_start,
                std::sync::Arc::new(source),
                options,
            ),
            None => from_buffers(&self.form, self.length, source, options),
        }
    }

    /// Opens an array over `source` with this metadata. Reads nothing.
    ///
    /// # Errors
    ///
    /// As [`from_buffers`].
    pub fn open<S: Source + 'static>(&self, source: S) -> Result<Array> {
        self.open_with(source, Options::default())
    }
}

/// A metadata `length`: an integer, or (partitioned) a list of them.
pub(crate) fn parse_length(j: &J<'_>) -> std::result::Result<(usize, Option<Vec<usize>>), String> {
    let one = |j: &J<'_>| j.as_u64().and_then(|n| usize::try_from(n).ok());
    match j {
        J::Num(_) => one(j)
            .map(|n| (n, None))
            .ok_or_else(|| format!("\"length\" must be a non-negative integer, not {j}")),
        J::Arr(items) => {
            if items.len() > MAX_PARTITIONS {
                return Err(format!(
                    "\"length\" lists {} partitions, more than the {MAX_PARTITIONS} akbuf opens",
                    items.len()
                ));
            }
            let mut total = 0usize;
            let mut lengths = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let n = one(item).ok_or_else(|| {
                    format!("\"length\"[{i}] (partition {i}) must be a non-negative integer, not {item}")
                })?;
                total = total.checked_add(n).ok_or_else(|| {
                    format!(
                        "the partitions' lengths add up past {} at \"length\"[{i}]",
                        usize::MAX
                    )
                })?;
                lengths.push(n);
            }
            Ok((total, Some(lengths)))
        }
        other => Err(format!(
            "\"length\" must be a non-negative integer or a list of them, not {other}"
        )),
    }
}

/// A stored container, by what its path is: a directory, or (feature
/// `hdf5`) a group of an HDF5 file.
pub(crate) enum Stored {
    Dir(DirSource),
    #[cfg(feature = "arrow")]
    Batches(arrow_file::BatchSource),
    #[cfg(feature = "hdf5")]
    Hdf5(crate::source::Hdf5Source),
    #[cfg(feature = "remote")]
    Remote(crate::source::RemoteSource),
}

impl Stored {
    /// Decides by what the path is: an existing directory is a directory
    /// container (whatever its name); otherwise `FILE.h5[:GROUP]` names an
    /// HDF5 group.
    pub(crate) fn at(path: &Path, confined: bool) -> Result<Stored> {
        Stored::at_with(path, confined, &crate::options::Fetch::default())
    }

    /// [`Stored::at`] with the fetch settings of a remote container.
    pub(crate) fn at_with(
        path: &Path,
        confined: bool,
        fetch: &crate::options::Fetch,
    ) -> Result<Stored> {
        let text = path.to_string_lossy();
        if is_url(&text) {
            if text.starts_with("file://") {
                return Stored::at_with(&file_url_path(&text)?, confined, fetch);
            }
            #[cfg(feature = "remote")]
            return Ok(Stored::Remote(crate::source::RemoteSource::open(
                &text, fetch,
            )?));
            #[cfg(not(feature = "remote"))]
            {
                let _ = fetch;
                return Err(Error::container(
                    text,
                    "this akbuf was built without the remote feature",
                ));
            }
        }
        if path.is_dir() {
            let mut source = DirSource::new(path);
            if confined {
                source = source.confined();
            }
            return Ok(Stored::Dir(source));
        }
        let spec = path.to_string_lossy();
        // A file: its format by its content (the name is only a hint).
        if let Some((file, group)) = sniff::existing_file(&spec) {
            if let Some(kind) = sniff::sniff(&file) {
                return Stored::of_kind(kind, &file, group, confined);
            }
        }
        #[cfg(feature = "arrow")]
        if arrow_file::is_arrow_path(&spec) {
            return Ok(Stored::Batches(arrow_file::batch_source(path)?));
        }
        #[cfg(not(feature = "arrow"))]
        if spec.to_ascii_lowercase().ends_with(".parquet")
            || spec.to_ascii_lowercase().ends_with(".arrow")
        {
            return Err(Error::container(
                spec,
                "this akbuf was built without the arrow feature (parquet: the parquet feature)",
            ));
        }
        #[cfg(feature = "hdf5")]
        if hdf5::is_hdf5_path(&spec) {
            let (file, group) = hdf5::split_hdf5_path(&spec);
            let mut source = crate::source::Hdf5Source::open(file, group)?;
            if confined {
                source = source.confined();
            }
            return Ok(Stored::Hdf5(source));
        }
        #[cfg(not(feature = "hdf5"))]
        if spec.contains(".h5") || spec.contains(".hdf5") {
            return Err(Error::container(
                spec,
                "this akbuf was built without the hdf5 feature",
            ));
        }
        Ok(Stored::Dir(DirSource::new(path)))
    }

    /// The container in `file` (and its `group`), of a format told by its
    /// content.
    fn of_kind(
        kind: sniff::Kind,
        file: &Path,
        group: Option<String>,
        confined: bool,
    ) -> Result<Stored> {
        let named = || file.display().to_string();
        match kind {
            sniff::Kind::Hdf5 => {
                #[cfg(feature = "hdf5")]
                {
                    let group = group.as_deref().unwrap_or(hdf5::DEFAULT_GROUP);
                    let mut source = crate::source::Hdf5Source::open(file, group)?;
                    if confined {
                        source = source.confined();
                    }
                    Ok(Stored::Hdf5(source))
                }
                #[cfg(not(feature = "hdf5"))]
                {
                    let _ = (group, confined);
                    Err(Error::container(
                        named(),
                        "an HDF5 file: this akbuf was built without the hdf5 feature",
                    ))
                }
            }
            sniff::Kind::Parquet | sniff::Kind::ArrowIpc => {
                let _ = confined;
                if let Some(g) = group {
                    return Err(Error::container(
                        named(),
                        format!("an Arrow or Parquet file has no groups (\":{g}\")"),
                    ));
                }
                #[cfg(feature = "arrow")]
                {
                    Ok(Stored::Batches(arrow_file::batch_source_of(
                        file,
                        kind == sniff::Kind::Parquet,
                    )?))
                }
                #[cfg(not(feature = "arrow"))]
                Err(Error::container(
                    named(),
                    "an Arrow or Parquet file: this akbuf was built without the arrow feature (parquet: the parquet feature)",
                ))
            }
        }
    }

    pub(crate) fn metadata(&self) -> Result<Metadata> {
        match self {
            Stored::Dir(s) => Metadata::read_dir_with(s.root(), s.is_confined()),
            #[cfg(feature = "arrow")]
            Stored::Batches(s) => Ok(s.metadata()),
            #[cfg(feature = "hdf5")]
            Stored::Hdf5(s) => s.metadata(),
            #[cfg(feature = "remote")]
            Stored::Remote(s) => s.metadata(),
        }
    }

    pub(crate) fn open(self, metadata: &Metadata, options: Options) -> Result<Array> {
        match self {
            Stored::Dir(s) => metadata.open_with(s, options),
            #[cfg(feature = "arrow")]
            Stored::Batches(s) => metadata.open_with(s, options),
            #[cfg(feature = "hdf5")]
            Stored::Hdf5(s) => metadata.open_with(s, options),
            #[cfg(feature = "remote")]
            Stored::Remote(s) => metadata.open_with(s, options),
        }
    }
}

/// The format of the file a location names, told by its content (not its
/// name): `"hdf5"` (`FILE:GROUP` too), `"parquet"` or `"arrow"` (Arrow
/// IPC); `None` for a directory, a URL, or anything else.
///
/// ```
/// let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// assert_eq!(akbuf::file_format(sample), None); // a directory container
/// let plain = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arrow/plain.parquet");
/// let misnamed = std::env::temp_dir().join(format!("akbuf-doc-{}.bin", std::process::id()));
/// std::fs::copy(plain, &misnamed)?;
/// assert_eq!(akbuf::file_format(&misnamed), Some("parquet"));
/// # std::fs::remove_file(&misnamed)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn file_format(path: impl AsRef<Path>) -> Option<&'static str> {
    let spec = path.as_ref().to_string_lossy();
    let (file, _) = sniff::existing_file(&spec)?;
    Some(match sniff::sniff(&file)? {
        sniff::Kind::Hdf5 => "hdf5",
        sniff::Kind::Parquet => "parquet",
        sniff::Kind::ArrowIpc => "arrow",
    })
}

/// Opens a container lazily: reads its metadata, no buffer. `path` is a
/// directory container, or with the `hdf5` feature `FILE.h5[:GROUP]`
/// (a directory is always a directory container, whatever its name).
///
/// ```no_run
/// let events = akbuf::open("data/events")?;
/// let pt = events.field("jets")?.field("pt")?;
/// println!("{} {}", pt.type_string(), pt.flat_values::<f32>()?.iter().sum::<f32>());
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// As [`Metadata::read_dir`] and [`from_buffers`].
pub fn open(path: impl AsRef<Path>) -> Result<Array> {
    open_with(path, Options::default())
}

/// [`open`] with options: a shared cache, a caching policy, and
/// [`Options::confined`] for untrusted containers. The byte order and
/// buffer-key template come from the container's metadata.
///
/// ```
/// use akbuf::{open_with, Cache, Options};
/// use std::sync::Arc;
///
/// let cache = Arc::new(Cache::new());
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let events = open_with(path, Options::default().with_cache(Arc::clone(&cache)).confined())?;
/// events.field("run")?.to_json()?;
/// assert_eq!(cache.stats().reads, 1);
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// As [`open`].
pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Array> {
    open_with_metadata(path, options).map(|(array, _)| array)
}

/// [`open_with`], also returning the container's metadata (its buffer-key
/// template, byte order and partitions: what a reader of the container's
/// buffers by key needs besides the array), read once.
///
/// ```
/// use akbuf::{open_with_metadata, Options};
///
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let (events, meta) = open_with_metadata(path, Options::default())?;
/// assert_eq!((events.len(), meta.length), (1000, 1000));
/// assert_eq!(meta.buffer_key_template(), "{form_key}-{attribute}");
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// As [`open`].
pub fn open_with_metadata(path: impl AsRef<Path>, options: Options) -> Result<(Array, Metadata)> {
    let path = path.as_ref();
    // Most paths are directory containers: reading their metadata.json
    // first spares asking what the path is (a system call on every open).
    if !options.confined && !is_url(&path.to_string_lossy()) {
        match Metadata::read_dir_with(path, false) {
            Ok(metadata) => {
                let array = metadata.open_with(DirSource::new(path), options)?;
                return Ok((array, metadata));
            }
            Err(Error::Container {
                cause: Some(io), ..
            }) if matches!(
                io.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) => {}
            Err(e) => return Err(e),
        }
    }
    let stored = Stored::at_with(path, options.confined, &options.fetch)?;
    let metadata = stored.metadata()?;
    let array = stored.open(&metadata, options)?;
    Ok((array, metadata))
}

/// The metadata (form, length, byte order, buffer-key template) of the
/// container at `path` (as [`open`] takes it), reading nothing else.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
/// let meta = akbuf::read_metadata(path)?;
/// assert_eq!(meta.length, 1000);
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// As [`Metadata::read_dir`].
pub fn read_metadata(path: impl AsRef<Path>) -> Result<Metadata> {
    Stored::at(path.as_ref(), false)?.metadata()
}

/// The buffer-key template a container records, or an error for a closure.
pub(crate) fn recorded_template<'a>(options: &'a WriteOptions, what: &str) -> Result<&'a str> {
    options.buffer_key.as_template().ok_or_else(|| {
        Error::Argument(format!(
            "{what} records its buffer keys as a template; a closure cannot be written"
        ))
    })
}

/// The metadata of what [`crate::to_buffers`] wrote of `array` with `options`.
pub(crate) fn written_metadata(
    form: Form,
    array: &Array,
    options: &WriteOptions,
    template: &str,
) -> Result<Metadata> {
    let mut meta = Metadata::new(form, array.len());
    meta.byteorder = options.byteorder;
    meta.buffer_key = Some(template.to_string());
    if array.is_partitioned() && !options.one_piece {
        meta.partitions = Some(array.partition_lengths());
        meta.partition_start = options.partition_start;
        let key = crate::write::partition_key(options)?;
        meta.buffer_key = key.as_template().map(str::to_string);
    }
    Ok(meta)
}
