//! A sink into a Zarr v3 group (feature `zarr`): one one-dimensional Zarr
//! array per key, chunked and compressed (zstd) through `zarrs`, in a
//! temporary folder renamed into place by [`ZarrSink::finish`]. What the
//! group's attributes say and which element type each array has is the
//! container's business (`crate::container::zarr`): a key's chunks are
//! written as bytes as they come, its `zarr.json` typed at the finish (a
//! chunk of raw little- or big-endian elements is the same bytes whatever
//! type its array names).

use super::dir::DirSink;
use super::{written_twice, FillFn, Sink};
use crate::error::{Error, Result};
use crate::source::dir::is_plain_file_name;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use zarrs::array::CodecOptions;
use zarrs::array::{Array as ZArray, ArrayMetadata, ArraySubset};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::WritableStorageTraits;

type Storage = dyn WritableStorageTraits;

/// The chunk size akbuf writes when none is asked: 1 MiB of a buffer (a
/// row slice decodes little more than it needs; whole reads go as fast as
/// with larger chunks: BENCHMARKS.md).
pub(crate) const DEFAULT_CHUNK_BYTES: u64 = 1 << 20;

/// Chunks are a multiple of this many bytes, so that every element type
/// divides them.
const CHUNK_ALIGN: u64 = 16;

/// How many bytes of a buffer are encoded at once (in parallel, chunk by
/// chunk): at least one chunk or shard.
const BATCH_BYTES: u64 = 32 << 20;

/// The zstd level of written chunks (zstd's default).
const ZSTD_LEVEL: i32 = 3;

/// The type a key's array is given at the finish: its Zarr data type, its
/// element size and fill value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ElementType {
    /// The Zarr v3 data type (`int64`, `float32`, `bool`...).
    pub(crate) name: &'static str,
    /// Bytes per element.
    pub(crate) size: u64,
    /// The fill value in `zarr.json`.
    pub(crate) fill: Value,
}

impl ElementType {
    /// Raw bytes (`uint8`): what a buffer without a Zarr type is stored as.
    pub(crate) fn bytes() -> ElementType {
        ElementType {
            name: "uint8",
            size: 1,
            fill: json!(0),
        }
    }
}

/// One array written: its key, bytes and chunking (in bytes).
#[derive(Debug)]
struct Written {
    key: String,
    len: u64,
    chunk: u64,
    shard: Option<u64>,
}

/// Writes a Zarr v3 group atomically, as anndata's `write_elem` of an
/// awkward array does: one one-dimensional array per buffer key (chunks
/// of `chunk_bytes`, zstd; optionally shards of `shard_bytes` holding
/// them, their index checksummed), the group's `zarr.json` last, then the
/// folder renamed into place (a [`DirSink`] underneath: a write that fails
/// or is dropped leaves nothing).
pub(crate) struct ZarrSink {
    dest: Dest,
    store: Arc<Storage>,
    chunk_bytes: u64,
    shard_bytes: Option<u64>,
    arrays: Vec<Written>,
    keys: HashSet<String>,
}

impl std::fmt::Debug for ZarrSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrSink")
            .field("target", &self.dest.describe())
            .field("chunk_bytes", &self.chunk_bytes)
            .field("shard_bytes", &self.shard_bytes)
            .finish()
    }
}

fn store_err(target: &Path, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::container_caused(target.display(), "", e)
}

/// Where the group goes.
enum Dest {
    /// A folder, written in a temporary one renamed into place.
    Folder(DirSink),
    /// An object store's prefix: the group's `zarr.json` the last object.
    #[cfg(feature = "remote")]
    Remote(Arc<remote::SinkStore>),
}

impl Dest {
    fn describe(&self) -> String {
        match self {
            Dest::Folder(dir) => dir.target().display().to_string(),
            #[cfg(feature = "remote")]
            Dest::Remote(store) => store.url(),
        }
    }
}

/// The chunk and shard sizes asked, aligned, within what a read decodes.
fn sizes(chunk_bytes: Option<u64>, shard_bytes: Option<u64>) -> Result<(u64, Option<u64>)> {
    let chunk_bytes =
        (chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES) / CHUNK_ALIGN * CHUNK_ALIGN).max(CHUNK_ALIGN);
    let shard_bytes = shard_bytes.map(|s| (s / chunk_bytes).max(1) * chunk_bytes);
    let limit = crate::source::zarr::CHUNK_LIMIT;
    if chunk_bytes.max(shard_bytes.unwrap_or(0)) > limit {
        return Err(Error::Argument(format!(
            "chunks and shards of at most {limit} bytes (a read decodes a chunk or shard whole)"
        )));
    }
    Ok((chunk_bytes, shard_bytes))
}

