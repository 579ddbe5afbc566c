//! Layouts: the twelve node classes over lazy buffers.
//!
//! A [`Node`] is a form node plus what is needed to read it: its length (a
//! lazy [`lazy::Len`]) and its buffers (lazy [`lazy::LazyBuf`]s). Building a
//! layout reads nothing and runs the cheap checks (index types per class,
//! canonical nesting, string contents); [`Node::validate`] runs the full,
//! reading checks on demand.

pub(crate) mod lazy;
mod project;
pub(crate) mod view;

use crate::buffer::ByteOrder;
use crate::error::{Error, Result};
use crate::form::{child_path, Form, FormKind, IndexType};
use crate::options::{BufferKey, Caching};
use lazy::{DType, LazyBuf, Len, LenRule, Loader, NodeInfo, UnionLens};
use std::sync::Arc;

/// One layout node. Cheap to clone through `Arc`; children are shared.
pub struct Node {
    pub(crate) form: Arc<Form>,
    pub(crate) info: NodeInfo,
    pub(crate) len: Arc<Len>,
    pub(crate) data: NodeData,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("class", &self.info.class)
            .field("path", &self.info.path)
            .field("length", &self.len.peek())
            .finish()
    }
}

/// The per-class buffers and children.
pub(crate) enum NodeData {
    Empty,
    Numpy {
        data: Arc<LazyBuf>,
    },
    Regular {
        content: Arc<Node>,
    },
    List {
        starts: Arc<LazyBuf>,
        stops: Arc<LazyBuf>,
        content: Arc<Node>,
    },
    ListOffset {
        offsets: Arc<LazyBuf>,
        content: Arc<Node>,
    },
    Indexed {
        index: Arc<LazyBuf>,
        content: Arc<Node>,
    },
    IndexedOption {
        index: Arc<LazyBuf>,
        content: Arc<Node>,
    },
    ByteMasked {
        mask: Arc<LazyBuf>,
        content: Arc<Node>,
    },
    BitMasked {
        mask: Arc<LazyBuf>,
        content: Arc<Node>,
    },
    Unmasked {
        content: Arc<Node>,
    },
    Record {
        contents: Vec<Arc<Node>>,
    },
    Union {
        tags: Arc<LazyBuf>,
        index: Arc<LazyBuf>,
        contents: Vec<Arc<Node>>,
    },
}

impl NodeData {
    /// The single content of a wrapper node.
    pub(crate) fn content(&self) -> Option<&Arc<Node>> {
        match self {
            NodeData::Regular { content }
            | NodeData::List { content, .. }
            | NodeData::ListOffset { content, .. }
            | NodeData::Indexed { content, .. }
            | NodeData::IndexedOption { content, .. }
            | NodeData::ByteMasked { content, .. }
            | NodeData::BitMasked { content, .. }
            | NodeData::Unmasked { content } => Some(content),
            _ => None,
        }
    }

    /// The node's own buffers, in awkward's order.
    pub(crate) fn buffers(&self) -> Vec<(&'static str, &Arc<LazyBuf>)> {
        match self {
            NodeData::Numpy { data } => vec![("data", data)],
            NodeData::List { starts, stops, .. } => vec![("starts", starts), ("stops", stops)],
            NodeData::ListOffset { offsets, .. } => vec![("offsets", offsets)],
            NodeData::Indexed { index, .. } | NodeData::IndexedOption { index, .. } => {
                vec![("index", index)]
            }
            NodeData::ByteMasked { mask, .. } | NodeData::BitMasked { mask, .. } => {
                vec![("mask", mask)]
            }
            NodeData::Union { tags, index, .. } => vec![("tags", tags), ("index", index)],
            _ => Vec::new(),
        }
    }
}

/// One buffer a layout refers to, as reported by [`crate::Array::buffers`].
///
/// ```
/// use akbuf::{from_buffers, Buffer, Form, MemorySource, Options};
///
/// let form = Form::from_json(r#"{"class": "NumpyArray", "primitive": "float32", "form_key": "node0"}"#)?;
/// let source = MemorySource::new().with("node0-data", Buffer::from_slice(&[1.0f32, 2.0]));
/// let array = from_buffers(&form, 2, source, Options::default())?;
/// let info = &array.buffers()[0];
/// assert_eq!((info.key.as_str(), info.dtype.as_str(), info.stored_bytes, info.loaded), ("node0-data", "float32", Some(8), false));
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferInfo {
    /// The buffer key.
    pub key: String,
    /// numpy's name of the element type (`int64`, `float32`, `datetime64[s]`).
    pub dtype: String,
    /// Path of the node that owns it.
    pub node: String,
    /// The attribute (`data`, `offsets`, ...).
    pub attribute: &'static str,
    /// Size stored in the source, if the source can tell without reading.
    pub stored_bytes: Option<u64>,
    /// Whether it has been read already.
    pub loaded: bool,
}

