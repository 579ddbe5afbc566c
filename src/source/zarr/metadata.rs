//! A Zarr array's metadata as `ZarrSource` reads it: `zarr.json` (v3) or
//! `.zarray` (v2) read capped, a v2 array's time types made integers, and
//! what a chunk object may weigh.

use super::ZarrSource;
use crate::error::Result;

/// The names of a Zarr node's metadata files (v3, and v2's), never a
/// buffer's.
pub(super) const METADATA_NAMES: [&str; 4] = ["zarr.json", ".zarray", ".zattrs", ".zgroup"];

/// The largest array `zarr.json` (`.zarray`) akbuf reads.
const ARRAY_METADATA_LIMIT: u64 = 1 << 20;

impl ZarrSource {
    /// The text of `key`'s array metadata, if there is one: its
    /// `zarr.json` (Zarr v3), else its `.zarray` (Zarr v2, `true`).
    pub(super) fn array_metadata(&self, key: &str) -> Result<Option<(String, bool)>> {
        let order = if self.v2 {
            [true, false]
        } else {
            [false, true]
        };
        for v2 in order {
            let file = if v2 { ".zarray" } else { "zarr.json" };
            if let Some(text) = self.metadata_file(key, file)? {
                return Ok(Some((text, v2)));
            }
        }
        Ok(None)
    }

    /// The text of the file `file` of `key`'s array, read capped.
    fn metadata_file(&self, key: &str, file: &str) -> Result<Option<String>> {
        let name = self.store_key(&format!("{key}/{file}"));
        let too_big = |n: u64| {
            self.fail(
                key,
                format!("{file} has {n} bytes, more than the {ARRAY_METADATA_LIMIT} akbuf reads"),
                None,
            )
        };
        if let Some(n) = self.keys.size(&name).filter(|&n| n > ARRAY_METADATA_LIMIT) {
            return Err(too_big(n));
        }
        // At most one byte past the limit (a server offering more sends no more).
        let bytes = match self
            .keys
            .read_prefix(&name, ARRAY_METADATA_LIMIT as usize + 1)?
        {
            Some(b) => b.as_slice().to_vec(),
            None => return Ok(None),
        };
        if bytes.len() as u64 > ARRAY_METADATA_LIMIT {
            return Err(too_big(bytes.len() as u64));
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| self.fail(key, format!("{file} is not UTF-8"), None))
    }
}

/// The most bytes a stored chunk (shard) of `per` elements of `item`
/// bytes can take, encoded: its bytes, an eighth more (what zstd, gzip and
/// blosc add to data they cannot compress is far less), and for a shard of
/// inner chunks of `inner` elements, their index and headers.
pub(super) fn encoded_limit(per: u64, item: u64, inner: Option<u64>) -> u64 {
    let bytes = per.saturating_mul(item);
    let pieces = per.div_ceil(inner.unwrap_or(per).max(1));
    bytes
        .saturating_add(bytes / 8)
        .saturating_add(pieces.saturating_mul(1040))
        .saturating_add(64 << 10)
}

/// A Zarr v2 array of `datetime64`/`timedelta64` (`<M8[s]`, `>m8[ns]`...:
/// zarrs reads no such v2 type) as the 64-bit integers its bytes are
/// (the form says what they mean); a `NaT` fill value as its integer.
pub(super) fn v2_times_as_integers(json: &mut serde_json::Value) {
    let Some(dtype) = json.get("dtype").and_then(|d| d.as_str()) else {
        return;
    };
    let (order, rest) = match dtype.chars().next() {
        Some(c @ ('<' | '>' | '=' | '|')) => (c, &dtype[1..]),
        _ => ('<', dtype),
    };
    if !(rest.starts_with("M8") || rest.starts_with("m8")) {
        return;
    }
    let order = if order == '>' { '>' } else { '<' };
    json["dtype"] = serde_json::Value::from(format!("{order}i8"));
    if !json
        .get("fill_value")
        .is_some_and(serde_json::Value::is_i64)
    {
        json["fill_value"] = serde_json::Value::from(i64::MIN);
    }
}

/// The elements of a sharded array's inner chunks, from its `zarr.json`.
pub(super) fn inner_chunk_len(text: &str) -> Option<u64> {
    let meta: serde_json::Value = serde_json::from_str(text).ok()?;
    let codecs = meta.get("codecs")?.as_array()?;
    let sharding = codecs
        .iter()
        .find(|c| c.get("name").and_then(|n| n.as_str()) == Some("sharding_indexed"))?;
    sharding.pointer("/configuration/chunk_shape/0")?.as_u64()
}
