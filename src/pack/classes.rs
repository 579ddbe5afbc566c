//! Packing, one function per node class: what `ak.to_packed` does to each
//! class under a selection (everything, a range, a gather).

use super::{bad, index_buffer, positions, select, union_parameters, Packer, Sel};
use crate::buffer::Buffer;
use crate::error::Result;
use crate::form::{Form, FormKind, IndexType, Parameters, Primitive};
use crate::layout::lazy::{DType, LazyBuf};
use crate::layout::{Node, NodeData};
use std::sync::Arc;

/// The index type of an index buffer.
fn index_type(buf: &LazyBuf) -> IndexType {
    match buf.dtype {
        DType::Index(t) => t,
        DType::Prim(_) => IndexType::I64,
    }
}

impl Packer {
    pub(super) fn empty(
        &mut self,
        node: &Node,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        if Self::len(node, sel)? != 0 {
            return Err(bad(
                &node.info,
                "",
                "cannot select entries of an EmptyArray",
            ));
        }
        let fk = self.id();
        Ok(Arc::new(Form::new(FormKind::Empty, params, Some(fk))))
    }

    pub(super) fn regular(
        &mut self,
        node: &Node,
        size: usize,
        content: &Node,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
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
        Ok(Arc::new(Form::new(
            FormKind::Regular { size, content },
            params,
            Some(fk),
        )))
    }

    pub(super) fn list_offset(
        &mut self,
        node: &Node,
        offsets: &LazyBuf,
        content: &Node,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
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
        self.list(node, offsets, content, starts, stops, params)
    }

    pub(super) fn list_array(
        &mut self,
        node: &Node,
        starts: &LazyBuf,
        stops: &LazyBuf,
        content: &Node,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        let n = node.len.get()?;
        let s = select(starts, &starts.index()?, n, sel)?;
        let t = select(stops, &stops.index()?, n, sel)?;
        self.list(node, stops, content, s, t, params)
    }

    /// IndexedArray: projected away (the content gathered), unless categorical.
    pub(super) fn indexed(
        &mut self,
        node: &Node,
        index: &LazyBuf,
        content: &Node,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        let n = node.len.get()?;
        let ix = select(index, &index.index()?, n, sel)?;
        if node.form.array_parameter() == Some("categorical") {
            let fk = self.id();
            let it = index_type(index);
            self.put(&fk, "index", index_buffer(&ix, it));
            let content = self.node(content, &Sel::All)?;
            let kind = FormKind::Indexed { index: it, content };
            return Ok(Arc::new(Form::new(kind, params, Some(fk))));
        }
        self.charge(ix.len(), &node.info, &index.key)?;
        let carry = positions(&ix, content.len.get()?, index)?;
        let packed = self.node(content, &Sel::Gather(carry, false))?;
        let merged = union_parameters(packed.parameters(), &params);
        Ok(Arc::new(packed.with_parameters(merged)))
    }

    /// IndexedOptionArray: the index renumbered `0..n` (-1 for None) over
    /// the content gathered, unless categorical (kept as is).
    pub(super) fn indexed_option(
        &mut self,
        node: &Node,
        index: &LazyBuf,
        content: &Node,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        let n = node.len.get()?;
        let ix = select(index, &index.index()?, n, sel)?;
        let fk = self.id();
        let (written, csel) = if node.form.array_parameter() == Some("categorical") {
            (ix, Sel::All)
        } else {
            let valid: Vec<i64> = ix.iter().copied().filter(|&x| x >= 0).collect();
            self.charge(valid.len(), &node.info, &index.key)?;
            let carry = positions(&valid, content.len.get()?, index)?;
            (
                renumber(ix.iter().map(|&x| x >= 0)),
                Sel::Gather(carry, true),
            )
        };
        let it = index_type(index);
        self.put(&fk, "index", index_buffer(&written, it));
        let content = self.node(content, &csel)?;
        let kind = FormKind::IndexedOption { index: it, content };
        Ok(Arc::new(Form::new(kind, params, Some(fk))))
    }

    pub(super) fn bit_masked(
        &mut self,
        node: &Node,
        mask: &LazyBuf,
        (valid_when, lsb_order): (bool, bool),
        content: &Node,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        let n = node.len.get()?;
        let bytes = mask.get()?;
        // Element `i < n` of the mask: `bytes` has ceil(n / 8) bytes.
        let bit = |i: usize| {
            let shift = if lsb_order { i % 8 } else { 7 - i % 8 };
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
            return self.byte_masked(m, valid_when, content, sel.clone(), params);
        }
        let fk = self.id();
        let kind = if matches!(content.data, NodeData::Record { .. }) {
            let valid = i64::from(valid_when);
            let index: Vec<i64> = (0..n)
                .map(|i| if bit(i) == valid { i as i64 } else { -1 })
                .collect();
            self.put(&fk, "index", index_buffer(&index, IndexType::I64));
            let content = self.node(content, &Sel::Range(0, n))?;
            FormKind::IndexedOption {
                index: IndexType::I64,
                content,
            }
        } else {
            self.put(&fk, "mask", bytes.slice(0, n.div_ceil(8))?);
            let content = self.node(content, &Sel::Range(0, n))?;
            FormKind::BitMasked {
                mask: IndexType::U8,
                valid_when,
                lsb_order,
                content,
            }
        };
        Ok(Arc::new(Form::new(kind, params, Some(fk))))
    }