/// What `build` needs from `from_buffers`.
pub(crate) struct BuildCtx {
    pub(crate) loader: Arc<Loader>,
    pub(crate) byteorder: ByteOrder,
    pub(crate) buffer_key: BufferKey,
    pub(crate) caching: Caching,
    /// Lengths set by whoever built the buffers (to_packed), by form key,
    /// where they differ from what the rules would derive (a content kept
    /// longer than its index reaches, as awkward keeps it).
    pub(crate) known: Option<std::collections::HashMap<String, usize>>,
}

impl Node {
    /// The node's form.
    pub(crate) fn form(&self) -> &Arc<Form> {
        &self.form
    }

    /// Builds the layout for `form` with a known top-level `length`. Reads nothing.
    pub(crate) fn build_root(form: &Arc<Form>, length: usize, ctx: &BuildCtx) -> Result<Arc<Node>> {
        let info = NodeInfo {
            path: Arc::from("/"),
            class: form.class_name(),
        };
        build(form, Len::known(length, info.clone()), info, ctx)
    }

    /// Runs the full validation of the subtree, reading all its buffers.
    pub(crate) fn validate(&self) -> Result<()> {
        view::View::new(self)?.validate()
    }

    /// Collects every buffer reachable from this node, depth-first.
    pub(crate) fn collect_buffers(&self, out: &mut Vec<BufferInfo>) {
        for (attribute, b) in self.data.buffers() {
            out.push(BufferInfo {
                key: b.key.to_string(),
                dtype: b.dtype.name(),
                node: self.info.path.to_string(),
                attribute,
                stored_bytes: b.stored_size(),
                loaded: b.is_loaded(),
            });
        }
        for c in self.children() {
            c.collect_buffers(out);
        }
    }

    /// The child nodes, in order.
    pub(crate) fn children(&self) -> Vec<&Arc<Node>> {
        match &self.data {
            NodeData::Record { contents } | NodeData::Union { contents, .. } => {
                contents.iter().collect()
            }
            d => d.content().into_iter().collect(),
        }
    }
}

fn layout_err(info: &NodeInfo, message: impl Into<String>) -> Error {
    Error::Layout {
        node: info.path.to_string(),
        class: info.class,
        message: message.into(),
    }
}

fn check_index(
    info: &NodeInfo,
    attribute: &str,
    t: IndexType,
    allowed: &[IndexType],
) -> Result<()> {
    if allowed.contains(&t) {
        return Ok(());
    }
    let names: Vec<String> = allowed.iter().map(|a| a.numpy_name().to_string()).collect();
    Err(layout_err(
        info,
        format!(
            "'{attribute}' must be an Index with dtype in ({}), not {}",
            names.join(", "),
            t.numpy_name()
        ),
    ))
}

const LIST_INDEX: [IndexType; 3] = [IndexType::I32, IndexType::U32, IndexType::I64];

/// IndexedArray, IndexedOptionArray and the masked arrays cannot hold an option,
/// an indexed node, or (unless categorical) a union.
fn check_option_like_content(
    info: &NodeInfo,
    form: &Form,
    content: &Form,
    union_ok: bool,
) -> Result<()> {
    let cat = union_ok && form.array_parameter() == Some("categorical");
    if (content.is_union() && !cat) || content.is_indexed() || content.is_option() {
        return Err(layout_err(
            info,
            format!(
                "cannot contain a union-type{}, option-type, or indexed 'content' ({})",
                if union_ok {
                    " (unless categorical)"
                } else {
                    ""
                },
                content.class_name()
            ),
        ));
    }
    Ok(())
}

