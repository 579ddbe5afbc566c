//! Building a layout from a form, in two passes. [`check`] runs at open over
//! the whole form, allocating nothing: it refuses what awkward's
//! constructors refuse (index types per class, canonical nesting, string
//! contents, a non-empty EmptyArray) with the node's path. [`build`] then
//! makes the nodes, their lazy buffers and lengths (awkward's rules for each
//! content's length), one function per class; it cannot fail, so a record's
//! fields are built only when first reached (a record of 2,000 fields
//! opened to read one builds one). Reads nothing.

use super::lazy::{DType, LazyBuf, Len, LenRule, NodeInfo, UnionLens};
use super::{BuildCtx, Fields, Node, NodeData};
use crate::error::{Error, Result};
use crate::form::{child_path, Form, FormKind, IndexType, Primitive};
use std::sync::Arc;

/// Where a node is, for messages: its parent, its segment and its class.
/// The path is rendered only for an error.
pub(super) struct At<'a> {
    parent: Option<&'a At<'a>>,
    segment: &'a str,
    class: &'static str,
}

impl<'a> At<'a> {
    pub(super) fn root(form: &Form) -> At<'static> {
        At {
            parent: None,
            segment: "",
            class: form.class_name(),
        }
    }

    fn child(&'a self, segment: &'a str, form: &Form) -> At<'a> {
        At {
            parent: Some(self),
            segment,
            class: form.class_name(),
        }
    }

    fn path(&self) -> String {
        match self.parent {
            None => "/".to_string(),
            Some(p) => child_path(&p.path(), self.segment),
        }
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Layout {
            node: self.path(),
            class: self.class,
            message: message.into(),
        }
    }
}

const LIST_INDEX: [IndexType; 3] = [IndexType::I32, IndexType::U32, IndexType::I64];

fn check_index(at: &At<'_>, attribute: &str, t: IndexType, allowed: &[IndexType]) -> Result<()> {
    if allowed.contains(&t) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|a| a.numpy_name()).collect();
    Err(at.err(format!(
        "'{attribute}' must be an Index with dtype in ({}), not {}",
        names.join(", "),
        t.numpy_name()
    )))
}

/// IndexedArray, IndexedOptionArray and the masked arrays cannot hold an
/// option, an indexed node, or (unless categorical) a union.
fn check_option_like_content(
    at: &At<'_>,
    form: &Form,
    content: &Form,
    union_ok: bool,
) -> Result<()> {
    let cat = union_ok && form.array_parameter() == Some("categorical");
    if (content.is_union() && !cat) || content.is_indexed() || content.is_option() {
        return Err(at.err(format!(
            "cannot contain a union-type{}, option-type, or indexed 'content' ({})",
            if union_ok {
                " (unless categorical)"
            } else {
                ""
            },
            content.class_name()
        )));
    }
    Ok(())
}

/// What awkward's UnionArray constructor checks of its contents.
fn check_union_contents(at: &At<'_>, contents: &[Arc<Form>]) -> Result<()> {
    if contents.len() < 2 {
        return Err(at.err("must have at least 2 'contents'"));
    }
    let mut options = 0;
    for c in contents {
        if c.is_union() {
            return Err(at.err(format!(
                "cannot contain union-types in its 'contents' ({})",
                c.class_name()
            )));
        }
        if c.is_option() {
            options += 1;
        } else if c.is_indexed() && c.array_parameter() != Some("categorical") {
            return Err(at.err(format!(
                "cannot contain non-categorical indexed-types in its 'contents' ({})",
                c.class_name()
            )));
        }
    }
    if options != 0 && options != contents.len() {
        return Err(at.err(
            "must either be comprised of entirely optional contents, or no optional contents",
        ));
    }
    Ok(())
}

