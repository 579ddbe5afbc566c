//! Any akbuf [`Source`] as a `zarrs` store: a Zarr store's keys
//! (`node4-offsets/zarr.json`, `node4-offsets/c/0`) read through it, so
//! that a store under a URL is read by the remote source (its retries,
//! its one version per open, its disk tier) and decoded by `zarrs`.

use crate::source::Source;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use zarrs::storage::{
    byte_range::{ByteRange, ByteRangeIterator},
    Bytes, MaybeBytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey,
};

/// A [`Source`] whose keys are a Zarr store's.
pub(crate) struct SourceStore {
    source: Arc<dyn Source>,
    /// The most bytes a chunk object of each array (by its path in the
    /// store, `grp/node4-offsets`) may have: more than its chunks encode to
    /// is refused without being read (a server offering gigabytes where a
    /// kilobyte belongs sends no more than the limit).
    limits: Mutex<HashMap<String, u64>>,
}

impl SourceStore {
    pub(crate) fn new(source: Arc<dyn Source>) -> SourceStore {
        SourceStore {
            source,
            limits: Mutex::new(HashMap::new()),
        }
    }

    /// Chunk objects under the array at `path` hold at most `limit` bytes.
    pub(crate) fn limit(&self, path: &str, limit: u64) {
        self.limits.lock().insert(path.to_string(), limit);
    }

    /// The limit of the array whose chunk `key` is (the longest array path
    /// that prefixes it).
    fn limit_of(&self, key: &str) -> Option<u64> {
        let limits = self.limits.lock();
        let mut best: Option<(usize, u64)> = None;
        for (path, &limit) in limits.iter() {
            let under = key.len() > path.len()
                && key.starts_with(path.as_str())
                && key.as_bytes()[path.len()] == b'/';
            if under && best.is_none_or(|(n, _)| path.len() > n) {
                best = Some((path.len(), limit));
            }
        }
        best.map(|(_, limit)| limit)
    }

    fn whole(&self, key: &str) -> Result<Option<crate::buffer::Buffer>, StorageError> {
        let Some(limit) = self.limit_of(key) else {
            return self.source.read(key).map_err(storage_error);
        };
        let asked = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
        let got = self.source.read_prefix(key, asked).map_err(storage_error)?;
        match got {
            Some(b) if b.len() as u64 > limit => Err(StorageError::Other(format!(
                "{key}: the object has more than {limit} bytes, more than its chunk's shape encodes to"
            ))),
            got => Ok(got),
        }
    }
}

fn storage_error(e: crate::error::Error) -> StorageError {
    StorageError::Other(e.to_string())
}

/// The bytes of a buffer, without a copy.
fn bytes_of(b: crate::buffer::Buffer) -> Bytes {
    Bytes::from_owner(b)
}

impl ReadableStorageTraits for SourceStore {
    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        Ok(self.whole(key.as_str())?.map(bytes_of))
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let key = key.as_str();
        // Whole chunks are what akbuf decodes; a shard's index and inner
        // chunks are ranges of the shard, read once whole here.
        let Some(whole) = self.whole(key)? else {
            return Ok(None);
        };
        let len = whole.len() as u64;
        let mut out = Vec::new();
        for range in byte_ranges {
            let (start, end) = match range {
                ByteRange::FromStart(at, None) => (at, len),
                ByteRange::FromStart(at, Some(n)) => (at, at.saturating_add(n)),
                ByteRange::Suffix(n) => (len.saturating_sub(n), len),
            };
            if start > end || end > len {
                return Err(StorageError::Other(format!(
                    "{key}: bytes {start}..{end} asked of an object of {len}"
                )));
            }
            let piece = whole
                .slice(start as usize, (end - start) as usize)
                .map_err(storage_error)?;
            out.push(Ok(bytes_of(piece)));
        }
        Ok(Some(Box::new(out.into_iter())))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        match self.source.size(key.as_str()) {
            Some(n) => Ok(Some(n)),
            None => self
                .source
                .stat_many(&[key.as_str()])
                .pop()
                .unwrap_or(Ok(None))
                .map_err(storage_error),
        }
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}
