//! Building a layout from a form: one function per node class. Reads
//! nothing; checks what awkward's constructors check (index types per class,
//! canonical nesting, string contents) and wires each node's lazy buffers
//! and lengths (awkward's rules for each content's length).

use super::lazy::{DType, LazyBuf, Len, LenRule, NodeInfo, UnionLens};
use super::{BuildCtx, Node, NodeData};
use crate::error::{Error, Result};
use crate::form::{child_path, Form, FormKind, IndexType, Primitive};
use std::sync::Arc;

/// Builds the node of `form` whose length is `len`.
pub(super) fn build(
    form: &Arc<Form>,
    len: Arc<Len>,
    info: NodeInfo,
    ctx: &BuildCtx,
) -> Result<Arc<Node>> {
    check_array_parameter(&info, form)?;
    let b = Builder {
        form,
        len: &len,
        info: &info,
        ctx,
    };
    let data = match form.kind() {
        FormKind::Empty => b.empty()?,
        FormKind::Numpy {
            primitive,
            inner_shape,
        } => b.numpy(*primitive, inner_shape)?,
        FormKind::Regular { size, content } => b.regular(*size, content)?,
        FormKind::List {
            starts,
            stops,
            content,
        } => b.list(*starts, *stops, content)?,
        FormKind::ListOffset { offsets, content } => b.list_offset(*offsets, content)?,
        FormKind::Indexed { index, content } => b.indexed(*index, content)?,
        FormKind::IndexedOption { index, content } => b.indexed_option(*index, content)?,
        FormKind::ByteMasked {
            mask,
            valid_when,
            content,
        } => b.byte_masked(*mask, *valid_when, content)?,
        FormKind::BitMasked {
            mask,
            valid_when,
            lsb_order,
            content,
        } => b.bit_masked(*mask, *valid_when, *lsb_order, content)?,
        FormKind::Unmasked { content } => b.unmasked(content)?,
        FormKind::Record { fields, contents } => b.record(fields.as_deref(), contents)?,
        FormKind::Union {
            tags,
            index,
            contents,
        } => b.union(*tags, *index, contents)?,
    };
    Ok(Arc::new(Node {
        form: Arc::clone(form),
        info,
        len,
        data,
    }))
}

/// What every class's builder needs: the node's form, length and place.
struct Builder<'a> {
    form: &'a Arc<Form>,
    len: &'a Arc<Len>,
    info: &'a NodeInfo,
    ctx: &'a BuildCtx,
}

