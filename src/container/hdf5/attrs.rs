//! The HDF5 container's attributes and writes (feature `hdf5`), as Awkward's documentation writes them
//! with h5py: a group (default `awkward`) with one dataset per buffer key,
//! and the form and length as attributes of the group (`byteorder` and
//! `buffer_key` too when they are not the defaults). The bytes go through
//! [`Hdf5Source`] and [`Hdf5Sink`]; this module owns what the attributes
//! mean and how `FILE.h5:GROUP` is spelled.

use super::super::metadata::{
    parse_length, recorded_template, written_metadata, Metadata, MAX_PARTITIONS,
};
use crate::array::Array;
use crate::buffer::ByteOrder;
use crate::error::Result;
use crate::form::json::J;
use crate::form::Form;
use crate::sink::Hdf5Sink;
use crate::source::hdf5::h5err;
use crate::source::Hdf5Source;
use crate::write::WriteOptions;
use hdf5_metno as h5;
use std::path::Path;

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
    /// Opens `FILE.h5` or `FILE.h5:GROUP` (see [`crate::split_hdf5_path`]).
    ///
    /// # Errors
    ///
    /// As [`Hdf5Source::open`].
    pub fn open_spec(spec: &str) -> Result<Hdf5Source> {
        let (file, group) = super::split_hdf5_path(spec);
        Hdf5Source::open(file, group)
    }

    /// The form, length, byte order and buffer-key template stored as the
    /// group's attributes.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Container`] when `form` or `length` is missing or malformed.
    pub fn metadata(&self) -> Result<Metadata> {
        let bad = |m: String| h5err(self.path(), format!("group {:?}: {m}", self.group_name()));
        let form = match string_attr(self.group(), "form") {
            Some(Ok(text)) => text,
            Some(Err(e)) => return Err(bad(format!("attribute \"form\": {e}"))),
            None => return Err(bad("no attribute \"form\"".into())),
        };
        let form = Form::from_json(&form)?;
        let (length, partitions) = match string_attr(self.group(), "length") {
            // A partitioned group: the lengths as a JSON list.
            Some(Ok(text)) if text.trim_start().starts_with('[') => {
                let j: J<'_> = serde_json::from_str(&text)
                    .map_err(|e| bad(format!("attribute \"length\" is not JSON: {e}")))?;
                parse_length(&j).map_err(|m| bad(format!("attribute {m}")))?
            }
            Some(Ok(text)) => (
                text.trim().parse::<usize>().map_err(|_| {
                    bad(format!(
                        "attribute \"length\" must be a non-negative integer, not {text:?}"
                    ))
                })?,
                None,
            ),
            _ => self.numeric_length(&bad)?,
        };
        let partition_start = match string_attr(self.group(), "partition_start") {
            Some(Ok(text)) => text.trim().parse::<usize>().map_err(|_| {
                bad(format!(
                    "attribute \"partition_start\" must be a non-negative integer, not {text:?}"
                ))
            })?,
            // Absent, or stored as a number.
            _ => match self.group().attr("partition_start") {
                Err(_) => 0,
                Ok(attr) => attr
                    .read_scalar::<i64>()
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        bad("attribute \"partition_start\" must be a non-negative integer".into())
                    })?,
            },
        };
        let mut meta = Metadata::new(form, length);
        meta.partitions = partitions;
        meta.partition_start = partition_start;
        if let Some(Ok(b)) = string_attr(self.group(), "byteorder") {
            meta.byteorder = ByteOrder::parse(&b)
                .ok_or_else(|| bad(format!("attribute \"byteorder\" is {b:?}")))?;
        }
        if let Some(Ok(t)) = string_attr(self.group(), "buffer_key") {
            meta.buffer_key = Some(t);
        }
        meta.check_template().map_err(bad)?;
        Ok(meta)
    }

    /// A `length` attribute stored as a number (h5py writes `int`s so), or
    /// as a one-dimensional array of them (a list of partition lengths).
    fn numeric_length(
        &self,
        bad: &dyn Fn(String) -> crate::error::Error,
    ) -> Result<(usize, Option<Vec<usize>>)> {
        use h5::types::TypeDescriptor as T;
        let attr = self
            .group()
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
        if !attr.shape().is_empty() {
            if attr.shape().len() > 1 || attr.size() > MAX_PARTITIONS {
                return Err(bad(format!(
                    "attribute \"length\" has shape {:?}: a list of at most {} partition lengths is expected",
                    attr.shape(),
                    MAX_PARTITIONS
                )));
            }
            let lengths = attr
                .read_raw::<i64>()
                .map_err(|e| bad(format!("attribute \"length\": {e}")))?;
            let list = serde_json::Value::from(lengths);
            return parse_length(&J::borrow(&list)).map_err(|m| bad(format!("attribute {m}")));
        }
        let n = attr
            .read_scalar::<i64>()
            .map_err(|e| bad(format!("attribute \"length\": {e}")))?;
        let n = usize::try_from(n).map_err(|_| {
            bad(format!(
                "attribute \"length\" must be a non-negative integer, not {n}"
            ))
        })?;
        Ok((n, None))
    }
}

/// Opens the array stored in `group` of an HDF5 file.
///
/// # Errors
///
/// As [`Hdf5Source::open`] and [`Hdf5Source::metadata`].
pub fn open_hdf5(path: impl AsRef<Path>, group: &str) -> Result<Array> {
    let source = Hdf5Source::open(path, group)?;
    let meta = source.metadata()?;
    meta.open(source)
}

impl Hdf5Sink {
    /// Writes the group's attributes: `form`, `length` (JSON), and
    /// `byteorder`/`buffer_key` when not the defaults, then renames the
    /// group into place.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Container`] when an attribute cannot be written or
    /// the group cannot be renamed (it appeared meanwhile); nothing is left.
    pub fn finish(self, metadata: &Metadata) -> Result<()> {
        let form = crate::pyjson::dumps(&metadata.form_value());
        let length = match &metadata.partitions {
            Some(lengths) => serde_json::to_string(lengths).unwrap_or_default(),
            None => metadata.length.to_string(),
        };
        let start = metadata.partition_start.to_string();
        let mut attrs = vec![("form", form.as_str()), ("length", length.as_str())];
        if metadata.partitions.is_some() && metadata.partition_start != 0 {
            attrs.push(("partition_start", start.as_str()));
        }
        if metadata.byteorder == ByteOrder::Big {
            attrs.push(("byteorder", ">"));
        }
        if let Some(t) = metadata
            .buffer_key
            .as_deref()
            .filter(|t| *t != "{form_key}-{attribute}")
        {
            attrs.push(("buffer_key", t));
        }
        self.finish_with_attrs(&attrs)
    }
}

/// Writes `array` into `group` of the HDF5 file at `path` with
/// [`Hdf5Sink`] and [`crate::to_buffers`] (replacing the group if
/// `options.replace` is set).
///
/// # Errors
///
/// As [`Hdf5Sink::create`] and [`crate::to_buffers`]; [`crate::Error::Argument`]
/// for a buffer-key closure (the group records a template).
pub fn write_hdf5(
    array: &Array,
    path: impl AsRef<Path>,
    group: &str,
    options: &WriteOptions,
) -> Result<Metadata> {
    let template = recorded_template(options, "an HDF5 group")?;
    let mut sink = if options.replace {
        Hdf5Sink::replace(path, group)?
    } else {
        Hdf5Sink::create(path, group)?
    };
    let (form, _) = crate::write::to_buffers(array, &mut sink, options)?;
    let meta = written_metadata(form, array, options, template)?;
    sink.finish(&meta)?;
    Ok(meta)
}