/// Checks `form` and its subtree, depth-first, as building it would (the
/// first problem in build order is the one reported). `len` is the node's
/// length when it is known without reading (the root's, a packed node's,
/// and those that share it).
pub(super) fn check(form: &Form, len: Option<usize>, at: &At<'_>, ctx: &BuildCtx) -> Result<()> {
    check_array_parameter(at, form)?;
    let known = |child: &Form| {
        ctx.known
            .as_ref()
            .and_then(|k| k.get(child.form_key()?).copied())
    };
    let sub =
        |segment: &str, child: &Form| check(child, known(child), &at.child(segment, child), ctx);
    let same = |segment: &str, child: &Form| check(child, len, &at.child(segment, child), ctx);
    match form.kind() {
        FormKind::Empty => match len {
            Some(n) if n != 0 => Err(Error::Length {
                node: at.path(),
                class: at.class,
                expected: "0 (an EmptyArray has no elements)".into(),
                actual: n,
            }),
            _ => Ok(()),
        },
        FormKind::Numpy { inner_shape, .. } => inner_shape
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .map(drop)
            .ok_or_else(|| at.err("inner_shape product overflows")),
        FormKind::Regular { content, .. } => sub("[]", content),
        FormKind::List {
            starts,
            stops,
            content,
        } => {
            check_index(at, "starts", *starts, &LIST_INDEX)?;
            check_index(at, "stops", *stops, &LIST_INDEX)?;
            if starts != stops {
                return Err(at.err(format!(
                    "'starts' and 'stops' must have the same dtype, not {starts} and {stops}"
                )));
            }
            sub("[]", content)
        }
        FormKind::ListOffset { offsets, content } => {
            check_index(at, "offsets", *offsets, &LIST_INDEX)?;
            sub("[]", content)
        }
        FormKind::Indexed { index, content } => {
            check_index(at, "index", *index, &LIST_INDEX)?;
            check_option_like_content(at, form, content, true)?;
            sub("index", content)
        }
        FormKind::IndexedOption { index, content } => {
            check_index(at, "index", *index, &[IndexType::I32, IndexType::I64])?;
            check_option_like_content(at, form, content, true)?;
            sub("?", content)
        }
        FormKind::ByteMasked { mask, content, .. } => {
            check_index(at, "mask", *mask, &[IndexType::I8])?;
            check_option_like_content(at, form, content, false)?;
            same("?", content)
        }
        FormKind::BitMasked { mask, content, .. } => {
            check_index(at, "mask", *mask, &[IndexType::U8])?;
            check_option_like_content(at, form, content, false)?;
            same("?", content)
        }
        FormKind::Unmasked { content } => {
            check_option_like_content(at, form, content, false)?;
            same("?", content)
        }
        FormKind::Record { fields, contents } => {
            for (i, c) in contents.iter().enumerate() {
                match fields {
                    Some(f) => same(&f[i], c)?,
                    None => same(&i.to_string(), c)?,
                }
            }
            Ok(())
        }
        FormKind::Union {
            tags,
            index,
            contents,
        } => {
            check_index(at, "tags", *tags, &[IndexType::I8])?;
            check_index(at, "index", *index, &LIST_INDEX)?;
            check_union_contents(at, contents)?;
            for (i, c) in contents.iter().enumerate() {
                sub(&format!("#{i}"), c)?;
            }
            Ok(())
        }
    }
}

