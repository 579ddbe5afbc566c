//! The protocol's header: a [`Metadata`] is the form, the length (or a
//! partitioned container's lengths), the byte order and the buffer-key
//! template, as `metadata.json` holds them and as every container format
//! stores them its own way.

use crate::array::Array;
use crate::buffer::ByteOrder;
use crate::error::{Error, Result};
use crate::form::json::J;
use crate::form::Form;
use crate::options::{BufferKey, Options};
use crate::source::Source;
use crate::write::WriteOptions;
use serde_json::Value;
use std::sync::Arc;

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
    /// The form (shared: the arrays opened with this metadata hold the
    /// same tree, not copies of it).
    pub form: Arc<Form>,
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
    pub fn new(form: impl Into<Arc<Form>>, length: usize) -> Metadata {
        Metadata {
            form: form.into(),
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
    pub fn partitioned(form: impl Into<Arc<Form>>, lengths: Vec<usize>) -> Metadata {
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

    /// The buffer-key template of a container of this kind that names none.
    fn buffer_key_template_default(&self) -> &'static str {
        match self.partitions {
            Some(_) => PARTITIONED_BUFFER_KEY,
            None => "{form_key}-{attribute}",
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
        if let Some(t) = &self.buffer_key {
            if t != self.buffer_key_template_default() {
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
            form: Arc::new(form),
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
    /// As [`crate::from_buffers`].
    pub fn open_with<S: Source + 'static>(&self, source: S, options: Options) -> Result<Array> {
        let mine = self.options()?;
        let options = Options {
            byteorder: mine.byteorder,
            buffer_key: mine.buffer_key,
            ..options
        };
        match &self.partitions {
            Some(lengths) => Array::partitioned(
                Arc::clone(&self.form),
                lengths.clone(),
                self.partition_start,
                Arc::new(source),
                options,
            ),
            None => Array::new(
                Arc::clone(&self.form),
                self.length,
                Arc::new(source),
                options,
            ),
        }
    }

    /// Opens an array over `source` with this metadata. Reads nothing.
    ///
    /// # Errors
    ///
    /// As [`crate::from_buffers`].
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
    // As it reads back: the default template is not recorded.
    if meta.buffer_key.as_deref() == Some(meta.buffer_key_template_default()) {
        meta.buffer_key = None;
    }
    Ok(meta)
}
