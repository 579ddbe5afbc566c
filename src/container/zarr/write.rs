//! Writing a Zarr v3 group (feature `zarr`), as anndata's `write_elem`
//! writes an awkward array: one typed array per buffer key (chunked,
//! zstd), the form (a JSON string) and the length in the group's
//! attributes, `encoding-type: awkward-array`. A partitioned array keeps
//! its `part{N}-` keys and records its lengths as a list (with
//! `partition_start` where not 0), as the directory container does.

use super::super::metadata::{recorded_template, written_metadata, Metadata};
use crate::array::Array;
use crate::error::{Error, Result};
use crate::form::{Form, FormKind, IndexType, Primitive};
use crate::options::BufferKey;
use crate::sink::zarr::{ElementType, ZarrSink};
use crate::write::WriteOptions;
use crate::ByteOrder;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

/// Writes `array` as the Zarr group in the folder `target` (a new store,
/// or a new group of an existing one whose parent group exists),
/// atomically.
pub(super) fn write_zarr(array: &Array, target: &Path, options: &WriteOptions) -> Result<Metadata> {
    let template = recorded_template(options, "a Zarr group")?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        // A v3 group inside a Zarr v2 store would be a node its readers
        // do not see (akbuf reads v2, writes v3 only).
        if parent.join(".zgroup").is_file() {
            return Err(Error::container(
                target.display(),
                format!(
                    "{} is a Zarr v2 group: akbuf writes Zarr v3 groups, into v3 stores or as a new store",
                    parent.display()
                ),
            ));
        }
        // Inside a store, a group's parent is a group (Zarr v3 has no
        // implicit groups).
        if !parent.join("zarr.json").is_file() && in_store(parent) {
            return Err(Error::container(
                target.display(),
                format!(
                    "the parent group {} does not exist (a Zarr group is written into an existing group)",
                    parent.display()
                ),
            ));
        }
    }
    check_byteorder(array, options)?;
    let sink = ZarrSink::start(
        target,
        options.replace,
        options.chunk_bytes,
        options.shard_bytes,
    )?;
    write_with(sink, array, options, template)
}

/// Writes `array` as the Zarr group at `url` (an empty prefix of an object
/// store; feature `remote`): chunks and arrays first, the group's
/// `zarr.json` last; on error what was uploaded is deleted.
#[cfg(feature = "remote")]
pub(super) fn write_zarr_url(array: &Array, url: &str, options: &WriteOptions) -> Result<Metadata> {
    let template = recorded_template(options, "a Zarr group")?;
    if options.replace {
        return Err(Error::Argument(format!(
            "cannot replace a Zarr group at a URL ({url}): an object store has no atomic rename"
        )));
    }
    check_byteorder(array, options)?;
    let sink = ZarrSink::start_remote(
        url,
        &options.fetch,
        options.chunk_bytes,
        options.shard_bytes,
    )?;
    write_with(sink, array, options, template)
}

fn check_byteorder(array: &Array, options: &WriteOptions) -> Result<()> {
    if options.byteorder == ByteOrder::Big && has_raw_multibyte(array.form()) {
        return Err(Error::Argument(
            "a Zarr group stores float128 and complex256 as raw bytes, which its readers take in little-endian order: write it little-endian".into(),
        ));
    }
    Ok(())
}

/// `to_buffers` into `sink`, then the arrays typed and the group's
/// attributes written.
fn write_with(
    mut sink: ZarrSink,
    array: &Array,
    options: &WriteOptions,
    template: &str,
) -> Result<Metadata> {
    let (form, _) = crate::write::to_buffers(array, &mut sink, options)?;
    let meta = written_metadata(form, array, options, template)?;
    let types = key_types(&meta)?;
    sink.finish(
        attributes(&meta),
        &|key| types.get(key).cloned(),
        meta.byteorder == ByteOrder::Big,
    )?;
    Ok(meta)
}

/// Whether a node of `form` has elements of more than one byte that Zarr
/// has no type for (stored as raw bytes: no `bytes` codec says their order).
fn has_raw_multibyte(form: &Form) -> bool {
    let raw = match form.kind() {
        FormKind::Numpy { primitive, .. } => {
            primitive.itemsize() > 1 && of_primitive(*primitive).size == 1
        }
        _ => false,
    };
    raw || form.children().into_iter().any(|c| has_raw_multibyte(c))
}

/// Whether `dir` or a folder above it is a Zarr store's (has `zarr.json`).
fn in_store(dir: &Path) -> bool {
    dir.ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .any(|p| p.join("zarr.json").is_file())
}