fn check_array_parameter(info: &NodeInfo, form: &Form) -> Result<()> {
    let Some(name) = form.array_parameter() else {
        return Ok(());
    };
    let is_list = matches!(
        form.kind(),
        FormKind::List { .. } | FormKind::ListOffset { .. } | FormKind::Regular { .. }
    );
    let bad = match name {
        "string" | "bytestring" => !is_list,
        "char" | "byte" => !matches!(form.kind(), FormKind::Numpy { .. }),
        "categorical" => !form.is_indexed(),
        "sorted_map" => !matches!(form.kind(), FormKind::Record { .. }),
        _ => false,
    };
    if bad {
        return Err(layout_err(
            info,
            format!(
                "{} is not allowed to have parameters[\"__array__\"] = \"{name}\"",
                info.class
            ),
        ));
    }
    match (name, form.kind()) {
        ("string" | "bytestring", _) => {
            let want = if name == "string" { "char" } else { "byte" };
            let ok = form.content().is_some_and(|c| {
                matches!(c.kind(), FormKind::Numpy { primitive: crate::Primitive::UInt8, inner_shape } if inner_shape.is_empty())
                    && c.array_parameter() == Some(want)
            });
            if !ok {
                return Err(layout_err(
                    info,
                    format!("is a {name}, so its 'content' must be uint8 NumpyArray of {want}"),
                ));
            }
        }
        (
            "char" | "byte",
            FormKind::Numpy {
                primitive,
                inner_shape,
            },
        ) if *primitive != crate::Primitive::UInt8 || !inner_shape.is_empty() => {
            return Err(layout_err(
                info,
                format!(
                    "is a {name}, so its 'data' must be 1-dimensional and uint8, not {primitive}"
                ),
            ));
        }
        _ => {}
    }
    Ok(())
}

