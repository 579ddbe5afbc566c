//! Row slices, lazily: `array.slice(a..b)` reads, of each buffer it touches,
//! only the range its rows need.
//!
//! A slice is an array of the same form over a [`SliceSource`], which
//! serves the original buffer keys with the bytes the rows need: the
//! offsets of rows `a..=b` rebased to start at 0, then the content range
//! those offsets point to, and so on down the tree. Each node of the
//! original layout gets a [`Plan`]: its window (the range of its elements
//! the rows reach, computed from its parent's window and buffers on first
//! use), the ranges of its buffers (read once, through
//! `LazyBuf::get_range`: only those bytes reach memory), and what it
//! serves. One function per class computes the windows of a node's
//! contents, one per class serves its buffers.

use super::Array;
use crate::buffer::Buffer;
use crate::cache::Cache;
use crate::error::{Error, Result};
use crate::form::IndexType;
use crate::layout::lazy::{Index, LazyBuf, Loader};
use crate::layout::{BuildCtx, Node, NodeData};
use crate::options::{BufferKey, Caching};
use crate::source::Source;
use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

/// What a row slice was taken from: an array of one piece and the rows.
pub(crate) struct Origin {
    pub(crate) array: Array,
    pub(crate) rows: Range<usize>,
}

impl Origin {
    /// The same rows of one of the original's fields.
    pub(crate) fn field(&self, name: &str) -> Result<Origin> {
        Ok(Origin {
            array: self.array.field(name)?,
            rows: self.rows.clone(),
        })
    }

    /// The same rows of a selection of the original's fields.
    pub(crate) fn select(&self, names: &[String]) -> Result<Origin> {
        Ok(Origin {
            array: self.array.select(names)?,
            rows: self.rows.clone(),
        })
    }
}

/// A window: the elements `lo..hi` of a node that the rows reach.
type Window = (usize, usize);

/// One node of the original layout, as the slice sees it.
struct Plan {
    node: Arc<Node>,
    /// The parent and this node's place among its contents; none at the root.
    parent: Option<(Arc<Plan>, usize)>,
    window: OnceCell<Window>,
    /// The windows of this node's contents.
    children: OnceCell<Vec<Window>>,
    /// The ranges of this node's buffers read so far, by attribute.
    raw: Mutex<Vec<(&'static str, Buffer)>>,
}

impl Plan {
    fn window(&self) -> Result<Window> {
        self.window
            .get_or_try_init(|| match &self.parent {
                Some((p, i)) => Ok(p.child_windows()?[*i]),
                None => Ok((0, 0)),
            })
            .copied()
    }

    /// The window if it is known without reading: the root's, and those
    /// of contents whose windows follow from their parent's alone (records,
    /// masks, regular lists), or already computed.
    fn peek_window(&self) -> Option<Window> {
        if let Some(w) = self.window.get() {
            return Some(*w);
        }
        let (parent, i) = self.parent.as_ref()?;
        if let Some(c) = parent.children.get() {
            return c.get(*i).copied();
        }
        let (lo, hi) = parent.peek_window()?;
        match &parent.node.data {
            NodeData::Record { .. }
            | NodeData::ByteMasked { .. }
            | NodeData::BitMasked { .. }
            | NodeData::Unmasked { .. } => Some((lo, hi)),
            NodeData::Regular { size, .. } => {
                Some((lo.checked_mul(*size)?, hi.checked_mul(*size)?))
            }
            _ => None,
        }
    }

    /// The bytes served for `attribute`, if known without reading.
    fn served_size(&self, attribute: &str) -> Option<u64> {
        let (lo, hi) = self.peek_window()?;
        let size = self.buffer(attribute).ok()?.dtype.itemsize();
        let count = match (attribute, &self.node.data) {
            ("offsets", _) => hi - lo + 1,
            ("data", _) => (hi - lo).checked_mul(self.per_row())?,
            ("mask", NodeData::BitMasked { .. }) => (hi - lo).div_ceil(8),
            _ => hi - lo,
        };
        u64::try_from(count.checked_mul(size)?).ok()
    }

