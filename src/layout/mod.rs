//! Layouts: the twelve node classes over lazy buffers.
//!
//! A [`Node`] is a form node plus what is needed to read it: its length (a
//! lazy [`lazy::Len`]) and its buffers (lazy [`lazy::LazyBuf`]s). Building a
//! layout reads nothing and runs the cheap checks (index types per class,
//! canonical nesting, string contents); [`Node::validate`] runs the full,
//! reading checks on demand.

mod build;
pub(crate) mod lazy;
mod project;
pub(crate) mod structural;
pub(crate) mod view;

use crate::buffer::ByteOrder;
use crate::error::Result;
use crate::form::{Form, Primitive};
use crate::options::{BufferKey, Caching};
use lazy::{LazyBuf, Len, Loader, NodeInfo};
use once_cell::sync::OnceCell;
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

/// Each class's buffers, attributes and children: everything reading,
/// packing and viewing a node needs, so that no code matches a node
/// against its form.
pub(crate) enum NodeData {
    Empty,
    Numpy {
        data: Arc<LazyBuf>,
        primitive: Primitive,
        inner_shape: Arc<[usize]>,
    },
    Regular {
        size: usize,
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
        valid_when: bool,
        content: Arc<Node>,
    },
    BitMasked {
        mask: Arc<LazyBuf>,
        valid_when: bool,
        lsb_order: bool,
        content: Arc<Node>,
    },
    Unmasked {
        content: Arc<Node>,
    },
    Record {
        /// The fields (names and nodes; no names for a tuple).
        contents: Fields,
    },
    Union {
        tags: Arc<LazyBuf>,
        index: Arc<LazyBuf>,
        contents: Vec<Arc<Node>>,
    },
}

/// A record's fields, each built when first reached: a record of 2,000
/// fields opened to read one builds one node. (The form was checked whole
/// at open, so building cannot fail.)
pub(crate) struct Fields {
    /// The record's form: its field names and content forms.
    form: Arc<Form>,
    nodes: Box<[OnceCell<Arc<Node>>]>,
    len: Arc<Len>,
    parent: NodeInfo,
    ctx: Arc<BuildCtx>,
}

impl Fields {
    fn new(form: Arc<Form>, len: Arc<Len>, parent: NodeInfo, ctx: Arc<BuildCtx>) -> Fields {
        let n = form.record_parts().map_or(0, |(_, c)| c.len());
        let nodes = (0..n).map(|_| OnceCell::new()).collect();
        Fields {
            form,
            nodes,
            len,
            parent,
            ctx,
        }
    }

    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The field names (`None` for a tuple).
    pub(crate) fn names(&self) -> Option<&[String]> {
        self.form.record_parts().and_then(|(names, _)| names)
    }

    /// Field `i`, built if need be.
    pub(crate) fn get(&self, i: usize) -> &Arc<Node> {
        self.nodes[i].get_or_init(|| {
            let (names, forms) = self.form.record_parts().unwrap_or((None, &[]));
            let segment = match names {
                Some(names) => names[i].clone(),
                None => i.to_string(),
            };
            let form = &forms[i];
            let info = build::child_info(&self.parent, &segment, form);
            build::build(form, Arc::clone(&self.len), info, &self.ctx)
        })
    }

    /// Fields `picked` of this record (built if need be) as the fields of
    /// a record of form `form`.
    pub(crate) fn subset(&self, form: Arc<Form>, picked: &[usize]) -> Fields {
        let nodes = picked
            .iter()
            .map(|&i| OnceCell::with_value(Arc::clone(self.get(i))))
            .collect();
        Fields {
            form,
            nodes,
            len: Arc::clone(&self.len),
            parent: self.parent.clone(),
            ctx: Arc::clone(&self.ctx),
        }
    }

    /// Every field, in order, built if need be.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &Arc<Node>> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
}

