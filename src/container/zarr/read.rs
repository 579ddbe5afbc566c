//! Opening a Zarr v3 group (feature `zarr`): its `zarr.json` read (a
//! regular file, size capped), its attributes made into the container's metadata, its arrays
//! served by a [`ZarrSource`].

use super::super::dir::with_text;
use super::super::metadata::{Metadata, METADATA_LIMIT};
use crate::array::Array;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::source::ZarrSource;
use serde_json::Value;
use std::path::Path;

/// The group `group` of the store in `store` as a container; `spec` names
/// it in messages. Reads the group's `zarr.json` only.
pub(super) fn open_zarr(
    store: &Path,
    group: &str,
    spec: &str,
    options: Options,
) -> Result<(Array, Metadata)> {
    let file = store.join(group).join("zarr.json");
    // As a directory's metadata.json: a regular file (a FIFO refused
    // without blocking), capped, not followed out when confined.
    let text = with_text(&file, METADATA_LIMIT, options.confined, str::to_string)
        .map_err(|e| Error::container_caused(file.display(), "", e))?;
    let bad = |m: String| Error::container(spec, m);
    let json: Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("zarr.json is not JSON: {e}")))?;
    match json.get("zarr_format").and_then(Value::as_u64) {
        Some(3) => {}
        Some(n) => {
            return Err(bad(format!(
                "zarr.json says Zarr v{n}: akbuf reads Zarr v3 groups"
            )))
        }
        None => {
            return Err(bad(
                "zarr.json has no zarr_format: not a Zarr v3 node".into()
            ))
        }
    }
    if json.get("node_type").and_then(Value::as_str) != Some("group") {
        return Err(bad(
            "zarr.json is not a group's (an awkward array is a group of arrays)".into(),
        ));
    }
    let metadata = metadata_of(json.get("attributes"), spec)?;
    let source = ZarrSource::open(store, group)?;
    let array = metadata.open_with(source, options)?;
    Ok((array, metadata))
}

/// The container's metadata from the group's attributes: `form` (a JSON
/// object, or a string holding one, as anndata writes it) and `length`;
/// `encoding-type`, if there, must be `awkward-array`. The buffers are
/// decoded in the machine's byte order.
fn metadata_of(attributes: Option<&Value>, spec: &str) -> Result<Metadata> {
    let bad = |m: &str| Error::container(spec, m.to_string());
    let attributes = attributes
        .and_then(Value::as_object)
        .ok_or_else(|| bad("the group has no attributes: not an awkward array"))?;
    if let Some(kind) = attributes.get("encoding-type") {
        if kind.as_str() != Some("awkward-array") {
            return Err(Error::container(
                spec,
                format!("the group's encoding-type is {kind}, not \"awkward-array\": not an awkward array"),
            ));
        }
    }
    let form = match attributes.get("form") {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text)
            .map_err(|e| Error::container(spec, format!("the form attribute is not JSON: {e}")))?,
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return Err(bad(
                "the form attribute is neither a JSON object nor a string",
            ))
        }
        None => return Err(bad("the group has no form attribute: not an awkward array")),
    };
    let length = attributes
        .get("length")
        .ok_or_else(|| bad("the group has no length attribute"))?;
    let mut meta = serde_json::json!({ "form": form, "length": length });
    meta["byteorder"] = Value::from(if cfg!(target_endian = "big") {
        ">"
    } else {
        "<"
    });
    for extra in ["buffer_key", "partition_start"] {
        if let Some(v) = attributes.get(extra) {
            meta[extra] = v.clone();
        }
    }
    Metadata::from_json(&meta.to_string()).map_err(|e| match e {
        Error::Container { message, .. } => Error::container(spec, message),
        other => other,
    })
}
