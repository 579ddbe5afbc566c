//! A Zarr v3 group as a source (feature `zarr`): each buffer key is the
//! one-dimensional Zarr array of that name in the group, read and decoded
//! through `zarrs` (codecs `bytes`, `zstd`, `gzip`, `blosc`, `crc32c`,
//! `sharding_indexed`; missing chunks read as the fill value). A range read
//! decodes only the chunks that overlap it. The store is a local folder,
//! or any [`Source`] (a URL's remote source) read through [`store`].

mod bounded;
mod metadata;
mod store;

use crate::buffer::Buffer;
use crate::error::{Cause, Error, Result};
use crate::source::{DirSource, Source};
use metadata::{encoded_limit, inner_chunk_len, v2_times_as_integers, METADATA_NAMES};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zarrs::array::{Array as ZArray, ArrayBytes, ArrayMetadata, ArraySubset};
use zarrs::convert::array_metadata_v2_to_v3;
use zarrs::metadata::v2::ArrayMetadataV2;
use zarrs::storage::ReadableStorageTraits;

type Storage = dyn ReadableStorageTraits;
type Stored = Arc<ZArray<Storage>>;

/// Where a store's keys are.
enum Backing {
    /// A folder on local disk.
    Folder(PathBuf),
    /// A source (a URL's) whose keys are the group's (`keys`).
    Source,
}

/// The largest chunk (shard) akbuf decodes: 2 GiB.
pub(crate) const CHUNK_LIMIT: u64 = 2 << 30;
/// The most fill value one read makes for chunks that are not stored.
const FILL_LIMIT: u64 = 64 << 20;
/// The most chunks of a store over a source one read looks up (a folder's
/// are counted first instead).
const STAT_LIMIT: u64 = 1 << 22;
/// Chunks looked up at once.
const STAT_BATCH: u64 = 4096;

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
    store: Arc<store::SourceStore>,
    /// The store's keys (`node4-offsets/c/0`), as `store` reads them.
    keys: Arc<dyn Source>,
    backing: Backing,
    /// What messages call the store.
    root: String,
    /// The group's path in the store (`""` for the root).
    group: String,
    arrays: Mutex<HashMap<String, Option<Stored>>>,
    /// Where range reads keep decoded chunks (the shared cache, given by
    /// the container).
    memo: Option<Arc<dyn ChunkMemo>>,
    /// The group is Zarr v2's: its arrays' metadata is `.zarray` (asked
    /// first; without it `zarr.json` is asked first).
    v2: bool,
}

/// Keeps decoded chunks (the shared cache, through the container): a range
/// read asks it for each chunk it overlaps, and decodes only what it does
/// not hold, once across threads.
pub(crate) trait ChunkMemo: Send + Sync {
    /// The decoded chunk under `chunk_key` (its key in the store), held or
    /// made by `decode`.
    fn get_or_decode(
        &self,
        chunk_key: &str,
        decode: &mut dyn FnMut() -> Result<Option<Buffer>>,
    ) -> Result<Option<Buffer>>;
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
    /// `root`. Reads nothing (a missing folder is found when a key is
    /// read: it has no arrays). Its files are read as [`DirSource`] reads
    /// them: mapped, regular files only (a FIFO refused without blocking),
    /// links followed unless [`ZarrSource::confined`].
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for stores that check their
    /// folder.
    pub fn open(root: impl AsRef<Path>, group: &str) -> Result<ZarrSource> {
        let root = root.as_ref().to_path_buf();
        let keys: Arc<dyn Source> = Arc::new(DirSource::nested(&root));
        Ok(ZarrSource {
            store: Arc::new(store::SourceStore::new(Arc::clone(&keys))),
            keys,
            root: root.display().to_string(),
            backing: Backing::Folder(root),
            group: group.trim_matches('/').to_string(),
            arrays: Mutex::new(HashMap::new()),
            memo: None,
            v2: false,
        })
    }