impl NodeData {
    /// The single content of a wrapper node.
    pub(crate) fn content(&self) -> Option<&Arc<Node>> {
        match self {
            NodeData::Regular { content, .. }
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

    /// The same wrapper (buffers and attributes) around another content;
    /// `None` for nodes without a single content.
    pub(crate) fn with_content(&self, content: Arc<Node>) -> Option<NodeData> {
        let c = Arc::clone;
        Some(match self {
            NodeData::Regular { size, .. } => NodeData::Regular {
                size: *size,
                content,
            },
            NodeData::List { starts, stops, .. } => NodeData::List {
                starts: c(starts),
                stops: c(stops),
                content,
            },
            NodeData::ListOffset { offsets, .. } => NodeData::ListOffset {
                offsets: c(offsets),
                content,
            },
            NodeData::Indexed { index, .. } => NodeData::Indexed {
                index: c(index),
                content,
            },
            NodeData::IndexedOption { index, .. } => NodeData::IndexedOption {
                index: c(index),
                content,
            },
            NodeData::ByteMasked {
                mask, valid_when, ..
            } => NodeData::ByteMasked {
                mask: c(mask),
                valid_when: *valid_when,
                content,
            },
            NodeData::BitMasked {
                mask,
                valid_when,
                lsb_order,
                ..
            } => NodeData::BitMasked {
                mask: c(mask),
                valid_when: *valid_when,
                lsb_order: *lsb_order,
                content,
            },
            NodeData::Unmasked { .. } => NodeData::Unmasked { content },
            _ => return None,
        })
    }

    /// The node's own buffers, in awkward's order.
    pub(crate) fn buffers(&self) -> Vec<(&'static str, &Arc<LazyBuf>)> {
        match self {
            NodeData::Numpy { data, .. } => vec![("data", data)],
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
#[non_exhaustive]
pub struct BufferInfo {
    /// The buffer key.
    pub key: String,
    /// The field path of the node that owns it, dotted (`jets.pt`; tuple
    /// slots by number; empty at the top).
    pub field: String,
    /// numpy's name of the element type (`int64`, `float32`, `datetime64[s]`).
    pub dtype: String,
    /// Path of the node that owns it.
    pub node: String,
    /// The attribute (`data`, `offsets`, ...).
    pub attribute: &'static str,
    /// The form key of the node that owns it (in its own container's form:
    /// the containers of a dataset may key the same form differently).
    pub form_key: Option<String>,
    /// Size stored in the source, if the source can tell without reading
    /// (or, from [`crate::Array::stat_buffers`], once asked).
    pub stored_bytes: Option<u64>,
    /// Whether the source stores it: `Some(true)` it does, `Some(false)`
    /// it does not (a missing buffer), `None` not known without asking
    /// the storage (a remote object not yet read: see
    /// [`crate::Array::stat_buffers`]; a slice's or an Arrow column's
    /// buffer, known once read).
    pub present: Option<bool>,
    /// Whether it has been read already.
    pub loaded: bool,
    /// The partition it belongs to, for a partitioned array.
    pub partition: Option<usize>,
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

    /// Checks the whole form, then builds the layout for `form` with a known
    /// top-level `length` (a record's fields when first reached). Reads nothing.
    pub(crate) fn build_root(
        form: &Arc<Form>,
        length: usize,
        ctx: &Arc<BuildCtx>,
    ) -> Result<Arc<Node>> {
        build::check(form, Some(length), &build::At::root(form), ctx)?;
        let info = NodeInfo {
            path: Arc::from("/"),
            class: form.class_name(),
        };
        Ok(build::build(
            form,
            Len::known(length, info.clone()),
            info,
            ctx,
        ))
    }

    /// Runs the full validation of the subtree, reading all its buffers.
    pub(crate) fn validate(&self) -> Result<()> {
        view::View::new(self)?.validate()
    }

    /// Collects every buffer reachable from this node, depth-first.
    pub(crate) fn collect_buffers(&self, out: &mut Vec<BufferInfo>) {
        self.visit_buffers("", &mut |info, _, _| out.push(info));
    }

    /// Calls `f` with each buffer reachable from this node (at the field
    /// path `field`), depth-first: its description and the lazy buffer.
    pub(crate) fn visit_buffers(
        &self,
        field: &str,
        f: &mut dyn FnMut(BufferInfo, &Arc<LazyBuf>, &NodeData),
    ) {
        for (attribute, b) in self.data.buffers() {
            let info = BufferInfo {
                key: b.key.to_string(),
                field: field.to_string(),
                dtype: b.dtype.name(),
                node: self.info.path.to_string(),
                attribute,
                form_key: self.form.form_key().map(str::to_string),
                stored_bytes: b.stored_size(),
                present: b.stored_size().map(|_| true),
                loaded: b.is_loaded(),
                partition: None,
            };
            f(info, b, &self.data);
        }
        match &self.data {
            NodeData::Record { contents } => {
                for (i, c) in contents.iter().enumerate() {
                    let name = match contents.names() {
                        Some(f) => f[i].clone(),
                        None => i.to_string(),
                    };
                    let path = if field.is_empty() {
                        name
                    } else {
                        format!("{field}.{name}")
                    };
                    c.visit_buffers(&path, f);
                }
            }
            _ => {
                for c in self.children() {
                    c.visit_buffers(field, f);
                }
            }
        }
    }

    /// The child nodes, in order.
    pub(crate) fn children(&self) -> Vec<&Arc<Node>> {
        match &self.data {
            NodeData::Record { contents, .. } => contents.iter().collect(),
            NodeData::Union { contents, .. } => contents.iter().collect(),
            d => d.content().into_iter().collect(),
        }
    }
}
