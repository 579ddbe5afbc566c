//! Whether the elements of a view are unique, as awkward's `is_unique`
//! (axis None) decides it for a categorical array's content: numbers and
//! strings compared by value; lists compared by all their values at once;
//! each field of a record on its own; missing values left out.

use super::{StrKind, View, ViewKind};
use crate::error::Result;
use std::collections::HashSet;

/// A value's JSON text as its identity: `-0.0` is `0.0` (every NaN is
/// already one text), as numpy's `unique` compares.
fn canonical(text: String) -> String {
    if text == "-0.0" {
        "0.0".into()
    } else {
        text
    }
}

impl View<'_> {
    /// Element `i`'s identity by value (its JSON text, see `canonical`):
    /// what makes two entries of a categorical's content the same.
    pub(crate) fn value_key(&self, i: usize) -> Result<String> {
        self.json_of(i).map(canonical)
    }

    /// Whether elements `at` (indexes into this view) are unique.
    pub(crate) fn unique_at(&self, at: &[usize]) -> Result<bool> {
        match &self.kind {
            ViewKind::Empty | ViewKind::Union { .. } => Ok(true),
            ViewKind::Numpy {
                data,
                primitive,
                stride,
                ..
            } => {
                // Every value the elements hold, by value.
                let mut seen = HashSet::new();
                for &i in at {
                    for k in 0..*stride {
                        let mut text = String::new();
                        self.scalar(data, *primitive, i * stride + k)
                            .write_json(&mut text);
                        if !seen.insert(canonical(text)) {
                            return Ok(false);
                        }
                    }
                }
                Ok(true)
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
                let mut inner = Vec::new();
                let mut seen = HashSet::new();
                for &i in at {
                    let range = self.list_range(i, content.len)?;
                    match strings {
                        StrKind::No => inner.extend(range.0..range.1),
                        _ => {
                            if !seen.insert(self.string_bytes(content, range)?) {
                                return Ok(false);
                            }
                        }
                    }
                }
                match strings {
                    StrKind::No => content.unique_at(&inner),
                    _ => Ok(true),
                }
            }
            ViewKind::Indexed { content, .. } => {
                let mut inner = Vec::with_capacity(at.len());
                let mut seen = HashSet::new();
                for &i in at {
                    if let Some(j) = self.project(i, content.len)? {
                        if !seen.insert(j) {
                            return Ok(false);
                        }
                        inner.push(j);
                    }
                }
                content.unique_at(&inner)
            }
            ViewKind::IndexedOption { content, .. }
            | ViewKind::ByteMasked { content, .. }
            | ViewKind::BitMasked { content, .. }
            | ViewKind::Unmasked { content } => {
                let mut inner = Vec::with_capacity(at.len());
                for &i in at {
                    if let Some(j) = self.project(i, content.len)? {
                        inner.push(j);
                    }
                }
                content.unique_at(&inner)
            }
            ViewKind::Record { contents, .. } => {
                for c in contents {
                    if !c.unique_at(at)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }
}
