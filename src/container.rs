//! The directory container's `metadata.json`, and opening a container.

use crate::array::{from_buffers, Array};
use crate::buffer::ByteOrder;
use crate::error::{Error, Result};
use crate::form::json::J;
use crate::form::Form;
use crate::options::{BufferKey, Options};
use crate::source::{DirSource, Source};
use serde_json::Value;
use std::path::Path;

/// The contents of `metadata.json`: form, length, and the optional
/// `byteorder` and `buffer_key`.
///
/// ```
/// use akbuf::{ByteOrder, Metadata};
///
/// let m = Metadata::from_json(r#"{"form": "float64", "length": 3, "byteorder": ">"}"#)?;
/// assert_eq!(m.length, 3);
/// assert_eq!(m.byteorder, ByteOrder::Big);
/// assert_eq!(m.form.type_string(), "float64");
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metadata {
    /// The form.
    pub form: Form,
    /// The number of elements.
    pub length: usize,
    /// Byte order of the buffers (absent in the file means `<`).
    pub byteorder: ByteOrder,
    /// Buffer-key template (absent means `{form_key}-{attribute}`).
    pub buffer_key: Option<String>,
}

impl Metadata {
    /// Metadata with the defaults for byte order and buffer keys.
    pub fn new(form: Form, length: usize) -> Metadata {
        Metadata {
            form,
            length,
            byteorder: ByteOrder::Little,
            buffer_key: None,
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
        m.insert("form".into(), self.form.to_value(true));
        m.insert("length".into(), self.length.into());
        if self.byteorder == ByteOrder::Big {
            m.insert("byteorder".into(), ">".into());
        }
        if let Some(t) = &self.buffer_key {
            if t != "{form_key}-{attribute}" {
                m.insert("buffer_key".into(), t.as_str().into());
            }
        }
        crate::pyjson::dumps(&Value::Object(m))
    }

    /// Parses the text of a `metadata.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] for bad JSON or a missing or wrong `length`,
    /// `byteorder` or `buffer_key`; [`Error::Form`] for a bad form.
    pub fn from_json(text: &str) -> Result<Metadata> {
        let bad = |m: String| Error::Container {
            path: "metadata.json".into(),
            message: m,
        };
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
        let length = match obj.get("length") {
            Some(J::Num(n)) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    bad(format!(
                        "\"length\" must be a non-negative integer, not {n}"
                    ))
                })?,
            Some(other) => {
                return Err(bad(format!(
                    "\"length\" must be a non-negative integer, not {other}"
                )))
            }
            None => return Err(bad("no \"length\"".into())),
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
        Ok(Metadata {
            form,
            length,
            byteorder,
            buffer_key,
        })
    }

    /// Reads `DIR/metadata.json`.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] naming the folder when it cannot be read, and
    /// the errors of [`Metadata::from_json`].
    pub fn read_dir(dir: impl AsRef<Path>) -> Result<Metadata> {
        let dir = dir.as_ref();
        let path = dir.join("metadata.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Container {
            path: dir.display().to_string(),
            message: format!("reading metadata.json: {e}"),
        })?;
        Metadata::from_json(&text).map_err(|e| match e {
            Error::Container { message, .. } => Error::Container {
                path: dir.display().to_string(),
                message: format!("metadata.json: {message}"),
            },
            other => other,
        })
    }

    /// The `from_buffers` options this metadata asks for.
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for a bad buffer-key template.
    pub fn options(&self) -> Result<Options> {
        let mut o = Options::default().with_byteorder(self.byteorder);
        if let Some(t) = &self.buffer_key {
            o = o.with_buffer_key(BufferKey::template(t)?);
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
        from_buffers(&self.form, self.length, source, options)
    }

    /// Opens an array over `source` with this metadata. Reads nothing.
    ///
    /// # Errors
    ///
    /// As [`from_buffers`].
    pub fn open<S: Source + 'static>(&self, source: S) -> Result<Array> {
        from_buffers(&self.form, self.length, source, self.options()?)
    }
}

/// Opens a directory container lazily: reads `metadata.json`, no buffer.
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
pub fn open(dir: impl AsRef<Path>) -> Result<Array> {
    let dir = dir.as_ref();
    Metadata::read_dir(dir)?.open(DirSource::new(dir))
}
