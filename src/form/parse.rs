//! Form JSON in: everything awkward 2.14's `ak.forms.from_dict` accepts.

use super::json::{to_map, J};
use super::{child_path, Form, FormKind, IndexType, Parameters, Primitive};
use crate::error::{Error, Result};
use serde_json::Value;
use std::sync::Arc;

impl Form {
    /// Parses a Form from JSON text.
    ///
    /// As in `ak.from_buffers`, a bare primitive name (`float64`, with or
    /// without quotes) is a `NumpyArray`.
    ///
    /// # Errors
    ///
    /// [`Error::Form`] naming the node path for malformed JSON, a missing key,
    /// an unknown class (including awkward 1.x `VirtualArray`), a bad primitive
    /// or a value of the wrong type.
    ///
    /// ```
    /// use akbuf::Form;
    ///
    /// assert_eq!(Form::from_json("float64")?.type_string(), "float64");
    /// let err = Form::from_json(r#"{"class": "VirtualArray"}"#).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid form at /: input class: 'VirtualArray' was not recognised");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    pub fn from_json(text: &str) -> Result<Form> {
        let trimmed = text.trim();
        if let Some(p) = Primitive::parse(trimmed) {
            return Ok(numpy(p));
        }
        if let Some(form) = super::fast::form(trimmed) {
            return Ok(form);
        }
        let value: J<'_> = serde_json::from_str(trimmed)
            .map_err(|e| Error::form("/", format!("not valid JSON: {e}")))?;
        parse(&value, "/")
    }

    /// Parses a Form from a JSON value (awkward's `from_dict`).
    ///
    /// # Errors
    ///
    /// As [`Form::from_json`].
    pub fn from_value(value: &Value) -> Result<Form> {
        parse(&J::borrow(value), "/")
    }
}

fn numpy(primitive: Primitive) -> Form {
    Form::new(
        FormKind::Numpy {
            primitive,
            inner_shape: Vec::new(),
        },
        Parameters::new(),
        None,
    )
}

fn parse_primitive(s: &str, path: &str) -> Result<Primitive> {
    Primitive::parse(s).ok_or_else(|| {
        Error::form(
            path,
            format!(
                "unrecognized primitive: {}",
                crate::pyjson::dumps(&Value::String(s.to_string())).replace('"', "'")
            ),
        )
    })
}

pub(crate) fn parse(value: &J<'_>, path: &str) -> Result<Form> {
    let obj = match value {
        J::Str(s) => return Ok(numpy(parse_primitive(s, path)?)),
        J::Obj(_) => Node { obj: value, path },
        other => {
            return Err(Error::form(
                path,
                format!("a form node must be an object or a primitive name, not {other}"),
            ))
        }
    };
    let class = match obj.get("class")? {
        J::Str(s) => s.as_ref(),
        other => return Err(obj.err(format!("'class' must be a string, not {other}"))),
    };
    let parameters = obj.parameters()?;
    let form_key = obj.form_key()?;
    let kind = match class {
        "NumpyArray" => obj.numpy()?,
        "EmptyArray" if !parameters.is_empty() => {
            return Err(obj.err("EmptyForm cannot contain parameters"))
        }
        "EmptyArray" => FormKind::Empty,
        "RegularArray" => obj.regular()?,
        "ListArray" | "ListArray32" | "ListArrayU32" | "ListArray64" => FormKind::List {
            starts: obj.index("starts")?,
            stops: obj.index("stops")?,
            content: obj.content("[]")?,
        },
        "ListOffsetArray" | "ListOffsetArray32" | "ListOffsetArrayU32" | "ListOffsetArray64" => {
            FormKind::ListOffset {
                offsets: obj.index("offsets")?,
                content: obj.content("[]")?,
            }
        }
        "IndexedArray" | "IndexedArray32" | "IndexedArrayU32" | "IndexedArray64" => {
            FormKind::Indexed {
                index: obj.index("index")?,
                content: obj.content("index")?,
            }
        }
        "IndexedOptionArray" | "IndexedOptionArray32" | "IndexedOptionArray64" => {
            FormKind::IndexedOption {
                index: obj.index("index")?,
                content: obj.content("?")?,
            }
        }
        "ByteMaskedArray" => FormKind::ByteMasked {
            mask: obj.index("mask")?,
            valid_when: obj.boolean("valid_when")?,
            content: obj.content("?")?,
        },
        "BitMaskedArray" => FormKind::BitMasked {
            mask: obj.index("mask")?,
            valid_when: obj.boolean("valid_when")?,
            lsb_order: obj.boolean("lsb_order")?,
            content: obj.content("?")?,
        },
        "UnmaskedArray" => FormKind::Unmasked {
            content: obj.content("?")?,
        },
        "RecordArray" => parse_record(value, path)?,
        "UnionArray" | "UnionArray8_32" | "UnionArray8_U32" | "UnionArray8_64" => obj.union()?,
        "VirtualNDArray" => return Err(obj.err("Awkward 1.x VirtualNDArrays are not supported")),
        other => return Err(obj.err(format!("input class: '{other}' was not recognised"))),
    };
    Ok(Form::new(kind, parameters, form_key))
}

/// A form node's JSON object and its path, with a reader per attribute kind.
struct Node<'a, 'j> {
    obj: &'a J<'j>,
    path: &'a str,
}

