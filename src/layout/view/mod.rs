//! Materialized views: a node's subtree with its buffers fetched, for
//! element access, JSON output and full validation.
//!
//! Building a view touches exactly the buffers of the subtree (each through
//! its lazy buffer, so at most one read per key). Every access is bounds
//! checked against the lengths the layout derived, so corrupt offsets or
//! indexes give an [`Error::InvalidData`] naming the key, never a panic.

use super::lazy::{Index, NodeInfo};
use super::{Node, NodeData};
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::form::Primitive;
use crate::value::{f16_to_f64, f80_to_f64, Value};

mod json;
mod unique;
mod value;

pub(crate) use json::JsonOut;
use std::sync::Arc;
pub(crate) use value::Budget;

pub(crate) struct View<'a> {
    node: &'a Node,
    pub(crate) len: usize,
    /// Bytes of the materialized buffers of the subtree.
    bytes: usize,
    kind: ViewKind<'a>,
}

enum StrKind {
    No,
    String,
    Bytes,
}

enum ViewKind<'a> {
    Empty,
    Numpy {
        data: Buffer,
        primitive: Primitive,
        inner: &'a [usize],
        stride: usize,
    },
    Regular {
        size: usize,
        strings: StrKind,
        content: Box<View<'a>>,
    },
    List {
        starts: Index,
        stops: Index,
        strings: StrKind,
        content: Box<View<'a>>,
    },
    ListOffset {
        offsets: Index,
        strings: StrKind,
        content: Box<View<'a>>,
    },
    Indexed {
        index: Index,
        content: Box<View<'a>>,
    },
    IndexedOption {
        index: Index,
        content: Box<View<'a>>,
    },
    ByteMasked {
        mask: Index,
        valid_when: bool,
        content: Box<View<'a>>,
    },
    BitMasked {
        mask: Index,
        valid_when: bool,
        lsb_order: bool,
        content: Box<View<'a>>,
    },
    Unmasked {
        content: Box<View<'a>>,
    },
    Record {
        fields: Option<Arc<[String]>>,
        /// Where names repeat: the fields JSON shows, in order (see
        /// `value::dict_order`).
        order: Option<Arc<[usize]>>,
        contents: Vec<View<'a>>,
    },
    Union {
        tags: Index,
        index: Index,
        contents: Vec<View<'a>>,
    },
}

impl ViewKind<'_> {
    /// Bytes of the materialized buffers of the subtree.
    fn bytes(&self) -> usize {
        let sub = |c: &View<'_>| c.bytes;
        match self {
            ViewKind::Empty => 0,
            ViewKind::Numpy { data, .. } => data.len(),
            ViewKind::Regular { content, .. } | ViewKind::Unmasked { content } => sub(content),
            ViewKind::List {
                starts,
                stops,
                content,
                ..
            } => starts
                .bytes()
                .saturating_add(stops.bytes())
                .saturating_add(sub(content)),
            ViewKind::ListOffset {
                offsets: index,
                content,
                ..
            }
            | ViewKind::Indexed { index, content }
            | ViewKind::IndexedOption { index, content }
            | ViewKind::ByteMasked {
                mask: index,
                content,
                ..
            }
            | ViewKind::BitMasked {
                mask: index,
                content,
                ..
            } => index.bytes().saturating_add(sub(content)),
            ViewKind::Record { contents, .. } => contents
                .iter()
                .fold(0usize, |a, c| a.saturating_add(c.bytes)),
            ViewKind::Union {
                tags,
                index,
                contents,
            } => contents
                .iter()
                .fold(tags.bytes().saturating_add(index.bytes()), |a, c| {
                    a.saturating_add(c.bytes)
                }),
        }
    }
}

fn strings(node: &Node) -> StrKind {
    match node.form.array_parameter() {
        Some("string") => StrKind::String,
        Some("bytestring") => StrKind::Bytes,
        _ => StrKind::No,
    }
}

