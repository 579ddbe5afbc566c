//! Forms: the JSON schema of an Awkward Array.
//!
//! A [`Form`] is a tree of nodes, one per layout class, each with optional
//! parameters and a `form_key` that names its buffers. [`Form::from_json`]
//! accepts everything awkward 2.14's `from_dict` accepts (verbose or terse,
//! bare-string primitives, awkward 1.x class names, dict-valued record
//! contents); [`Form::to_json`] writes awkward's verbose JSON in its key order,
//! byte for byte.
//!
//! ```
//! use akbuf::Form;
//!
//! let form = Form::from_json(r#"{"class": "ListOffsetArray64", "offsets": "i64", "content": "float32"}"#)?;
//! assert_eq!(
//!     form.to_json(),
//!     r#"{"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "float32", "inner_shape": [], "parameters": {}, "form_key": null}, "parameters": {}, "form_key": null}"#
//! );
//! assert_eq!(form.type_string(), "var * float32");
//! # Ok::<(), akbuf::Error>(())
//! ```

pub(crate) mod fast;
pub(crate) mod json;
mod key;
mod merge;
pub(crate) mod parse;
mod primitive;
mod typestr;
mod write;

pub use primitive::{IndexType, Primitive, TimeUnit};

use key::Key;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Node parameters: an ordered JSON object (`__array__`, `__record__`, user keys).
pub type Parameters = Map<String, Value>;

/// One node of a Form tree.
///
/// ```
/// use akbuf::{Form, FormKind};
///
/// let form = Form::from_json(r#"{"class": "RecordArray", "fields": ["x"], "contents": ["int64"], "form_key": "node0"}"#)?;
/// assert_eq!(form.class_name(), "RecordArray");
/// assert_eq!(form.form_key(), Some("node0"));
/// assert!(matches!(form.kind(), FormKind::Record { fields: Some(f), .. } if f == &["x".to_string()]));
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    kind: FormKind,
    /// `None` when empty: most nodes have none, and a form of many
    /// thousand nodes is made on every open.
    parameters: Option<Box<Parameters>>,
    form_key: Option<Key>,
}

/// The parameters of a node that has none.
fn no_parameters() -> &'static Parameters {
    static EMPTY: std::sync::OnceLock<Parameters> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Parameters::new)
}

/// Parameters as a node keeps them.
fn kept(parameters: Parameters) -> Option<Box<Parameters>> {
    (!parameters.is_empty()).then(|| Box::new(parameters))
}