const LIST_INDEX: [IndexType; 3] = [IndexType::I32, IndexType::U32, IndexType::I64];

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

    fn child_info(&self, segment: &str, child: &Form) -> NodeInfo {
        NodeInfo {
            path: Arc::from(child_path(&self.info.path, segment)),
            class: child.class_name(),
        }
    }

    /// A child whose length follows `rule` (or is known, for packed layouts).
    fn sub(&self, segment: &str, child: &Arc<Form>, rule: LenRule) -> Result<Arc<Node>> {
        let ci = self.child_info(segment, child);
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
    fn sub_same(&self, segment: &str, child: &Arc<Form>) -> Result<Arc<Node>> {
        let ci = self.child_info(segment, child);
        build(child, Arc::clone(self.len), ci, self.ctx)
    }

    fn err(&self, message: impl Into<String>) -> Error {
        layout_err(self.info, message)
    }

    fn check_index(&self, attribute: &str, t: IndexType, allowed: &[IndexType]) -> Result<()> {
        if allowed.contains(&t) {
            return Ok(());
        }
        let names: Vec<&str> = allowed.iter().map(|a| a.numpy_name()).collect();
        Err(self.err(format!(
            "'{attribute}' must be an Index with dtype in ({}), not {}",
            names.join(", "),
            t.numpy_name()
        )))
    }

    /// IndexedArray, IndexedOptionArray and the masked arrays cannot hold an
    /// option, an indexed node, or (unless categorical) a union.
    fn check_option_like_content(&self, content: &Form, union_ok: bool) -> Result<()> {
        let cat = union_ok && self.form.array_parameter() == Some("categorical");
        if (content.is_union() && !cat) || content.is_indexed() || content.is_option() {
            return Err(self.err(format!(
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

    fn empty(&self) -> Result<NodeData> {
        match self.len.peek() {
            Some(n) if n != 0 => Err(Error::Length {
                node: self.info.path.to_string(),
                class: self.info.class,
                expected: "0 (an EmptyArray has no elements)".into(),
                actual: n,
            }),
            _ => Ok(NodeData::Empty),
        }
    }

    fn numpy(&self, primitive: Primitive, inner_shape: &[usize]) -> Result<NodeData> {
        let factor = inner_shape
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .ok_or_else(|| self.err("inner_shape product overflows"))?;
        let count = if factor == 1 {
            Arc::clone(self.len)
        } else {
            Len::derived(
                LenRule::Mul(Arc::clone(self.len), factor),
                self.info.clone(),
            )
        };
        Ok(NodeData::Numpy {
            data: self.lazy("data", DType::Prim(primitive), count),
            primitive,
            inner_shape: Arc::from(inner_shape),
        })
    }

    fn regular(&self, size: usize, content: &Arc<Form>) -> Result<NodeData> {
        Ok(NodeData::Regular {
            size,
            content: self.sub("[]", content, LenRule::Mul(Arc::clone(self.len), size))?,
        })
    }

    fn list(&self, starts: IndexType, stops: IndexType, content: &Arc<Form>) -> Result<NodeData> {
        self.check_index("starts", starts, &LIST_INDEX)?;
        self.check_index("stops", stops, &LIST_INDEX)?;
        if starts != stops {
            return Err(self.err(format!(
                "'starts' and 'stops' must have the same dtype, not {starts} and {stops}"
            )));
        }
        let s = self.lazy("starts", DType::Index(starts), Arc::clone(self.len));
        let e = self.lazy("stops", DType::Index(stops), Arc::clone(self.len));
        let rule = LenRule::Stops(Arc::clone(&s), Arc::clone(&e));
        Ok(NodeData::List {
            content: self.sub("[]", content, rule)?,
            starts: s,
            stops: e,
        })
    }

    fn list_offset(&self, offsets: IndexType, content: &Arc<Form>) -> Result<NodeData> {
        self.check_index("offsets", offsets, &LIST_INDEX)?;
        let count = Len::derived(LenRule::Plus1(Arc::clone(self.len)), self.info.clone());
        let o = self.lazy("offsets", DType::Index(offsets), count);
        let rule = LenRule::OffsetsLast(Arc::clone(self.len), Arc::clone(&o));
        Ok(NodeData::ListOffset {
            content: self.sub("[]", content, rule)?,
            offsets: o,
        })
    }

    fn indexed(&self, index: IndexType, content: &Arc<Form>) -> Result<NodeData> {
        self.check_index("index", index, &LIST_INDEX)?;
        self.check_option_like_content(content, true)?;
        let i = self.lazy("index", DType::Index(index), Arc::clone(self.len));
        Ok(NodeData::Indexed {
            content: self.sub("index", content, LenRule::IndexMax(Arc::clone(&i)))?,
            index: i,
        })
    }

    fn indexed_option(&self, index: IndexType, content: &Arc<Form>) -> Result<NodeData> {
        self.check_index("index", index, &[IndexType::I32, IndexType::I64])?;
        self.check_option_like_content(content, true)?;
        let i = self.lazy("index", DType::Index(index), Arc::clone(self.len));
        Ok(NodeData::IndexedOption {
            content: self.sub("?", content, LenRule::IndexMax(Arc::clone(&i)))?,
            index: i,
        })
    }

    fn byte_masked(
        &self,
        mask: IndexType,
        valid_when: bool,
        content: &Arc<Form>,
    ) -> Result<NodeData> {
        self.check_index("mask", mask, &[IndexType::I8])?;
        self.check_option_like_content(content, false)?;
        Ok(NodeData::ByteMasked {
            mask: self.lazy("mask", DType::Index(mask), Arc::clone(self.len)),
            valid_when,
            content: self.sub_same("?", content)?,
        })
    }

    fn bit_masked(
        &self,
        mask: IndexType,
        valid_when: bool,
        lsb_order: bool,
        content: &Arc<Form>,
    ) -> Result<NodeData> {
        self.check_index("mask", mask, &[IndexType::U8])?;
        self.check_option_like_content(content, false)?;
        let count = Len::derived(LenRule::Bits(Arc::clone(self.len)), self.info.clone());
        Ok(NodeData::BitMasked {
            mask: self.lazy("mask", DType::Index(mask), count),
            valid_when,
            lsb_order,
            content: self.sub_same("?", content)?,
        })
    }

    fn unmasked(&self, content: &Arc<Form>) -> Result<NodeData> {
        self.check_option_like_content(content, false)?;
        Ok(NodeData::Unmasked {
            content: self.sub_same("?", content)?,
        })
    }

    fn record(&self, fields: Option<&[String]>, contents: &[Arc<Form>]) -> Result<NodeData> {
        let mut nodes = Vec::with_capacity(contents.len());
        for (i, c) in contents.iter().enumerate() {
            let segment = match fields {
                Some(f) => f[i].clone(),
                None => i.to_string(),
            };
            nodes.push(self.sub_same(&segment, c)?);
        }
        Ok(NodeData::Record {
            fields: fields.map(Arc::from),
            contents: nodes,
        })
    }

    /// What awkward's UnionArray constructor checks of its contents.
    fn check_union_contents(&self, contents: &[Arc<Form>]) -> Result<()> {
        if contents.len() < 2 {
            return Err(self.err("must have at least 2 'contents'"));
        }
        let mut options = 0;
        for c in contents {
            if c.is_union() {
                return Err(self.err(format!(
                    "cannot contain union-types in its 'contents' ({})",
                    c.class_name()
                )));
            }
            if c.is_option() {
                options += 1;
            } else if c.is_indexed() && c.array_parameter() != Some("categorical") {
                return Err(self.err(format!(
                    "cannot contain non-categorical indexed-types in its 'contents' ({})",
                    c.class_name()
                )));
            }
        }
        if options != 0 && options != contents.len() {
            return Err(self.err(
                "must either be comprised of entirely optional contents, or no optional contents",
            ));
        }
        Ok(())
    }

    fn union(&self, tags: IndexType, index: IndexType, contents: &[Arc<Form>]) -> Result<NodeData> {
        self.check_index("tags", tags, &[IndexType::I8])?;
        self.check_index("index", index, &LIST_INDEX)?;
        self.check_union_contents(contents)?;
        let t = self.lazy("tags", DType::Index(tags), Arc::clone(self.len));
        let x = self.lazy("index", DType::Index(index), Arc::clone(self.len));
        let lens = UnionLens::new(Arc::clone(&t), Arc::clone(&x), contents.len());
        let mut nodes = Vec::with_capacity(contents.len());
        for (i, c) in contents.iter().enumerate() {
            let rule = LenRule::UnionContent(Arc::clone(&lens), i);
            nodes.push(self.sub(&format!("#{i}"), c, rule)?);
        }
        Ok(NodeData::Union {
            tags: t,
            index: x,
            contents: nodes,
        })
    }
}

fn layout_err(info: &NodeInfo, message: impl Into<String>) -> Error {
    Error::Layout {
        node: info.path.to_string(),
        class: info.class,
        message: message.into(),
    }
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
