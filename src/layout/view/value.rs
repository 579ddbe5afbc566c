//! Elements as [`Value`] trees, within a budget of values per byte behind
//! them, so that no count without stored bytes becomes an allocation.

use super::{StrKind, View, ViewKind};
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::form::Primitive;
use crate::value::Value;
use std::sync::Arc;

/// Values an in-memory materialization may make, per byte behind them ...
pub(crate) const VALUES_PER_BYTE: usize = 64;
/// ... plus this many, so that small arrays of empty lists or records
/// (which no byte backs) still materialize.
pub(crate) const VALUES_FLOOR: usize = 1 << 22;

/// How many more values an in-memory materialization (a [`Value`] tree, a
/// JSON string) may make: a count no stored byte backs (a regular size of
/// 2^40 over empty content) must give an error, not an allocation that
/// kills the process.
pub(crate) struct Budget {
    left: usize,
    limit: usize,
    bytes: usize,
    what: &'static str,
}

impl Budget {
    /// The budget of materializing `view` (or one element of it).
    pub(crate) fn of(view: &View<'_>, what: &'static str) -> Budget {
        let limit = view
            .bytes
            .saturating_mul(VALUES_PER_BYTE)
            .saturating_add(VALUES_FLOOR);
        Budget {
            left: limit,
            limit,
            bytes: view.bytes,
            what,
        }
    }

    /// Takes `n` values, or names the node that asks for too many.
    pub(super) fn charge(&mut self, n: usize, at: &View<'_>) -> Result<()> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(Error::TooLarge {
                node: at.info().path.to_string(),
                class: at.info().class,
                message: format!(
                    "{} would make more than {} values in memory from the {} bytes of buffers behind them \
                     (the limit is {VALUES_PER_BYTE} values per byte plus {VALUES_FLOOR}); \
                     stream it with write_json (akbuf show) instead",
                    self.what, self.limit, self.bytes
                ),
            }),
        }
    }
}

impl View<'_> {
    fn nested(
        &self,
        data: &Buffer,
        primitive: Primitive,
        dims: &[usize],
        start: usize,
        budget: &mut Budget,
    ) -> Result<Value> {
        match dims.split_first() {
            None => Ok(self.scalar(data, primitive, start)),
            Some((&n, rest)) => {
                budget.charge(n.saturating_add(1), self)?;
                let step: usize = rest.iter().product();
                Ok(Value::List(
                    (0..n)
                        .map(|j| self.nested(data, primitive, rest, start + j * step, budget))
                        .collect::<Result<_>>()?,
                ))
            }
        }
    }

    fn list_value(
        &self,
        strings: &StrKind,
        content: &View<'_>,
        range: (usize, usize),
        budget: &mut Budget,
    ) -> Result<Value> {
        let n = range.1 - range.0;
        match strings {
            StrKind::String | StrKind::Bytes => {
                budget.charge(1 + n / 8, self)?;
                let bytes = self.string_bytes(content, range)?.to_vec();
                Ok(if matches!(strings, StrKind::String) {
                    Value::String(bytes)
                } else {
                    Value::Bytes(bytes)
                })
            }
            StrKind::No => {
                // Charged before the vector is made: its length is a count
                // the budget must allow first.
                budget.charge(n.saturating_add(1), self)?;
                Ok(Value::List(
                    (range.0..range.1)
                        .map(|j| content.value(j, budget))
                        .collect::<Result<_>>()?,
                ))
            }
        }
    }

    /// Element `i` (the caller guarantees `i < self.len`), as a [`Value`]
    /// tree of at most what `budget` allows.
    pub(crate) fn value(&self, i: usize, budget: &mut Budget) -> Result<Value> {
        match &self.kind {
            ViewKind::Empty => Err(self.out_of_range(i)),
            ViewKind::Numpy {
                data,
                primitive,
                inner,
                stride,
            } => {
                if inner.is_empty() {
                    budget.charge(1, self)?;
                    Ok(self.scalar(data, *primitive, i))
                } else {
                    self.nested(data, *primitive, inner, i * stride, budget)
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
                self.list_value(strings, content, range, budget)
            }
            ViewKind::Indexed { content, .. }
            | ViewKind::IndexedOption { content, .. }
            | ViewKind::ByteMasked { content, .. }
            | ViewKind::BitMasked { content, .. }
            | ViewKind::Unmasked { content } => match self.project(i, content.len)? {
                Some(j) => content.value(j, budget),
                None => {
                    budget.charge(1, self)?;
                    Ok(Value::Null)
                }
            },
            ViewKind::Record {
                fields, contents, ..
            } => {
                budget.charge(1, self)?;
                let values = contents
                    .iter()
                    .map(|c| c.value(i, budget))
                    .collect::<Result<Vec<_>>>()?;
                Ok(match fields {
                    Some(names) => Value::Record(Arc::clone(names), values),
                    None => Value::Tuple(values),
                })
            }
            ViewKind::Union { contents, .. } => {
                let (t, j) = self.select(i)?;
                contents[t].value(j, budget)
            }
        }
    }
}