fn build(form: &Arc<Form>, len: Arc<Len>, info: NodeInfo, ctx: &BuildCtx) -> Result<Arc<Node>> {
    check_array_parameter(&info, form)?;
    let lazy = |attribute: &str, dtype: DType, count: Arc<Len>| -> Arc<LazyBuf> {
        LazyBuf::new(
            Arc::from(ctx.buffer_key.key(form.form_key(), attribute)),
            dtype,
            count,
            info.clone(),
            Arc::clone(&ctx.loader),
            ctx.byteorder,
            ctx.caching.caches(form.form_key(), attribute),
        )
    };
    let child_info = |segment: &str, child: &Form| NodeInfo {
        path: Arc::from(child_path(&info.path, segment)),
        class: child.class_name(),
    };
    let sub = |segment: &str, child: &Arc<Form>, rule: LenRule| -> Result<Arc<Node>> {
        let ci = child_info(segment, child);
        let known = ctx.known.as_ref().and_then(|k| k.get(child.form_key()?));
        let len = match known {
            Some(&n) => Len::known(n, ci.clone()),
            None => Len::derived(rule, ci.clone()),
        };
        build(child, len, ci, ctx)
    };
    let sub_same = |segment: &str, child: &Arc<Form>| -> Result<Arc<Node>> {
        let ci = child_info(segment, child);
        build(child, Arc::clone(&len), ci, ctx)
    };

    let data = match form.kind() {
        FormKind::Empty => {
            if let Some(n) = len.peek() {
                if n != 0 {
                    return Err(Error::Length {
                        node: info.path.to_string(),
                        class: info.class,
                        expected: "0 (an EmptyArray has no elements)".into(),
                        actual: n,
                    });
                }
            }
            NodeData::Empty
        }
        FormKind::Numpy {
            primitive,
            inner_shape,
        } => {
            let factor = inner_shape
                .iter()
                .try_fold(1usize, |a, &b| a.checked_mul(b))
                .ok_or_else(|| layout_err(&info, "inner_shape product overflows"))?;
            let count = if factor == 1 {
                Arc::clone(&len)
            } else {
                Len::derived(LenRule::Mul(Arc::clone(&len), factor), info.clone())
            };
            NodeData::Numpy {
                data: lazy("data", DType::Prim(*primitive), count),
            }
        }
        FormKind::Regular { size, content } => NodeData::Regular {
            content: sub("[]", content, LenRule::Mul(Arc::clone(&len), *size))?,
        },
        FormKind::List {
            starts,
            stops,
            content,
        } => {
            check_index(&info, "starts", *starts, &LIST_INDEX)?;
            check_index(&info, "stops", *stops, &LIST_INDEX)?;
            if starts != stops {
                return Err(layout_err(
                    &info,
                    format!(
                        "'starts' and 'stops' must have the same dtype, not {starts} and {stops}"
                    ),
                ));
            }
            let s = lazy("starts", DType::Index(*starts), Arc::clone(&len));
            let e = lazy("stops", DType::Index(*stops), Arc::clone(&len));
            let content = sub(
                "[]",
                content,
                LenRule::Stops(Arc::clone(&s), Arc::clone(&e)),
            )?;
            NodeData::List {
                starts: s,
                stops: e,
                content,
            }
        }
        FormKind::ListOffset { offsets, content } => {
            check_index(&info, "offsets", *offsets, &LIST_INDEX)?;
            let count = Len::derived(LenRule::Plus1(Arc::clone(&len)), info.clone());
            let o = lazy("offsets", DType::Index(*offsets), count);
            let content = sub(
                "[]",
                content,
                LenRule::OffsetsLast(Arc::clone(&len), Arc::clone(&o)),
            )?;
            NodeData::ListOffset {
                offsets: o,
                content,
            }
        }
        FormKind::Indexed { index, content } => {
            check_index(&info, "index", *index, &LIST_INDEX)?;
            check_option_like_content(&info, form, content, true)?;
            let i = lazy("index", DType::Index(*index), Arc::clone(&len));
            let content = sub("index", content, LenRule::IndexMax(Arc::clone(&i)))?;
            NodeData::Indexed { index: i, content }
        }
        FormKind::IndexedOption { index, content } => {
            check_index(&info, "index", *index, &[IndexType::I32, IndexType::I64])?;
            check_option_like_content(&info, form, content, true)?;
            let i = lazy("index", DType::Index(*index), Arc::clone(&len));
            let content = sub("?", content, LenRule::IndexMax(Arc::clone(&i)))?;
            NodeData::IndexedOption { index: i, content }
        }
        FormKind::ByteMasked { mask, content, .. } => {
            check_index(&info, "mask", *mask, &[IndexType::I8])?;
            check_option_like_content(&info, form, content, false)?;
            NodeData::ByteMasked {
                mask: lazy("mask", DType::Index(*mask), Arc::clone(&len)),
                content: sub_same("?", content)?,
            }
        }
        FormKind::BitMasked { mask, content, .. } => {
            check_index(&info, "mask", *mask, &[IndexType::U8])?;
            check_option_like_content(&info, form, content, false)?;
            let count = Len::derived(LenRule::Bits(Arc::clone(&len)), info.clone());
            NodeData::BitMasked {
                mask: lazy("mask", DType::Index(*mask), count),
                content: sub_same("?", content)?,
            }
        }
        FormKind::Unmasked { content } => {
            check_option_like_content(&info, form, content, false)?;
            NodeData::Unmasked {
                content: sub_same("?", content)?,
            }
        }
        FormKind::Record { fields, contents } => {
            let mut nodes = Vec::with_capacity(contents.len());
            for (i, c) in contents.iter().enumerate() {
                let seg = match fields {
                    Some(f) => f[i].clone(),
                    None => i.to_string(),
                };
                nodes.push(sub_same(&seg, c)?);
            }
            NodeData::Record { contents: nodes }
        }
        FormKind::Union {
            tags,
            index,
            contents,
        } => {
            check_index(&info, "tags", *tags, &[IndexType::I8])?;
            check_index(&info, "index", *index, &LIST_INDEX)?;
            if contents.len() < 2 {
                return Err(layout_err(&info, "must have at least 2 'contents'"));
            }
            let mut options = 0;
            for c in contents {
                if c.is_union() {
                    return Err(layout_err(
                        &info,
                        format!(
                            "cannot contain union-types in its 'contents' ({})",
                            c.class_name()
                        ),
                    ));
                }
                if c.is_option() {
                    options += 1;
                } else if c.is_indexed() && c.array_parameter() != Some("categorical") {
                    return Err(layout_err(
                        &info,
                        format!(
                            "cannot contain non-categorical indexed-types in its 'contents' ({})",
                            c.class_name()
                        ),
                    ));
                }
            }
            if options != 0 && options != contents.len() {
                return Err(layout_err(
                    &info,
                    "must either be comprised of entirely optional contents, or no optional contents",
                ));
            }
            let t = lazy("tags", DType::Index(*tags), Arc::clone(&len));
            let x = lazy("index", DType::Index(*index), Arc::clone(&len));
            let lens = UnionLens::new(Arc::clone(&t), Arc::clone(&x), contents.len());
            let mut nodes = Vec::with_capacity(contents.len());
            for (i, c) in contents.iter().enumerate() {
                nodes.push(sub(
                    &format!("#{i}"),
                    c,
                    LenRule::UnionContent(Arc::clone(&lens), i),
                )?);
            }
            NodeData::Union {
                tags: t,
                index: x,
                contents: nodes,
            }
        }
    };
    Ok(Arc::new(Node {
        form: Arc::clone(form),
        info,
        len,
        data,
    }))
}