    pub(super) fn unmasked(
        &mut self,
        content: &Node,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        if let (Sel::Gather(carry, true), NodeData::Record { .. }) = (sel, &content.data) {
            let valid = vec![true; carry.len()];
            return self.option_over_carried_record(&valid, carry, content, params);
        }
        let fk = self.id();
        let content = self.node(content, sel)?;
        Ok(Arc::new(Form::new(
            FormKind::Unmasked { content },
            params,
            Some(fk),
        )))
    }

    pub(super) fn record(
        &mut self,
        node: &Node,
        fields: Option<&[String]>,
        contents: &crate::layout::Fields,
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        let fk = self.id();
        // A record's fields are carried eagerly (a lazy carry of a record
        // is an IndexedArray, projected eagerly when packed: its
        // parameters_union then drops the record's parameters that are null).
        let sliced = sel.sliced(node.len.get()?);
        let params = match &sliced {
            Sel::Gather(_, true) => params.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            _ => params,
        };
        let csel = match sliced {
            Sel::Gather(v, _) => Sel::Gather(v, false),
            other => other,
        };
        let contents = contents
            .iter()
            .map(|c| self.node(c, &csel))
            .collect::<Result<Vec<_>>>()?;
        let kind = FormKind::Record {
            fields: fields.map(<[String]>::to_vec),
            contents,
        };
        Ok(Arc::new(Form::new(kind, params, Some(fk))))
    }

    /// UnionArray: a content longer than its tag's count is projected to
    /// the entries in use and the index renumbered; the others kept whole.
    pub(super) fn union(
        &mut self,
        node: &Node,
        tags: &LazyBuf,
        index: &LazyBuf,
        contents: &[Arc<Node>],
        sel: &Sel,
        params: Parameters,
    ) -> Result<Arc<Form>> {
        let n = node.len.get()?;
        let t = select(tags, &tags.index()?, n, sel)?;
        let mut ix = select(index, &index.index()?, n, sel)?;
        if let Some(&x) = t.iter().find(|&&x| x < 0 || x as usize >= contents.len()) {
            return Err(bad(
                &node.info,
                &tags.key,
                format!("tag {x} names no content (there are {})", contents.len()),
            ));
        }
        let fk = self.id();
        let mut carries = Vec::with_capacity(contents.len());
        for (k, c) in contents.iter().enumerate() {
            let k = k as i64;
            let count = t.iter().filter(|&&x| x == k).count();
            if c.len.get()? <= count {
                carries.push(Sel::All);
                continue;
            }
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
        }
        let it = index_type(index);
        self.put(&fk, "tags", index_buffer(&t, IndexType::I8));
        self.put(&fk, "index", index_buffer(&ix, it));
        let contents = contents
            .iter()
            .zip(&carries)
            .map(|(c, s)| self.node(c, s))
            .collect::<Result<Vec<_>>>()?;
        let kind = FormKind::Union {
            tags: IndexType::I8,
            index: it,
            contents,
        };
        Ok(Arc::new(Form::new(kind, params, Some(fk))))
    }

    pub(super) fn numpy(
        &mut self,
        node: &Node,
        data: &LazyBuf,
        primitive: Primitive,
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
        let index = renumber(valid.iter().copied());
        let kept: Vec<usize> = carry
            .iter()
            .zip(valid)
            .filter(|(_, &v)| v)
            .map(|(&c, _)| c)
            .collect();
        self.put(&fk, "index", index_buffer(&index, IndexType::I64));
        // (Packing that IndexedOptionArray projects it lazily: the records
        // are carried again behind an IndexedArray.)
        let content = self.node(content, &Sel::Gather(kept, true))?;
        // awkward's IndexedOptionArray.simplified over the carried records'
        // IndexedArray: parameters_union(None, params), which drops the
        // parameters whose value is null.
        let params: Parameters = params.into_iter().filter(|(_, v)| !v.is_null()).collect();
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
    pub(super) fn byte_masked(
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

/// `0, 1, 2, ...` for the entries that are there, `-1` for the others.
fn renumber(present: impl Iterator<Item = bool>) -> Vec<i64> {
    let mut next = -1i64;
    present
        .map(|p| {
            if p {
                next += 1;
                next
            } else {
                -1
            }
        })
        .collect()
}