impl<'a> View<'a> {
    /// Materializes the subtree under `node`.
    pub(crate) fn new(node: &'a Node) -> Result<View<'a>> {
        let len = node.len.get()?;
        let sub = |c: &'a Arc<Node>| -> Result<Box<View<'a>>> { Ok(Box::new(View::new(c)?)) };
        let all = |cs: &'a [Arc<Node>]| cs.iter().map(|c| View::new(c)).collect::<Result<_>>();
        let kind = match &node.data {
            NodeData::Empty if len != 0 => {
                return Err(Error::Length {
                    node: node.info.path.to_string(),
                    class: node.info.class,
                    expected: "0 (an EmptyArray has no elements)".into(),
                    actual: len,
                })
            }
            NodeData::Empty => ViewKind::Empty,
            NodeData::Numpy {
                data,
                primitive,
                inner_shape,
            } => ViewKind::Numpy {
                data: data.get()?,
                primitive: *primitive,
                inner: inner_shape,
                stride: inner_shape.iter().product(),
            },
            NodeData::Regular { size, content } => ViewKind::Regular {
                size: *size,
                strings: strings(node),
                content: sub(content)?,
            },
            NodeData::List {
                starts,
                stops,
                content,
            } => ViewKind::List {
                starts: starts.index()?,
                stops: stops.index()?,
                strings: strings(node),
                content: sub(content)?,
            },
            NodeData::ListOffset { offsets, content } => ViewKind::ListOffset {
                offsets: offsets.index()?,
                strings: strings(node),
                content: sub(content)?,
            },
            NodeData::Indexed { index, content } => ViewKind::Indexed {
                index: index.index()?,
                content: sub(content)?,
            },
            NodeData::IndexedOption { index, content } => ViewKind::IndexedOption {
                index: index.index()?,
                content: sub(content)?,
            },
            NodeData::ByteMasked {
                mask,
                valid_when,
                content,
            } => ViewKind::ByteMasked {
                mask: mask.index()?,
                valid_when: *valid_when,
                content: sub(content)?,
            },
            NodeData::BitMasked {
                mask,
                valid_when,
                lsb_order,
                content,
            } => ViewKind::BitMasked {
                mask: mask.index()?,
                valid_when: *valid_when,
                lsb_order: *lsb_order,
                content: sub(content)?,
            },
            NodeData::Unmasked { content } => ViewKind::Unmasked {
                content: sub(content)?,
            },
            NodeData::Record { contents } => ViewKind::Record {
                fields: contents.names().map(Arc::from),
                order: contents
                    .names()
                    .and_then(crate::value::dict_order)
                    .map(Arc::from),
                contents: contents
                    .iter()
                    .map(|c| View::new(c))
                    .collect::<Result<_>>()?,
            },
            NodeData::Union {
                tags,
                index,
                contents,
            } => ViewKind::Union {
                tags: tags.index()?,
                index: index.index()?,
                contents: all(contents)?,
            },
        };
        let bytes = kind.bytes();
        Ok(View {
            node,
            len,
            bytes,
            kind,
        })
    }

    fn info(&self) -> &NodeInfo {
        &self.node.info
    }

    fn key(&self, attribute: &str) -> String {
        self.node
            .data
            .buffers()
            .into_iter()
            .find(|(a, _)| *a == attribute)
            .map(|(_, b)| b.key.to_string())
            .unwrap_or_default()
    }

    /// A problem of the node's structure, not of a buffer's values.
    fn layout(&self, message: String) -> Error {
        Error::Layout {
            node: self.info().path.to_string(),
            class: self.info().class,
            message,
        }
    }

    fn bad(&self, attribute: &str, message: String) -> Error {
        self.info().invalid(&self.key(attribute), message)
    }

    /// The content range of list `i` (RegularArray, ListArray, ListOffsetArray).
    fn list_range(&self, i: usize, content_len: usize) -> Result<(usize, usize)> {
        let (start, stop, attr) = match &self.kind {
            ViewKind::Regular { size, .. } => {
                let s = i * size;
                return Ok((s, s + size));
            }
            ViewKind::List { starts, stops, .. } => (starts.get(i), stops.get(i), "stops"),
            ViewKind::ListOffset { offsets, .. } => (offsets.get(i), offsets.get(i + 1), "offsets"),
            _ => return Err(self.bad("", "not a list".into())),
        };
        if start < 0 || stop < start || stop as u64 > content_len as u64 {
            let what = if start == stop {
                return Ok((0, 0));
            } else if start < 0 {
                format!("list {i} starts at {start}, which is negative")
            } else if stop < start {
                format!("list {i} goes backwards: start {start} > stop {stop}")
            } else {
                format!("list {i} ends at {stop}, past the content's length {content_len}")
            };
            return Err(self.bad(attr, what));
        }
        Ok((start as usize, stop as usize))
    }

    /// For option and indexed nodes: the content position of element `i`, or
    /// `None` if it is missing.
    fn project(&self, i: usize, content_len: usize) -> Result<Option<usize>> {
        match &self.kind {
            ViewKind::Indexed { index, .. } => {
                let j = index.get(i);
                if j < 0 || j as u64 >= content_len as u64 {
                    return Err(self.bad(
                        "index",
                        format!(
                            "index[{i}] = {j} is out of range for content of length {content_len}"
                        ),
                    ));
                }
                Ok(Some(j as usize))
            }
            ViewKind::IndexedOption { index, .. } => {
                let j = index.get(i);
                if j < 0 {
                    return Ok(None);
                }
                if j as u64 >= content_len as u64 {
                    return Err(self.bad(
                        "index",
                        format!(
                            "index[{i}] = {j} is out of range for content of length {content_len}"
                        ),
                    ));
                }
                Ok(Some(j as usize))
            }
            ViewKind::ByteMasked {
                mask, valid_when, ..
            } => Ok(((mask.get(i) != 0) == *valid_when).then_some(i)),
            ViewKind::BitMasked {
                mask,
                valid_when,
                lsb_order,
                ..
            } => {
                let byte = mask.get(i / 8);
                let bit = if *lsb_order {
                    (byte >> (i % 8)) & 1
                } else {
                    (byte >> (7 - i % 8)) & 1
                };
                Ok(((bit != 0) == *valid_when).then_some(i))
            }
            ViewKind::Unmasked { .. } => Ok(Some(i)),
            _ => Err(self.bad("", "not an option or indexed node".into())),
        }
    }

    /// For unions: the content number and the position in it.
    fn select(&self, i: usize) -> Result<(usize, usize)> {
        let ViewKind::Union {
            tags,
            index,
            contents,
        } = &self.kind
        else {
            return Err(self.bad("", "not a union".into()));
        };
        let t = tags.get(i);
        if t < 0 || t as usize >= contents.len() {
            return Err(self.bad(
                "tags",
                format!(
                    "tags[{i}] = {t} is out of range for {} contents",
                    contents.len()
                ),
            ));
        }
        let t = t as usize;
        let j = index.get(i);
        let clen = contents[t].len;
        if j < 0 || j as u64 >= clen as u64 {
            return Err(self.bad(
                "index",
                format!("index[{i}] = {j} is out of range for content {t} of length {clen}"),
            ));
        }
        Ok((t, j as usize))
    }

    fn scalar(&self, data: &Buffer, primitive: Primitive, k: usize) -> Value {
        let size = primitive.itemsize();
        let b = &data.as_slice()[k * size..(k + 1) * size];
        macro_rules! ne {
            ($t:ty) => {{
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..std::mem::size_of::<$t>()]);
                <$t>::from_ne_bytes(a)
            }};
        }
        match primitive {
            Primitive::Bool => Value::Bool(b[0] != 0),
            Primitive::Int8 => Value::Int(i64::from(b[0] as i8)),
            Primitive::UInt8 => Value::UInt(u64::from(b[0])),
            Primitive::Int16 => Value::Int(i64::from(ne!(i16))),
            Primitive::UInt16 => Value::UInt(u64::from(ne!(u16))),
            Primitive::Int32 => Value::Int(i64::from(ne!(i32))),
            Primitive::UInt32 => Value::UInt(u64::from(ne!(u32))),
            Primitive::Int64 => Value::Int(ne!(i64)),
            Primitive::UInt64 => Value::UInt(ne!(u64)),
            Primitive::Float16 => Value::Float(f16_to_f64(ne!(u16))),
            Primitive::Float32 => Value::Float(f64::from(ne!(f32))),
            Primitive::Float64 => Value::Float(ne!(f64)),
            Primitive::Float128 => Value::Float(f80_to_f64(b)),
            Primitive::Complex64 => {
                let (re, im) = b.split_at(4);
                let f = |x: &[u8]| f64::from(f32::from_ne_bytes([x[0], x[1], x[2], x[3]]));
                Value::Complex(f(re), f(im))
            }
            Primitive::Complex128 => {
                let (re, im) = b.split_at(8);
                let f = |x: &[u8]| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(x);
                    f64::from_ne_bytes(a)
                };
                Value::Complex(f(re), f(im))
            }
            Primitive::Complex256 => {
                let (re, im) = b.split_at(16);
                Value::Complex(f80_to_f64(re), f80_to_f64(im))
            }
            Primitive::Datetime64(u) => Value::DateTime(ne!(i64), u),
            Primitive::Timedelta64(u) => Value::TimeDelta(ne!(i64), u),
        }
    }

    /// The bytes of a string or bytestring: `range` of the content's data.
    fn string_bytes<'v>(&self, content: &'v View<'_>, range: (usize, usize)) -> Result<&'v [u8]> {
        match &content.kind {
            ViewKind::Numpy { data, .. } => Ok(&data.as_slice()[range.0..range.1]),
            _ => Err(self.bad("", "string content is not a NumpyArray".into())),
        }
    }

    fn out_of_range(&self, i: usize) -> Error {
        Error::OutOfRange {
            index: i,
            length: 0,
            node: self.info().path.to_string(),
            class: self.info().class,
        }
    }

    /// Checks every element-level rule of the subtree (the full validation).
    pub(crate) fn validate(&self) -> Result<()> {
        match &self.kind {
            ViewKind::Empty | ViewKind::Numpy { .. } => Ok(()),
            ViewKind::Regular { content, .. } => content.validate(),
            ViewKind::List { content, .. } | ViewKind::ListOffset { content, .. } => {
                if let ViewKind::ListOffset { offsets, .. } = &self.kind {
                    // Offsets must be non-decreasing, which also catches
                    // empty lists that "go backwards".
                    for i in 0..self.len {
                        let (a, b) = (offsets.get(i), offsets.get(i + 1));
                        if b < a {
                            return Err(self.bad(
                                "offsets",
                                format!("offsets go backwards at {i}: offsets[{i}] = {a} > offsets[{}] = {b}", i + 1),
                            ));
                        }
                    }
                }
                for i in 0..self.len {
                    self.list_range(i, content.len)?;
                }
                content.validate()
            }
            ViewKind::Indexed { content, .. }
            | ViewKind::IndexedOption { content, .. }
            | ViewKind::ByteMasked { content, .. }
            | ViewKind::BitMasked { content, .. }
            | ViewKind::Unmasked { content } => {
                for i in 0..self.len {
                    self.project(i, content.len)?;
                }
                let categorical = matches!(
                    self.kind,
                    ViewKind::Indexed { .. } | ViewKind::IndexedOption { .. }
                ) && self.node.form.array_parameter() == Some("categorical");
                if categorical && !content.unique_at(&unique::Pick::From(0))? {
                    return Err(self.layout(
                        "__array__ = \"categorical\" requires contents to be unique".into(),
                    ));
                }
                content.validate()
            }
            ViewKind::Record {
                contents, fields, ..
            } => {
                contents.iter().try_for_each(View::validate)?;
                let mut seen = std::collections::HashSet::new();
                match fields
                    .iter()
                    .flat_map(|f| f.iter())
                    .find(|f| !seen.insert(*f))
                {
                    // (awkward's words: Python's repr of the name)
                    Some(twice) => Err(self.layout(format!("duplicate field {}", py_repr(twice)))),
                    None => Ok(()),
                }
            }
            ViewKind::Union { contents, .. } => {
                for i in 0..self.len {
                    self.select(i)?;
                }
                // No two contents may be mergeable (booleans and numbers
                // apart), as ak.validity_error checks.
                let forms: Vec<_> = contents.iter().map(|c| &c.node.form).collect();
                for (i, a) in forms.iter().enumerate() {
                    for (j, b) in forms[..i].iter().enumerate() {
                        if a.mergeable(b) {
                            return Err(
                                self.layout(format!("content({i}) is mergeable with content({j})"))
                            );
                        }
                    }
                }
                contents.iter().try_for_each(View::validate)
            }
        }
    }
}

/// Python's `repr` of a string, as awkward's messages quote names.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}