impl ZarrSink {
    /// Starts writing the group `target` (a folder: a new store, or a
    /// group inside one), replacing it at the finish if `replace` and it
    /// is a Zarr group or an empty folder. Chunks of `chunk_bytes` (default
    /// [`DEFAULT_CHUNK_BYTES`]), in shards of `shard_bytes` if given.
    pub(crate) fn start(
        target: &Path,
        replace: bool,
        chunk_bytes: Option<u64>,
        shard_bytes: Option<u64>,
    ) -> Result<ZarrSink> {
        let (chunk_bytes, shard_bytes) = sizes(chunk_bytes, shard_bytes)?;
        let dir = DirSink::start(target, replace, "zarr.json")?;
        let store = FilesystemStore::new(dir.folder()).map_err(|e| store_err(dir.folder(), e))?;
        Ok(ZarrSink {
            dest: Dest::Folder(dir),
            store: Arc::new(store),
            chunk_bytes,
            shard_bytes,
            arrays: Vec::new(),
            keys: HashSet::new(),
        })
    }

    /// Starts writing the group at `url` (an empty prefix of an object
    /// store), as [`ZarrSink::start`] does a folder: every chunk and
    /// array `zarr.json` uploaded, the group's `zarr.json` last; dropped
    /// unfinished, what was uploaded is deleted.
    #[cfg(feature = "remote")]
    pub(crate) fn start_remote(
        url: &str,
        fetch: &crate::objstore::Fetch,
        chunk_bytes: Option<u64>,
        shard_bytes: Option<u64>,
    ) -> Result<ZarrSink> {
        let (chunk_bytes, shard_bytes) = sizes(chunk_bytes, shard_bytes)?;
        let sink = super::RemoteSink::create(url, fetch)?.for_zarr();
        let store = Arc::new(remote::SinkStore::new(sink));
        Ok(ZarrSink {
            dest: Dest::Remote(Arc::clone(&store)),
            store,
            chunk_bytes,
            shard_bytes,
            arrays: Vec::new(),
            keys: HashSet::new(),
        })
    }

    /// The chunking of a buffer of `len` bytes: one chunk (one shard) of
    /// its size if it fits, else chunks of `chunk_bytes` (shards of
    /// `shard_bytes`). A chunk is never empty.
    fn chunking(&self, len: u64) -> (u64, Option<u64>) {
        let chunk = if len <= self.chunk_bytes {
            len.max(1)
        } else {
            self.chunk_bytes
        };
        let shard = self.shard_bytes.map(|s| {
            if len <= s {
                len.div_ceil(chunk).max(1) * chunk
            } else {
                s
            }
        });
        (chunk, shard)
    }

    /// Types every array (its `zarr.json` rewritten with `types(key)`'s
    /// element type, raw bytes where it gives none or the buffer is no
    /// whole number of its elements; `big_endian` for the `bytes` codec),
    /// writes the group's `zarr.json` with `attributes`, and renames the
    /// folder into place.
    pub(crate) fn finish(
        self,
        attributes: serde_json::Map<String, Value>,
        types: &dyn Fn(&str) -> Option<ElementType>,
        big_endian: bool,
    ) -> Result<String> {
        for a in &self.arrays {
            let element = types(&a.key)
                .filter(|t| t.size > 0 && a.len % t.size == 0)
                .unwrap_or_else(ElementType::bytes);
            let endian = if big_endian && element.size > 1 {
                "big"
            } else {
                "little"
            };
            let text = array_json(a, &element, endian).to_string();
            let array = self.array_at(&a.key, &text)?;
            array
                .store_metadata()
                .map_err(|e| Error::sink_caused(&a.key, "writing zarr.json", e))?;
        }
        let group = json!({
            "zarr_format": 3,
            "node_type": "group",
            "attributes": Value::Object(attributes),
        });
        let text = serde_json::to_string_pretty(&group).unwrap_or_default();
        let target = self.dest.describe();
        match self.dest {
            Dest::Folder(dir) => dir.commit_with("zarr.json", text.as_bytes())?,
            #[cfg(feature = "remote")]
            Dest::Remote(store) => store.commit("zarr.json", text.as_bytes())?,
        }
        Ok(target)
    }

