//! `to_packed`: the same values in the fewest bytes, as awkward's `ak.to_packed`.
//!
//! Awkward packs by slicing (`content[:n]`), carrying (gathering by an index)
//! and converting nodes, then packing the result. This module follows the
//! same rules with a *selection* passed down the tree (everything, a range,
//! or a gather), so the output has awkward's classes, index types and
//! parameters:
//!
//! - NumpyArray: only the selected rows; an `inner_shape` becomes
//!   RegularArrays over a flat NumpyArray.
//! - ListArray and ListOffsetArray: a ListOffsetArray with `i64` offsets from
//!   0 over exactly the content in use.
//! - IndexedArray: projected away (the content gathered), unless it is
//!   categorical. IndexedOptionArray: index renumbered `0..n`, `-1` for None,
//!   content gathered (same index type).
//! - ByteMaskedArray: mask and content trimmed; over a record it becomes an
//!   IndexedOptionArray (`i64`). BitMaskedArray: the same at the top; a
//!   sliced or gathered one is a ByteMaskedArray first (as awkward slices it).
//! - RegularArray, RecordArray: contents trimmed to the length.
//! - UnionArray: a content longer than its tag's count is projected to the
//!   entries in use and the index renumbered.
//!
//! Each buffer is read once (through the cache) and only if reachable.
//! Contiguous selections of a NumpyArray are not copied.

use crate::array::Array;
use crate::buffer::{Buffer, Native};
use crate::error::{Error, Result};
use crate::form::{Form, IndexType, Parameters};
use crate::layout::lazy::{Index, LazyBuf, NodeInfo};
use crate::layout::{Node, NodeData};
use crate::options::Options;
use crate::source::MemorySource;
use std::sync::Arc;

mod classes;

/// What part of a node the packed output keeps.
#[derive(Clone, Debug)]
enum Sel {
    /// The whole node, not sliced (awkward calls `to_packed` on it directly).
    All,
    /// Elements `start..stop` (a slice).
    Range(usize, usize),
    /// These elements, in this order (a carry). The flag is awkward's
    /// `allow_lazy`: a lazy carry reaching a record makes an IndexedArray
    /// over it, which an option node above then simplifies into an
    /// IndexedOptionArray (ListArray broadcasts, union and IndexedOptionArray
    /// projections carry lazily; IndexedArray projections and records do not).
    Gather(Vec<usize>, bool),
}

impl Sel {
    /// The selection a node passes to a content it slices with `[:len]`.
    fn sliced(&self, len: usize) -> Sel {
        match self {
            Sel::All => Sel::Range(0, len),
            other => other.clone(),
        }
    }
}

/// All the gathers of one `to_packed` together may select at most this many
/// times the bytes of the array's buffers (plus [`GATHER_FLOOR`] entries):
/// a valid array's packing gathers repeated entries only as far as its own
/// indexes repeat them, while corrupt indexes, starts or sizes could ask for
/// any amount and get the process killed for memory instead of an error.
const GATHER_LIMIT: usize = 64;

/// Gathers below this many entries in all are always allowed.
const GATHER_FLOOR: usize = 1 << 20;

struct Packer {
    next_id: usize,
    buffers: Vec<(String, Buffer)>,
    /// Entries all gathers may still select (see [`GATHER_LIMIT`]).
    budget: usize,
    /// The budget at the start, for messages.
    limit: usize,
    /// The length of every packed node, by form key (some are not what
    /// the buffers would tell: a masked record made an IndexedOptionArray
    /// keeps its masked-out entries, as awkward does).
    known: std::collections::HashMap<String, usize>,
}

fn bad(info: &NodeInfo, key: &str, message: impl Into<String>) -> Error {
    info.invalid(key, message)
}

