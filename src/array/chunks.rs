//! Streaming in memory-sized steps: consecutive row slices whose buffers
//! fit a step (as `uproot.iterate(step_size="100 MB")`).

use super::Array;
use crate::error::{Error, Result};
use std::ops::Range;

/// How big each step of [`Array::chunks`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkSize {
    /// This many rows per step (the last may have fewer).
    Rows(usize),
    /// About this many bytes of the array's buffers per step: rows are
    /// counted from each partition's stored bytes per row (at least one
    /// row per step).
    Bytes(u64),
}

/// The steps of [`Array::chunks`]: each an [`Array`] over the next rows,
/// read only when touched. Dropping a step frees what it read.
#[derive(Debug)]
pub struct Chunks {
    array: Array,
    ranges: std::vec::IntoIter<Range<usize>>,
}

impl Chunks {
    /// The row ranges of the steps still to come.
    pub fn ranges(&self) -> &[Range<usize>] {
        self.ranges.as_slice()
    }
}

impl Iterator for Chunks {
    type Item = Result<Array>;
    fn next(&mut self) -> Option<Result<Array>> {
        let r = self.ranges.next()?;
        Some(self.array.slice(r))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ranges.size_hint()
    }
}

impl ExactSizeIterator for Chunks {}

impl Array {
    /// The array in consecutive steps of `size` (rows, or bytes of its
    /// buffers), each a lazy [`Array::slice`]: scanning a field far larger
    /// than memory step by step holds one step's bytes at a time. A step
    /// never crosses a partition's end, so each is one piece and the typed
    /// views ([`Array::flat_values`], ...) work on it: a partition larger
    /// than a step is split, a smaller one is a step of its own. Reads
    /// nothing (with [`ChunkSize::Bytes`], asks the source for the stored
    /// sizes of the buffers).
    ///
    /// ```
    /// use akbuf::ChunkSize;
    ///
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let pt = events.field("jets")?.field("pt")?;
    /// let (mut rows, mut values) = (0, 0);
    /// for step in pt.chunks(ChunkSize::Rows(300))? {
    ///     let step = step?;
    ///     rows += step.len();
    ///     values += step.flat_values::<f32>()?.len();
    /// }
    /// assert_eq!(rows, pt.len());
    /// assert_eq!(values, pt.flat_values::<f32>()?.len());
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for a step of zero rows or bytes; errors making
    /// a partition.
    pub fn chunks(&self, size: ChunkSize) -> Result<Chunks> {
        let ranges = match size {
            ChunkSize::Rows(0) | ChunkSize::Bytes(0) => {
                return Err(Error::Argument("a step of zero rows or bytes".into()))
            }
            ChunkSize::Rows(n) => self.row_steps(n),
            ChunkSize::Bytes(b) => self.byte_steps(b)?,
        };
        Ok(Chunks {
            array: self.clone(),
            ranges: ranges.into_iter(),
        })
    }

    /// The same rows in partitions of `size` (the steps of
    /// [`Array::chunks`]: partitions are split, never merged), lazily: each
    /// partition a slice, read when touched. Writing the result ([`crate::to_buffers`], `akbuf copy
    /// --partition-rows N`) writes a partitioned container.
    ///
    /// ```
    /// use akbuf::ChunkSize;
    ///
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let parts = events.repartition(ChunkSize::Rows(300))?;
    /// assert_eq!(parts.partition_lengths(), [300, 300, 300, 100]);
    /// assert_eq!(parts.field("met")?.to_json()?, events.field("met")?.to_json()?);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Array::chunks`].
    pub fn repartition(&self, size: ChunkSize) -> Result<Array> {
        let ranges: Vec<Range<usize>> = self.chunks(size)?.ranges().to_vec();
        let lengths = ranges.iter().map(Range::len).collect();
        let whole = self.clone();
        Array::from_parts(
            self.partition_template(),
            lengths,
            Box::new(move |i| {
                // Each range lies within one partition: its one piece.
                let rows = whole.slice(ranges[i].clone())?;
                match rows.is_partitioned() {
                    true => rows.partition(0),
                    false => Ok(rows),
                }
            }),
        )
    }

    /// Row ranges of about `step` bytes each, from each partition's stored
    /// bytes per row (a buffer whose size the source cannot tell counts 8
    /// bytes per row); never across a partition's end.
    fn byte_steps(&self, step: u64) -> Result<Vec<Range<usize>>> {
        let mut out = Vec::new();
        let mut start = 0usize;
        for p in 0..self.num_partitions() {
            let part = self.partition(p)?;
            let n = part.len();
            if n == 0 {
                continue;
            }
            let bytes: u64 = part
                .buffers()
                .iter()
                .map(|b| b.stored_bytes.unwrap_or(8 * n as u64))
                .sum();
            let per_row = (bytes as f64 / n as f64).max(f64::MIN_POSITIVE);
            let rows = ((step as f64 / per_row).floor() as usize).max(1);
            out.extend(steps(start, n, rows));
            start += n;
        }
        Ok(out)
    }

    /// Row ranges of `rows` rows, within each partition.
    pub(crate) fn row_steps(&self, rows: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0usize;
        for n in self.partition_lengths() {
            out.extend(steps(start, n, rows));
            start += n;
        }
        out
    }
}

/// `start..start + n` in steps of `rows` (the last one shorter).
fn steps(start: usize, n: usize, rows: usize) -> impl Iterator<Item = Range<usize>> {
    (0..n)
        .step_by(rows)
        .map(move |a| start + a..start + a.saturating_add(rows).min(n))
}
