//! Whether two forms are mergeable, as awkward's `ak._do.mergeable(one,
//! two, mergebool=False)` decides it: a union whose contents are mergeable
//! is invalid (`ak.validity_error`: "content(i) is mergeable with
//! content(j)"). One function per class of the first form, as awkward's
//! `_mergeable_next`.

use super::{Form, FormKind, Primitive};
use std::sync::Arc;

/// The parameters that are part of a type (awkward's `TYPE_PARAMETERS`).
const TYPE_PARAMETERS: [&str; 4] = ["__array__", "__list__", "__record__", "__categorical__"];

impl Form {
    /// Whether `self` and `other` merge into one content without a union,
    /// booleans and numbers kept apart (awkward's
    /// `mergeable(self, other, mergebool=False)`).
    ///
    /// ```
    /// use akbuf::{Form, FormKind, Primitive};
    ///
    /// let num = |p| Form::new(FormKind::Numpy { primitive: p, inner_shape: vec![] }, Default::default(), None);
    /// assert!(num(Primitive::Float64).mergeable(&num(Primitive::Int64)));
    /// assert!(!num(Primitive::Bool).mergeable(&num(Primitive::Int64)));
    /// ```
    pub fn mergeable(&self, other: &Form) -> bool {
        match &self.kind {
            FormKind::Empty | FormKind::Union { .. } => true,
            FormKind::Indexed { content, .. }
            | FormKind::IndexedOption { content, .. }
            | FormKind::ByteMasked { content, .. }
            | FormKind::BitMasked { content, .. }
            | FormKind::Unmasked { content } => wrapper(content, other),
            FormKind::Numpy {
                primitive,
                inner_shape,
            } => numpy(self, *primitive, inner_shape, other),
            FormKind::Regular { content, .. }
            | FormKind::List { content, .. }
            | FormKind::ListOffset { content, .. } => list(self, content, other),
            FormKind::Record { fields, contents } => {
                record(self, fields.as_deref(), contents, other)
            }
        }
    }
}

/// What every class but the wrappers asks first: `Some(answer)` when the
/// other side decides (an empty array or a union merges with anything; an
/// option or index is looked through), `None` to go on.
fn common(this: &Form, other: &Form) -> Option<bool> {
    if matches!(other.kind, FormKind::Empty | FormKind::Union { .. }) {
        return Some(true);
    }
    if let Some(inner) = looked_through(other) {
        return Some(this.mergeable(inner));
    }
    Some(false).filter(|_| !type_parameters_equal(this, other))
}

/// The content of an option or indexed node.
fn looked_through(form: &Form) -> Option<&Arc<Form>> {
    (form.is_option() || form.is_indexed())
        .then(|| form.content())
        .flatten()
}

/// Options and indexes: their content against the other's content.
fn wrapper(content: &Form, other: &Form) -> bool {
    if matches!(other.kind, FormKind::Empty | FormKind::Union { .. }) {
        return true;
    }
    match looked_through(other) {
        Some(inner) => content.mergeable(inner),
        None => content.mergeable(other),
    }
}

fn numpy(this: &Form, primitive: Primitive, inner: &[usize], other: &Form) -> bool {
    if let Some(answer) = common(this, other) {
        return answer;
    }
    match &other.kind {
        FormKind::Numpy {
            primitive: theirs,
            inner_shape,
        } => {
            if inner.len() != inner_shape.len() {
                // A multidimensional array against another: as regular lists.
                return !inner.is_empty() && regular_dims(this, other);
            }
            primitives(primitive, *theirs)
        }
        // As a RegularArray of its inner dimensions.
        FormKind::Regular { .. } | FormKind::List { .. } | FormKind::ListOffset { .. } => {
            !inner.is_empty() && regular_dims(this, other)
        }
        _ => false,
    }
}

/// Two dtypes, booleans and numbers apart: equal ones merge; numbers of
/// any kind merge (numpy's `same_kind` casting goes one way or the
/// other); dates and durations merge only with their own dtype.
fn primitives(a: Primitive, b: Primitive) -> bool {
    if a == b {
        return true;
    }
    let number = |p: Primitive| {
        !matches!(
            p,
            Primitive::Bool | Primitive::Datetime64(_) | Primitive::Timedelta64(_)
        )
    };
    number(a) && number(b)
}

/// A `NumpyArray` with an inner shape merges as nested `RegularArray`s.
fn regular_dims(this: &Form, other: &Form) -> bool {
    match (as_regular(this), as_regular(other)) {
        (Some(a), Some(b)) => a.mergeable(&b),
        (Some(a), None) => a.mergeable(other),
        (None, Some(b)) => this.mergeable(&b),
        (None, None) => false,
    }
}

/// A `NumpyArray` with an inner shape as the `RegularArray` awkward makes
/// of it (`_to_regular_primitive`); `None` for anything else.
fn as_regular(form: &Form) -> Option<Form> {
    let FormKind::Numpy {
        primitive,
        inner_shape,
    } = &form.kind
    else {
        return None;
    };
    let first = *inner_shape.first()?;
    let mut content = Form::new(
        FormKind::Numpy {
            primitive: *primitive,
            inner_shape: Vec::new(),
        },
        Default::default(),
        None,
    );
    for &size in inner_shape[1..].iter().rev() {
        content = Form::new(
            FormKind::Regular {
                size,
                content: Arc::new(content),
            },
            Default::default(),
            None,
        );
    }
    Some(Form::new(
        FormKind::Regular {
            size: first,
            content: Arc::new(content),
        },
        form.parameters().clone(),
        None,
    ))
}

fn list(this: &Form, content: &Form, other: &Form) -> bool {
    if let Some(answer) = common(this, other) {
        return answer;
    }
    match &other.kind {
        FormKind::Regular {
            content: theirs, ..
        }
        | FormKind::List {
            content: theirs, ..
        }
        | FormKind::ListOffset {
            content: theirs, ..
        } => content.mergeable(theirs),
        FormKind::Numpy { inner_shape, .. } if !inner_shape.is_empty() => {
            as_regular(other).is_some_and(|r| this.mergeable(&r))
        }
        _ => false,
    }
}

fn record(this: &Form, fields: Option<&[String]>, contents: &[Arc<Form>], other: &Form) -> bool {
    if let Some(answer) = common(this, other) {
        return answer;
    }
    let Some((theirs, their_contents)) = other.record_parts() else {
        return false;
    };
    match (fields, theirs) {
        (None, None) => {
            contents.len() == their_contents.len()
                && contents
                    .iter()
                    .zip(their_contents)
                    .all(|(a, b)| a.mergeable(b))
        }
        (Some(mine), Some(theirs)) => {
            let set = |f| -> std::collections::BTreeSet<&String> { <[String]>::iter(f).collect() };
            if set(mine) != set(theirs) {
                return false;
            }
            mine.iter().zip(contents).all(|(name, c)| {
                let j = theirs.iter().position(|t| t == name).unwrap_or(0);
                c.mergeable(&their_contents[j])
            })
        }
        _ => false,
    }
}

/// Whether the two forms have the same type parameters (missing and
/// `null` alike).
fn type_parameters_equal(a: &Form, b: &Form) -> bool {
    TYPE_PARAMETERS.iter().all(|k| {
        let get = |f: &Form| f.parameter(k).filter(|v| !v.is_null()).cloned();
        get(a) == get(b)
    })
}
