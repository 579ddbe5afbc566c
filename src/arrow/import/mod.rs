//! Arrow import: arrow-rs arrays as akbuf arrays, by awkward's own rules
//! (`ak.from_arrow`: `awkward/_connect/pyarrow/conversions.py`'s
//! `popbuffers`), sharing memory with arrow's buffers wherever the layouts
//! coincide.
//!
//! Each Arrow level becomes an awkward layout in two versions, as awkward
//! makes them: the *option* one (a `BitMaskedArray` over the level when it
//! has a validity bitmap, else an `UnmaskedArray`) and the *original* one
//! (the level itself). The parent keeps the option one when the child's
//! field is nullable, else the original. The `"awkward"` extension
//! metadata, where a field carries it, restores the node's parameters, the
//! tuple-ness of records and the option's parameters.
//!
//! Zero copy: numbers, offsets, characters, dictionary indexes and validity
//! bitmaps starting on a byte are arrow's buffers themselves. Copies (as
//! awkward copies): booleans (bits to bytes), `date32`/`time32` (widened to
//! 64 bits), validity bitmaps not starting on a byte, dictionary indexes
//! with missing entries, string views.

use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::form::{Form, Primitive, TimeUnit};
use crate::source::MemorySource;
use arrow_array::cast::AsArray;
use arrow_array::{Array as ArrowArray, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema, TimeUnit as ArrowUnit, UnionMode};
use serde_json::{json, Map, Value as J};

mod buffers;
mod emitter;
mod numbers;
mod options;
mod schema;
mod strings;
mod unions;
use buffers::*;
pub(crate) use emitter::*;
use numbers::*;
pub(crate) use schema::*;
use strings::*;

/// A node's parameters (`None`: none).
type Params = Option<Map<String, J>>;

/// An awkward layout being made from arrow's buffers.
#[derive(Clone, Debug)]
pub(crate) enum Ak {
    Numpy {
        primitive: Primitive,
        data: Buffer,
        params: Params,
    },
    ListOffset {
        offsets: Buffer,
        index: &'static str,
        content: Box<Ak>,
        params: Params,
    },
    Regular {
        size: usize,
        content: Box<Ak>,
        params: Params,
    },
    Record {
        fields: Option<Vec<String>>,
        contents: Vec<Ak>,
        params: Params,
    },
    Union {
        tags: Buffer,
        index: Buffer,
        contents: Vec<Ak>,
        /// Each content's length (an arrow child may be longer than the
        /// entries the union uses).
        lengths: Vec<usize>,
        params: Params,
    },
    BitMasked {
        mask: Buffer,
        length: usize,
        content: Box<Ak>,
        params: Params,
    },
    ByteMasked {
        mask: Buffer,
        content: Box<Ak>,
        params: Params,
    },
    Unmasked {
        content: Box<Ak>,
        params: Params,
    },
    Indexed {
        index: Buffer,
        itype: &'static str,
        content: Box<Ak>,
        params: Params,
    },
    IndexedOption {
        index: Buffer,
        itype: &'static str,
        content: Box<Ak>,
        params: Params,
    },
    Empty {
        params: Params,
    },
}

/// One converted level: the option-type version and the original
/// (`None` where awkward has no original: a nullable null column).
struct Conv {
    option: Ak,
    original: Option<Ak>,
}

impl Conv {
    fn pick(self, keep_option: bool) -> Ak {
        match (keep_option, self.original) {
            (false, Some(original)) => original,
            (_, _) => self.option,
        }
    }
}

/// A field's `"awkward"` extension metadata (`AwkwardArrowType`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Ext {
    mask_type: Option<String>,
    mask_parameters: Params,
    node_parameters: Params,
    record_is_tuple: bool,
    nonnullable_null: bool,
}

fn params_of(v: Option<&J>) -> Params {
    match v {
        Some(J::Object(m)) if !m.is_empty() => Some(m.clone()),
        _ => None,
    }
}