    fn buffer(&self, attribute: &str) -> Result<&Arc<LazyBuf>> {
        self.node
            .data
            .buffers()
            .into_iter()
            .find(|(a, _)| *a == attribute)
            .map(|(_, b)| b)
            .ok_or_else(|| {
                Error::Argument(format!(
                    "{} at {} has no buffer {attribute:?}",
                    self.node.info.class, self.node.info.path
                ))
            })
    }

    /// Elements per row of a `NumpyArray`'s data (its inner shape's product).
    fn per_row(&self) -> usize {
        match &self.node.data {
            NodeData::Numpy { inner_shape, .. } => inner_shape.iter().product(),
            _ => 1,
        }
    }

    /// The range of buffer `attribute` that the window needs, read once.
    fn raw(&self, attribute: &'static str) -> Result<Buffer> {
        if let Some((_, b)) = self.raw.lock().iter().find(|(a, _)| *a == attribute) {
            return Ok(b.clone());
        }
        let (lo, hi) = self.window()?;
        let buf = self.buffer(attribute)?;
        let (start, count) = match (attribute, &self.node.data) {
            ("offsets", _) => (lo, hi - lo + 1),
            ("data", _) => {
                let k = self.per_row();
                let overflow = || buf.node.invalid(&buf.key, "the rows' elements overflow");
                (
                    lo.checked_mul(k).ok_or_else(overflow)?,
                    (hi - lo).checked_mul(k).ok_or_else(overflow)?,
                )
            }
            ("mask", NodeData::BitMasked { .. }) => (lo / 8, hi.div_ceil(8) - lo / 8),
            _ => (lo, hi - lo),
        };
        let b = buf.get_range(start, count)?;
        self.raw.lock().push((attribute, b.clone()));
        Ok(b)
    }

    fn index(&self, attribute: &'static str) -> Result<Index> {
        let buf = self.buffer(attribute)?;
        let crate::layout::lazy::DType::Index(t) = buf.dtype else {
            return Err(buf.node.invalid(&buf.key, "not an index buffer"));
        };
        Index::new(t, self.raw(attribute)?)
    }

    fn invalid(&self, attribute: &str, message: String) -> Error {
        match self.buffer(attribute) {
            Ok(b) => b.node.invalid(&b.key, message),
            Err(e) => e,
        }
    }

    fn child_windows(&self) -> Result<&Vec<Window>> {
        self.children.get_or_try_init(|| {
            let w = self.window()?;
            if w.0 == w.1 {
                return Ok(vec![(0, 0); self.node.children().len()]);
            }
            match &self.node.data {
                NodeData::Empty | NodeData::Numpy { .. } => Ok(Vec::new()),
                NodeData::Regular { size, .. } => regular_windows(w, *size),
                NodeData::ListOffset { .. } => self.list_offset_windows(),
                NodeData::List { .. } => self.list_windows(),
                NodeData::Indexed { .. } => self.indexed_windows(false),
                NodeData::IndexedOption { .. } => self.indexed_windows(true),
                NodeData::ByteMasked { .. }
                | NodeData::BitMasked { .. }
                | NodeData::Unmasked { .. } => Ok(vec![w]),
                NodeData::Record { contents } => Ok(vec![w; contents.len()]),
                NodeData::Union { contents, .. } => self.union_windows(contents.len()),
            }
        })
    }

    fn list_offset_windows(&self) -> Result<Vec<Window>> {
        let off = self.index("offsets")?;
        let n = off.len() - 1;
        let (first, last) = (off.get(0), off.get(n));
        if first < 0 {
            return Err(self.invalid("offsets", format!("offset {first} is negative")));
        }
        for i in 0..n {
            if off.get(i) > off.get(i + 1) {
                return Err(self.invalid(
                    "offsets",
                    format!(
                        "offsets go backwards within the rows sliced: {} then {}",
                        off.get(i),
                        off.get(i + 1)
                    ),
                ));
            }
        }
        Ok(vec![(first as usize, last as usize)])
    }

