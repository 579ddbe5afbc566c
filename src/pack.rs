//! `to_packed`: the same values in the fewest bytes, as awkward's `ak.to_packed`.
//!
//! Awkward packs by slicing (`content[:n]`), carrying (gathering by an index)
//! and converting nodes, then packing the result. This module follows the
//! same rules with a *selection* passed down the tree (everything, a range,
//! or a gather), so the output has awkward's classes, index types and
//! parameters (protocol reference §5):
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
use crate::form::{Form, FormKind, IndexType, Parameters};
use crate::layout::lazy::{Index, LazyBuf, NodeInfo};
use crate::layout::{Node, NodeData};
use crate::options::Options;
use crate::source::MemorySource;
use std::sync::Arc;

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

    fn node_of_class(&mut self, node: &Node, sel: &Sel) -> Result<Arc<Form>> {
        let params = node.form.parameters().clone();
        let form = match (&node.data, node.form.kind()) {
            (
                NodeData::Numpy { data },
                FormKind::Numpy {
                    primitive,
                    inner_shape,
                },
            ) => {
                return self.numpy(node, data, *primitive, inner_shape, sel);
            }
            (NodeData::Empty, _) => {
                if Self::len(node, sel)? != 0 {
                    return Err(bad(
                        &node.info,
                        "",
                        "cannot select entries of an EmptyArray",
                    ));
                }
                let fk = self.id();
                Form::new(FormKind::Empty, params, Some(fk))
            }
            (NodeData::Regular { content }, FormKind::Regular { size, .. }) => {
                let size = *size;
                let fk = self.id();
                let csel = match sel {
                    Sel::All => Sel::Range(0, content.len.get()?),
                    Sel::Range(a, b) => match (a.checked_mul(size), b.checked_mul(size)) {
                        (Some(a), Some(b)) => Sel::Range(a, b),
                        _ => return Err(bad(&node.info, "", "selection times size overflows")),
                    },
                    Sel::Gather(v, lazy) => {
                        self.charge(v.len().saturating_mul(size), &node.info, "")?;
                        let clen = content.len.get()?;
                        let mut carry = Vec::with_capacity(v.len().saturating_mul(size));
                        for &i in v {
                            match i.checked_mul(size) {
                                Some(start) if start <= clen && size <= clen - start => {
                                    carry.extend(start..start + size)
                                }
                                _ => {
                                    return Err(bad(
                                        &node.info,
                                        "",
                                        format!("entry {i} is outside the content of {clen}"),
                                    ))
                                }
                            }
                        }
                        Sel::Gather(carry, *lazy)
                    }
                };
                let content = self.node(content, &csel)?;
                Form::new(FormKind::Regular { size, content }, params, Some(fk))
            }
            (NodeData::ListOffset { offsets, content }, _) => {
                let o = offsets.index()?;
                let n = node.len.get()?;
                let (starts, stops) = match sel {
                    Sel::Gather(v, _) => {
                        let s = select(offsets, &o, n, sel)?;
                        let shifted: Vec<usize> = v.iter().map(|i| i + 1).collect();
                        let t = select(offsets, &o, n + 1, &Sel::Gather(shifted, false))?;
                        (s, t)
                    }
                    _ => {
                        let (a, b) = match sel {
                            Sel::Range(a, b) => (*a, *b),
                            _ => (0, n),
                        };
                        let s = select(offsets, &o, n + 1, &Sel::Range(a, b))?;
                        let t = select(offsets, &o, n + 1, &Sel::Range(a + 1, b + 1))?;
                        (s, t)
                    }
                };
                return self.list(node, offsets, content, starts, stops, params);
            }
            (
                NodeData::List {
                    starts,
                    stops,
                    content,
                },
                _,
            ) => {
                let n = node.len.get()?;
                let (s, t) = (starts.index()?, stops.index()?);
                let s = select(starts, &s, n, sel)?;
                let t = select(stops, &t, n, sel)?;
                return self.list(node, stops, content, s, t, params);
            }
            (NodeData::Indexed { index, content }, FormKind::Indexed { index: it, .. }) => {
                let n = node.len.get()?;
                let ix = select(index, &index.index()?, n, sel)?;
                if node.form.array_parameter() == Some("categorical") {
                    let fk = self.id();
                    self.put(&fk, "index", index_buffer(&ix, *it));
                    let content = self.node(content, &Sel::All)?;
                    Form::new(
                        FormKind::Indexed {
                            index: *it,
                            content,
                        },
                        params,
                        Some(fk),
                    )
                } else {
                    self.charge(ix.len(), &node.info, &index.key)?;
                    let carry = positions(&ix, content.len.get()?, index)?;
                    let packed = self.node(content, &Sel::Gather(carry, false))?;
                    let merged = union_parameters(packed.parameters(), &params);
                    return Ok(Arc::new(packed.with_parameters(merged)));
                }
            }
            (
                NodeData::IndexedOption { index, content },
                FormKind::IndexedOption { index: it, .. },
            ) => {
                let n = node.len.get()?;
                let ix = select(index, &index.index()?, n, sel)?;
                let fk = self.id();
                // Categorical: kept as is over its whole content. Otherwise
                // the index is renumbered and the content gathered.
                let (written, csel) = if node.form.array_parameter() == Some("categorical") {
                    (ix, Sel::All)
                } else {
                    let valid: Vec<i64> = ix.iter().copied().filter(|&x| x >= 0).collect();
                    self.charge(valid.len(), &node.info, &index.key)?;
                    let carry = positions(&valid, content.len.get()?, index)?;
                    let mut next = -1i64;
                    let renumbered = ix
                        .iter()
                        .map(|&x| {
                            if x < 0 {
                                -1
                            } else {
                                next += 1;
                                next
                            }
                        })
                        .collect();
                    (renumbered, Sel::Gather(carry, true))
                };
                self.put(&fk, "index", index_buffer(&written, *it));
                let content = self.node(content, &csel)?;
                Form::new(
                    FormKind::IndexedOption {
                        index: *it,
                        content,
                    },
                    params,
                    Some(fk),
                )
            }
            (NodeData::ByteMasked { mask, content }, FormKind::ByteMasked { valid_when, .. }) => {
                let n = node.len.get()?;
                let m = select(mask, &mask.index()?, n, sel)?;
                return self.byte_masked(m, *valid_when, content, sel.sliced(n), params);
            }
            (
                NodeData::BitMasked { mask, content },
                FormKind::BitMasked {
                    valid_when,
                    lsb_order,
                    ..
                },
            ) => {
                let n = node.len.get()?;
                let bytes = mask.get()?;
                // Element `i < n` of the mask: `bytes` has ceil(n / 8) bytes.
                let bit = |i: usize| {
                    let shift = if *lsb_order { i % 8 } else { 7 - i % 8 };
                    i64::from((bytes.as_slice()[i / 8] >> shift) & 1)
                };
                if !matches!(sel, Sel::All) {
                    // Awkward slices and carries a BitMaskedArray as a
                    // ByteMaskedArray of its bits.
                    let m = match sel {
                        Sel::Range(a, b) if *a <= *b && *b <= n => (*a..*b).map(bit).collect(),
                        Sel::Gather(v, _) if v.iter().all(|&i| i < n) => {
                            v.iter().map(|&i| bit(i)).collect()
                        }
                        _ => return Err(bad(&node.info, &mask.key, "selection outside the mask")),
                    };
                    return self.byte_masked(m, *valid_when, content, sel.clone(), params);
                }
                if matches!(content.data, NodeData::Record { .. }) {
                    let valid = i64::from(*valid_when);
                    let index: Vec<i64> = (0..n)
                        .map(|i| if bit(i) == valid { i as i64 } else { -1 })
                        .collect();
                    let fk = self.id();
                    self.put(&fk, "index", index_buffer(&index, IndexType::I64));
                    let content = self.node(content, &Sel::Range(0, n))?;
                    Form::new(
                        FormKind::IndexedOption {
                            index: IndexType::I64,
                            content,
                        },
                        params,
                        Some(fk),
                    )
                } else {
                    let fk = self.id();
                    self.put(&fk, "mask", bytes.slice(0, n.div_ceil(8))?);
                    let content = self.node(content, &Sel::Range(0, n))?;
                    Form::new(
                        FormKind::BitMasked {
                            mask: IndexType::U8,
                            valid_when: *valid_when,
                            lsb_order: *lsb_order,
                            content,
                        },
                        params,
                        Some(fk),
                    )
                }
            }
            (NodeData::Unmasked { content }, _) => {
                if let (Sel::Gather(carry, true), NodeData::Record { .. }) = (sel, &content.data) {
                    let valid = vec![true; carry.len()];
                    return self.option_over_carried_record(&valid, carry, content, params);
                }
                let fk = self.id();
                let content = self.node(content, sel)?;
                Form::new(FormKind::Unmasked { content }, params, Some(fk))
            }
            (NodeData::Record { contents }, FormKind::Record { fields, .. }) => {
                let fk = self.id();
                // A record's fields are carried eagerly (a lazy carry of a
                // record is an IndexedArray, projected eagerly when packed).
                let csel = match sel.sliced(node.len.get()?) {
                    Sel::Gather(v, _) => Sel::Gather(v, false),
                    other => other,
                };
                let contents = contents
                    .iter()
                    .map(|c| self.node(c, &csel))
                    .collect::<Result<Vec<_>>>()?;
                Form::new(
                    FormKind::Record {
                        fields: fields.clone(),
                        contents,
                    },
                    params,
                    Some(fk),
                )
            }
            (
                NodeData::Union {
                    tags,
                    index,
                    contents,
                },
                FormKind::Union { index: it, .. },
            ) => {
                let n = node.len.get()?;
                let t = select(tags, &tags.index()?, n, sel)?;
                let mut ix = select(index, &index.index()?, n, sel)?;
                let fk = self.id();
                let mut carries = Vec::with_capacity(contents.len());
                for (k, c) in contents.iter().enumerate() {
                    let k = k as i64;
                    let count = t.iter().filter(|&&x| x == k).count();
                    if c.len.get()? > count {
                        let used: Vec<i64> = t
                            .iter()
                            .zip(&ix)
                            .filter(|(&x, _)| x == k)
                            .map(|(_, &j)| j)
                            .collect();
                        let mut next = 0i64;
                        for (x, j) in t.iter().zip(ix.iter_mut()) {
                            if *x == k {
                                *j = next;
                                next += 1;
                            }
                        }
                        self.charge(used.len(), &node.info, &index.key)?;
                        carries.push(Sel::Gather(positions(&used, c.len.get()?, index)?, true));
                    } else {
                        carries.push(Sel::All);
                    }
                }
                if let Some(&x) = t.iter().find(|&&x| x < 0 || x as usize >= contents.len()) {
                    return Err(bad(
                        &node.info,
                        &tags.key,
                        format!("tag {x} names no content (there are {})", contents.len()),
                    ));
                }
                self.put(&fk, "tags", index_buffer(&t, IndexType::I8));
                self.put(&fk, "index", index_buffer(&ix, *it));
                let contents = contents
                    .iter()
                    .zip(&carries)
                    .map(|(c, s)| self.node(c, s))
                    .collect::<Result<Vec<_>>>()?;
                Form::new(
                    FormKind::Union {
                        tags: IndexType::I8,
                        index: *it,
                        contents,
                    },
                    params,
                    Some(fk),
                )
            }
            _ => return Err(bad(&node.info, "", "form and layout disagree")),
        };
        Ok(Arc::new(form))
    }

    fn numpy(
        &mut self,
        node: &Node,
        data: &LazyBuf,
        primitive: crate::form::Primitive,
        inner_shape: &[usize],
        sel: &Sel,
    ) -> Result<Arc<Form>> {
        let row = inner_shape
            .iter()
            .try_fold(primitive.itemsize(), |a, &b| a.checked_mul(b))
            .ok_or_else(|| {
                bad(
                    &data.node,
                    &data.key,
                    format!("an inner shape of {inner_shape:?} makes rows larger than memory"),
                )
            })?;
        let all = data.get()?;
        let rows = node.len.get()?;
        let bytes = match sel {
            Sel::All => all,
            Sel::Range(a, b) if *a <= *b && *b <= rows => all.slice(a * row, (b - a) * row)?,
            Sel::Gather(v, _) if v.iter().all(|&i| i < rows) => {
                let per_row = inner_shape.iter().product::<usize>().max(1);
                self.charge(v.len().saturating_mul(per_row), &node.info, &data.key)?;
                let src = all.as_slice();
                let mut out = Vec::with_capacity(v.len() * row);
                for &i in v {
                    out.extend_from_slice(&src[i * row..(i + 1) * row]);
                }
                Buffer::copy_from_slice(&out)
            }
            _ => {
                return Err(bad(
                    &data.node,
                    &data.key,
                    format!("selection outside the {rows} entries"),
                ))
            }
        };
        // RegularArrays for the inner dimensions, outermost first (pre-order
        // ids), the parameters on the outermost node, as awkward's
        // `NumpyArray.to_RegularArray`.
        let keys: Vec<String> = (0..=inner_shape.len()).map(|_| self.id()).collect();
        let leaf_key = &keys[inner_shape.len()];
        self.put(leaf_key, "data", bytes);
        let mut form = Form::new(
            FormKind::Numpy {
                primitive,
                inner_shape: Vec::new(),
            },
            Parameters::new(),
            Some(leaf_key.clone()),
        );
        for (size, key) in inner_shape.iter().zip(&keys).rev() {
            form = Form::new(
                FormKind::Regular {
                    size: *size,
                    content: Arc::new(form),
                },
                Parameters::new(),
                Some(key.clone()),
            );
        }
        Ok(Arc::new(
            form.with_parameters(node.form.parameters().clone()),
        ))
    }

    /// A list as `starts`/`stops` after the selection: awkward's
    /// `to_ListOffsetArray64(True)` then `to_packed`.
    fn list(
        &mut self,
        node: &Node,
        buf: &LazyBuf,
        content: &Node,
        starts: Vec<i64>,
        stops: Vec<i64>,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        let fk = self.id();
        let n = starts.len();
        let clen = content.len.get()?;
        let contiguous = starts.iter().skip(1).zip(&stops).all(|(s, t)| s == t);
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0i64);
        let csel = if contiguous {
            let (lo, hi) = match (starts.first(), stops.last()) {
                (Some(&lo), Some(&hi)) => (lo, hi),
                _ => (0, 0),
            };
            // All lists empty: awkward slices the content at `lo` (wherever
            // that is: an empty list's bounds are never checked) to nothing.
            // Wrapping: a decreasing or wild stop fails the monotonic check below.
            offsets.extend(stops.iter().map(|t| t.wrapping_sub(lo)));
            if lo == hi && stops.iter().all(|&t| t == lo) {
                Sel::Range(0, 0)
            } else {
                if lo < 0 || hi < lo || hi as usize > clen {
                    return Err(bad(
                        &node.info,
                        &buf.key,
                        format!("lists span {lo}..{hi} of a content of {clen}"),
                    ));
                }
                Sel::Range(lo as usize, hi as usize)
            }
        } else {
            let mut carry = Vec::new();
            for (&s, &t) in starts.iter().zip(&stops) {
                if s == t {
                    // An empty list, wherever it points (awkward checks a
                    // list's bounds only where start != stop).
                    offsets.push(carry.len() as i64);
                    continue;
                }
                if s < 0 || t < s || t as usize > clen {
                    return Err(bad(
                        &node.info,
                        &buf.key,
                        format!("list {s}..{t} is not within a content of {clen}"),
                    ));
                }
                // Lists may overlap, so the total is not bounded by the
                // content; corrupt starts can ask for any amount.
                self.charge((t - s) as usize, &node.info, &buf.key)?;
                carry.extend(s as usize..t as usize);
                offsets.push(carry.len() as i64);
            }
            Sel::Gather(carry, true)
        };
        if offsets.windows(2).any(|w| w[1] < w[0]) {
            return Err(bad(&node.info, &buf.key, "offsets decrease"));
        }
        self.put(&fk, "offsets", index_buffer(&offsets, IndexType::I64));
        let content = self.node(content, &csel)?;
        Ok(Arc::new(Form::new(
            FormKind::ListOffset {
                offsets: IndexType::I64,
                content,
            },
            params,
            Some(fk),
        )))
    }

    /// An option node (Unmasked, ByteMasked, BitMasked) over a record that
    /// a lazy carry reached: awkward carries the record as an IndexedArray,
    /// simplifies the option over it into an IndexedOptionArray, and packs
    /// that: an `i64` index renumbered over the valid entries, over the
    /// record gathered at their positions.
    fn option_over_carried_record(
        &mut self,
        valid: &[bool],
        carry: &[usize],
        content: &Node,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        let fk = self.id();
        let mut next = -1i64;
        let index: Vec<i64> = valid
            .iter()
            .map(|&v| {
                if v {
                    next += 1;
                    next
                } else {
                    -1
                }
            })
            .collect();
        let kept: Vec<usize> = carry
            .iter()
            .zip(valid)
            .filter(|(_, &v)| v)
            .map(|(&c, _)| c)
            .collect();
        self.put(&fk, "index", index_buffer(&index, IndexType::I64));
        let content = self.node(content, &Sel::Gather(kept, false))?;
        Ok(Arc::new(Form::new(
            FormKind::IndexedOption {
                index: IndexType::I64,
                content,
            },
            params,
            Some(fk),
        )))
    }

    /// A ByteMaskedArray with its mask already selected; `csel` is what its
    /// content keeps.
    fn byte_masked(
        &mut self,
        mask: Vec<i64>,
        valid_when: bool,
        content: &Node,
        csel: Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        if let (Sel::Gather(carry, true), NodeData::Record { .. }) = (&csel, &content.data) {
            let valid: Vec<bool> = mask.iter().map(|&m| (m != 0) == valid_when).collect();
            return self.option_over_carried_record(&valid, carry, content, params);
        }
        let fk = self.id();
        let form = if matches!(content.data, NodeData::Record { .. }) {
            let index: Vec<i64> = mask
                .iter()
                .enumerate()
                .map(|(i, &m)| if (m != 0) == valid_when { i as i64 } else { -1 })
                .collect();
            self.put(&fk, "index", index_buffer(&index, IndexType::I64));
            let content = self.node(content, &csel)?;
            FormKind::IndexedOption {
                index: IndexType::I64,
                content,
            }
        } else {
            self.put(&fk, "mask", index_buffer(&mask, IndexType::I8));
            let content = self.node(content, &csel)?;
            FormKind::ByteMasked {
                mask: IndexType::I8,
                valid_when,
                content,
            }
        };
        Ok(Arc::new(Form::new(form, params, Some(fk))))
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
    let limit = GATHER_LIMIT
        .saturating_mul(input_bytes(array.node())?)
        .saturating_add(GATHER_FLOOR);
    let mut p = Packer {
        next_id: 0,
        buffers: Vec::new(),
        budget: limit,
        limit,
        known: Default::default(),
    };
    let form = p.node(array.node(), &Sel::All)?;
    let source: MemorySource = p.buffers.into_iter().collect();
    let known = (!p.known.is_empty()).then_some(p.known);
    Array::with_lengths(
        form,
        array.len(),
        Arc::new(source),
        Options::default(),
        known,
    )
}