/// The class of a Form node and its class-specific attributes.
///
/// Children are held in [`Arc`]s so that a node can be re-wrapped around a
/// child (as field projection does) without copying the child's subtree.
///
/// ```
/// use akbuf::{Form, FormKind, IndexType};
///
/// let form = Form::from_json(r#"{"class": "BitMaskedArray", "mask": "u8", "valid_when": true, "lsb_order": true, "content": "float64"}"#)?;
/// match form.kind() {
///     FormKind::BitMasked { mask, valid_when, lsb_order, content } => {
///         assert_eq!((*mask, *valid_when, *lsb_order), (IndexType::U8, true, true));
///         assert_eq!(content.type_string(), "float64");
///     }
///     other => panic!("unexpected {}", other.class_name()),
/// }
/// # Ok::<(), akbuf::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FormKind {
    /// `EmptyArray`: no buffers, length must be 0; type `unknown`.
    Empty,
    /// `NumpyArray`: a `data` buffer of a primitive, optionally with a
    /// fixed-size inner shape.
    Numpy {
        /// Element type.
        primitive: Primitive,
        /// Fixed inner dimensions (C order).
        inner_shape: Vec<usize>,
    },
    /// `RegularArray`: lists of fixed `size`, no buffers.
    Regular {
        /// List size (may be 0).
        size: usize,
        /// The content.
        content: Arc<Form>,
    },
    /// `ListArray`: `starts` and `stops` buffers.
    List {
        /// Index type of `starts` and `stops` (must be equal).
        starts: IndexType,
        /// Index type of `stops`.
        stops: IndexType,
        /// The content.
        content: Arc<Form>,
    },
    /// `ListOffsetArray`: an `offsets` buffer of length + 1.
    ListOffset {
        /// Index type of `offsets`.
        offsets: IndexType,
        /// The content.
        content: Arc<Form>,
    },
    /// `IndexedArray`: an `index` buffer into the content.
    Indexed {
        /// Index type of `index`.
        index: IndexType,
        /// The content.
        content: Arc<Form>,
    },
    /// `IndexedOptionArray`: an `index` buffer, negative entries are missing.
    IndexedOption {
        /// Index type of `index`.
        index: IndexType,
        /// The content.
        content: Arc<Form>,
    },
    /// `ByteMaskedArray`: one `mask` byte per element.
    ByteMasked {
        /// Index type of `mask` (must be `i8`).
        mask: IndexType,
        /// Whether a non-zero mask byte means valid.
        valid_when: bool,
        /// The content.
        content: Arc<Form>,
    },
    /// `BitMaskedArray`: one `mask` bit per element.
    BitMasked {
        /// Index type of `mask` (must be `u8`).
        mask: IndexType,
        /// Whether a set bit means valid.
        valid_when: bool,
        /// Whether bit `i % 8` is counted from the least significant bit.
        lsb_order: bool,
        /// The content.
        content: Arc<Form>,
    },
    /// `UnmaskedArray`: an option type with no missing values, no buffers.
    Unmasked {
        /// The content.
        content: Arc<Form>,
    },
    /// `RecordArray`: named fields, or a tuple when `fields` is `None`.
    Record {
        /// Field names, or `None` for a tuple.
        fields: Option<Vec<String>>,
        /// One content per field.
        contents: Vec<Arc<Form>>,
    },
    /// `UnionArray`: `tags` (i8) and `index` buffers selecting among contents.
    Union {
        /// Index type of `tags` (must be `i8`).
        tags: IndexType,
        /// Index type of `index`.
        index: IndexType,
        /// The alternatives.
        contents: Vec<Arc<Form>>,
    },
}

impl Form {
    /// Builds a form node from its parts.
    pub fn new(kind: FormKind, parameters: Parameters, form_key: Option<String>) -> Form {
        Form {
            kind,
            parameters: kept(parameters),
            form_key: form_key.as_deref().map(Key::new),
        }
    }

    /// [`Form::new`] with parameters that may be absent: no map is made
    /// for a node without any (an empty map seeds a hasher).
    pub(crate) fn from_parts(
        kind: FormKind,
        parameters: Option<Parameters>,
        form_key: Option<&str>,
    ) -> Form {
        Form {
            kind,
            parameters: parameters.and_then(kept),
            form_key: form_key.map(Key::new),
        }
    }

    /// The class and its attributes.
    pub fn kind(&self) -> &FormKind {
        &self.kind
    }

    /// The node's parameters (empty when none).
    pub fn parameters(&self) -> &Parameters {
        match &self.parameters {
            Some(p) => p,
            None => no_parameters(),
        }
    }

    /// One parameter, if set and not `null`.
    pub fn parameter(&self, key: &str) -> Option<&Value> {
        self.parameters.as_ref()?.get(key).filter(|v| !v.is_null())
    }

    /// The `__array__` parameter as a string, if set.
    pub fn array_parameter(&self) -> Option<&str> {
        self.parameter("__array__").and_then(Value::as_str)
    }

    /// The node's form key, if any.
    pub fn form_key(&self) -> Option<&str> {
        self.form_key.as_ref().map(Key::as_str)
    }

    /// Returns a copy of this node with another form key.
    #[must_use]
    pub fn with_form_key(&self, form_key: Option<String>) -> Form {
        Form {
            form_key: form_key.as_deref().map(Key::new),
            ..self.clone()
        }
    }