/// The extension metadata of a field, if it is awkward's.
pub(crate) fn ext_of(field: &Field) -> Option<Ext> {
    let meta = field.metadata();
    if meta.get("ARROW:extension:name").map(String::as_str) != Some("awkward") {
        return None;
    }
    let parsed: J = meta
        .get("ARROW:extension:metadata")
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or(J::Null);
    Some(Ext {
        mask_type: parsed
            .get("mask_type")
            .and_then(J::as_str)
            .map(str::to_string),
        mask_parameters: params_of(parsed.get("mask_parameters")),
        node_parameters: params_of(parsed.get("node_parameters")),
        record_is_tuple: parsed.get("record_is_tuple").and_then(J::as_bool) == Some(true),
        nonnullable_null: parsed.get("is_nonnullable_nulltype").and_then(J::as_bool) == Some(true),
    })
}

/// A field's `option_type` metadata (`b"True"`/`b"False"`), as awkward reads it.
fn option_type(field: &Field) -> Option<bool> {
    match field.metadata().get("option_type").map(String::as_str) {
        Some("True") => Some(true),
        Some("False") => Some(false),
        _ => None,
    }
}

/// `parameters_union(a, b)`: `b`'s entries over `a`'s.
fn merged(a: &Params, b: &Params) -> Params {
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(a.clone()),
        (None, Some(b)) => Some(b.clone()),
        (Some(a), Some(b)) => {
            let mut m = a.clone();
            m.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(m)
        }
    }
}

fn string_params(name: &str) -> Params {
    let mut m = Map::new();
    m.insert("__array__".into(), J::String(name.into()));
    Some(m)
}

/// Converts arrow arrays (`generate_bitmasks`: every option a bit mask).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Import {
    pub(crate) generate_bitmasks: bool,
}

impl Import {
    /// What `ak.from_arrow` does for this many rows: no rows is awkward's
    /// zero-chunk case, where the layout comes from the type alone (every
    /// option a bit mask).
    pub(crate) fn for_rows(n: usize) -> Import {
        Import {
            generate_bitmasks: n == 0,
        }
    }
}