impl Node<'_, '_> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error::form(self.path, message)
    }

    fn get(&self, key: &str) -> Result<&J<'_>> {
        self.obj
            .get(key)
            .ok_or_else(|| self.err(format!("missing key '{key}'")))
    }

    fn parameters(&self) -> Result<Parameters> {
        match self.obj.get("parameters") {
            None | Some(J::Null) => Ok(Parameters::new()),
            Some(J::Obj(m)) => Ok(to_map(m)),
            Some(other) => Err(self.err(format!(
                "'parameters' must be an object or null, not {other}"
            ))),
        }
    }

    fn form_key(&self) -> Result<Option<String>> {
        match self.obj.get("form_key") {
            None | Some(J::Null) => Ok(None),
            Some(J::Str(s)) => Ok(Some(s.to_string())),
            Some(other) => {
                Err(self.err(format!("'form_key' must be a string or null, not {other}")))
            }
        }
    }

    fn index(&self, key: &str) -> Result<IndexType> {
        match self.get(key)? {
            J::Str(s) => IndexType::parse(s).ok_or_else(|| {
                self.err(format!(
                    "'{key}' must be one of i8, u8, i32, u32, i64, not '{s}'"
                ))
            }),
            other => Err(self.err(format!("'{key}' must be a string, not {other}"))),
        }
    }

    fn boolean(&self, key: &str) -> Result<bool> {
        match self.get(key)? {
            J::Bool(b) => Ok(*b),
            other => Err(self.err(format!("'{key}' must be true or false, not {other}"))),
        }
    }

    fn content(&self, segment: &str) -> Result<Arc<Form>> {
        let path = child_path(self.path, segment);
        Ok(Arc::new(parse(self.get("content")?, &path)?))
    }

    fn numpy(&self) -> Result<FormKind> {
        let primitive = match self.get("primitive")? {
            J::Str(s) => parse_primitive(s, self.path)?,
            other => return Err(self.err(format!("'primitive' must be a string, not {other}"))),
        };
        let inner_shape = match self.obj.get("inner_shape") {
            None | Some(J::Null) => Vec::new(),
            Some(J::Arr(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| {
                            self.err(format!(
                                "'inner_shape' items must be non-negative integers, not {v}"
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?,
            Some(other) => {
                return Err(self.err(format!("'inner_shape' must be a list, not {other}")))
            }
        };
        Ok(FormKind::Numpy {
            primitive,
            inner_shape,
        })
    }

    fn regular(&self) -> Result<FormKind> {
        let size = match self.get("size")? {
            J::Num(n) if n.is_u64() => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| self.err("'size' is too large"))?,
            J::Null => {
                return Err(self.err("'size' is null (unknown), which only a typetracer can use"))
            }
            other => {
                return Err(self.err(format!(
                    "'size' must be a non-negative integer, not {other}"
                )))
            }
        };
        Ok(FormKind::Regular {
            size,
            content: self.content("[]")?,
        })
    }

    fn union(&self) -> Result<FormKind> {
        let contents = match self.get("contents")? {
            J::Arr(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let path = child_path(self.path, &format!("#{i}"));
                    Ok(Arc::new(parse(v, &path)?))
                })
                .collect::<Result<Vec<_>>>()?,
            other => return Err(self.err(format!("'contents' must be a list, not {other}"))),
        };
        Ok(FormKind::Union {
            tags: self.index("tags")?,
            index: self.index("index")?,
            contents,
        })
    }
}

fn parse_record(obj: &J<'_>, path: &str) -> Result<FormKind> {
    let contents = obj
        .get("contents")
        .ok_or_else(|| Error::form(path, "missing key 'contents'"))?;
    let parse_list = |items: &[J<'_>], names: Option<&[String]>| -> Result<Vec<Arc<Form>>> {
        items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let seg = match names {
                    Some(n) => n.get(i).cloned().unwrap_or_else(|| i.to_string()),
                    None => i.to_string(),
                };
                Ok(Arc::new(parse(v, &child_path(path, &seg))?))
            })
            .collect()
    };
    if let Some(fields) = obj.get("fields") {
        // New style: `fields` present (possibly null) and `contents` a list.
        let J::Arr(items) = contents else {
            return Err(Error::form(
                path,
                "new-style RecordForm contents must not be mappings",
            ));
        };
        let fields = match fields {
            J::Null => None,
            J::Arr(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        n.as_str().map(str::to_string).ok_or_else(|| {
                            Error::form(
                                path,
                                format!("record field names must be strings, not {n}"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            other => {
                return Err(Error::form(
                    path,
                    format!("'fields' must be a list or null, not {other}"),
                ))
            }
        };
        if let Some(f) = &fields {
            if f.len() != items.len() {
                return Err(Error::form(
                    path,
                    format!(
                        "RecordArray has {} fields but {} contents",
                        f.len(),
                        items.len()
                    ),
                ));
            }
        }
        let contents = parse_list(items, fields.as_deref())?;
        return Ok(FormKind::Record { fields, contents });
    }
    match contents {
        // Old style record: field order is the mapping's order (a repeated
        // name keeps its first place and its last form, as JSON parsers do).
        J::Obj(map) => {
            let mut fields: Vec<String> = Vec::with_capacity(map.len());
            let mut forms = Vec::with_capacity(map.len());
            let mut seen = std::collections::HashMap::with_capacity(map.len());
            for (k, v) in map {
                let form = Arc::new(parse(v, &child_path(path, k))?);
                match seen.get(k.as_ref()) {
                    Some(&i) => forms[i] = form,
                    None => {
                        seen.insert(k.as_ref(), fields.len());
                        fields.push(k.to_string());
                        forms.push(form);
                    }
                }
            }
            Ok(FormKind::Record {
                fields: Some(fields),
                contents: forms,
            })
        }
        // Old style tuple.
        J::Arr(items) => Ok(FormKind::Record {
            fields: None,
            contents: parse_list(items, None)?,
        }),
        other => Err(Error::form(
            path,
            format!("'contents' must be a list or an object, not {other}"),
        )),
    }
}