/// Builds the node of `form` (already [`check`]ed) whose length is `len`.
pub(super) fn build(
    form: &Arc<Form>,
    len: Arc<Len>,
    info: NodeInfo,
    ctx: &Arc<BuildCtx>,
) -> Arc<Node> {
    let b = Builder {
        form,
        len: &len,
        info: &info,
        ctx,
    };
    let data = match form.kind() {
        FormKind::Empty => NodeData::Empty,
        FormKind::Numpy {
            primitive,
            inner_shape,
        } => b.numpy(*primitive, inner_shape),
        FormKind::Regular { size, content } => b.regular(*size, content),
        FormKind::List {
            starts,
            stops,
            content,
        } => b.list(*starts, *stops, content),
        FormKind::ListOffset { offsets, content } => b.list_offset(*offsets, content),
        FormKind::Indexed { index, content } => b.indexed(*index, content),
        FormKind::IndexedOption { index, content } => b.indexed_option(*index, content),
        FormKind::ByteMasked {
            mask,
            valid_when,
            content,
        } => b.byte_masked(*mask, *valid_when, content),
        FormKind::BitMasked {
            mask,
            valid_when,
            lsb_order,
            content,
        } => b.bit_masked(*mask, *valid_when, *lsb_order, content),
        FormKind::Unmasked { content } => NodeData::Unmasked {
            content: b.sub_same("?", content),
        },
        FormKind::Record { .. } => b.record(),
        FormKind::Union {
            tags,
            index,
            contents,
        } => b.union(*tags, *index, contents),
    };
    Arc::new(Node {
        form: Arc::clone(form),
        info,
        len,
        data,
    })
}

/// What every class's builder needs: the node's form, length and place.
struct Builder<'a> {
    form: &'a Arc<Form>,
    len: &'a Arc<Len>,
    info: &'a NodeInfo,
    ctx: &'a Arc<BuildCtx>,
}

impl Builder<'_> {
    /// A lazy buffer of this node.
    fn lazy(&self, attribute: &str, dtype: DType, count: Arc<Len>) -> Arc<LazyBuf> {
        let form_key = self.form.form_key();
        LazyBuf::new(
            Arc::from(self.ctx.buffer_key.key(form_key, attribute)),
            dtype,
            count,
            self.info.clone(),
            Arc::clone(&self.ctx.loader),
            self.ctx.byteorder,
            self.ctx.caching.caches(form_key, attribute),
        )
    }

    /// A child whose length follows `rule` (or is known, for packed layouts).
    fn sub(&self, segment: &str, child: &Arc<Form>, rule: LenRule) -> Arc<Node> {
        let ci = child_info(self.info, segment, child);
        let known = self
            .ctx
            .known
            .as_ref()
            .and_then(|k| k.get(child.form_key()?));
        let len = match known {
            Some(&n) => Len::known(n, ci.clone()),
            None => Len::derived(rule, ci.clone()),
        };
        build(child, len, ci, self.ctx)
    }

    /// A child with this node's length.
    fn sub_same(&self, segment: &str, child: &Arc<Form>) -> Arc<Node> {
        let ci = child_info(self.info, segment, child);
        build(child, Arc::clone(self.len), ci, self.ctx)
    }

    fn numpy(&self, primitive: Primitive, inner_shape: &[usize]) -> NodeData {
        // Checked: the product fits.
        let factor = inner_shape.iter().product::<usize>();
        let count = if factor == 1 {
            Arc::clone(self.len)
        } else {
            Len::derived(
                LenRule::Mul(Arc::clone(self.len), factor),
                self.info.clone(),
            )
        };
        NodeData::Numpy {
            data: self.lazy("data", DType::Prim(primitive), count),
            primitive,
            inner_shape: Arc::from(inner_shape),
        }
    }

    fn regular(&self, size: usize, content: &Arc<Form>) -> NodeData {
        NodeData::Regular {
            size,
            content: self.sub("[]", content, LenRule::Mul(Arc::clone(self.len), size)),
        }
    }

    fn list(&self, starts: IndexType, stops: IndexType, content: &Arc<Form>) -> NodeData {
        let s = self.lazy("starts", DType::Index(starts), Arc::clone(self.len));
        let e = self.lazy("stops", DType::Index(stops), Arc::clone(self.len));
        let rule = LenRule::Stops(Arc::clone(&s), Arc::clone(&e));
        NodeData::List {
            content: self.sub("[]", content, rule),
            starts: s,
            stops: e,
        }
    }

    fn list_offset(&self, offsets: IndexType, content: &Arc<Form>) -> NodeData {
        let count = Len::derived(LenRule::Plus1(Arc::clone(self.len)), self.info.clone());
        let o = self.lazy("offsets", DType::Index(offsets), count);
        let rule = LenRule::OffsetsLast(Arc::clone(self.len), Arc::clone(&o));
        NodeData::ListOffset {
            content: self.sub("[]", content, rule),
            offsets: o,
        }
    }

    fn indexed(&self, index: IndexType, content: &Arc<Form>) -> NodeData {
        let i = self.lazy("index", DType::Index(index), Arc::clone(self.len));
        NodeData::Indexed {
            content: self.sub("index", content, LenRule::IndexMax(Arc::clone(&i))),
            index: i,
        }
    }

    fn indexed_option(&self, index: IndexType, content: &Arc<Form>) -> NodeData {
        let i = self.lazy("index", DType::Index(index), Arc::clone(self.len));
        NodeData::IndexedOption {
            content: self.sub("?", content, LenRule::IndexMax(Arc::clone(&i))),
            index: i,
        }
    }

    fn byte_masked(&self, mask: IndexType, valid_when: bool, content: &Arc<Form>) -> NodeData {
        NodeData::ByteMasked {
            mask: self.lazy("mask", DType::Index(mask), Arc::clone(self.len)),
            valid_when,
            content: self.sub_same("?", content),
        }
    }

    fn bit_masked(
        &self,
        mask: IndexType,
        valid_when: bool,
        lsb_order: bool,
        content: &Arc<Form>,
    ) -> NodeData {
        let count = Len::derived(LenRule::Bits(Arc::clone(self.len)), self.info.clone());
        NodeData::BitMasked {
            mask: self.lazy("mask", DType::Index(mask), count),
            valid_when,
            lsb_order,
            content: self.sub_same("?", content),
        }
    }

    /// The fields are built when first reached.
    fn record(&self) -> NodeData {
        NodeData::Record {
            contents: Fields::new(
                Arc::clone(self.form),
                Arc::clone(self.len),
                self.info.clone(),
                Arc::clone(self.ctx),
            ),
        }
    }

    fn union(&self, tags: IndexType, index: IndexType, contents: &[Arc<Form>]) -> NodeData {
        let t = self.lazy("tags", DType::Index(tags), Arc::clone(self.len));
        let x = self.lazy("index", DType::Index(index), Arc::clone(self.len));
        let lens = UnionLens::new(Arc::clone(&t), Arc::clone(&x), contents.len());
        let nodes = contents
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let rule = LenRule::UnionContent(Arc::clone(&lens), i);
                self.sub(&format!("#{i}"), c, rule)
            })
            .collect();
        NodeData::Union {
            tags: t,
            index: x,
            contents: nodes,
        }
    }
}