/// The entries of `ix[..limit]` that `sel` selects, as `i64`.
fn select(buf: &LazyBuf, ix: &Index, limit: usize, sel: &Sel) -> Result<Vec<i64>> {
    let limit = limit.min(ix.len());
    match sel {
        Sel::All => Ok((0..limit).map(|i| ix.get(i)).collect()),
        Sel::Range(a, b) => {
            if *a > *b || *b > limit {
                return Err(bad(
                    &buf.node,
                    &buf.key,
                    format!("range {a}..{b} is outside the {limit} entries"),
                ));
            }
            Ok((*a..*b).map(|i| ix.get(i)).collect())
        }
        Sel::Gather(v, _) => v
            .iter()
            .map(|&i| {
                if i < limit {
                    Ok(ix.get(i))
                } else {
                    Err(bad(
                        &buf.node,
                        &buf.key,
                        format!("entry {i} is outside the {limit} entries"),
                    ))
                }
            })
            .collect(),
    }
}

/// Index values as a buffer of type `t` (values are known to fit).
fn index_buffer(values: &[i64], t: IndexType) -> Buffer {
    fn conv<T: Native>(values: &[i64], f: impl Fn(i64) -> T) -> Buffer {
        let v: Vec<T> = values.iter().map(|&x| f(x)).collect();
        Buffer::from_slice(&v)
    }
    match t {
        IndexType::I8 => conv(values, |x| x as i8),
        IndexType::U8 => conv(values, |x| x as u8),
        IndexType::I32 => conv(values, |x| x as i32),
        IndexType::U32 => conv(values, |x| x as u32),
        IndexType::I64 => conv(values, |x| x),
    }
}

/// Checks that gathered positions are within `len`, as usize.
fn positions(values: &[i64], len: usize, buf: &LazyBuf) -> Result<Vec<usize>> {
    values
        .iter()
        .map(|&x| {
            usize::try_from(x).ok().filter(|&x| x < len).ok_or_else(|| {
                bad(
                    &buf.node,
                    &buf.key,
                    format!("index {x} is outside the content's {len} entries"),
                )
            })
        })
        .collect()
}