    fn list_windows(&self) -> Result<Vec<Window>> {
        let (starts, stops) = (self.index("starts")?, self.index("stops")?);
        let mut range: Option<(i64, i64)> = None;
        for i in 0..starts.len() {
            let (s, e) = (starts.get(i), stops.get(i));
            if s == e {
                continue;
            }
            if s < 0 || e < s {
                return Err(self.invalid(
                    "starts",
                    format!("list {i} of the rows sliced runs from {s} to {e}"),
                ));
            }
            range = Some(range.map_or((s, e), |(a, b)| (a.min(s), b.max(e))));
        }
        let (a, b) = range.unwrap_or((0, 0));
        Ok(vec![(a as usize, b as usize)])
    }

    fn indexed_windows(&self, option: bool) -> Result<Vec<Window>> {
        let index = self.index("index")?;
        let mut range: Option<(i64, i64)> = None;
        for i in 0..index.len() {
            let v = index.get(i);
            if v < 0 {
                if option {
                    continue;
                }
                return Err(self.invalid("index", format!("index[{i}] of the rows sliced is {v}")));
            }
            range = Some(range.map_or((v, v), |(a, b)| (a.min(v), b.max(v))));
        }
        Ok(vec![
            range.map_or((0, 0), |(a, b)| (a as usize, b as usize + 1))
        ])
    }

    fn union_windows(&self, n: usize) -> Result<Vec<Window>> {
        let (tags, index) = (self.index("tags")?, self.index("index")?);
        let mut ranges: Vec<Option<(i64, i64)>> = vec![None; n];
        for i in 0..tags.len().min(index.len()) {
            let (t, v) = (tags.get(i), index.get(i));
            if t < 0 || t as usize >= n || v < 0 {
                return Err(self.invalid(
                    "tags",
                    format!("element {i} of the rows sliced has tag {t} and index {v}"),
                ));
            }
            let r = &mut ranges[t as usize];
            *r = Some(r.map_or((v, v), |(a, b)| (a.min(v), b.max(v))));
        }
        Ok(ranges
            .into_iter()
            .map(|r| r.map_or((0, 0), |(a, b)| (a as usize, b as usize + 1)))
            .collect())
    }

    /// The bytes served for buffer `attribute`: what the sliced node reads.
    fn serve(&self, attribute: &'static str) -> Result<Buffer> {
        let (lo, hi) = self.window()?;
        let buf = self.buffer(attribute)?;
        if lo == hi {
            // No rows: one zero offset, every other buffer empty.
            let n = if attribute == "offsets" {
                buf.dtype.itemsize()
            } else {
                0
            };
            return Ok(Buffer::from_slice(&vec![0u8; n]));
        }
        match (&self.node.data, attribute) {
            (NodeData::ListOffset { .. }, "offsets") => self.serve_offsets(),
            (NodeData::List { .. }, "starts" | "stops") => self.serve_list(attribute),
            (NodeData::Indexed { .. }, "index") => self.serve_index(false),
            (NodeData::IndexedOption { .. }, "index") => self.serve_index(true),
            (NodeData::BitMasked { lsb_order, .. }, "mask") => self.serve_bits(*lsb_order),
            (NodeData::Union { .. }, "index") => self.serve_union_index(),
            // data, byte masks, tags: the range itself.
            _ => self.raw(attribute),
        }
    }

    fn serve_offsets(&self) -> Result<Buffer> {
        let first = self.child_windows()?[0].0 as i64;
        let off = self.index("offsets")?;
        if first == 0 {
            return self.raw("offsets");
        }
        let out = rebuilt(self.index_type("offsets")?, off.len(), |i| {
            off.get(i) - first
        });
        self.forget("offsets");
        Ok(out)
    }

    fn serve_list(&self, attribute: &'static str) -> Result<Buffer> {
        let base = self.child_windows()?[0].0 as i64;
        let (starts, stops) = (self.index("starts")?, self.index("stops")?);
        let which = if attribute == "starts" {
            &starts
        } else {
            &stops
        };
        Ok(rebuilt(self.index_type(attribute)?, which.len(), |i| {
            // Empty lists point nowhere in particular: at 0.
            if starts.get(i) == stops.get(i) {
                0
            } else {
                which.get(i) - base
            }
        }))
    }