    /// Returns a copy of this node with other parameters.
    #[must_use]
    pub fn with_parameters(&self, parameters: Parameters) -> Form {
        Form {
            parameters: kept(parameters),
            ..self.clone()
        }
    }

    /// Awkward's class name (`"ListOffsetArray"`, ...).
    pub fn class_name(&self) -> &'static str {
        self.kind.class_name()
    }

    /// The children, in order (record fields, union contents, or the one content).
    pub fn children(&self) -> Vec<&Arc<Form>> {
        match &self.kind {
            FormKind::Empty | FormKind::Numpy { .. } => Vec::new(),
            FormKind::Regular { content, .. }
            | FormKind::List { content, .. }
            | FormKind::ListOffset { content, .. }
            | FormKind::Indexed { content, .. }
            | FormKind::IndexedOption { content, .. }
            | FormKind::ByteMasked { content, .. }
            | FormKind::BitMasked { content, .. }
            | FormKind::Unmasked { content } => vec![content],
            FormKind::Record { contents, .. } | FormKind::Union { contents, .. } => {
                contents.iter().collect()
            }
        }
    }

    /// The single content of a list, option, indexed or regular node.
    pub fn content(&self) -> Option<&Arc<Form>> {
        self.kind.content()
    }

    /// A record's field names (`None` for a tuple) and contents; `None`
    /// for other classes.
    pub(crate) fn record_parts(&self) -> Option<RecordParts<'_>> {
        match &self.kind {
            FormKind::Record { fields, contents } => Some((fields.as_deref(), contents.as_slice())),
            _ => None,
        }
    }

    /// Returns a copy of this wrapper node around another content (O(1)).
    /// Returns `None` for nodes that have no single content.
    #[must_use]
    pub fn with_content(&self, new: Arc<Form>) -> Option<Form> {
        let kind = match &self.kind {
            FormKind::Regular { size, .. } => FormKind::Regular {
                size: *size,
                content: new,
            },
            FormKind::List { starts, stops, .. } => FormKind::List {
                starts: *starts,
                stops: *stops,
                content: new,
            },
            FormKind::ListOffset { offsets, .. } => FormKind::ListOffset {
                offsets: *offsets,
                content: new,
            },
            FormKind::Indexed { index, .. } => FormKind::Indexed {
                index: *index,
                content: new,
            },
            FormKind::IndexedOption { index, .. } => FormKind::IndexedOption {
                index: *index,
                content: new,
            },
            FormKind::ByteMasked {
                mask, valid_when, ..
            } => FormKind::ByteMasked {
                mask: *mask,
                valid_when: *valid_when,
                content: new,
            },
            FormKind::BitMasked {
                mask,
                valid_when,
                lsb_order,
                ..
            } => FormKind::BitMasked {
                mask: *mask,
                valid_when: *valid_when,
                lsb_order: *lsb_order,
                content: new,
            },
            FormKind::Unmasked { .. } => FormKind::Unmasked { content: new },
            _ => return None,
        };
        Some(Form {
            kind,
            parameters: self.parameters.clone(),
            form_key: self.form_key.clone(),
        })
    }

    /// A copy of this node with other children (in [`Form::children`]'s
    /// order) and another form key.
    pub(crate) fn rebuilt(&self, mut children: Vec<Arc<Form>>, form_key: Option<String>) -> Form {
        let kind = match &self.kind {
            FormKind::Record { fields, .. } => FormKind::Record {
                fields: fields.clone(),
                contents: children,
            },
            FormKind::Union { tags, index, .. } => FormKind::Union {
                tags: *tags,
                index: *index,
                contents: children,
            },
            _ => match children.pop() {
                Some(c) => match self.with_content(c) {
                    Some(f) => f.kind,
                    None => self.kind.clone(),
                },
                None => self.kind.clone(),
            },
        };
        Form {
            kind,
            parameters: self.parameters.clone(),
            form_key: form_key.as_deref().map(Key::new),
        }
    }

    /// Whether this node is an option type (IndexedOption, ByteMasked,
    /// BitMasked, Unmasked).
    pub fn is_option(&self) -> bool {
        matches!(
            self.kind,
            FormKind::IndexedOption { .. }
                | FormKind::ByteMasked { .. }
                | FormKind::BitMasked { .. }
                | FormKind::Unmasked { .. }
        )
    }

    /// Whether this node is an IndexedArray or IndexedOptionArray.
    pub fn is_indexed(&self) -> bool {
        matches!(
            self.kind,
            FormKind::Indexed { .. } | FormKind::IndexedOption { .. }
        )
    }

    /// Whether this node is a UnionArray.
    pub fn is_union(&self) -> bool {
        matches!(self.kind, FormKind::Union { .. })
    }

    /// Number of nodes in the tree.
    pub fn node_count(&self) -> usize {
        1 + self
            .children()
            .iter()
            .map(|c| c.node_count())
            .sum::<usize>()
    }

    /// Field names of a record (`"0"`, `"1"`, ... for a tuple); looks through
    /// lists, options and indexed nodes as awkward's `fields` does. A union
    /// reports the fields its contents have in common.
    pub fn fields(&self) -> Vec<String> {
        match &self.kind {
            FormKind::Record { fields, contents } => match fields {
                Some(f) => f.clone(),
                None => (0..contents.len()).map(|i| i.to_string()).collect(),
            },
            FormKind::Union { contents, .. } => {
                let mut iter = contents.iter();
                let Some(first) = iter.next() else {
                    return Vec::new();
                };
                let mut common = first.fields();
                for c in iter {
                    let theirs = c.fields();
                    common.retain(|f| theirs.contains(f));
                }
                common
            }
            FormKind::Empty | FormKind::Numpy { .. } => Vec::new(),
            _ => {
                if matches!(self.array_parameter(), Some("string" | "bytestring")) {
                    return Vec::new();
                }
                self.content().map(|c| c.fields()).unwrap_or_default()
            }
        }
    }
}