    /// The array of `key` in the temporary folder, as `metadata` says.
    fn array_at(&self, key: &str, metadata: &str) -> Result<ZArray<Storage>> {
        let bad = |e: String| Error::sink(key, format!("array metadata akbuf made: {e}"));
        let meta = ArrayMetadata::try_from(metadata).map_err(|e| bad(e.to_string()))?;
        ZArray::new_with_metadata(Arc::clone(&self.store), &format!("/{key}"), meta)
            .map_err(|e| bad(e.to_string()))
    }
}

/// The `zarr.json` of an array written: one dimension, a regular grid,
/// `/`-separated chunk keys, `bytes` then zstd (inside the shards where
/// sharded, whose index is checksummed with crc32c), and anndata's
/// attributes of a plain array.
fn array_json(a: &Written, element: &ElementType, endian: &str) -> Value {
    let n = a.len / element.size;
    let chunk = (a.chunk / element.size).max(1);
    let inner = json!([
        { "name": "bytes", "configuration": { "endian": endian } },
        { "name": "zstd", "configuration": { "level": ZSTD_LEVEL, "checksum": false } },
    ]);
    let (grid, codecs) = match a.shard {
        None => (chunk, inner),
        Some(shard) => (
            (shard / element.size).max(1),
            json!([{
                "name": "sharding_indexed",
                "configuration": {
                    "chunk_shape": [chunk],
                    "codecs": inner,
                    "index_codecs": [
                        { "name": "bytes", "configuration": { "endian": "little" } },
                        { "name": "crc32c" },
                    ],
                    "index_location": "end",
                },
            }]),
        ),
    };
    json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": [n],
        "data_type": element.name,
        "chunk_grid": { "name": "regular", "configuration": { "chunk_shape": [grid] } },
        "chunk_key_encoding": { "name": "default", "configuration": { "separator": "/" } },
        "fill_value": element.fill,
        "codecs": codecs,
        "attributes": { "encoding-type": "array", "encoding-version": "0.2.0" },
        "storage_transformers": [],
    })
}

/// Gathers a buffer's bytes and stores them a batch of whole chunks
/// (shards) at a time; the last one padded with zeros to its size.
struct Chunker<'a> {
    array: &'a ZArray<Storage>,
    key: &'a str,
    /// Bytes of one chunk (shard): a unit of the array's grid.
    unit: usize,
    /// Units gathered before they are stored.
    batch: usize,
    buf: Vec<u8>,
    next: u64,
    options: CodecOptions,
}

impl Chunker<'_> {
    /// The bytes written to it so far (stored, and gathered).
    fn written(&self) -> u64 {
        self.next * self.unit as u64 + self.buf.len() as u64
    }

    /// Stores the whole units gathered (all of them, the last padded, at
    /// the end).
    fn store(&mut self, last: bool) -> std::io::Result<()> {
        let units = if last {
            self.buf.len().div_ceil(self.unit)
        } else {
            self.buf.len() / self.unit
        };
        if units == 0 {
            return Ok(());
        }
        let end = units * self.unit;
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        let chunks = self.next..self.next + units as u64;
        let subset = ArraySubset::new_with_ranges(std::slice::from_ref(&chunks));
        self.array
            .store_chunks_opt(&subset, &self.buf[..end], &self.options)
            .map_err(|e| {
                std::io::Error::other(format!(
                    "{}: storing chunks {}..{}: {e}",
                    self.key, chunks.start, chunks.end
                ))
            })?;
        self.next = chunks.end;
        self.buf.drain(..end);
        Ok(())
    }
}