    fn serve_index(&self, option: bool) -> Result<Buffer> {
        let base = self.child_windows()?[0].0 as i64;
        let index = self.index("index")?;
        if base == 0 && !option {
            return self.raw("index");
        }
        let out = rebuilt(self.index_type("index")?, index.len(), |i| {
            let v = index.get(i);
            if v < 0 {
                -1
            } else {
                v - base
            }
        });
        self.forget("index");
        Ok(out)
    }

    /// Drops the range read for `attribute` once what is served from it
    /// is made (the slice's cache keeps that): a scan holds one copy.
    fn forget(&self, attribute: &str) {
        self.raw.lock().retain(|(a, _)| *a != attribute);
    }

    fn serve_union_index(&self) -> Result<Buffer> {
        let bases: Vec<i64> = self.child_windows()?.iter().map(|w| w.0 as i64).collect();
        let (tags, index) = (self.index("tags")?, self.index("index")?);
        Ok(rebuilt(self.index_type("index")?, index.len(), |i| {
            index.get(i) - bases[tags.get(i) as usize]
        }))
    }

    /// A bit mask's rows `lo..hi`, shifted to start at bit 0 of byte 0.
    fn serve_bits(&self, lsb: bool) -> Result<Buffer> {
        let (lo, hi) = self.window()?;
        let raw = self.raw("mask")?;
        if lo % 8 == 0 {
            return Ok(raw);
        }
        let bytes = raw.as_slice();
        let bit = |i: usize| {
            let byte = bytes[i / 8];
            if lsb {
                byte >> (i % 8) & 1
            } else {
                byte >> (7 - i % 8) & 1
            }
        };
        let n = hi - lo;
        let mut out = vec![0u8; n.div_ceil(8)];
        for j in 0..n {
            let b = bit(lo % 8 + j);
            out[j / 8] |= if lsb { b << (j % 8) } else { b << (7 - j % 8) };
        }
        Ok(Buffer::from_slice(&out))
    }

    fn index_type(&self, attribute: &str) -> Result<IndexType> {
        let buf = self.buffer(attribute)?;
        match buf.dtype {
            crate::layout::lazy::DType::Index(t) => Ok(t),
            _ => Err(buf.node.invalid(&buf.key, "not an index buffer")),
        }
    }
}

fn regular_windows((lo, hi): Window, size: usize) -> Result<Vec<Window>> {
    match (lo.checked_mul(size), hi.checked_mul(size)) {
        (Some(a), Some(b)) => Ok(vec![(a, b)]),
        _ => Err(Error::Argument(format!(
            "rows {lo}..{hi} of a RegularArray of size {size} overflow"
        ))),
    }
}

/// An index of type `t` with `n` values `f(0)..f(n)` (each fits: rebasing
/// only lowers non-negative values, and option indexes are signed),
/// written straight into one aligned allocation.
fn rebuilt(t: IndexType, n: usize, f: impl Fn(usize) -> i64) -> Buffer {
    fn fill<T: crate::buffer::Native>(n: usize, f: impl Fn(usize) -> T) -> Buffer {
        let filled = Buffer::filled(n * T::SIZE, |out| {
            for (i, chunk) in out.chunks_exact_mut(T::SIZE).enumerate() {
                f(i).write_ne(chunk);
            }
            Ok::<(), std::convert::Infallible>(())
        });
        match filled {
            Ok(b) => b,
            Err(never) => match never {},
        }
    }
    match t {
        IndexType::I8 => fill(n, |i| f(i) as i8),
        IndexType::U8 => fill(n, |i| f(i) as u8),
        IndexType::I32 => fill(n, |i| f(i) as i32),
        IndexType::U32 => fill(n, |i| f(i) as u32),
        IndexType::I64 => fill(n, f),
    }
}

/// Serves a slice's buffers under the original keys.
struct SliceSource {
    /// Every buffer key of the original layout, with the nodes using it.
    keys: HashMap<String, Vec<(Arc<Plan>, &'static str)>>,
    describe: String,
}

impl Source for SliceSource {
    fn read(&self, key: &str) -> Result<Option<Buffer>> {
        let Some(uses) = self.keys.get(key) else {
            return Ok(None);
        };
        let (plan, attribute) = &uses[0];
        let first = plan.serve(attribute)?;
        // A key shared by several nodes serves them only if their rows
        // need the same bytes.
        for (other, attribute) in &uses[1..] {
            if other.serve(attribute)?.as_slice() != first.as_slice() {
                return Err(Error::Argument(format!(
                    "cannot slice lazily: buffer key {key:?} serves {} and {}, whose rows need different bytes of it",
                    plan.node.info.path, other.node.info.path
                )));
            }
        }
        Ok(Some(first))
    }