    /// The same store on disk, refusing files (`zarr.json`, chunks) that
    /// resolve through links outside its folder, for serving untrusted
    /// data (as [`DirSource::confined`]). A store over a source is
    /// returned as it is.
    ///
    /// ```
    /// use akbuf::{Source, ZarrSource};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = dir.path().join("x.zarr");
    /// # #[cfg(unix)] {
    /// std::fs::create_dir(&store)?;
    /// let elsewhere = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zarr/events.chunked.zarr/node4-offsets");
    /// std::os::unix::fs::symlink(elsewhere, store.join("node4-offsets"))?;
    /// assert!(ZarrSource::open(&store, "")?.read("node4-offsets")?.is_some()); // followed
    /// assert!(ZarrSource::open(&store, "")?.confined().read("node4-offsets").is_err());
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn confined(mut self) -> ZarrSource {
        if let Backing::Folder(root) = &self.backing {
            self.keys = Arc::new(DirSource::nested(root).confined());
            self.store = Arc::new(store::SourceStore::new(Arc::clone(&self.keys)));
            self.arrays.lock().clear();
        }
        self
    }

    /// Keeps decoded chunks of range reads in `memo`.
    #[must_use]
    pub(crate) fn with_memo(mut self, memo: Arc<dyn ChunkMemo>) -> ZarrSource {
        self.memo = Some(memo);
        self
    }