/// The group's attributes: anndata's (`encoding-type`, `encoding-version`,
/// `form` as a JSON string, `length`), and for a partitioned array its
/// lengths, `partition_start` and key template where not the defaults.
fn attributes(meta: &Metadata) -> serde_json::Map<String, Value> {
    let mut a = serde_json::Map::new();
    a.insert("encoding-type".into(), json!("awkward-array"));
    a.insert("encoding-version".into(), json!("0.1.0"));
    a.insert(
        "form".into(),
        Value::String(crate::pyjson::dumps(&meta.form_value())),
    );
    let length = match &meta.partitions {
        Some(lengths) => json!(lengths),
        None => json!(meta.length),
    };
    a.insert("length".into(), length);
    if meta.partitions.is_some() && meta.partition_start != 0 {
        a.insert("partition_start".into(), json!(meta.partition_start));
    }
    if let Some(t) = &meta.buffer_key {
        a.insert("buffer_key".into(), json!(t));
    }
    a
}

/// The element type of every buffer key the metadata's form and template
/// make (every partition's).
fn key_types(meta: &Metadata) -> Result<HashMap<String, ElementType>> {
    let rule = BufferKey::template(meta.buffer_key_template())?;
    let rules: Vec<BufferKey> = match &meta.partitions {
        Some(lengths) => (0..lengths.len())
            .map(|i| rule.for_partition(meta.partition_start + i))
            .collect(),
        None => vec![rule],
    };
    let mut types = HashMap::new();
    let mut stack: Vec<&Form> = vec![&meta.form];
    while let Some(form) = stack.pop() {
        for (attribute, element) in buffers_of(form) {
            for rule in &rules {
                types.insert(rule.key(form.form_key(), attribute), element.clone());
            }
        }
        stack.extend(form.children().into_iter().map(|c| &**c));
    }
    Ok(types)
}

/// A node's buffers: attribute and element type.
fn buffers_of(form: &Form) -> Vec<(&'static str, ElementType)> {
    match form.kind() {
        FormKind::Numpy { primitive, .. } => vec![("data", of_primitive(*primitive))],
        FormKind::List { starts, stops, .. } => {
            vec![("starts", of_index(*starts)), ("stops", of_index(*stops))]
        }
        FormKind::ListOffset { offsets, .. } => vec![("offsets", of_index(*offsets))],
        FormKind::Indexed { index, .. } | FormKind::IndexedOption { index, .. } => {
            vec![("index", of_index(*index))]
        }
        FormKind::ByteMasked { mask, .. } | FormKind::BitMasked { mask, .. } => {
            vec![("mask", of_index(*mask))]
        }
        FormKind::Union { tags, index, .. } => {
            vec![("tags", of_index(*tags)), ("index", of_index(*index))]
        }
        _ => Vec::new(),
    }
}

fn of_index(t: IndexType) -> ElementType {
    ElementType {
        name: t.numpy_name(),
        size: t.itemsize() as u64,
        fill: json!(0),
    }
}

/// The Zarr type of a primitive: its own where Zarr v3 has it; dates and
/// durations as their `int64` counts; `float128` and `complex256` as raw
/// bytes (awkward reinterprets either by the form).
fn of_primitive(p: Primitive) -> ElementType {
    use Primitive::*;
    let (name, fill) = match p {
        Bool => ("bool", json!(false)),
        Int8 | UInt8 | Int16 | UInt16 | Int32 | UInt32 | Int64 | UInt64 => {
            (numeric_name(p), json!(0))
        }
        Float16 | Float32 | Float64 => (numeric_name(p), json!(0.0)),
        Complex64 | Complex128 => (numeric_name(p), json!([0.0, 0.0])),
        Datetime64(_) | Timedelta64(_) => ("int64", json!(0)),
        _ => return ElementType::bytes(),
    };
    ElementType {
        name,
        size: if name == "int64" {
            8
        } else {
            p.itemsize() as u64
        },
        fill,
    }
}

/// The Zarr v3 name of a numeric primitive (numpy's).
fn numeric_name(p: Primitive) -> &'static str {
    use Primitive::*;
    match p {
        Int8 => "int8",
        UInt8 => "uint8",
        Int16 => "int16",
        UInt16 => "uint16",
        Int32 => "int32",
        UInt32 => "uint32",
        Int64 => "int64",
        UInt64 => "uint64",
        Float16 => "float16",
        Float32 => "float32",
        Float64 => "float64",
        Complex64 => "complex64",
        Complex128 => "complex128",
        _ => "uint8",
    }
}