    /// The requests at once, each on a thread of its own (at most 16 at a
    /// time): a slice's buffers are cut from range reads of the original,
    /// and a remote original answers them in parallel. A content waits for
    /// its parent's offsets (read once, through the plans), so a batch
    /// takes one round per level of nesting, not one per buffer.
    fn read_many(&self, requests: &[(&str, crate::source::Want)]) -> Vec<Result<Option<Buffer>>> {
        // Ranges of one key (a list's first and last offsets): its bytes
        // are made once, then cut.
        if let Some(((key, _), rest)) = requests.split_first() {
            let ranges = |w: &crate::source::Want| matches!(w, crate::source::Want::Range(_));
            if ranges(&requests[0].1) && rest.iter().all(|(k, w)| k == key && ranges(w)) {
                let whole = self.read(key);
                return requests
                    .iter()
                    .map(|(_, want)| match (&whole, want) {
                        (Ok(Some(b)), crate::source::Want::Range(r)) => {
                            let start = r.start.min(b.len());
                            b.slice(start, r.end.clamp(start, b.len()) - start)
                                .map(Some)
                        }
                        (other, _) => other.clone(),
                    })
                    .collect();
            }
        }
        let mut out = Vec::with_capacity(requests.len());
        for group in requests.chunks(16) {
            std::thread::scope(|s| {
                let running: Vec<_> = group
                    .iter()
                    .map(|(key, want)| s.spawn(move || want.clone().from(self, key)))
                    .collect();
                for handle in running {
                    out.push(handle.join().unwrap_or_else(|_| {
                        Err(Error::read_failed("?", "a slice's read panicked"))
                    }));
                }
            });
        }
        out
    }