/// The place of a child node.
pub(super) fn child_info(parent: &NodeInfo, segment: &str, child: &Form) -> NodeInfo {
    NodeInfo {
        path: Arc::from(child_path(&parent.path, segment)),
        class: child.class_name(),
    }
}

fn check_array_parameter(at: &At<'_>, form: &Form) -> Result<()> {
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
        return Err(at.err(format!(
            "{} is not allowed to have parameters[\"__array__\"] = \"{name}\"",
            at.class
        )));
    }
    match (name, form.kind()) {
        ("string" | "bytestring", _) => {
            let want = if name == "string" { "char" } else { "byte" };
            let ok = form.content().is_some_and(|c| {
                matches!(c.kind(), FormKind::Numpy { primitive: crate::form::Primitive::UInt8, inner_shape } if inner_shape.is_empty())
                    && c.array_parameter() == Some(want)
            });
            if !ok {
                return Err(at.err(format!(
                    "is a {name}, so its 'content' must be uint8 NumpyArray of {want}"
                )));
            }
        }
        (
            "char" | "byte",
            FormKind::Numpy {
                primitive,
                inner_shape,
            },
        ) if *primitive != crate::form::Primitive::UInt8 || !inner_shape.is_empty() => {
            return Err(at.err(format!(
                "is a {name}, so its 'data' must be 1-dimensional and uint8, not {primitive}"
            )));
        }
        _ => {}
    }
    Ok(())
}