impl FormKind {
    /// Awkward's class name for this kind.
    pub fn class_name(&self) -> &'static str {
        match self {
            FormKind::Empty => "EmptyArray",
            FormKind::Numpy { .. } => "NumpyArray",
            FormKind::Regular { .. } => "RegularArray",
            FormKind::List { .. } => "ListArray",
            FormKind::ListOffset { .. } => "ListOffsetArray",
            FormKind::Indexed { .. } => "IndexedArray",
            FormKind::IndexedOption { .. } => "IndexedOptionArray",
            FormKind::ByteMasked { .. } => "ByteMaskedArray",
            FormKind::BitMasked { .. } => "BitMaskedArray",
            FormKind::Unmasked { .. } => "UnmaskedArray",
            FormKind::Record { .. } => "RecordArray",
            FormKind::Union { .. } => "UnionArray",
        }
    }

    /// The single content of a wrapper kind.
    pub fn content(&self) -> Option<&Arc<Form>> {
        match self {
            FormKind::Regular { content, .. }
            | FormKind::List { content, .. }
            | FormKind::ListOffset { content, .. }
            | FormKind::Indexed { content, .. }
            | FormKind::IndexedOption { content, .. }
            | FormKind::ByteMasked { content, .. }
            | FormKind::BitMasked { content, .. }
            | FormKind::Unmasked { content } => Some(content),
            _ => None,
        }
    }
}

/// A record's field names (`None` for a tuple) and contents.
pub(crate) type RecordParts<'a> = (Option<&'a [String]>, &'a [Arc<Form>]);

/// Joins a node path and a child segment (`"/"` + `"jets"` = `"/jets"`).
pub(crate) fn child_path(parent: &str, segment: &str) -> String {
    if parent == "/" || parent.is_empty() {
        format!("/{segment}")
    } else {
        format!("{parent}/{segment}")
    }
}
