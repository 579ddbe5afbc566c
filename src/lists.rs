//! Lists of numbers as slices, for hot loops: [`crate::Array::lists`].

use crate::buffer::{Native, TypedBuffer};
use crate::error::{Error, Result};
use crate::layout::lazy::{Index, NodeInfo};
use std::sync::Arc;

/// Where each list starts and stops in the content.
#[derive(Clone, Debug)]
enum Bounds {
    /// A `ListOffsetArray`: list `i` is `offsets[i]..offsets[i + 1]`.
    Offsets(Index),
    /// A `ListArray`: list `i` is `starts[i]..stops[i]`.
    StartsStops(Index, Index),
}

/// The lists of a list-of-numbers array, each as a `&[T]` into the content's
/// buffer: no copy, and no allocation per list. Made by
/// [`crate::Array::lists`], which reads the list node's index buffers and its
/// content's data (each once); every list's bounds are checked as it is taken.
///
/// ```
/// use akbuf::open;
///
/// let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let pt = events.field("jets")?.field("pt")?.lists::<f32>()?;
/// let mut leading = 0.0f32;
/// for jets in pt.iter() {
///     // One event's jets' pt, a slice of the mapped file.
///     leading += jets?.iter().copied().fold(0.0, f32::max);
/// }
/// assert_eq!(pt.len(), events.len());
/// assert!(pt.get(0)?.len() <= pt.values().len());
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Lists<T: Native> {
    bounds: Bounds,
    values: TypedBuffer<T>,
    len: usize,
    node: NodeInfo,
    /// The offsets' (or starts') buffer key, for errors.
    key: Arc<str>,
}

impl<T: Native> Lists<T> {
    pub(crate) fn offsets(
        offsets: Index,
        values: TypedBuffer<T>,
        len: usize,
        (node, key): (NodeInfo, Arc<str>),
    ) -> Lists<T> {
        Lists {
            bounds: Bounds::Offsets(offsets),
            values,
            len,
            node,
            key,
        }
    }

    pub(crate) fn starts_stops(
        (starts, stops): (Index, Index),
        values: TypedBuffer<T>,
        len: usize,
        (node, key): (NodeInfo, Arc<str>),
    ) -> Lists<T> {
        Lists {
            bounds: Bounds::StartsStops(starts, stops),
            values,
            len,
            node,
            key,
        }
    }

    /// The number of lists.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no lists.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The content's values, all of them (lists are slices of this).
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// List `i`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] past the end; [`Error::InvalidData`] when the
    /// list's bounds are reversed or outside the content.
    #[inline]
    pub fn get(&self, i: usize) -> Result<&[T]> {
        if i >= self.len {
            return Err(Error::OutOfRange {
                index: i,
                length: self.len,
                node: self.node.path.to_string(),
                class: self.node.class,
            });
        }
        // In range: the index buffers hold `len + 1` offsets, or `len` starts
        // and stops (checked when they were read).
        let (start, stop) = match &self.bounds {
            Bounds::Offsets(o) => (o.get(i), o.get(i + 1)),
            Bounds::StartsStops(a, b) => (a.get(i), b.get(i)),
        };
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(stop).ok())
            .and_then(|(a, b)| self.values.get(a..b))
            .ok_or_else(|| self.bad(i, start, stop))
    }

    #[cold]
    fn bad(&self, i: usize, start: i64, stop: i64) -> Error {
        let what = match &self.bounds {
            Bounds::Offsets(_) => format!("offsets[{i}..={}]", i + 1),
            Bounds::StartsStops(..) => format!("starts[{i}], stops[{i}]"),
        };
        self.node.invalid(
            &self.key,
            format!(
                "{what} = {start}..{stop} is not within the content of length {}",
                self.values.len()
            ),
        )
    }

    /// The lists in order; each item is [`Lists::get`] of the next index.
    pub fn iter(&self) -> ListsIter<'_, T> {
        ListsIter { lists: self, i: 0 }
    }
}

impl<'a, T: Native> IntoIterator for &'a Lists<T> {
    type Item = Result<&'a [T]>;
    type IntoIter = ListsIter<'a, T>;
    fn into_iter(self) -> ListsIter<'a, T> {
        self.iter()
    }
}

/// Iterator over [`Lists`]: one `Result<&[T]>` per list, allocating nothing.
///
/// ```
/// use akbuf::open;
///
/// let events = open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
/// let counts: Vec<usize> = events
///     .field("muons")?
///     .field("pt")?
///     .lists::<f32>()?
///     .iter()
///     .map(|m| m.map(<[f32]>::len))
///     .collect::<akbuf::Result<_>>()?;
/// assert_eq!(counts.len(), events.len());
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Debug)]
pub struct ListsIter<'a, T: Native> {
    lists: &'a Lists<T>,
    i: usize,
}

impl<'a, T: Native> Iterator for ListsIter<'a, T> {
    type Item = Result<&'a [T]>;

    #[inline]
    fn next(&mut self) -> Option<Result<&'a [T]>> {
        if self.i >= self.lists.len {
            return None;
        }
        let item = self.lists.get(self.i);
        self.i += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.lists.len - self.i;
        (n, Some(n))
    }
}

impl<T: Native> ExactSizeIterator for ListsIter<'_, T> {}
