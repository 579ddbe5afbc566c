//! A Zarr v3 group as a source (feature `zarr`): each buffer key is the
//! one-dimensional Zarr array of that name in the group, read and decoded
//! through `zarrs` (codecs `bytes`, `zstd`, `gzip`, `blosc`, `crc32c`,
//! `sharding_indexed`; missing chunks read as the fill value). A range read
//! decodes only the chunks that overlap it.

use crate::buffer::Buffer;
use crate::error::{Cause, Error, Result};
use crate::source::Source;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zarrs::array::{Array as ZArray, ArrayBytes, ArraySubset};
use zarrs::filesystem::FilesystemStore;

type Stored = Arc<ZArray<FilesystemStore>>;

/// The largest chunk (shard) akbuf decodes: 2 GiB.
pub(crate) const CHUNK_LIMIT: u64 = 2 << 30;
/// The most fill value one read makes for chunks that are not stored.
const FILL_LIMIT: u64 = 64 << 20;

/// The buffers of a Zarr v3 group on local disk, one Zarr array per key
/// (feature `zarr`). Makes no read until asked; each array's `zarr.json`
/// is read once, when its key is first read.
///
/// ```
/// use akbuf::{Source, ZarrSource};
///
/// // The sample as zarr-python writes it: chunks of 100 elements, zstd.
/// let store = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zarr/events.chunked.zarr");
/// let source = ZarrSource::open(store, "")?;
/// let offsets = source.read_range("node4-offsets", 0..80)?.unwrap(); // decodes chunk 0 only
/// assert_eq!(offsets.len(), 80);
/// assert_eq!(source.size("node4-offsets"), Some(8008));
/// assert!(source.read("no-such-array")?.is_none());
/// # Ok::<(), akbuf::Error>(())
/// ```
pub struct ZarrSource {
    store: Arc<FilesystemStore>,
    root: PathBuf,
    /// The group's path in the store (`""` for the root).
    group: String,
    arrays: Mutex<HashMap<String, Option<Stored>>>,
}

impl std::fmt::Debug for ZarrSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrSource")
            .field("root", &self.root)
            .field("group", &self.group)
            .finish()
    }
}

impl ZarrSource {
    /// The group `group` (`""`, or `a/b`) of the Zarr store in the folder
    /// `root`. Reads nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Container`] when the folder cannot serve as a store.
    pub fn open(root: impl AsRef<Path>, group: &str) -> Result<ZarrSource> {
        let root = root.as_ref().to_path_buf();
        let store = FilesystemStore::new(&root)
            .map_err(|e| Error::container_caused(root.display(), "", e))?;
        Ok(ZarrSource {
            store: Arc::new(store),
            root,
            group: group.trim_matches('/').to_string(),
            arrays: Mutex::new(HashMap::new()),
        })
    }

    /// Where `key`'s array is, for messages.
    fn place(&self, key: &str) -> String {
        match self.group.as_str() {
            "" => format!("{}/{key}", self.root.display()),
            g => format!("{}/{g}/{key}", self.root.display()),
        }
    }

    fn fail(&self, key: &str, what: String, cause: Option<Cause>) -> Error {
        Error::Source {
            key: key.to_string(),
            message: format!("{}: {what}", self.place(key)),
            cause,
        }
    }

    /// The array of `key`, opened once; `None` if the group has none.
    fn array(&self, key: &str) -> Result<Option<Stored>> {
        if !crate::source::dir::is_plain_file_name(key) || key == "zarr.json" {
            return Err(Error::read_failed(
                key,
                "a buffer key of a Zarr group must be one plain array name",
            ));
        }
        if let Some(found) = self.arrays.lock().get(key) {
            return Ok(found.clone());
        }
        let path = match self.group.as_str() {
            "" => format!("/{key}"),
            g => format!("/{g}/{key}"),
        };
        let dir = self.root.join(path.trim_start_matches('/'));
        let opened = if dir.join("zarr.json").is_file() {
            let array = ZArray::open(Arc::clone(&self.store), &path).map_err(|e| {
                self.fail(
                    key,
                    format!("not a Zarr v3 array: {e}"),
                    Some(Cause::new(e)),
                )
            })?;
            self.check(key, &array)?;
            Some(Arc::new(array))
        } else {
            None
        };
        self.arrays.lock().insert(key.to_string(), opened.clone());
        Ok(opened)
    }