impl Import {
    /// One arrow level (with its field's extension metadata) in both versions.
    ///
    /// `ty` is the array's type as its schema gives it: the same storage,
    /// with the child fields whose metadata and nullability count.
    fn level(&self, array: &dyn ArrowArray, ty: &DataType, ext: Option<&Ext>) -> Result<Conv> {
        let node_params = ext.and_then(|e| e.node_parameters.clone());
        match ty {
            DataType::Dictionary(_, values) => return self.dictionary(array, values, ext),
            DataType::Null => return Ok(null(array, ext)),
            _ => {}
        }
        let out = match ty {
            DataType::FixedSizeList(field, size) => {
                let a = array.as_fixed_size_list();
                let content = self.child(field, a.values().as_ref(), field.is_nullable())?;
                Ak::Regular {
                    size: *size as usize,
                    content: Box::new(content),
                    params: node_params,
                }
            }
            DataType::List(field) => {
                let a = array.as_list::<i32>();
                let content = self.child(field, a.values().as_ref(), field.is_nullable())?;
                Ak::ListOffset {
                    offsets: share(a.offsets().inner().inner()),
                    index: "i32",
                    content: Box::new(content),
                    params: node_params,
                }
            }
            DataType::LargeList(field) => {
                let a = array.as_list::<i64>();
                let content = self.child(field, a.values().as_ref(), field.is_nullable())?;
                Ak::ListOffset {
                    offsets: share(a.offsets().inner().inner()),
                    index: "i64",
                    content: Box::new(content),
                    params: node_params,
                }
            }
            DataType::FixedSizeBinary(width) => {
                let a = array.as_fixed_size_binary();
                let w = *width as usize;
                let data = bytes_of(a.values(), 0, a.len().saturating_mul(w), "fixed-size binary")?;
                Ak::Regular {
                    size: w,
                    content: Box::new(Ak::Numpy {
                        primitive: Primitive::UInt8,
                        data,
                        params: string_params("byte"),
                    }),
                    params: node_params.or_else(|| string_params("bytestring")),
                }
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary | DataType::LargeBinary => {
                strings(array, node_params)
            }
            DataType::Utf8View | DataType::BinaryView => string_views(array, node_params),
            DataType::Struct(fields) => {
                let a = array.as_struct();
                let contents = fields
                    .iter()
                    .zip(a.columns())
                    .map(|(f, c)| {
                        let keep = f.is_nullable() && option_type(f) != Some(false);
                        self.child(f, c.as_ref(), keep)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let tuple = ext.is_some_and(|e| e.record_is_tuple);
                Ak::Record {
                    fields: (!tuple).then(|| fields.iter().map(|f| f.name().clone()).collect()),
                    contents,
                    params: node_params,
                }
            }
            DataType::Union(fields, mode) => self.union(array, fields, *mode, node_params)?,
            DataType::Boolean => {
                let a = array.as_boolean();
                let bytes: Vec<u8> = a.values().iter().map(u8::from).collect();
                Ak::Numpy {
                    primitive: Primitive::Bool,
                    data: Buffer::from_vec(bytes),
                    params: node_params,
                }
            }
            DataType::Map(..) => {
                return Err(Error::Unsupported(
                    "arrow map arrays have no awkward equivalent (ak.from_arrow raises NotImplementedError)".into(),
                ))
            }
            DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => {
                return Err(Error::Unsupported(
                    "arrow decimal arrays can't be converted into awkward arrays (numpy has no decimal type)".into(),
                ))
            }
            other => numpy(array, other, node_params)?,
        };
        let mask = array.nulls().filter(|_| !matches!(out, Ak::Union { .. }));
        Ok(self.finalize(out, mask, array.len(), ext))
    }

    /// A child level, its option kept or not (`keep_option`: the field is nullable).
    fn child(&self, field: &Field, array: &dyn ArrowArray, keep_option: bool) -> Result<Ak> {
        let ext = ext_of(field);
        Ok(self
            .level(array, field.data_type(), ext.as_ref())?
            .pick(keep_option))
    }

    /// `popbuffers_finalize`: the option-type version of `out`.
    fn finalize(
        &self,
        out: Ak,
        nulls: Option<&NullBuffer>,
        length: usize,
        ext: Option<&Ext>,
    ) -> Conv {
        let mask_params = ext.and_then(|e| e.mask_parameters.clone());
        let unmasked = ext.is_some_and(|e| e.mask_type.as_deref() == Some("UnmaskedArray"));
        let bits = match nulls {
            _ if unmasked => None,
            Some(n) => Some(validity_bits(n)),
            None if self.generate_bitmasks => Some(all_valid(length)),
            None => None,
        };
        let option = match bits {
            None => out.clone().unmasked_simplified(mask_params, length),
            // A union's option goes into its contents.
            Some(mask) if matches!(out, Ak::Union { .. }) => {
                out.clone().union_of_options(&mask, length, mask_params)
            }
            Some(mask) => Ak::BitMasked {
                mask,
                length,
                content: Box::new(out.clone()),
                params: mask_params,
            },
        };
        Conv {
            option,
            original: Some(out),
        }
    }
}

/// `ak.from_arrow`'s result for one array (no field: no extension
/// metadata; an `UnmaskedArray` at the top is dropped).
pub(crate) fn array_layout(
    imp: Import,
    field: Option<&Field>,
    array: &dyn ArrowArray,
) -> Result<Ak> {
    let ext = field.and_then(ext_of);
    if let Some(f) = field {
        if !same_storage(f.data_type(), array.data_type()) {
            return Err(Error::Unsupported(format!(
                "the field {:?} is of type {}, the array of type {}",
                f.name(),
                f.data_type(),
                array.data_type()
            )));
        }
    }
    let ty = field.map_or(array.data_type(), |f| f.data_type());
    let conv = imp.level(array, ty, ext.as_ref())?;
    let keep = match &ext {
        // ak.from_arrow: a plain array's UnmaskedArray is dropped.
        None => !matches!(conv.option, Ak::Unmasked { .. }),
        Some(e) => !matches!(e.mask_type.as_deref(), None | Some("IndexedArray")),
    };
    let keep = keep && field.is_none_or(|f| f.is_nullable() && option_type(f) != Some(false));
    Ok(conv.pick(keep))
}

/// One column of a batch as the record keeps it.
pub(crate) fn column_layout(
    imp: Import,
    schema: &Schema,
    i: usize,
    column: &dyn ArrowArray,
) -> Result<Ak> {
    let top = top_params(schema);
    let field = schema.field(i);
    let conv = imp.level(column, field.data_type(), ext_of(field).as_ref())?;
    Ok(conv.pick(keeps_option(&top, field)))
}

/// The layout `ak.from_arrow` makes of a record batch: a record of its
/// columns (a single column named "" is that column itself, as
/// `ak.to_arrow_table` writes non-records), with the schema's
/// `ak:parameters` (the record's parameters, an option over it).
pub(crate) fn batch_layout(imp: Import, batch: &RecordBatch) -> Result<Ak> {
    let schema = awkwardized(&batch.schema());
    if schema.fields().len() == 1 && schema.field(0).name().is_empty() {
        let field = schema.field(0);
        let conv = imp.level(
            batch.column(0).as_ref(),
            field.data_type(),
            ext_of(field).as_ref(),
        )?;
        return Ok(conv.pick(field.is_nullable()));
    }
    let top = top_params(&schema);
    let mut record_mask: Option<Vec<bool>> = None;
    let mut contents = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let conv = imp.level(column.as_ref(), field.data_type(), ext_of(field).as_ref())?;
        if top.option.is_some() {
            // Missing records: missing in every column.
            let missing = missing_of(&conv.option, batch.num_rows());
            record_mask = Some(match record_mask {
                None => missing,
                Some(m) => m.iter().zip(missing).map(|(a, b)| *a && b).collect(),
            });
        }
        contents.push(conv.pick(keeps_option(&top, field)));
    }
    let record = Ak::Record {
        fields: Some(schema.fields().iter().map(|f| f.name().clone()).collect()),
        contents,
        params: top.record.clone(),
    };
    Ok(match top.option {
        None => record,
        Some(params) => {
            let mask = record_mask.unwrap_or_else(|| vec![false; batch.num_rows()]);
            if !imp.generate_bitmasks && batch.num_columns() == 0 {
                Ak::Unmasked {
                    content: Box::new(record),
                    params,
                }
            } else {
                Ak::ByteMasked {
                    mask: Buffer::from_vec(mask.into_iter().map(u8::from).collect()),
                    content: Box::new(record),
                    params,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, ListArray, StringArray};
    use std::sync::Arc;

    #[test]
    fn lists_share_arrow_memory() {
        let values = Int64Array::from(vec![1, 2, 3]);
        let list = ListArray::new(
            Arc::new(Field::new("item", DataType::Int64, false)),
            arrow_buffer::OffsetBuffer::new(vec![0i32, 2, 3].into()),
            Arc::new(values.clone()),
            None,
        );
        let ak = array_layout(Import::default(), None, &list).unwrap();
        let (form, source) = emit(&ak, 0).unwrap();
        assert!(form.to_json().contains("\"ListOffsetArray\""));
        let data = source.get("node1-data").unwrap();
        assert_eq!(data.as_ptr(), values.values().inner().as_ptr());
    }

    #[test]
    fn strings_with_nulls_are_bit_masked() {
        let s = StringArray::from(vec![Some("a"), None, Some("bc")]);
        let ak = array_layout(Import::default(), None, &s).unwrap();
        assert!(matches!(ak, Ak::BitMasked { .. }));
        let no_nulls = StringArray::from(vec!["a", "b"]);
        let ak = array_layout(Import::default(), None, &no_nulls).unwrap();
        assert!(matches!(ak, Ak::ListOffset { .. }));
    }
}