    fn size(&self, key: &str) -> Option<u64> {
        let (plan, attribute) = self.keys.get(key)?.first()?;
        plan.served_size(attribute)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

/// Walks the original layout (building record fields, reading nothing):
/// one plan per node, every buffer key with its users, and each (form key,
/// attribute) with the key it had.
fn walk(
    plan: Arc<Plan>,
    keys: &mut HashMap<String, Vec<(Arc<Plan>, &'static str)>>,
    names: &mut HashMap<(Option<String>, String), String>,
) {
    let node = Arc::clone(&plan.node);
    for (attribute, b) in node.data.buffers() {
        keys.entry(b.key.to_string())
            .or_default()
            .push((Arc::clone(&plan), attribute));
        names.insert(
            (
                node.form.form_key().map(str::to_string),
                attribute.to_string(),
            ),
            b.key.to_string(),
        );
    }
    for (i, child) in node.children().into_iter().enumerate() {
        let child = Arc::new(Plan {
            node: Arc::clone(child),
            parent: Some((Arc::clone(&plan), i)),
            window: OnceCell::new(),
            children: OnceCell::new(),
            raw: Mutex::new(Vec::new()),
        });
        walk(child, keys, names);
    }
}

impl Array {
    /// For a row slice: the array it was sliced from and the rows.
    pub(crate) fn origin(&self) -> Option<&Origin> {
        self.origin.as_deref()
    }

    /// Rows `range` of this array, lazily: nothing is read until touched,
    /// and then, of each buffer, only the range the rows need (the offsets
    /// of those rows first, then the range of the content they point to).
    /// A partitioned array reads only the partitions the rows overlap.
    ///
    /// ```
    /// use akbuf::{from_buffers, Buffer, Form, MemorySource, Observed, Options};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let form = Form::from_json(r#"{"class": "ListOffsetArray", "offsets": "i64",
    ///     "content": {"class": "NumpyArray", "primitive": "int32", "form_key": "b"}, "form_key": "a"}"#)?;
    /// let source = MemorySource::new()
    ///     .with("a-offsets", Buffer::from_slice(&[0i64, 2, 3, 3, 6]))
    ///     .with("b-data", Buffer::from_slice(&[1i32, 2, 3, 4, 5, 6]));
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let source = Observed::new(source, move |key: &str, bytes: Option<usize>| {
    ///     log.lock().unwrap().push((key.to_string(), bytes.unwrap_or(0)));
    /// });
    /// let array = from_buffers(&form, 4, source, Options::default())?;
    /// let rows = array.slice(1..3)?;
    /// assert_eq!(rows.len(), 2);
    /// assert_eq!(rows.to_json()?, "[[3],[]]");
    /// // Offsets 1..=3 (3 x 8 bytes), then content element 2 (4 bytes).
    /// assert_eq!(*seen.lock().unwrap(), [("a-offsets".to_string(), 24), ("b-data".to_string(), 4)]);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Argument`] for a range outside `0..=len()` or going backwards.
    pub fn slice(&self, range: impl std::ops::RangeBounds<usize>) -> Result<Array> {
        use std::ops::Bound;
        let n = self.len();
        let lo = match range.start_bound() {
            Bound::Included(&a) => a,
            Bound::Excluded(&a) => a.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let hi = match range.end_bound() {
            Bound::Included(&b) => b.saturating_add(1),
            Bound::Excluded(&b) => b,
            Bound::Unbounded => n,
        };
        if lo > hi || hi > n {
            return Err(Error::Argument(format!(
                "rows {lo}..{hi} out of range: the array has {n} rows"
            )));
        }
        if let Some(parts) = &self.parts {
            return self.slice_parts(parts, lo..hi);
        }
        // Even all the rows make a slice: packing it then does what
        // awkward's `ak.to_packed(array[0:n])` does.
        self.slice_one(lo..hi)
    }

    fn slice_parts(&self, parts: &super::parts::Parts, rows: Range<usize>) -> Result<Array> {
        let pieces: Vec<(usize, Range<usize>)> = parts.overlapping(rows).collect();
        let lengths = pieces.iter().map(|(_, r)| r.len()).collect();
        let whole = self.clone();
        Array::from_parts(
            self.partition_template(),
            lengths,
            Box::new(move |j| {
                let (p, r) = &pieces[j];
                whole.partition(*p)?.slice(r.clone())
            }),
        )
    }

    fn slice_one(&self, rows: Range<usize>) -> Result<Array> {
        let root = Arc::new(Plan {
            node: Arc::clone(&self.node),
            parent: None,
            window: OnceCell::with_value((rows.start, rows.end)),
            children: OnceCell::new(),
            raw: Mutex::new(Vec::new()),
        });
        let (mut keys, mut names) = (HashMap::new(), HashMap::new());
        walk(root, &mut keys, &mut names);
        let source = SliceSource {
            keys,
            describe: format!(
                "rows {}..{} of {}",
                rows.start,
                rows.end,
                self.loader.source.describe()
            ),
        };
        let loader = Arc::new(Loader::new(
            Arc::new(source),
            Arc::new(Cache::unsharded()),
            false,
        ));
        let names = Arc::new(names);
        let buffer_key = BufferKey::func(move |form_key, attribute| {
            names
                .get(&(form_key.map(str::to_string), attribute.to_string()))
                .cloned()
                .unwrap_or_default()
        });
        let ctx = Arc::new(BuildCtx {
            loader: Arc::clone(&loader),
            byteorder: crate::buffer::ByteOrder::native(),
            buffer_key,
            caching: Caching::All,
            known: None,
        });
        let node = Node::build_root(&self.node.form, rows.len(), &ctx)?;
        // A slice of a slice is a slice of the first array.
        let origin = match &self.origin {
            Some(o) => Origin {
                array: o.array.clone(),
                rows: o.rows.start + rows.start..o.rows.start + rows.end,
            },
            None => Origin {
                array: self.clone(),
                rows,
            },
        };
        Ok(Array {
            node,
            loader,
            placement: self.placement.clone(),
            parts: None,
            origin: Some(Arc::new(origin)),
        })
    }
}