    /// A buffer's array is one-dimensional, of a fixed-size type.
    fn check(&self, key: &str, array: &ZArray<FilesystemStore>) -> Result<()> {
        if array.shape().len() != 1 {
            return Err(self.fail(
                key,
                format!(
                    "a buffer is a one-dimensional array; this one has shape {:?}",
                    array.shape()
                ),
                None,
            ));
        }
        if array.data_type().fixed_size().is_none() {
            return Err(self.fail(
                key,
                format!("data type {:?} has no fixed size", array.data_type()),
                None,
            ));
        }
        Ok(())
    }

    /// The bytes of `key`'s array in `range` (clipped to its end), in the
    /// machine's byte order, decoding only the chunks the range overlaps.
    fn bytes(&self, key: &str, range: Range<u64>) -> Result<Option<Buffer>> {
        let Some(array) = self.array(key)? else {
            return Ok(None);
        };
        let item = array.data_type().fixed_size().unwrap_or(1).max(1) as u64;
        let total = array.shape()[0].checked_mul(item).ok_or_else(|| {
            self.fail(
                key,
                format!("{} elements of {item} bytes overflow", array.shape()[0]),
                None,
            )
        })?;
        let (start, end) = (range.start.min(total), range.end.min(total));
        if start >= end {
            return Ok(Some(Buffer::empty()));
        }
        // Whole chunks (shards), never a part of one: a partial decode
        // would skip the chunk's checksum (crc32c, a shard index's), and
        // hand out bytes nothing checked.
        let n = array.shape()[0];
        let per = chunk_len(&array).unwrap_or(n.max(1));
        let first = start / item / per * per;
        let last = end.div_ceil(item).div_ceil(per).saturating_mul(per).min(n);
        self.check_backed(key, &array, first..last, per, item)?;
        let subset = ArraySubset::new_with_ranges(std::slice::from_ref(&(first..last)));
        let decoded: ArrayBytes<'static> = match array.retrieve_array_subset(&subset) {
            Ok(b) => b,
            Err(e) => return Err(self.chunk_error(key, &array, first..last, e)),
        };
        let raw = decoded
            .into_fixed()
            .map_err(|e| self.fail(key, e.to_string(), None))?;
        let at = (start - first * item) as usize;
        let len = (end - start) as usize;
        if raw.len() < at + len {
            return Err(self.fail(
                key,
                format!(
                    "decoded {} bytes where {} were expected",
                    raw.len(),
                    at + len
                ),
                None,
            ));
        }
        // The decoded chunks kept as they are (no copy): a slice of them.
        Buffer::from_vec(raw.into_owned()).slice(at, len).map(Some)
    }

    /// Refuses a read that would decode more than stored chunks can make:
    /// a chunk (shard) of more than [`CHUNK_LIMIT`] bytes, or more than
    /// [`FILL_LIMIT`] bytes of fill value for chunks that are not stored (a
    /// `zarr.json` may declare any shape; its bytes are made only when
    /// read). Counts stored chunk files before iterating over chunks.
    fn check_backed(
        &self,
        key: &str,
        array: &ZArray<FilesystemStore>,
        elements: Range<u64>,
        per: u64,
        item: u64,
    ) -> Result<()> {
        let chunk_bytes = per.saturating_mul(item);
        if chunk_bytes > CHUNK_LIMIT {
            return Err(self.fail(
                key,
                format!("chunks of {chunk_bytes} bytes: more than the {CHUNK_LIMIT} akbuf decodes"),
                None,
            ));
        }
        let chunks = elements.start / per..elements.end.div_ceil(per);
        let fill_chunks = FILL_LIMIT / chunk_bytes.max(1);
        if chunks.end - chunks.start <= fill_chunks {
            // Even all missing, within the limit: nothing to look at.
            return Ok(());
        }
        let stored = self.stored_chunks(key);
        if chunks.end - chunks.start > stored.saturating_add(fill_chunks) {
            return Err(self.too_much_fill(key, chunks.end - chunks.start, stored));
        }
        let mut missing = 0u64;
        for c in chunks.clone() {
            let file = self.root.join(array.chunk_key(&[c]).as_str());
            if !file.is_file() {
                missing += 1;
                if missing > fill_chunks {
                    return Err(self.too_much_fill(key, chunks.end - chunks.start, stored));
                }
            }
        }
        Ok(())
    }

    fn too_much_fill(&self, key: &str, asked: u64, stored: u64) -> Error {
        self.fail(
            key,
            format!(
                "the read spans {asked} chunks, {stored} of them at most stored: refusing to make more than {FILL_LIMIT} bytes of fill value"
            ),
            None,
        )
    }

    /// How many chunk files the array of `key` has (its folder, walked).
    fn stored_chunks(&self, key: &str) -> u64 {
        fn count(dir: &Path) -> u64 {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .fold(0, |n, e| {
                    let p = e.path();
                    if p.is_dir() {
                        n + count(&p)
                    } else if p.file_name().is_some_and(|f| f != "zarr.json") {
                        n + 1
                    } else {
                        n
                    }
                })
        }
        count(&self.root.join(&self.group).join(key))
    }

    /// The error of a read that failed: the chunk whose decoding fails,
    /// found by decoding the range's chunks one by one.
    fn chunk_error(
        &self,
        key: &str,
        array: &ZArray<FilesystemStore>,
        elements: Range<u64>,
        e: zarrs::array::ArrayError,
    ) -> Error {
        let per = chunk_len(array).unwrap_or(1);
        let chunks = array.chunk_grid_shape().first().copied().unwrap_or(0);
        for c in elements.start / per..elements.end.div_ceil(per).min(chunks) {
            if let Err(inner) = array.retrieve_chunk::<ArrayBytes<'static>>(&[c]) {
                return self.fail(
                    key,
                    format!(
                        "chunk {c} (elements {}..{}): {inner}",
                        c * per,
                        (c + 1) * per
                    ),
                    Some(Cause::new(inner)),
                );
            }
        }
        self.fail(key, e.to_string(), Some(Cause::new(e)))
    }
}

/// The elements of one chunk (one shard, for a sharded array) along the
/// array's one dimension, if its grid is regular.
fn chunk_len(array: &ZArray<FilesystemStore>) -> Option<u64> {
    let shape = array.chunk_shape(&[0]).ok()?;
    shape.first().map(|n| n.get())
}

impl Source for ZarrSource {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        self.bytes(key, 0..u64::MAX)
    }

    fn read_prefix(&self, key: &str, len: usize) -> Result<Option<Buffer>> {
        self.bytes(key, 0..len as u64)
    }

    fn read_range(&self, key: &str, range: Range<usize>) -> Result<Option<Buffer>> {
        self.bytes(key, range.start as u64..range.end as u64)
    }

    fn size(&self, key: &str) -> Option<u64> {
        let array = self.array(key).ok()??;
        let item = array.data_type().fixed_size()? as u64;
        array.shape()[0].checked_mul(item)
    }

    fn describe(&self) -> String {
        match self.group.as_str() {
            "" => self.root.display().to_string(),
            g => format!("{}:{g}", self.root.display()),
        }
    }

    fn id(&self) -> Option<String> {
        let root = std::fs::canonicalize(&self.root).ok()?;
        Some(format!("zarr:{}:{}", root.display(), self.group))
    }
}
