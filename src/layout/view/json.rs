//! Elements written as JSON (the crate's JSON mapping) straight from the
//! buffers, in pieces: no [`Value`] is made.

use super::value::Budget;
use super::{StrKind, View, ViewKind};
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::form::Primitive;
use crate::value::Value;

/// Where JSON goes: a buffer flushed to a writer, and an optional budget
/// (for JSON kept in memory).
pub(crate) struct JsonOut<'w> {
    pub(crate) buf: String,
    sink: &'w mut dyn std::io::Write,
    budget: Option<Budget>,
}

impl<'w> JsonOut<'w> {
    pub(crate) fn new(sink: &'w mut dyn std::io::Write, budget: Option<Budget>) -> JsonOut<'w> {
        JsonOut {
            buf: String::with_capacity(1 << 16),
            sink,
            budget,
        }
    }

    fn charge(&mut self, n: usize, at: &View<'_>) -> Result<()> {
        match &mut self.budget {
            Some(b) => b.charge(n, at),
            None => Ok(()),
        }
    }

    /// Writes the buffer out once it holds 64 KiB.
    fn flush_some(&mut self) -> Result<()> {
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        self.sink
            .write_all(self.buf.as_bytes())
            .map_err(|e| Error::Io {
                context: "writing JSON".into(),
                io: std::sync::Arc::new(e),
            })?;
        self.buf.clear();
        Ok(())
    }
}

impl View<'_> {
    /// Element `i` as JSON text, in memory (within the values-per-byte
    /// budget): an element's identity by value.
    pub(crate) fn json_of(&self, i: usize) -> Result<String> {
        let mut bytes = Vec::new();
        let mut out = JsonOut::new(&mut bytes, Some(Budget::of(self, "an element's JSON")));
        self.write_json(i, &mut out)?;
        out.flush()?;
        // The writer only produces ASCII.
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// For awkward's array of characters standing alone (a `NumpyArray`
    /// with `"__array__": "char"`, not the content of a string list):
    /// the bytes of elements `rows`, which awkward's `to_list` gives as one
    /// string (`"hey there"`), not a list; `None` for any other node.
    pub(crate) fn chars(&self, rows: std::ops::Range<usize>) -> Option<&[u8]> {
        match &self.kind {
            ViewKind::Numpy { data, inner, .. }
                if inner.is_empty() && self.node.form.array_parameter() == Some("char") =>
            {
                let end = rows.end.min(self.len).min(data.len());
                Some(&data.as_slice()[rows.start.min(end)..end])
            }
            _ => None,
        }
    }

    fn nested_json(
        &self,
        data: &Buffer,
        primitive: Primitive,
        dims: &[usize],
        start: usize,
        out: &mut JsonOut<'_>,
    ) -> Result<()> {
        match dims.split_first() {
            None => {
                self.scalar(data, primitive, start).write_json(&mut out.buf);
                Ok(())
            }
            Some((&n, rest)) => {
                out.charge(n.saturating_add(1), self)?;
                let step: usize = rest.iter().product();
                out.buf.push('[');
                for j in 0..n {
                    if j > 0 {
                        out.buf.push(',');
                    }
                    self.nested_json(data, primitive, rest, start + j * step, out)?;
                    out.flush_some()?;
                }
                out.buf.push(']');
                Ok(())
            }
        }
    }

    /// Writes element `i` as JSON (the crate's JSON mapping) straight from the
    /// buffers: no [`Value`] is made, and the output goes out in pieces, so
    /// memory stays bounded however large the element.
    pub(crate) fn write_json(&self, i: usize, out: &mut JsonOut<'_>) -> Result<()> {
        match &self.kind {
            ViewKind::Empty => Err(self.out_of_range(i)),
            ViewKind::Numpy {
                data,
                primitive,
                inner,
                stride,
            } => {
                if inner.is_empty() {
                    out.charge(1, self)?;
                    self.scalar(data, *primitive, i).write_json(&mut out.buf);
                    Ok(())
                } else {
                    self.nested_json(data, *primitive, inner, i * stride, out)
                }
            }
            ViewKind::Regular {
                strings, content, ..
            }
            | ViewKind::List {
                strings, content, ..
            }
            | ViewKind::ListOffset {
                strings, content, ..
            } => {
                let range = self.list_range(i, content.len)?;
                let n = range.1 - range.0;
                match strings {
                    StrKind::String => {
                        out.charge(1 + n / 8, self)?;
                        crate::pyjson::write_bytes_as_str(
                            &mut out.buf,
                            self.string_bytes(content, range)?,
                        );
                    }
                    StrKind::Bytes => {
                        out.charge(1 + n / 8, self)?;
                        Value::write_byte_list(&mut out.buf, self.string_bytes(content, range)?);
                    }
                    StrKind::No => {
                        out.charge(n.saturating_add(1), self)?;
                        out.buf.push('[');
                        for j in range.0..range.1 {
                            if j > range.0 {
                                out.buf.push(',');
                            }
                            content.write_json(j, out)?;
                            out.flush_some()?;
                        }
                        out.buf.push(']');
                    }
                }
                Ok(())
            }
            ViewKind::Indexed { content, .. }
            | ViewKind::IndexedOption { content, .. }
            | ViewKind::ByteMasked { content, .. }
            | ViewKind::BitMasked { content, .. }
            | ViewKind::Unmasked { content } => match self.project(i, content.len)? {
                Some(j) => content.write_json(j, out),
                None => {
                    out.charge(1, self)?;
                    out.buf.push_str("null");
                    Ok(())
                }
            },
            ViewKind::Record {
                fields,
                contents,
                order,
            } => {
                out.charge(1, self)?;
                out.buf.push(if fields.is_some() { '{' } else { '[' });
                // (where names repeat, the fields a Python dict keeps)
                let n = order.as_ref().map_or(contents.len(), |o| o.len());
                for pos in 0..n {
                    let k = order.as_ref().map_or(pos, |o| o[pos]);
                    if pos > 0 {
                        out.buf.push(',');
                    }
                    if let Some(names) = fields {
                        crate::pyjson::write_str(&mut out.buf, &names[k]);
                        out.buf.push(':');
                    }
                    contents[k].write_json(i, out)?;
                }
                out.buf.push(if fields.is_some() { '}' } else { ']' });
                Ok(())
            }
            ViewKind::Union { contents, .. } => {
                let (t, j) = self.select(i)?;
                contents[t].write_json(j, out)
            }
        }
    }
}