impl Write for Chunker<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.batch * self.unit - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == self.batch * self.unit {
            self.store(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink for ZarrSink {
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<()> {
        self.put_with(key, bytes.len(), &mut |w: &mut dyn Write| {
            w.write_all(bytes)
        })
    }

    fn put_with(&mut self, key: &str, len: usize, fill: &mut FillFn<'_>) -> Result<()> {
        self.check_key(key)?;
        if !self.keys.insert(key.to_string()) {
            return Err(written_twice(key));
        }
        let len = len as u64;
        let (chunk, shard) = self.chunking(len);
        let written = Written {
            key: key.to_string(),
            len,
            chunk,
            shard,
        };
        // Chunks stored as bytes now; the array's zarr.json, typed,
        // written by the finish.
        let text = array_json(&written, &ElementType::bytes(), "little").to_string();
        let array = self.array_at(key, &text)?;
        let unit = shard.unwrap_or(chunk);
        let mut options = CodecOptions::default();
        // Every chunk stored, zeros too: a read never takes a missing
        // chunk of akbuf's for one that was lost.
        options.set_store_empty_chunks(true);
        let mut chunker = Chunker {
            array: &array,
            key,
            unit: usize::try_from(unit).unwrap_or(usize::MAX),
            batch: usize::try_from((BATCH_BYTES / unit).max(1)).unwrap_or(1),
            buf: Vec::new(),
            next: 0,
            options,
        };
        fill(&mut chunker).map_err(|e| Error::sink_caused(key, "", e))?;
        let n = chunker.written();
        if n != len {
            return Err(Error::sink(
                key,
                format!("{n} bytes written where {len} were announced"),
            ));
        }
        chunker
            .store(true)
            .map_err(|e| Error::sink_caused(key, "", e))?;
        self.arrays.push(written);
        Ok(())
    }

    fn check_key(&self, key: &str) -> Result<()> {
        if !is_plain_file_name(key) || key == "zarr.json" || key.starts_with("__") {
            return Err(Error::sink(
                key,
                "an array of a Zarr group is named by a plain name other than zarr.json, not starting with __",
            ));
        }
        Ok(())
    }
}

/// An object store's prefix as zarrs's storage: each object one `put` of
/// the [`RemoteSink`](super::RemoteSink), several at a time.
#[cfg(feature = "remote")]
mod remote {
    use crate::error::Result;
    use crate::sink::RemoteSink;
    use parking_lot::Mutex;
    use zarrs::storage::{
        Bytes, OffsetBytesIterator, StorageError, StoreKey, StorePrefix, WritableStorageTraits,
    };

    pub(super) struct SinkStore {
        sink: Mutex<Option<RemoteSink>>,
        url: String,
    }

    impl SinkStore {
        pub(super) fn new(sink: RemoteSink) -> SinkStore {
            SinkStore {
                url: sink.url().to_string(),
                sink: Mutex::new(Some(sink)),
            }
        }

        pub(super) fn url(&self) -> String {
            self.url.clone()
        }

        /// Writes the last object and keeps every one.
        pub(super) fn commit(&self, name: &str, bytes: &[u8]) -> Result<()> {
            match self.sink.lock().take() {
                Some(sink) => sink.commit_with(name, bytes),
                None => Err(crate::error::Error::container(
                    &self.url,
                    "already committed",
                )),
            }
        }
    }

    fn refused(what: &str) -> StorageError {
        StorageError::Other(format!("akbuf writes whole objects only ({what})"))
    }

    impl WritableStorageTraits for SinkStore {
        /// The key is taken under the lock; the object goes up without
        /// it, so zarrs's threads upload their chunks side by side.
        fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
            let upload = {
                let mut sink = self.sink.lock();
                let sink = sink
                    .as_mut()
                    .ok_or_else(|| StorageError::Other("the group is committed".into()))?;
                sink.reserve(key.as_str())
            };
            upload
                .and_then(|u| u.send(value.to_vec()))
                .map_err(|e| StorageError::Other(e.to_string()))
        }

        fn set_partial_many(
            &self,
            _: &StoreKey,
            _: OffsetBytesIterator,
        ) -> Result<(), StorageError> {
            Err(refused("a part of an object"))
        }

        fn erase(&self, _: &StoreKey) -> Result<(), StorageError> {
            Err(refused("erasing an object"))
        }

        fn erase_prefix(&self, _: &StorePrefix) -> Result<(), StorageError> {
            Err(refused("erasing a prefix"))
        }

        fn supports_set_partial(&self) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_fits_small_buffers_and_aligns_large_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = ZarrSink::start(&tmp.path().join("g"), false, Some(1000), Some(3500)).unwrap();
        // 1000 rounded down to 992 (a multiple of 16); shards of 3 chunks.
        assert_eq!(sink.chunking(0), (1, Some(1)));
        assert_eq!(sink.chunking(24), (24, Some(24)));
        assert_eq!(sink.chunking(1900), (992, Some(1984)));
        assert_eq!(sink.chunking(10_000), (992, Some(2976)));
    }
}
