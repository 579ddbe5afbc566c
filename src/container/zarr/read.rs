//! Opening a Zarr v3 group (feature `zarr`): its `zarr.json` read (a
//! regular file, size capped; a Zarr v2 group's `.zgroup` and `.zattrs`),
//! its attributes made into the container's metadata, its arrays served
//! by a [`ZarrSource`].

use super::super::dir::with_text;
use super::super::metadata::{Metadata, METADATA_LIMIT};
use crate::array::Array;
use crate::buffer::Buffer;
use crate::cache::{Cache, Conv};
use crate::error::{Error, Result};
use crate::options::Options;
use crate::source::zarr::ChunkMemo;
use crate::source::{Source, ZarrSource};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// The group `group` of the store in `store` as a container; `spec` names
/// it in messages. Reads the group's `zarr.json` only.
pub(super) fn open_zarr(
    store: &Path,
    group: &str,
    spec: &str,
    options: Options,
) -> Result<(Array, Metadata)> {
    let dir = store.join(group);
    // As a directory's metadata.json: a regular file (a FIFO refused
    // without blocking), capped, not followed out when confined.
    let read = |name: &str| {
        let file = dir.join(name);
        with_text(&file, METADATA_LIMIT, options.confined, str::to_string)
            .map_err(|e| Error::container_caused(file.display(), "", e))
    };
    let there = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
    let v2 = !there("zarr.json") && there(".zgroup");
    let metadata = if !v2 {
        group_metadata(&read("zarr.json")?, spec)?
    } else {
        // Zarr v2 (anndata's default): `.zgroup`, the attributes in `.zattrs`.
        let zgroup: Value = serde_json::from_str(&read(".zgroup")?)
            .map_err(|e| Error::container(spec, format!(".zgroup is not JSON: {e}")))?;
        if zgroup.get("zarr_format").and_then(Value::as_u64) != Some(2) {
            return Err(Error::container(spec, ".zgroup does not say zarr_format 2"));
        }
        if !there(".zattrs") {
            return Err(Error::container(
                spec,
                "the group has no .zattrs: not an awkward array",
            ));
        }
        let attributes: Value = serde_json::from_str(&read(".zattrs")?)
            .map_err(|e| Error::container(spec, format!(".zattrs is not JSON: {e}")))?;
        metadata_of(Some(&attributes), spec)?
    };
    let mut source = ZarrSource::open(store, group)?;
    if v2 {
        source = source.v2();
    }
    if options.confined {
        source = source.confined();
    }
    open_over(source, metadata, options)
}

/// The array of `metadata` over `source`, whose range reads keep decoded
/// chunks in the array's cache.
fn open_over(
    source: ZarrSource,
    metadata: Metadata,
    mut options: Options,
) -> Result<(Array, Metadata)> {
    let cache = Arc::clone(options.cache.get_or_insert_with(|| Arc::new(Cache::new())));
    let number = cache.source_number(source.id());
    let source = source.with_memo(Arc::new(CachedChunks { cache, number }));
    let array = metadata.open_with(source, options)?;
    Ok((array, metadata))
}

/// Decoded chunks in the shared cache, under their keys in the store
/// (`node4-offsets/c/3`: never a buffer key, which has no `/`): the budget
/// counts their decoded bytes, and threads asking for one chunk at once
/// decode it once.
struct CachedChunks {
    cache: Arc<Cache>,
    number: u64,
}

impl ChunkMemo for CachedChunks {
    fn get_or_decode(
        &self,
        chunk_key: &str,
        decode: &mut dyn FnMut() -> Result<Option<Buffer>>,
    ) -> Result<Option<Buffer>> {
        // A decode is told to the cache's observer (`--trace` prints it),
        // under the chunk's key.
        self.cache.get_or_load(
            self.number,
            chunk_key,
            Conv::Raw,
            || Arc::from(chunk_key),
            || {
                let decoded = decode();
                self.cache.observe(self.number, chunk_key, &decoded);
                decoded
            },
        )
    }
}

/// The group at `url` (`https://host/x.zarr`, `s3://bucket/x.zarr/obsm/airr`,
/// or `…x.zarr:obsm/airr`) as a container, through the remote source
/// (feature `remote`): one request for its `zarr.json` (conditional where
/// the disk tier holds a copy), every chunk from the version seen then.
#[cfg(feature = "remote")]
pub(super) fn open_zarr_url(url: &str, options: Options) -> Result<(Array, Metadata)> {
    use crate::source::RemoteSource;
    let url = group_url(url);
    let mut source = RemoteSource::open(&url, &options.fetch)?.for_zarr();
    if let Some(disk) = options.cache.as_ref().and_then(|c| c.disk()) {
        source = source.with_disk(std::sync::Arc::clone(disk));
    }
    match source.read_metadata(METADATA_LIMIT) {
        Ok(text) => {
            let metadata = group_metadata(&text, &url)?;
            open_over(ZarrSource::over(source), metadata, options)
        }
        // No zarr.json: a Zarr v2 group's attributes are its `.zattrs`.
        Err(e)
            if e.io_error()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) =>
        {
            // The same source and store, its metadata object `.zattrs`.
            let source = source.for_zarr_v2();
            let text = source
                .read_metadata(METADATA_LIMIT)
                .map_err(|v2| match v2.io_error() {
                    Some(io) if io.kind() == std::io::ErrorKind::NotFound => e,
                    _ => v2,
                })?;
            let attributes: Value = serde_json::from_str(&text)
                .map_err(|e| Error::container(&url, format!(".zattrs is not JSON: {e}")))?;
            let metadata = metadata_of(Some(&attributes), &url)?;
            open_over(ZarrSource::over(source).v2(), metadata, options)
        }
        Err(e) => Err(e),
    }
}

/// A URL's group as a prefix: `x.zarr:GROUP` → `x.zarr/GROUP`.
#[cfg(feature = "remote")]
pub(super) fn group_url(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    match lower.find(".zarr:") {
        Some(i) => format!("{}/{}", &url[..i + 5], url[i + 6..].trim_matches('/')),
        None => url.trim_end_matches('/').to_string(),
    }
}

/// The container's metadata from the text of a group's `zarr.json`.
fn group_metadata(text: &str, spec: &str) -> Result<Metadata> {
    let bad = |m: String| Error::container(spec, m);
    let json: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("zarr.json is not JSON: {e}")))?;
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
    metadata_of(json.get("attributes"), spec)
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
