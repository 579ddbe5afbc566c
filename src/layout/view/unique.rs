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

    /// Whether the elements `pick` chooses are unique, as awkward's
    /// `_is_unique` with axis None decides it, quirks included: a list's
    /// elements are unique when its content's elements are, and the content
    /// awkward looks at is `to_ListOffsetArray64(True)`'s: from the first
    /// element's start to the content's end when the lists are contiguous,
    /// the lists' elements carried otherwise; an IndexedArray carries its
    /// distinct index values in ascending order, an option its valid entries.
    pub(crate) fn unique_at(&self, pick: &Pick) -> Result<bool> {
        let at: Vec<usize> = pick.indices(self.len);
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
                for &i in &at {
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
                strings: StrKind::No,
                content,
                size,
                ..
            } => {
                if at.is_empty() {
                    return Ok(true);
                }
                match pick {
                    // A slice keeps the whole content from its start on.
                    Pick::From(start) => content.unique_at(&Pick::From(start * size)),
                    Pick::At(_) => {
                        let inner = at.iter().flat_map(|&i| i * size..(i + 1) * size).collect();
                        content.unique_at(&Pick::At(inner))
                    }
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
                if at.is_empty() {
                    return Ok(true);
                }
                let mut ranges = Vec::with_capacity(at.len());
                for &i in &at {
                    ranges.push(self.list_range(i, content.len)?);
                }
                if !matches!(strings, StrKind::No) {
                    let mut seen = HashSet::new();
                    for &range in &ranges {
                        if !seen.insert(self.string_bytes(content, range)?) {
                            return Ok(false);
                        }
                    }
                    return Ok(true);
                }
                let contiguous = ranges.windows(2).all(|w| w[0].1 == w[1].0);
                if contiguous {
                    content.unique_at(&Pick::From(ranges[0].0))
                } else {
                    let inner = ranges.iter().flat_map(|&(a, b)| a..b).collect();
                    content.unique_at(&Pick::At(inner))
                }
            }
            ViewKind::Indexed { content, .. } => {
                let mut distinct = std::collections::BTreeSet::new();
                for &i in &at {
                    if let Some(j) = self.project(i, content.len)? {
                        if !distinct.insert(j) {
                            return Ok(false);
                        }
                    }
                }
                if at.is_empty() {
                    return Ok(true);
                }
                content.unique_at(&Pick::At(distinct.into_iter().collect()))
            }
            ViewKind::IndexedOption { content, .. }
            | ViewKind::ByteMasked { content, .. }
            | ViewKind::BitMasked { content, .. } => {
                let mut inner = Vec::with_capacity(at.len());
                for &i in &at {
                    if let Some(j) = self.project(i, content.len)? {
                        inner.push(j);
                    }
                }
                if at.is_empty() {
                    return Ok(true);
                }
                content.unique_at(&Pick::At(inner))
            }
            // awkward's UnmaskedArray passes its content on as it is.
            ViewKind::Unmasked { content } => content.unique_at(pick),
            ViewKind::Record { contents, .. } => {
                for c in contents {
                    if !c.unique_at(pick)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }
}

/// Which elements of a view [`View::unique_at`] looks at: a slice to the
/// end (what awkward's slices and `to_ListOffsetArray64(True)` keep), or
/// elements carried.
pub(crate) enum Pick {
    From(usize),
    At(Vec<usize>),
}

impl Pick {
    fn indices(&self, len: usize) -> Vec<usize> {
        match self {
            Pick::From(start) => (*start.min(&len)..len).collect(),
            Pick::At(v) => v.clone(),
        }
    }
}