/// awkward's `parameters_union(content, outer, exclude=categorical)`.
fn union_parameters(inner: &Parameters, outer: &Parameters) -> Parameters {
    let skip = |k: &str, v: &serde_json::Value| {
        v.is_null() || (k == "__array__" && v.as_str() == Some("categorical"))
    };
    let mut out = Parameters::new();
    for (k, v) in inner.iter().chain(outer.iter()) {
        if !skip(k, v) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

impl Packer {
    /// Takes `n` entries from the gather budget, or says which node asked too much.
    fn charge(&mut self, n: usize, info: &NodeInfo, key: &str) -> Result<()> {
        match self.budget.checked_sub(n) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => Err(bad(
                info,
                key,
                format!(
                    "packing would gather {n} more entries here, beyond the {} that \
                     to_packed allows for this array (64 times its buffers' bytes)",
                    self.limit
                ),
            )),
        }
    }

    /// Records that the node `form` has `len` entries.
    fn keep_length(&mut self, form: &Form, len: usize) {
        if let Some(k) = form.form_key() {
            self.known.insert(k.to_string(), len);
        }
    }

    fn id(&mut self) -> String {
        let key = format!("node{}", self.next_id);
        self.next_id += 1;
        key
    }

    fn put(&mut self, form_key: &str, attribute: &str, b: Buffer) {
        self.buffers.push((format!("{form_key}-{attribute}"), b));
    }

    fn len(node: &Node, sel: &Sel) -> Result<usize> {
        Ok(match sel {
            Sel::All => node.len.get()?,
            Sel::Range(a, b) => b.saturating_sub(*a),
            Sel::Gather(v, _) => v.len(),
        })
    }

    /// The packed form of `node` under `sel`; its length is recorded, since
    /// awkward's packed layout keeps lengths its buffers alone do not tell
    /// (a categorical index or a union content kept whole, a masked record
    /// kept to its length).
    fn node(&mut self, node: &Node, sel: &Sel) -> Result<Arc<Form>> {
        let len = Self::len(node, sel)?;
        let form = self.node_of_class(node, sel)?;
        self.keep_length(&form, len);
        Ok(form)
    }

    /// One function per class (in `classes.rs`).
    fn node_of_class(&mut self, node: &Node, sel: &Sel) -> Result<Arc<Form>> {
        let params = node.form.parameters().clone();
        match &node.data {
            NodeData::Empty => self.empty(node, sel, params),
            NodeData::Numpy {
                data,
                primitive,
                inner_shape,
            } => self.numpy(node, data, *primitive, inner_shape, sel),
            NodeData::Regular { size, content } => self.regular(node, *size, content, sel, params),
            NodeData::ListOffset { offsets, content } => {
                self.list_offset(node, offsets, content, sel, params)
            }
            NodeData::List {
                starts,
                stops,
                content,
            } => self.list_array(node, starts, stops, content, sel, params),
            NodeData::Indexed { index, content } => self.indexed(node, index, content, sel, params),
            NodeData::IndexedOption { index, content } => {
                self.indexed_option(node, index, content, sel, params)
            }
            NodeData::ByteMasked {
                mask,
                valid_when,
                content,
            } => {
                let n = node.len.get()?;
                let m = select(mask, &mask.index()?, n, sel)?;
                self.byte_masked(m, *valid_when, content, sel.sliced(n), params)
            }
            NodeData::BitMasked {
                mask,
                valid_when,
                lsb_order,
                content,
            } => self.bit_masked(node, mask, (*valid_when, *lsb_order), content, sel, params),
            NodeData::Unmasked { content } => self.unmasked(content, sel, params),
            NodeData::Record { contents } => {
                self.record(node, contents.names(), contents, sel, params)
            }
            NodeData::Union {
                tags,
                index,
                contents,
            } => self.union(node, tags, index, contents, sel, params),
        }
    }
}
/// The bytes of every buffer under `node`: as stored where the source can
/// tell without reading, else as read (packing reads them all anyway; what
/// the layout says it needs is not trusted, since corrupt lengths drive it).
fn input_bytes(node: &Node) -> Result<usize> {
    let mut total = 0usize;
    for (_, b) in node.data.buffers() {
        let n = match b.stored_size() {
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => b.get()?.len(),
        };
        total = total.saturating_add(n);
    }
    for c in node.children() {
        total = total.saturating_add(input_bytes(c)?);
    }
    Ok(total)
}

/// The same values in the fewest bytes, as awkward's `ak.to_packed` (see
/// the module documentation for the rules). The result is an array over
/// in-memory buffers, with awkward's default form keys (`node{id}`), ready
/// for [`crate::to_buffers`].
///
/// ```
/// use akbuf::{from_buffers, to_packed, Buffer, Form, MemorySource, Options};
///
/// // [[2], [3]]: offsets from 2, and a content longer than needed.
/// let form = Form::from_json(r#"{"class": "ListOffsetArray", "offsets": "i32",
///     "content": {"class": "NumpyArray", "primitive": "int64", "form_key": "b"}, "form_key": "a"}"#)?;
/// let source = MemorySource::new()
///     .with("a-offsets", Buffer::from_slice(&[2i32, 3, 4]))
///     .with("b-data", Buffer::from_slice(&[0i64, 1, 2, 3, 4, 5]));
/// let array = from_buffers(&form, 2, source, Options::default())?;
/// let packed = to_packed(&array)?;
/// assert_eq!(packed.to_json()?, "[[2],[3]]");
/// assert_eq!(packed.offsets::<i64>()?.as_slice(), &[0, 1, 2]);
/// assert_eq!(packed.flat_values::<i64>()?.as_slice(), &[2, 3]);
/// # Ok::<(), akbuf::Error>(())
/// ```
///
/// # Errors
///
/// What reading the array reports, or [`Error::InvalidData`] when an index,
/// offset or tag points outside its content, or when the packing would
/// gather (repeat entries through indexes, overlapping lists or regular
/// sizes) more than 64 times as many entries as the array's buffers have
/// bytes, plus a million (a limit awkward does not have: it guards against
/// corrupt indexes asking for any amount of memory).
pub fn to_packed(array: &Array) -> Result<Array> {
    if array.is_partitioned() {
        return packed_parts(array);
    }
    // A row slice packs those rows of the array it was sliced from, as
    // awkward's `ak.to_packed(array[a:b])` does (a BitMaskedArray's rows
    // become a ByteMaskedArray, an index keeps its order, ...).
    let (node, root, length) = match array.origin() {
        Some(o) => (
            o.array.node(),
            Sel::Range(o.rows.start, o.rows.end),
            o.rows.len(),
        ),
        None => (array.node(), Sel::All, array.len()),
    };
    let mut p = Packer::new(gather_limit(node)?);
    let form = p.node(node, &root)?;
    p.finish(form, length)
}

/// The most entries gathers over `node` may select in all (see
/// [`GATHER_LIMIT`]): 64 times its buffers' bytes, plus a million.
pub(crate) fn gather_limit(node: &Node) -> Result<usize> {
    Ok(GATHER_LIMIT
        .saturating_mul(input_bytes(node)?)
        .saturating_add(GATHER_FLOOR))
}

impl Packer {
    /// A packer whose gathers may select `limit` entries in all.
    fn new(limit: usize) -> Packer {
        Packer {
            next_id: 0,
            buffers: Vec::new(),
            budget: limit,
            limit,
            known: Default::default(),
        }
    }

    /// The packed array: `form` over the buffers written, `length` long.
    fn finish(self, form: Arc<Form>, length: usize) -> Result<Array> {
        let source: MemorySource = self.buffers.into_iter().collect();
        let known = (!self.known.is_empty()).then_some(self.known);
        Array::with_lengths(form, length, Arc::new(source), Options::default(), known)
    }
}

/// Elements `index` of `node`, in that order, packed into an array of
/// their own: awkward's `content._carry(index, allow_lazy=False)` (records
/// carried field by field, never left behind an IndexedArray), with
/// `parameters` laid over the root's (awkward's `parameters_union`), under
/// the same gather limit as [`to_packed`].
#[cfg(feature = "arrow")]
pub(crate) fn carry(
    node: &Node,
    index: Vec<usize>,
    parameters: Option<&crate::form::Parameters>,
) -> Result<Array> {
    carry_with(node, index, parameters, false)
}

/// [`carry`], lazily when `lazy` (awkward's `_carry(index, allow_lazy=True)`,
/// as a ListArray's `_broadcast_tooffsets64` carries its content: records
/// behind an IndexedArray, simplified by an option above them).
#[cfg(feature = "arrow")]
pub(crate) fn carry_with(
    node: &Node,
    index: Vec<usize>,
    parameters: Option<&crate::form::Parameters>,
    lazy: bool,
) -> Result<Array> {
    let length = index.len();
    let mut p = Packer::new(gather_limit(node)?);
    let mut form = p.node(node, &Sel::Gather(index, lazy))?;
    if let Some(extra) = parameters.filter(|e| !e.is_empty()) {
        let mut merged = form.parameters().clone();
        for (k, v) in extra {
            if !v.is_null() {
                merged.insert(k.clone(), v.clone());
            }
        }
        form = Arc::new(form.with_parameters(merged));
    }
    p.finish(form, length)
}

/// A partitioned array packed partition by partition (as awkward 1's
/// `ak.packed` of a partitioned array): the same partition lengths, each
/// partition over its own in-memory buffers. Empty partitions are not read.
fn packed_parts(array: &Array) -> Result<Array> {
    let parts = array
        .partitions()?
        .iter()
        .map(to_packed)
        .collect::<Result<Vec<Array>>>()?;
    let lengths = array.partition_lengths();
    let template = match parts.first() {
        Some(p) => p.clone(),
        None => to_packed(&array.partition_template())?,
    };
    Array::from_parts(template, lengths, Box::new(move |i| Ok(parts[i].clone())))
}
