//! High-level type strings, exactly as `str(ak_array.type)` (compact mode).
//!
//! A form is first turned into awkward's type tree (indexed nodes merge their
//! parameters into their content, option-of-union is pushed inside the union,
//! categoricals are marked) and then printed by awkward's `_str` rules.

use super::{Form, FormKind, Parameters, Primitive};
use crate::pyjson;
use serde_json::Value;

#[derive(Debug, Clone)]
enum Ty {
    Unknown,
    Numpy(Primitive),
    Regular(Box<TyP>, usize),
    List(Box<TyP>),
    Option(Box<TyP>),
    Record(Vec<TyP>, Option<Vec<String>>),
    Union(Vec<TyP>),
}

#[derive(Debug, Clone)]
struct TyP {
    ty: Ty,
    params: Parameters,
}

impl TyP {
    fn new(ty: Ty, params: Parameters) -> TyP {
        TyP { ty, params }
    }
    fn param_str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(Value::as_str)
    }
    fn has(&self, key: &str) -> bool {
        self.params.get(key).is_some_and(|v| !v.is_null())
    }
}

/// `parameters_union(left, right)`: right wins, keys keep first position, nulls dropped.
fn union(left: &Parameters, right: &Parameters) -> Parameters {
    let mut out = Parameters::new();
    for (k, v) in left.iter().chain(right.iter()) {
        if v.is_null() {
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

fn option(content: TyP, params: Parameters) -> TyP {
    match content.ty {
        // simplify_option_union: the option goes inside each union member.
        Ty::Union(members) => {
            let members = members
                .into_iter()
                .map(|m| match m.ty {
                    Ty::Option(inner) => TyP::new(Ty::Option(inner), union(&params, &m.params)),
                    _ => TyP::new(Ty::Option(Box::new(m)), params.clone()),
                })
                .collect();
            TyP::new(Ty::Union(members), content.params)
        }
        // Option of option (only reachable through field projection, where
        // awkward would simplify the layout to one option node).
        Ty::Option(inner) => TyP::new(Ty::Option(inner), union(&params, &content.params)),
        ty => TyP::new(
            Ty::Option(Box::new(TyP {
                ty,
                params: content.params,
            })),
            params,
        ),
    }
}

fn categorical(mut params: Parameters, content_array: Option<&Value>) -> Parameters {
    match content_array {
        Some(v) => {
            params.insert("__array__".into(), v.clone());
        }
        None => {
            params.shift_remove("__array__");
        }
    }
    params.insert("__categorical__".into(), Value::Bool(true));
    params
}

fn to_type(form: &Form) -> TyP {
    let params = form.parameters().clone();
    match form.kind() {
        FormKind::Empty => TyP::new(Ty::Unknown, Parameters::new()),
        FormKind::Numpy {
            primitive,
            inner_shape,
        } => {
            let mut t = TyP::new(Ty::Numpy(*primitive), Parameters::new());
            for &n in inner_shape.iter().rev() {
                t = TyP::new(Ty::Regular(Box::new(t), n), Parameters::new());
            }
            t.params = params;
            t
        }
        FormKind::Regular { size, content } => {
            TyP::new(Ty::Regular(Box::new(to_type(content)), *size), params)
        }
        FormKind::List { content, .. } | FormKind::ListOffset { content, .. } => {
            TyP::new(Ty::List(Box::new(to_type(content))), params)
        }
        FormKind::Indexed { content, .. } => {
            let mut out = to_type(content);
            if !params.is_empty() {
                let merged = union(&out.params, &params);
                out.params = if form.array_parameter() == Some("categorical") {
                    categorical(merged, content.parameter("__array__"))
                } else {
                    merged
                };
            }
            out
        }
        FormKind::IndexedOption { content, .. } => {
            let params = if form.array_parameter() == Some("categorical") {
                let mut p = params;
                p.shift_remove("__array__");
                p.insert("__categorical__".into(), Value::Bool(true));
                p
            } else {
                params
            };
            option(to_type(content), params)
        }
        FormKind::ByteMasked { content, .. }
        | FormKind::BitMasked { content, .. }
        | FormKind::Unmasked { content } => option(to_type(content), params),
        FormKind::Record { fields, contents } => TyP::new(
            Ty::Record(
                contents.iter().map(|c| to_type(c)).collect(),
                fields.clone(),
            ),
            params,
        ),
        FormKind::Union { contents, .. } => TyP::new(
            Ty::Union(contents.iter().map(|c| to_type(c)).collect()),
            params,
        ),
    }
}

/// Python's `re.match(r"^[A-Za-z_][A-Za-z_0-9]*$", s)` (where `$` also
/// matches before one trailing newline).
fn is_identifier(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn str_parameters(t: &TyP, exclude: &[&str]) -> Option<String> {
    let mut parts = Vec::new();
    for (k, v) in &t.params {
        if v.is_null() || k == "__categorical__" || exclude.contains(&k.as_str()) {
            continue;
        }
        let mut s = String::new();
        pyjson::write_str(&mut s, k);
        s.push_str(": ");
        s.push_str(&pyjson::dumps(v));
        parts.push(s);
    }
    if parts.is_empty() {
        None
    } else {
        Some(format!("parameters={{{}}}", parts.join(", ")))
    }
}

fn write(t: &TyP, out: &mut String) {
    let cat = t.has("__categorical__");
    if cat && !matches!(t.ty, Ty::Option(_)) {
        out.push_str("categorical[type=");
    }
    match &t.ty {
        Ty::Unknown => match str_parameters(t, &[]) {
            None => out.push_str("unknown"),
            Some(p) => {
                out.push_str("unknown[");
                out.push_str(&p);
                out.push(']');
            }
        },
        Ty::Numpy(prim) => {
            if let Some(name @ ("char" | "byte")) = t.param_str("__array__") {
                out.push_str(name);
            } else {
                let units = t.params.get("__unit__").filter(|v| !v.is_null()).map(|u| {
                    let unit = u.as_str().unwrap_or_default();
                    // numpy normalises the unit (`1s` -> `s`).
                    let norm = Primitive::parse(&format!("datetime64[{unit}]"))
                        .map(|p| p.to_string())
                        .and_then(|s| {
                            Some(
                                s.strip_prefix("datetime64[")?
                                    .strip_suffix(']')?
                                    .to_string(),
                            )
                        })
                        .unwrap_or_else(|| unit.to_string());
                    format!("unit={}", pyjson::dumps(&Value::String(norm)))
                });
                let params = str_parameters(t, &["__unit__"]);
                out.push_str(&prim.to_string());
                match (units, params) {
                    (None, None) => {}
                    (Some(u), None) => out.push_str(&format!("[{u}]")),
                    (None, Some(p)) => out.push_str(&format!("[{p}]")),
                    (Some(u), Some(p)) => out.push_str(&format!("[{u}, {p}]")),
                }
            }
        }
        Ty::Regular(content, size) => match t.param_str("__array__") {
            Some("string") => out.push_str(&format!("string[{size}]")),
            Some("bytestring") => out.push_str(&format!("bytes[{size}]")),
            _ => match str_parameters(t, &[]) {
                None => {
                    out.push_str(&format!("{size} * "));
                    write(content, out);
                }
                Some(p) => {
                    out.push_str(&format!("[{size} * "));
                    write(content, out);
                    out.push_str(&format!(", {p}]"));
                }
            },
        },
        Ty::List(content) => match t.param_str("__array__") {
            Some("string") => out.push_str("string"),
            Some("bytestring") => out.push_str("bytes"),
            _ => match str_parameters(t, &[]) {
                None => {
                    out.push_str("var * ");
                    write(content, out);
                }
                Some(p) => {
                    out.push_str("[var * ");
                    write(content, out);
                    out.push_str(&format!(", {p}]"));
                }
            },
        },
        Ty::Option(content) => {
            let params = str_parameters(t, &[]);
            let list_like = matches!(content.ty, Ty::List(_) | Ty::Regular(..))
                && !matches!(
                    content.param_str("__array__"),
                    Some("string" | "bytestring" | "char" | "byte")
                );
            let (head, tail) = match &params {
                None if list_like => ("option[", String::from("]")),
                None => ("?", String::new()),
                Some(p) => ("option[", format!(", {p}]")),
            };
            out.push_str(head);
            if cat {
                out.push_str("categorical[type=");
            }
            write(content, out);
            if cat {
                out.push(']');
            }
            out.push_str(&tail);
        }
        Ty::Record(contents, fields) => write_record(t, contents, fields.as_deref(), out),
        Ty::Union(contents) => {
            out.push_str("union[");
            for (i, c) in contents.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(c, out);
            }
            if let Some(p) = str_parameters(t, &[]) {
                out.push_str(", ");
                out.push_str(&p);
            }
            out.push(']');
        }
    }
    if cat && !matches!(t.ty, Ty::Option(_)) {
        out.push(']');
    }
}

const RESERVED_NAMES: [&str; 8] = [
    "unknown",
    "string",
    "bytes",
    "option",
    "tuple",
    "struct",
    "union",
    "categorical",
];

fn write_record(t: &TyP, contents: &[TyP], fields: Option<&[String]>, out: &mut String) {
    let children: Vec<String> = contents
        .iter()
        .map(|c| {
            let mut s = String::new();
            write(c, &mut s);
            s
        })
        .collect();
    let mut params = str_parameters(t, &["__record__"]);
    let mut name = t.param_str("__record__").map(str::to_string);
    if let Some(n) = &name {
        if !is_identifier(n)
            || RESERVED_NAMES.contains(&n.as_str())
            || Primitive::parse(n).is_some()
        {
            let quoted = pyjson::dumps(&Value::String(n.clone()));
            params = Some(match params {
                None => format!("parameters={{\"__record__\": {quoted}}}"),
                Some(p) => format!("parameters={{\"__record__\": {quoted}, {}", &p[12..]),
            });
            name = None;
        }
    }
    let body = match fields {
        None => children.join(", "),
        Some(fields) => fields
            .iter()
            .zip(&children)
            .map(|(k, v)| {
                let key = if is_identifier(k) {
                    k.clone()
                } else {
                    pyjson::dumps(&Value::String(k.clone()))
                };
                format!("{key}: {v}")
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    let tuple = fields.is_none();
    match (params, name, tuple) {
        (None, None, true) => out.push_str(&format!("({body})")),
        (None, Some(n), _) => out.push_str(&format!("{n}[{body}]")),
        (None, None, false) => out.push_str(&format!("{{{body}}}")),
        (Some(p), None, true) => out.push_str(&format!("tuple[[{body}], {p}]")),
        (Some(p), None, false) => out.push_str(&format!("struct[{{{body}}}, {p}]")),
        (Some(p), Some(n), _) => {
            let c = if contents.is_empty() { "" } else { ", " };
            out.push_str(&format!("{n}[{body}{c}{p}]"));
        }
    }
}

impl Form {
    /// The type of one element, as `str(form.type)` in awkward
    /// (`var * {pt: float32, eta: float32}`).
    ///
    /// ```
    /// use akbuf::Form;
    ///
    /// let form = Form::from_json(r#"{"class": "IndexedOptionArray", "index": "i64", "content": {"class": "ListOffsetArray", "offsets": "i64", "content": "int64"}}"#)?;
    /// assert_eq!(form.type_string(), "option[var * int64]");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn type_string(&self) -> String {
        let mut out = String::new();
        write(&to_type(self), &mut out);
        out
    }

    /// The type of an array of `length` elements, as `str(ak_array.type)`
    /// (`3 * var * float32`).
    pub fn array_type_string(&self, length: usize) -> String {
        format!("{length} * {}", self.type_string())
    }
}
