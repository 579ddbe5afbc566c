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
        J::Obj(_) => value,
        other => {
            return Err(Error::form(
                path,
                format!("a form node must be an object or a primitive name, not {other}"),
            ))
        }
    };
    let get = |key: &str| -> Result<&J<'_>> {
        obj.get(key)
            .ok_or_else(|| Error::form(path, format!("missing key '{key}'")))
    };
    let class = match get("class")? {
        J::Str(s) => s.as_ref(),
        other => {
            return Err(Error::form(
                path,
                format!("'class' must be a string, not {other}"),
            ))
        }
    };
    let parameters = match obj.get("parameters") {
        None | Some(J::Null) => Parameters::new(),
        Some(J::Obj(m)) => to_map(m),
        Some(other) => {
            return Err(Error::form(
                path,
                format!("'parameters' must be an object or null, not {other}"),
            ))
        }
    };
    let form_key = match obj.get("form_key") {
        None | Some(J::Null) => None,
        Some(J::Str(s)) => Some(s.to_string()),
        Some(other) => {
            return Err(Error::form(
                path,
                format!("'form_key' must be a string or null, not {other}"),
            ))
        }
    };
    let index = |key: &str| -> Result<IndexType> {
        match get(key)? {
            J::Str(s) => IndexType::parse(s).ok_or_else(|| {
                Error::form(
                    path,
                    format!("'{key}' must be one of i8, u8, i32, u32, i64, not '{s}'"),
                )
            }),
            other => Err(Error::form(
                path,
                format!("'{key}' must be a string, not {other}"),
            )),
        }
    };
    let boolean = |key: &str| -> Result<bool> {
        match get(key)? {
            J::Bool(b) => Ok(*b),
            other => Err(Error::form(
                path,
                format!("'{key}' must be true or false, not {other}"),
            )),
        }
    };
    let content = |segment: &str| -> Result<Arc<Form>> {
        Ok(Arc::new(parse(
            get("content")?,
            &child_path(path, segment),
        )?))
    };

    let kind = match class {
        "NumpyArray" => {
            let primitive = match get("primitive")? {
                J::Str(s) => parse_primitive(s, path)?,
                other => {
                    return Err(Error::form(
                        path,
                        format!("'primitive' must be a string, not {other}"),
                    ))
                }
            };
            let inner_shape = match obj.get("inner_shape") {
                None | Some(J::Null) => Vec::new(),
                Some(J::Arr(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| {
                            Error::form(
                                path,
                                format!("'inner_shape' items must be non-negative integers, not {v}"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
                Some(other) => {
                    return Err(Error::form(path, format!("'inner_shape' must be a list, not {other}")))
                }
            };
            FormKind::Numpy {
                primitive,
                inner_shape,
            }
        }
        "EmptyArray" => {
            if !parameters.is_empty() {
                return Err(Error::form(path, "EmptyForm cannot contain parameters"));
            }
            FormKind::Empty
        }
        "RegularArray" => {
            let size = match get("size")? {
                J::Num(n) if n.is_u64() => n
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| Error::form(path, "'size' is too large"))?,
                J::Null => {
                    return Err(Error::form(
                        path,
                        "'size' is null (unknown), which only a typetracer can use",
                    ))
                }
                other => {
                    return Err(Error::form(
                        path,
                        format!("'size' must be a non-negative integer, not {other}"),
                    ))
                }
            };
            FormKind::Regular {
                size,
                content: content("[]")?,
            }
        }
        "ListArray" | "ListArray32" | "ListArrayU32" | "ListArray64" => FormKind::List {
            starts: index("starts")?,
            stops: index("stops")?,
            content: content("[]")?,
        },
        "ListOffsetArray" | "ListOffsetArray32" | "ListOffsetArrayU32" | "ListOffsetArray64" => {
            FormKind::ListOffset {
                offsets: index("offsets")?,
                content: content("[]")?,
            }
        }
        "IndexedArray" | "IndexedArray32" | "IndexedArrayU32" | "IndexedArray64" => {
            FormKind::Indexed {
                index: index("index")?,
                content: content("index")?,
            }
        }
        "IndexedOptionArray" | "IndexedOptionArray32" | "IndexedOptionArray64" => {
            FormKind::IndexedOption {
                index: index("index")?,
                content: content("?")?,
            }
        }
        "ByteMaskedArray" => FormKind::ByteMasked {
            mask: index("mask")?,
            valid_when: boolean("valid_when")?,
            content: content("?")?,
        },
        "BitMaskedArray" => FormKind::BitMasked {
            mask: index("mask")?,
            valid_when: boolean("valid_when")?,
            lsb_order: boolean("lsb_order")?,
            content: content("?")?,
        },
        "UnmaskedArray" => FormKind::Unmasked {
            content: content("?")?,
        },
        "RecordArray" => parse_record(obj, path)?,
        "UnionArray" | "UnionArray8_32" | "UnionArray8_U32" | "UnionArray8_64" => {
            let contents = match get("contents")? {
                J::Arr(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Ok(Arc::new(parse(v, &child_path(path, &format!("#{i}")))?)))
                    .collect::<Result<Vec<_>>>()?,
                other => {
                    return Err(Error::form(
                        path,
                        format!("'contents' must be a list, not {other}"),
                    ))
                }
            };
            FormKind::Union {
                tags: index("tags")?,
                index: index("index")?,
                contents,
            }
        }
        "VirtualNDArray" => {
            return Err(Error::form(
                path,
                "Awkward 1.x VirtualNDArrays are not supported",
            ))
        }
        other => {
            return Err(Error::form(
                path,
                format!("input class: '{other}' was not recognised"),
            ))
        }
    };
    Ok(Form::new(kind, parameters, form_key))
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