    /// The Zarr group whose keys (`node4-offsets/zarr.json`,
    /// `node4-offsets/c/0`...) `source` serves: a group under a URL,
    /// through the remote source. Reads nothing.
    ///
    /// ```
    /// use akbuf::{DirSource, Source, ZarrSource};
    ///
    /// // Any source of the store's keys (here a folder's, for the example).
    /// let store = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zarr/events.chunked.zarr");
    /// # let store = akbuf::MemorySource::new().with("node4-offsets/zarr.json", akbuf::Buffer::from_vec(std::fs::read(format!("{store}/node4-offsets/zarr.json"))?))
    /// #     .with("node4-offsets/c/0", akbuf::Buffer::from_vec(std::fs::read(format!("{store}/node4-offsets/c/0"))?));
    /// let source = ZarrSource::over(store);
    /// assert_eq!(source.read_range("node4-offsets", 0..16)?.unwrap().typed::<i64>()?, &[0, 6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn over(source: impl Source + 'static) -> ZarrSource {
        let source: Arc<dyn Source> = Arc::new(source);
        ZarrSource {
            store: Arc::new(store::SourceStore::new(Arc::clone(&source))),
            keys: Arc::clone(&source),
            root: source.describe(),
            backing: Backing::Source,
            group: String::new(),
            arrays: Mutex::new(HashMap::new()),
            memo: None,
            v2: false,
        }
    }

    /// The group is a Zarr v2 group: its arrays' `.zarray` files are
    /// asked for first (one lookup per array's metadata, not two: one
    /// request, for a store over a URL).
    #[must_use]
    pub(crate) fn v2(mut self) -> ZarrSource {
        self.v2 = true;
        self
    }

    /// Where `key`'s array is, for messages.
    fn place(&self, key: &str) -> String {
        match self.group.as_str() {
            "" => format!("{}/{key}", self.root),
            g => format!("{}/{g}/{key}", self.root),
        }
    }

    /// The store key of `name` under the group.
    fn store_key(&self, name: &str) -> String {
        match self.group.as_str() {
            "" => name.to_string(),
            g => format!("{g}/{name}"),
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
        if !crate::source::dir::is_plain_file_name(key) || METADATA_NAMES.contains(&key) {
            return Err(Error::read_failed(
                key,
                "a buffer key of a Zarr group must be one plain array name",
            ));
        }
        if let Some(found) = self.arrays.lock().get(key) {
            return Ok(found.clone());
        }
        let path = format!("/{}", self.store_key(key));
        bounded::install();
        let opened = match self.array_metadata(key)? {
            Some((text, v2)) => {
                let version = if v2 { 2 } else { 3 };
                let not_array =
                    |e: String| self.fail(key, format!("not a Zarr v{version} array: {e}"), None);
                let meta = if v2 {
                    // Made Zarr v3 metadata (codecs from the compressor and
                    // filters, chunk keys `0`, `1`...), so that its codecs
                    // are the bounded ones too.
                    let mut json: serde_json::Value =
                        serde_json::from_str(&text).map_err(|e| not_array(e.to_string()))?;
                    v2_times_as_integers(&mut json);
                    let v2: ArrayMetadataV2 =
                        serde_json::from_value(json).map_err(|e| not_array(e.to_string()))?;
                    ArrayMetadata::V3(
                        array_metadata_v2_to_v3(&v2).map_err(|e| not_array(e.to_string()))?,
                    )
                } else {
                    ArrayMetadata::try_from(text.as_str()).map_err(|e| not_array(e.to_string()))?
                };
                let store: Arc<Storage> = Arc::clone(&self.store) as Arc<Storage>;
                let array = ZArray::new_with_metadata(store, &path, meta).map_err(|e| {
                    self.fail(
                        key,
                        format!("not a Zarr v{version} array: {e}"),
                        Some(Cause::new(e)),
                    )
                })?;
                self.check(key, &array)?;
                if let (Some(per), Some(item)) = (chunk_len(&array), array.data_type().fixed_size())
                {
                    let limit = encoded_limit(per, item as u64, inner_chunk_len(&text));
                    self.store.limit(&self.store_key(key), limit);
                }
                Some(Arc::new(array))
            }
            None => None,
        };
        self.arrays.lock().insert(key.to_string(), opened.clone());
        Ok(opened)
    }

    /// A buffer's array is one-dimensional, of a fixed-size type.
    fn check(&self, key: &str, array: &ZArray<Storage>) -> Result<()> {
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
        if let Some(memo) = self.memo.as_ref().filter(|_| start > 0 || end < total) {
            return self
                .by_chunk(memo.as_ref(), key, &array, start..end, (per, item))
                .map(Some);
        }
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

    /// Bytes `range` of `key`'s array from its chunks (`unit` bytes each)
    /// as `memo` keeps them decoded: each chunk decoded once, in parallel
    /// when several are missing; one chunk's bytes handed out as a slice
    /// of it, several copied together.
    fn by_chunk(
        &self,
        memo: &dyn ChunkMemo,
        key: &str,
        array: &ZArray<Storage>,
        range: Range<u64>,
        (per, item): (u64, u64),
    ) -> Result<Buffer> {
        let unit = per * item;
        let chunks: Vec<u64> = (range.start / unit..range.end.div_ceil(unit)).collect();
        let decode = |c: u64| -> Result<Buffer> {
            let name = array.chunk_key(&[c]).as_str().to_string();
            let got = memo.get_or_decode(&name, &mut || {
                let decoded = array
                    .retrieve_chunk::<ArrayBytes<'static>>(&[c])
                    .map_err(|e| self.chunk_failed(key, c, per, e))?;
                let raw = decoded
                    .into_fixed()
                    .map_err(|e| self.fail(key, e.to_string(), None))?;
                Ok(Some(Buffer::from_vec(raw.into_owned())))
            })?;
            got.ok_or_else(|| self.fail(key, format!("chunk {c} decoded to nothing"), None))
        };
        let pieces: Vec<Buffer> = if chunks.len() == 1 {
            vec![decode(chunks[0])?]
        } else {
            let threads = std::thread::available_parallelism()
                .map_or(1, usize::from)
                .min(chunks.len());
            let per_thread = chunks.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = chunks
                    .chunks(per_thread)
                    .map(|some| scope.spawn(|| some.iter().map(|&c| decode(c)).collect::<Vec<_>>()))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| {
                        h.join().unwrap_or_else(|_| {
                            vec![Err(self.fail(
                                key,
                                "a chunk's decoding panicked".into(),
                                None,
                            ))]
                        })
                    })
                    .collect::<Result<Vec<Buffer>>>()
            })?
        };
        let at = (range.start - chunks[0] * unit) as usize;
        let len = (range.end - range.start) as usize;
        let short = |have: usize| {
            self.fail(
                key,
                format!("decoded {have} bytes where {} were expected", at + len),
                None,
            )
        };
        if let [one] = pieces.as_slice() {
            if one.len() < at + len {
                return Err(short(one.len()));
            }
            return one.slice(at, len);
        }
        let mut out = Vec::with_capacity(len);
        let mut skip = at;
        for piece in &pieces {
            let bytes = piece.as_slice();
            let from = skip.min(bytes.len());
            skip -= from;
            let take = (len - out.len()).min(bytes.len() - from);
            out.extend_from_slice(&bytes[from..from + take]);
        }
        if out.len() < len {
            return Err(short(at + out.len()));
        }
        Ok(Buffer::from_vec(out))
    }

    /// The error of chunk `c` that failed to decode.
    fn chunk_failed(&self, key: &str, c: u64, per: u64, e: zarrs::array::ArrayError) -> Error {
        self.fail(
            key,
            format!("chunk {c} (elements {}..{}): {e}", c * per, (c + 1) * per),
            Some(Cause::new(e)),
        )
    }

    /// Refuses a read that would decode more than stored chunks can make:
    /// a chunk (shard) of more than [`CHUNK_LIMIT`] bytes, or more than
    /// [`FILL_LIMIT`] bytes of fill value for chunks that are not stored (a
    /// `zarr.json` may declare any shape; its bytes are made only when
    /// read). Counts stored chunk files before iterating over chunks.
    fn check_backed(
        &self,
        key: &str,
        array: &ZArray<Storage>,
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
        let asked = chunks.end - chunks.start;
        match &self.backing {
            Backing::Folder(root) => {
                // Counted before any chunk is looked up: a shape no file
                // backs is refused without iterating over its chunks.
                let stored = self.stored_chunks(root, key);
                if asked > stored.saturating_add(fill_chunks) {
                    return Err(self.too_much_fill(key, asked, stored));
                }
            }
            Backing::Source if asked > STAT_LIMIT => {
                return Err(self.fail(
                    key,
                    format!("the read spans {asked} chunks: more than the {STAT_LIMIT} akbuf looks up in one read"),
                    None,
                ));
            }
            Backing::Source => {}
        }
        // Each chunk's size asked, a batch at once (a listing's, else
        // requests in parallel, for a source).
        let (mut stored, mut missing) = (0u64, 0u64);
        let mut at = chunks.start;
        while at < chunks.end {
            let end = chunks.end.min(at.saturating_add(STAT_BATCH));
            let keys: Vec<String> = (at..end)
                .map(|c| array.chunk_key(&[c]).as_str().to_string())
                .collect();
            let names: Vec<&str> = keys.iter().map(String::as_str).collect();
            for got in self.keys.stat_many(&names) {
                if got?.is_some() {
                    stored += 1;
                } else {
                    missing += 1;
                    if missing > fill_chunks {
                        return Err(self.too_much_fill(key, asked, stored));
                    }
                }
            }
            at = end;
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
    fn stored_chunks(&self, root: &Path, key: &str) -> u64 {
        fn count(dir: &Path) -> u64 {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .fold(0, |n, e| {
                    // Links are not followed (a loop would never end):
                    // one counts as one chunk.
                    let p = e.path();
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        n + count(&p)
                    } else if p
                        .file_name()
                        .is_some_and(|f| !METADATA_NAMES.iter().any(|m| f == *m))
                    {
                        n + 1
                    } else {
                        n
                    }
                })
        }
        count(&root.join(&self.group).join(key))
    }

    /// The error of a read that failed: the chunk whose decoding fails,
    /// found by decoding the range's chunks one by one.
    fn chunk_error(
        &self,
        key: &str,
        array: &ZArray<Storage>,
        elements: Range<u64>,
        e: zarrs::array::ArrayError,
    ) -> Error {
        let per = chunk_len(array).unwrap_or(1);
        let chunks = array.chunk_grid_shape().first().copied().unwrap_or(0);
        for c in elements.start / per..elements.end.div_ceil(per).min(chunks) {
            if let Err(inner) = array.retrieve_chunk::<ArrayBytes<'static>>(&[c]) {
                return self.chunk_failed(key, c, per, inner);
            }
        }
        self.fail(key, e.to_string(), Some(Cause::new(e)))
    }
}

/// The elements of one chunk (one shard, for a sharded array) along the
/// array's one dimension, if its grid is regular.
fn chunk_len(array: &ZArray<Storage>) -> Option<u64> {
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
            "" => self.root.clone(),
            g => format!("{}:{g}", self.root),
        }
    }

    fn id(&self) -> Option<String> {
        match &self.backing {
            Backing::Folder(root) => {
                let root = std::fs::canonicalize(root).ok()?;
                Some(format!("zarr:{}:{}", root.display(), self.group))
            }
            Backing::Source => Some(format!("zarr:{}:{}", self.keys.id()?, self.group)),
        }
    }
}
