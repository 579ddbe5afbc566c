//! Field projection through lists, options, indexed nodes and unions, as
//! awkward's `array.field` does. Reads nothing: the new wrapper nodes share
//! the old ones' lazy buffers and lengths.

use super::lazy::LazyBuf;
use super::{Node, NodeData};
use crate::error::{Error, Result};
use crate::form::{Form, FormKind};
use std::sync::Arc;

fn no_field(node: &Node, name: &str) -> Error {
    let fields = node.form.fields();
    let mut available = fields
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if fields.len() > 10 {
        available.push_str(&format!(", ... ({} in all)", fields.len()));
    }
    Error::NoField {
        field: name.to_string(),
        node: node.info.path.to_string(),
        class: node.info.class,
        available,
    }
}

impl Node {
    /// The node for field `name` (a tuple slot by its number), wrapped in
    /// this node's lists and options.
    pub(crate) fn field(self: &Arc<Node>, name: &str) -> Result<Arc<Node>> {
        match &self.data {
            NodeData::Record { contents } => {
                let pos = match contents.names() {
                    Some(f) => f.iter().position(|x| x == name),
                    None => name.parse::<usize>().ok().filter(|i| *i < contents.len()),
                };
                pos.map(|i| Arc::clone(contents.get(i)))
                    .ok_or_else(|| no_field(self, name))
            }
            NodeData::Union {
                tags,
                index,
                contents,
            } => self.union_field(name, tags, index, contents),
            data => {
                let Some(content) = data.content() else {
                    return Err(no_field(self, name));
                };
                if matches!(self.form.array_parameter(), Some("string" | "bytestring")) {
                    return Err(no_field(self, name));
                }
                let inner = content.field(name)?;
                // The wrapper keeps its buffers but not its parameters, as
                // awkward's `_getitem_field` (`parameters=None`).
                let form = self
                    .form
                    .with_content(Arc::clone(&inner.form))
                    .ok_or_else(|| no_field(self, name))?
                    .with_parameters(Default::default());
                let data = data
                    .with_content(inner)
                    .ok_or_else(|| no_field(self, name))?;
                Ok(self.rewrapped(form, data))
            }
        }
    }

    /// The record with only the fields `names` (in that order), wrapped in
    /// this node's lists and options, as awkward's `array[["a", "b"]]`.
    pub(crate) fn select(self: &Arc<Node>, names: &[String]) -> Result<Arc<Node>> {
        match &self.data {
            NodeData::Record { contents } => {
                let Some(all) = contents.names() else {
                    return Err(no_field(self, names.first().map_or("", String::as_str)));
                };
                let mut picked = Vec::with_capacity(names.len());
                for name in names {
                    let i = all
                        .iter()
                        .position(|x| x == name)
                        .ok_or_else(|| no_field(self, name))?;
                    if picked.contains(&i) {
                        return Err(Error::Argument(format!(
                            "field {name:?} selected twice at {}",
                            self.info.path
                        )));
                    }
                    picked.push(i);
                }
                let forms = self.form.record_parts().map_or(&[][..], |(_, c)| c);
                let form = Form::new(
                    crate::form::FormKind::Record {
                        fields: Some(names.to_vec()),
                        contents: picked.iter().map(|&i| Arc::clone(&forms[i])).collect(),
                    },
                    self.form.parameters().clone(),
                    self.form.form_key().map(str::to_string),
                );
                let fields = contents.subset(Arc::new(form.clone()), &picked);
                Ok(self.rewrapped(form, NodeData::Record { contents: fields }))
            }
            data => {
                let content = match data.content() {
                    Some(c)
                        if !matches!(
                            self.form.array_parameter(),
                            Some("string" | "bytestring")
                        ) =>
                    {
                        c
                    }
                    _ => return Err(no_field(self, names.first().map_or("", String::as_str))),
                };
                let inner = content.select(names)?;
                let form = self
                    .form
                    .with_content(Arc::clone(&inner.form))
                    .ok_or_else(|| no_field(self, &names.join(",")))?
                    .with_parameters(Default::default());
                let data = data
                    .with_content(inner)
                    .ok_or_else(|| no_field(self, &names.join(",")))?;
                Ok(self.rewrapped(form, data))
            }
        }
    }

    /// A union of the field in each content (every content must have it).
    fn union_field(
        self: &Arc<Node>,
        name: &str,
        tags: &Arc<LazyBuf>,
        index: &Arc<LazyBuf>,
        contents: &[Arc<Node>],
    ) -> Result<Arc<Node>> {
        let projected = contents
            .iter()
            .map(|c| c.field(name))
            .collect::<Result<Vec<_>>>()
            .map_err(|_| no_field(self, name))?;
        let FormKind::Union {
            tags: tt,
            index: it,
            ..
        } = self.form.kind()
        else {
            return Err(no_field(self, name));
        };
        let form = Form::new(
            FormKind::Union {
                tags: *tt,
                index: *it,
                contents: projected.iter().map(|n| Arc::clone(&n.form)).collect(),
            },
            // As awkward's `_getitem_field`: the union's parameters dropped.
            Default::default(),
            self.form.form_key().map(str::to_string),
        );
        let data = NodeData::Union {
            tags: Arc::clone(tags),
            index: Arc::clone(index),
            contents: projected,
        };
        Ok(self.rewrapped(form, data))
    }

    /// This node's place and length with another form and data.
    fn rewrapped(&self, form: Form, data: NodeData) -> Arc<Node> {
        Arc::new(Node {
            form: Arc::new(form),
            info: self.info.clone(),
            len: Arc::clone(&self.len),
            data,
        })
    }
}
