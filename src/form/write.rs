//! Form JSON out, in awkward's key order.

use super::{Form, FormKind};
use crate::pyjson;
use serde_json::{Map, Value};

impl Form {
    /// The form as a JSON value, as awkward's `form.to_dict(verbose)`.
    ///
    /// Verbose output has every key (`"parameters": {}`, `"form_key": null`,
    /// `"inner_shape": []`); terse output omits them and collapses a
    /// non-top-level plain `NumpyArray` to its primitive name.
    pub fn to_value(&self, verbose: bool) -> Value {
        to_value(self, verbose, true)
    }

    /// The form as awkward's `form.to_json()` writes it: verbose, with
    /// `json.dumps`'s default separators.
    pub fn to_json(&self) -> String {
        pyjson::dumps(&self.to_value(true))
    }

    /// The form as both awkward 1 and 2 read it: verbose, with records'
    /// contents as an object from field name to content (awkward 1 reads a
    /// record whose contents is a list as a tuple, ignoring `fields`;
    /// awkward 2 reads both). Records with repeated field names stay lists.
    /// Partitioned containers, which only awkward 1 reads whole, are
    /// written so.
    ///
    /// ```
    /// use akbuf::Form;
    ///
    /// let form = Form::from_json(r#"{"class": "RecordArray", "fields": ["x"], "contents": ["int64"]}"#)?;
    /// let v = form.to_value_compatible();
    /// assert!(v["contents"]["x"].is_object());
    /// assert!(v.get("fields").is_none());
    /// assert_eq!(Form::from_value(&v)?, form);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn to_value_compatible(&self) -> Value {
        let mut v = self.to_value(true);
        records_as_objects(&mut v);
        v
    }
}

/// Rewrites every record of a verbose form value with its contents as an
/// object, keeping the key order (`class`, `contents`, `parameters`, `form_key`).
fn records_as_objects(v: &mut Value) {
    let Value::Object(m) = v else { return };
    for key in ["content", "contents"] {
        match m.get_mut(key) {
            Some(Value::Array(items)) => items.iter_mut().for_each(records_as_objects),
            Some(c @ Value::Object(_)) => records_as_objects(c),
            _ => {}
        }
    }
    if m.get("class").and_then(Value::as_str) != Some("RecordArray") {
        return;
    }
    let names: Vec<String> = match m.get("fields") {
        Some(Value::Array(f)) => f
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => return, // a tuple: a list of contents is what awkward 1 writes too
    };
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    if unique.len() != names.len() {
        return;
    }
    let Some(Value::Array(contents)) = m.get("contents").cloned() else {
        return;
    };
    let object: Map<String, Value> = names.into_iter().zip(contents).collect();
    let old = std::mem::take(m);
    for (k, val) in old {
        match k.as_str() {
            "fields" => {}
            "contents" => {
                m.insert(k, Value::Object(object.clone()));
            }
            _ => {
                m.insert(k, val);
            }
        }
    }
}

fn to_value(form: &Form, verbose: bool, top: bool) -> Value {
    let content = |c: &Form| to_value(c, verbose, false);
    if let FormKind::Numpy {
        primitive,
        inner_shape,
    } = form.kind()
    {
        if !verbose
            && !top
            && inner_shape.is_empty()
            && form.parameters().is_empty()
            && form.form_key().is_none()
        {
            return Value::String(primitive.to_string());
        }
    }
    let mut m = Map::new();
    m.insert("class".into(), form.class_name().into());
    match form.kind() {
        FormKind::Empty => {}
        FormKind::Numpy {
            primitive,
            inner_shape,
        } => {
            m.insert("primitive".into(), primitive.to_string().into());
            if verbose || !inner_shape.is_empty() {
                m.insert(
                    "inner_shape".into(),
                    Value::Array(inner_shape.iter().map(|&n| n.into()).collect()),
                );
            }
        }
        FormKind::Regular { size, content: c } => {
            m.insert("size".into(), (*size).into());
            m.insert("content".into(), content(c));
        }
        FormKind::List {
            starts,
            stops,
            content: c,
        } => {
            m.insert("starts".into(), starts.to_string().into());
            m.insert("stops".into(), stops.to_string().into());
            m.insert("content".into(), content(c));
        }
        FormKind::ListOffset {
            offsets,
            content: c,
        } => {
            m.insert("offsets".into(), offsets.to_string().into());
            m.insert("content".into(), content(c));
        }
        FormKind::Indexed { index, content: c } | FormKind::IndexedOption { index, content: c } => {
            m.insert("index".into(), index.to_string().into());
            m.insert("content".into(), content(c));
        }
        FormKind::ByteMasked {
            mask,
            valid_when,
            content: c,
        } => {
            m.insert("mask".into(), mask.to_string().into());
            m.insert("valid_when".into(), (*valid_when).into());
            m.insert("content".into(), content(c));
        }
        FormKind::BitMasked {
            mask,
            valid_when,
            lsb_order,
            content: c,
        } => {
            m.insert("mask".into(), mask.to_string().into());
            m.insert("valid_when".into(), (*valid_when).into());
            m.insert("lsb_order".into(), (*lsb_order).into());
            m.insert("content".into(), content(c));
        }
        FormKind::Unmasked { content: c } => {
            m.insert("content".into(), content(c));
        }
        FormKind::Record { fields, contents } => {
            m.insert(
                "fields".into(),
                match fields {
                    Some(f) => Value::Array(f.iter().map(|s| s.as_str().into()).collect()),
                    None => Value::Null,
                },
            );
            m.insert(
                "contents".into(),
                Value::Array(contents.iter().map(|c| content(c)).collect()),
            );
        }
        FormKind::Union {
            tags,
            index,
            contents,
        } => {
            m.insert("tags".into(), tags.to_string().into());
            m.insert("index".into(), index.to_string().into());
            m.insert(
                "contents".into(),
                Value::Array(contents.iter().map(|c| content(c)).collect()),
            );
        }
    }
    if verbose || !form.parameters().is_empty() {
        m.insert(
            "parameters".into(),
            Value::Object(form.parameters().clone()),
        );
    }
    if verbose || form.form_key().is_some() {
        m.insert(
            "form_key".into(),
            form.form_key().map_or(Value::Null, |k| k.into()),
        );
    }
    Value::Object(m)
}
