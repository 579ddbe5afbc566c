//! A few entries of a large index buffer without the buffer: a list's
//! first and last offsets bound its content, and with them its flat
//! values, while the offsets in between are megabytes that a remote store
//! would send and a chunked store would decode for nothing.

#[allow(unused_imports)]
use super::*;

/// An index buffer this large or more, not held, has single entries read
/// alone (one batch of ranges); a smaller one is read whole, as its reader
/// will likely want the rest (and one read of it stays one read).
pub(crate) const ENTRIES_ALONE: usize = 1 << 20;

impl LazyBuf {
    /// Entries `at` (positions below this buffer's count) of an index
    /// buffer, as `i64`. From the bytes when this array or its cache holds
    /// them, or when the buffer is smaller than [`ENTRIES_ALONE`] (read
    /// whole then, through the cache); otherwise only the entries are read,
    /// all in one batch ([`Source::read_many`]: one round trip for a
    /// remote store, one chunk each for a chunked one), and kept by this
    /// buffer for the next ask. Errors as any read; a position past the
    /// count is bad data named with the buffer.
    pub(crate) fn index_entries(&self, at: &[usize]) -> Result<Vec<i64>> {
        let DType::Index(t) = self.dtype else {
            return Err(self.node.invalid(&self.key, "not an index buffer"));
        };
        let count = self.count.get()?;
        if let Some(&i) = at.iter().find(|&&i| i >= count) {
            return Err(self.node.invalid(
                &self.key,
                format!("entry {i} asked of a buffer of {count} entries"),
            ));
        }
        if self.held() || self.need()? < ENTRIES_ALONE {
            let index = self.index()?;
            return Ok(at.iter().map(|&i| index.get(i)).collect());
        }
        // One reader at a time per buffer: a second thread asking for the
        // same entries finds them kept.
        let mut kept = self.entries.lock();
        let find =
            |kept: &[(usize, i64)], i: usize| kept.iter().find(|(j, _)| *j == i).map(|e| e.1);
        let mut missing: Vec<usize> = at
            .iter()
            .copied()
            .filter(|&i| find(&kept, i).is_none())
            .collect();
        if !missing.is_empty() {
            if kept.len() + at.len() > 64 {
                // Never more than a few kept: start again with these.
                kept.clear();
                missing = at.to_vec();
            }
            missing.sort_unstable();
            missing.dedup();
            let size = self.dtype.itemsize();
            let ranges: Vec<std::ops::Range<usize>> =
                missing.iter().map(|&i| i * size..(i + 1) * size).collect();
            let answers = self.loader.read_ranges(&self.key, &ranges);
            for ((&i, range), raw) in missing.iter().zip(&ranges).zip(answers) {
                let bytes = self.ranged(raw, range.start, size)?;
                kept.push((i, Index::new(t, bytes)?.get(0)));
            }
        }
        at.iter()
            .map(|&i| {
                find(&kept, i).ok_or_else(|| {
                    self.node
                        .invalid(&self.key, format!("entry {i} was read but not kept"))
                })
            })
            .collect()
    }
}
