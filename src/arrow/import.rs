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

/// Wraps an arrow buffer as an akbuf one (the same memory).
fn share(b: &arrow_buffer::Buffer) -> Buffer {
    struct Owner(arrow_buffer::Buffer);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            self.0.as_slice()
        }
    }
    Buffer::from_owner(Owner(b.clone()))
}

/// `len` bytes of `b` from `offset`, or an error naming what is short.
fn bytes_of(b: &arrow_buffer::Buffer, offset: usize, len: usize, what: &str) -> Result<Buffer> {
    let end = offset.checked_add(len).filter(|&e| e <= b.len());
    match end {
        Some(_) => Ok(share(&b.slice_with_length(offset, len))),
        None => Err(Error::Unsupported(format!(
            "arrow {what}: {len} bytes from {offset} asked of a buffer of {}",
            b.len()
        ))),
    }
}

/// A validity bitmap as awkward's mask bytes (lsb first, valid when set),
/// from bit 0: arrow's bytes when it starts on a byte, else shifted.
fn validity_bits(nulls: &NullBuffer) -> Buffer {
    let bits = nulls.inner();
    if bits.offset() % 8 == 0 {
        let nbytes = bits.len().div_ceil(8);
        share(&bits.inner().slice_with_length(bits.offset() / 8, nbytes))
    } else {
        share(&bits.sliced())
    }
}

/// 64-bit values in native order, in one allocation.
fn i64s(values: impl Iterator<Item = i64>) -> Buffer {
    let mut bytes = Vec::with_capacity(values.size_hint().0 * 8);
    for v in values {
        bytes.extend_from_slice(&v.to_ne_bytes());
    }
    Buffer::from_vec(bytes)
}

/// All valid: `ceil(n / 8)` bytes of ones (`generate_bitmasks`).
fn all_valid(n: usize) -> Buffer {
    Buffer::from_vec(vec![0xff; n.div_ceil(8)])
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

impl Ak {
    fn params(&self) -> &Params {
        match self {
            Ak::Numpy { params, .. }
            | Ak::ListOffset { params, .. }
            | Ak::Regular { params, .. }
            | Ak::Record { params, .. }
            | Ak::Union { params, .. }
            | Ak::BitMasked { params, .. }
            | Ak::ByteMasked { params, .. }
            | Ak::Unmasked { params, .. }
            | Ak::Indexed { params, .. }
            | Ak::IndexedOption { params, .. }
            | Ak::Empty { params } => params,
        }
    }

    fn with_params(mut self, p: Params) -> Ak {
        match &mut self {
            Ak::Numpy { params, .. }
            | Ak::ListOffset { params, .. }
            | Ak::Regular { params, .. }
            | Ak::Record { params, .. }
            | Ak::Union { params, .. }
            | Ak::BitMasked { params, .. }
            | Ak::ByteMasked { params, .. }
            | Ak::Unmasked { params, .. }
            | Ak::Indexed { params, .. }
            | Ak::IndexedOption { params, .. }
            | Ak::Empty { params } => *params = p,
        }
        self
    }

    /// The length of this layout at the top of an array of `n` arrow
    /// rows: awkward's `RegularArray` of size 0 has length 0.
    pub(crate) fn top_length(&self, n: usize) -> usize {
        match self {
            Ak::Regular { size: 0, .. } => 0,
            Ak::BitMasked { content, .. } | Ak::Unmasked { content, .. } => content.top_length(n),
            _ => n,
        }
    }

    /// `to_IndexedOptionArray64` of an option or indexed node (`length`: its length).
    fn into_indexed_option(self, length: usize) -> Ak {
        match self {
            Ak::IndexedOption { .. } => self,
            Ak::Indexed {
                index,
                itype,
                content,
                params,
            } => Ak::IndexedOption {
                index,
                itype,
                content,
                params,
            },
            Ak::Unmasked { content, params } => Ak::IndexedOption {
                index: i64s((0..length).map(|i| i as i64)),
                itype: "i64",
                content,
                params,
            },
            Ak::BitMasked {
                mask,
                length,
                content,
                params,
            } => {
                let index = i64s((0..length).map(|i| match mask[i / 8] >> (i % 8) & 1 {
                    1 => i as i64,
                    _ => -1,
                }));
                Ak::IndexedOption {
                    index,
                    itype: "i64",
                    content,
                    params,
                }
            }
            Ak::ByteMasked {
                mask,
                content,
                params,
            } => {
                // Awkward's ByteMaskedArray here: valid_when=False.
                let index = i64s((0..length).map(|i| if mask[i] == 0 { i as i64 } else { -1 }));
                Ak::IndexedOption {
                    index,
                    itype: "i64",
                    content,
                    params,
                }
            }
            other => other,
        }
    }

    /// `UnmaskedArray.simplified(self, parameters)` (`length`: this node's).
    fn unmasked_simplified(self, params: Params, length: usize) -> Ak {
        match self {
            Ak::Union {
                tags,
                index,
                contents,
                lengths,
                params: own,
            } => {
                let contents = contents
                    .into_iter()
                    .zip(&lengths)
                    .map(|(c, &n)| c.unmasked_simplified(None, n))
                    .collect();
                Ak::Union {
                    tags,
                    index,
                    contents,
                    lengths,
                    params: merged(&own, &params),
                }
            }
            Ak::Unmasked { .. } => {
                let p = merged(self.params(), &params);
                self.with_params(p)
            }
            c @ (Ak::Indexed { .. }
            | Ak::IndexedOption { .. }
            | Ak::BitMasked { .. }
            | Ak::ByteMasked { .. }) => {
                let p = merged(c.params(), &params);
                c.into_indexed_option(length).with_params(p)
            }
            other => Ak::Unmasked {
                content: Box::new(other),
                params,
            },
        }
    }
}

impl Ak {
    /// Whether this node is option-type.
    fn is_option(&self) -> bool {
        matches!(
            self,
            Ak::IndexedOption { .. }
                | Ak::BitMasked { .. }
                | Ak::ByteMasked { .. }
                | Ak::Unmasked { .. }
        )
    }

    /// `BitMaskedArray.simplified(mask, union)`: a union cannot be under
    /// an option, so the option goes into its contents (awkward's
    /// `UnionArray._union_of_optionarrays`): a missing entry becomes one
    /// past the end of the first option content (or the first content),
    /// which gets an `IndexedOptionArray` with a missing entry there; the
    /// other contents become options as `UnmaskedArray.simplified` makes
    /// them. `self` must be a union.
    fn union_of_options(self, bits: &Buffer, length: usize, params: Params) -> Ak {
        let Ak::Union {
            tags,
            index,
            contents,
            lengths,
            params: own,
        } = self
        else {
            return self;
        };
        let valid = |i: usize| bits.get(i / 8).is_some_and(|b| b >> (i % 8) & 1 == 1);
        let missing_tag = contents.iter().position(Ak::is_option).unwrap_or(0);
        let old_index = index_i64(&index, "i64");
        let mut next_tags = Vec::with_capacity(length);
        let mut next_index = Vec::with_capacity(length);
        for i in 0..length {
            if valid(i) && i < tags.len() {
                next_tags.push(tags[i] as i8);
                next_index.push(old_index.get(i).copied().unwrap_or(0));
            } else {
                next_tags.push(missing_tag as i8);
                next_index.push(lengths.get(missing_tag).copied().unwrap_or(0) as i64);
            }
        }
        let contents = contents
            .into_iter()
            .zip(&lengths)
            .enumerate()
            .map(|(tag, (c, &n))| {
                if tag != missing_tag {
                    return c.unmasked_simplified(None, n);
                }
                // IndexedOptionArray.simplified(arange(n) + [-1], c).
                match c.is_option() || matches!(c, Ak::Indexed { .. }) {
                    true => match c.into_indexed_option(n) {
                        Ak::IndexedOption {
                            index,
                            itype,
                            content,
                            params,
                        } => {
                            let mut composed = index_i64(&index, itype);
                            composed.truncate(n);
                            composed.push(-1);
                            Ak::IndexedOption {
                                index: i64s(composed.into_iter()),
                                itype: "i64",
                                content,
                                params,
                            }
                        }
                        other => other,
                    },
                    false => Ak::IndexedOption {
                        index: i64s((0..n as i64).chain([-1])),
                        itype: "i64",
                        content: Box::new(c),
                        params: None,
                    },
                }
            })
            .collect();
        Ak::Union {
            tags: Buffer::from_slice(&next_tags),
            index: i64s(next_index.into_iter()),
            contents,
            lengths: lengths
                .iter()
                .enumerate()
                .map(|(t, &n)| if t == missing_tag { n + 1 } else { n })
                .collect(),
            params: merged(&own, &params),
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

    fn union(
        &self,
        array: &dyn ArrowArray,
        fields: &arrow_schema::UnionFields,
        mode: UnionMode,
        params: Params,
    ) -> Result<Ak> {
        let a = array.as_union();
        let ids: Vec<i8> = fields.iter().map(|(id, _)| id).collect();
        // Awkward's tags are positions among the contents.
        let position = |t: i8| ids.iter().position(|&id| id == t);
        let type_ids = a.type_ids();
        let tags = if ids.iter().enumerate().all(|(i, &id)| id as usize == i) {
            share(type_ids.inner())
        } else {
            let tags = type_ids
                .iter()
                .map(|&t| {
                    position(t).map(|p| p as i8).ok_or_else(|| {
                        Error::Unsupported(format!(
                            "arrow union: type id {t} is not one of {ids:?}"
                        ))
                    })
                })
                .collect::<Result<Vec<i8>>>()?;
            Buffer::from_slice(&tags)
        };
        // UnionArray.simplified gives a 64-bit index.
        let index = match (mode, a.offsets()) {
            (UnionMode::Dense, Some(o)) => i64s(o.iter().map(|&i| i64::from(i))),
            _ => i64s((0..a.len()).map(|i| i as i64)),
        };
        let contents = fields
            .iter()
            .map(|(id, f)| self.child(f, a.child(id).as_ref(), f.is_nullable()))
            .collect::<Result<Vec<_>>>()?;
        let lengths = fields.iter().map(|(id, _)| a.child(id).len()).collect();
        Ok(Ak::Union {
            tags,
            index,
            contents,
            lengths,
            params,
        })
    }

    /// A dictionary: an `IndexedOptionArray` over the dictionary's values
    /// (parameters `__array__: "categorical"` unless the extension says).
    fn dictionary(
        &self,
        array: &dyn ArrowArray,
        value_type: &DataType,
        ext: Option<&Ext>,
    ) -> Result<Conv> {
        let a = array.as_any_dictionary();
        let keys = a.keys();
        let (index, itype) = dictionary_index(keys)?;
        let values = a.values();
        let content = self.level(values.as_ref(), value_type, None)?;
        let params = merged(
            &ext.and_then(|e| e.mask_parameters.clone()),
            &ext.and_then(|e| e.node_parameters.clone()),
        )
        .or_else(|| string_params("categorical"));
        let n = keys.len();
        let original_content = content.original.clone().unwrap_or(content.option.clone());
        let original = Ak::Indexed {
            index: index.clone(),
            itype,
            content: Box::new(original_content),
            params: params.clone(),
        };
        // IndexedOptionArray.simplified over the dictionary's option type:
        // the index composed with the content's (missing where either is).
        let option = match content.option {
            Ak::Unmasked { content: inner, .. } => Ak::IndexedOption {
                index,
                itype,
                content: inner,
                params,
            },
            other => {
                let vlen = values.len();
                let Ak::IndexedOption {
                    index: inner_index,
                    content: inner,
                    itype: inner_type,
                    ..
                } = other.clone().into_indexed_option(vlen)
                else {
                    return Err(Error::Unsupported(
                        "arrow dictionary values of an unexpected layout".into(),
                    ));
                };
                let inner_index = index_i64(&inner_index, inner_type);
                let composed: Vec<i64> = index_i64(&index, itype)
                    .into_iter()
                    .map(|i| match usize::try_from(i) {
                        Ok(i) => inner_index.get(i).copied().unwrap_or(-1),
                        Err(_) => -1,
                    })
                    .collect();
                debug_assert_eq!(composed.len(), n);
                Ak::IndexedOption {
                    index: i64s(composed.into_iter()),
                    itype: "i64",
                    content: inner,
                    params,
                }
            }
        };
        Ok(Conv {
            option,
            original: Some(original),
        })
    }
}

fn index_i64(b: &Buffer, itype: &str) -> Vec<i64> {
    match itype {
        "i32" => b
            .chunks_exact(4)
            .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]) as i64)
            .collect(),
        _ => b
            .chunks_exact(8)
            .map(|c| i64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    }
}

/// A dictionary's keys as an awkward index (i32 and i64 as they are, other
/// integer types widened to i64; missing keys -1).
fn dictionary_index(keys: &dyn ArrowArray) -> Result<(Buffer, &'static str)> {
    use arrow_array::types::*;
    let nulls = keys.nulls().filter(|n| n.null_count() > 0);
    let valid = |i: usize| nulls.is_none_or(|n| n.is_valid(i));
    let wide = |v: Vec<i64>| -> (Buffer, &'static str) { (i64s(v.into_iter()), "i64") };
    macro_rules! widen {
        ($t:ty) => {{
            let k = keys.as_primitive::<$t>();
            wide(
                (0..k.len())
                    .map(|i| if valid(i) { k.value(i) as i64 } else { -1 })
                    .collect(),
            )
        }};
    }
    Ok(match keys.data_type() {
        DataType::Int32 if nulls.is_none() => (
            share(keys.as_primitive::<Int32Type>().values().inner()),
            "i32",
        ),
        DataType::Int64 if nulls.is_none() => (
            share(keys.as_primitive::<Int64Type>().values().inner()),
            "i64",
        ),
        DataType::Int8 => widen!(Int8Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int32 => widen!(Int32Type),
        DataType::Int64 => widen!(Int64Type),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::UInt64 => widen!(UInt64Type),
        other => {
            return Err(Error::Unsupported(format!(
                "arrow dictionary keys of type {other} are not integers"
            )))
        }
    })
}

/// A null column: an `IndexedOptionArray` of -1 over an `EmptyArray` (or
/// the `EmptyArray` itself for awkward's non-nullable null type).
fn null(array: &dyn ArrowArray, ext: Option<&Ext>) -> Conv {
    let empty = Ak::Empty {
        params: ext.and_then(|e| e.node_parameters.clone()),
    };
    if ext.is_some_and(|e| e.nonnullable_null) {
        return Conv {
            option: empty.clone(),
            original: Some(empty),
        };
    }
    Conv {
        option: Ak::IndexedOption {
            index: i64s(std::iter::repeat_n(-1, array.len())),
            itype: "i64",
            content: Box::new(empty),
            params: ext.and_then(|e| e.mask_parameters.clone()),
        },
        original: None,
    }
}

/// Strings and bytestrings: a `ListOffsetArray` over characters.
fn strings(array: &dyn ArrowArray, node_params: Params) -> Ak {
    let (offsets, chars, index, string) = match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            (a.offsets().inner().inner(), a.values(), "i32", true)
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            (a.offsets().inner().inner(), a.values(), "i64", true)
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            (a.offsets().inner().inner(), a.values(), "i32", false)
        }
        _ => {
            let a = array.as_binary::<i64>();
            (a.offsets().inner().inner(), a.values(), "i64", false)
        }
    };
    let (outer, inner) = if string {
        ("string", "char")
    } else {
        ("bytestring", "byte")
    };
    Ak::ListOffset {
        offsets: share(offsets),
        index,
        content: Box::new(Ak::Numpy {
            primitive: Primitive::UInt8,
            data: share(chars),
            params: string_params(inner),
        }),
        params: node_params.or_else(|| string_params(outer)),
    }
}

/// String and binary views (which awkward does not read): the same as
/// their 64-bit counterparts, copied into offsets and characters.
fn string_views(array: &dyn ArrowArray, node_params: Params) -> Ak {
    let mut offsets = Vec::with_capacity(array.len() + 1);
    let mut chars = Vec::new();
    offsets.push(0i64);
    let string = matches!(array.data_type(), DataType::Utf8View);
    let mut push = |v: Option<&[u8]>| {
        chars.extend_from_slice(v.unwrap_or_default());
        offsets.push(chars.len() as i64);
    };
    if string {
        array
            .as_string_view()
            .iter()
            .for_each(|v| push(v.map(str::as_bytes)));
    } else {
        array.as_binary_view().iter().for_each(push);
    }
    let (outer, inner) = if string {
        ("string", "char")
    } else {
        ("bytestring", "byte")
    };
    Ak::ListOffset {
        offsets: i64s(offsets.into_iter()),
        index: "i64",
        content: Box::new(Ak::Numpy {
            primitive: Primitive::UInt8,
            data: Buffer::from_vec(chars),
            params: string_params(inner),
        }),
        params: node_params.or_else(|| string_params(outer)),
    }
}

/// Fixed-width numbers, dates, times and durations (awkward's dtype map).
fn numpy(array: &dyn ArrowArray, dt: &DataType, params: Params) -> Result<Ak> {
    let unit = |u: &ArrowUnit| TimeUnit {
        multiple: 1,
        code: match u {
            ArrowUnit::Second => "s",
            ArrowUnit::Millisecond => "ms",
            ArrowUnit::Microsecond => "us",
            ArrowUnit::Nanosecond => "ns",
        },
    };
    // (the primitive, whether 32-bit values widen to 64)
    let (primitive, widen) = match dt {
        DataType::Int8 => (Primitive::Int8, false),
        DataType::Int16 => (Primitive::Int16, false),
        DataType::Int32 => (Primitive::Int32, false),
        DataType::Int64 => (Primitive::Int64, false),
        DataType::UInt8 => (Primitive::UInt8, false),
        DataType::UInt16 => (Primitive::UInt16, false),
        DataType::UInt32 => (Primitive::UInt32, false),
        DataType::UInt64 => (Primitive::UInt64, false),
        DataType::Float16 => (Primitive::Float16, false),
        DataType::Float32 => (Primitive::Float32, false),
        DataType::Float64 => (Primitive::Float64, false),
        DataType::Date32 => (Primitive::Datetime64(unit_d()), true),
        DataType::Date64 => (Primitive::Datetime64(unit(&ArrowUnit::Millisecond)), false),
        DataType::Time32(u) => (Primitive::Datetime64(unit(u)), true),
        DataType::Time64(u) => (Primitive::Datetime64(unit(u)), false),
        DataType::Timestamp(u, _) => (Primitive::Datetime64(unit(u)), false),
        DataType::Duration(u) => (Primitive::Timedelta64(unit(u)), false),
        other => {
            return Err(Error::Unsupported(format!(
                "arrow type {other} has no awkward equivalent"
            )))
        }
    };
    let data = array.to_data();
    let size = if widen { 4 } else { primitive.itemsize() };
    let (offset, len) = (data.offset() * size, data.len() * size);
    let Some(values) = data.buffers().first() else {
        return Err(Error::Unsupported(format!(
            "arrow {dt} array without values"
        )));
    };
    let bytes = bytes_of(values, offset, len, &dt.to_string())?;
    let data = if widen {
        i64s(
            bytes
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))),
        )
    } else {
        bytes
    };
    Ok(Ak::Numpy {
        primitive,
        data,
        params,
    })
}

fn unit_d() -> TimeUnit {
    TimeUnit {
        multiple: 1,
        code: "D",
    }
}

/// Writes an [`Ak`] tree as a form (keys `node{id}`) and its buffers.
pub(crate) struct Emit {
    pub(crate) source: MemorySource,
    pub(crate) next: usize,
}

impl Emit {
    fn put(&mut self, key: &str, attribute: &str, b: &Buffer) {
        self.source.insert(format!("{key}-{attribute}"), b.clone());
    }

    /// The form JSON of `ak`, its buffers put in the source.
    pub(crate) fn node(&mut self, ak: &Ak) -> J {
        let key = format!("node{}", self.next);
        self.next += 1;
        let mut j = match ak {
            Ak::Numpy {
                primitive, data, ..
            } => {
                self.put(&key, "data", data);
                json!({"class": "NumpyArray", "primitive": primitive.to_string(), "inner_shape": []})
            }
            Ak::ListOffset {
                offsets,
                index,
                content,
                ..
            } => {
                self.put(&key, "offsets", offsets);
                json!({"class": "ListOffsetArray", "offsets": index, "content": self.node(content)})
            }
            Ak::Regular { size, content, .. } => {
                json!({"class": "RegularArray", "size": size, "content": self.node(content)})
            }
            Ak::Record {
                fields, contents, ..
            } => {
                let contents: Vec<J> = contents.iter().map(|c| self.node(c)).collect();
                json!({"class": "RecordArray", "fields": fields, "contents": contents})
            }
            Ak::Union {
                tags,
                index,
                contents,
                ..
            } => {
                self.put(&key, "tags", tags);
                self.put(&key, "index", index);
                let contents: Vec<J> = contents.iter().map(|c| self.node(c)).collect();
                json!({"class": "UnionArray", "tags": "i8", "index": "i64", "contents": contents})
            }
            Ak::BitMasked { mask, content, .. } => {
                self.put(&key, "mask", mask);
                json!({"class": "BitMaskedArray", "mask": "u8", "valid_when": true,
                       "lsb_order": true, "content": self.node(content)})
            }
            Ak::ByteMasked { mask, content, .. } => {
                self.put(&key, "mask", mask);
                json!({"class": "ByteMaskedArray", "mask": "i8", "valid_when": false,
                       "content": self.node(content)})
            }
            Ak::Unmasked { content, .. } => {
                json!({"class": "UnmaskedArray", "content": self.node(content)})
            }
            Ak::Indexed {
                index,
                itype,
                content,
                ..
            } => {
                self.put(&key, "index", index);
                json!({"class": "IndexedArray", "index": itype, "content": self.node(content)})
            }
            Ak::IndexedOption {
                index,
                itype,
                content,
                ..
            } => {
                self.put(&key, "index", index);
                json!({"class": "IndexedOptionArray", "index": itype, "content": self.node(content)})
            }
            Ak::Empty { .. } => json!({"class": "EmptyArray"}),
        };
        if let J::Object(m) = &mut j {
            if let Some(p) = ak.params() {
                m.insert("parameters".into(), J::Object(p.clone()));
            }
            m.insert("form_key".into(), J::String(key));
        }
        j
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

/// The schema's `ak:parameters` (a list of one-key objects).
struct TopParams {
    optiontype_fields: Vec<String>,
    option: Option<Params>,
    record: Params,
}

fn top_params(schema: &Schema) -> TopParams {
    let mut out = TopParams {
        optiontype_fields: Vec::new(),
        option: None,
        record: None,
    };
    let Some(list) = schema
        .metadata()
        .get("ak:parameters")
        .and_then(|t| serde_json::from_str::<Vec<Map<String, J>>>(t).ok())
    else {
        return out;
    };
    for entry in list {
        for (k, v) in entry {
            match k.as_str() {
                "optiontype_fields" => {
                    out.optiontype_fields = v
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                }
                "UnmaskedArray" | "BitMaskedArray" | "ByteMaskedArray" | "IndexedOptionArray" => {
                    out.option = Some(params_of(Some(&v)))
                }
                "RecordArray" => out.record = params_of(Some(&v)),
                _ => {}
            }
        }
    }
    out
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

fn keeps_option(top: &TopParams, field: &Field) -> bool {
    let listed = top.option.is_none() || top.optiontype_fields.iter().any(|f| f == field.name());
    listed && field.is_nullable() && option_type(field) != Some(false)
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

/// Which entries of an option-type layout are missing (`mask_as_bool(valid_when=False)`).
fn missing_of(ak: &Ak, n: usize) -> Vec<bool> {
    match ak {
        Ak::BitMasked { mask, .. } => (0..n).map(|i| mask[i / 8] >> (i % 8) & 1 == 0).collect(),
        Ak::ByteMasked { mask, .. } => (0..n).map(|i| mask[i] != 0).collect(),
        Ak::IndexedOption { index, itype, .. } => {
            index_i64(index, itype).iter().map(|&i| i < 0).collect()
        }
        _ => vec![false; n],
    }
}

/// Whether two types hold the same storage (field names, metadata and
/// nullability aside).
fn same_storage(a: &DataType, b: &DataType) -> bool {
    use DataType::*;
    match (a, b) {
        (List(x), List(y)) | (LargeList(x), LargeList(y)) => {
            same_storage(x.data_type(), y.data_type())
        }
        (FixedSizeList(x, n), FixedSizeList(y, m)) => {
            n == m && same_storage(x.data_type(), y.data_type())
        }
        (Struct(x), Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(f, g)| same_storage(f.data_type(), g.data_type()))
        }
        (Union(x, m), Union(y, n)) => {
            m == n
                && x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((i, f), (j, g))| i == j && same_storage(f.data_type(), g.data_type()))
        }
        (Dictionary(k, v), Dictionary(l, w)) => k == l && same_storage(v, w),
        _ => a == b,
    }
}

/// The schema with awkward's `awkward_array_metadata` (what `ak.to_parquet`
/// writes instead of extension types) turned back into each field's
/// `"awkward"` extension metadata and nullability, as `ak.from_parquet`
/// does; other schemas as they are.
pub(crate) fn awkwardized(schema: &Schema) -> Schema {
    let Some(meta) = schema
        .metadata()
        .get("awkward_array_metadata")
        .and_then(|t| serde_json::from_str::<Map<String, J>>(t).ok())
    else {
        return schema.clone();
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match meta.get(f.name()) {
            Some(m) => with_awkward_meta(f, m),
            None => f.as_ref().clone(),
        })
        .collect();
    let mut rest = schema.metadata().clone();
    rest.remove("awkward_array_metadata");
    Schema::new_with_metadata(fields, rest)
}

/// One field with its metadata tree applied (`subfield_metadata` for its
/// children, matched in order or by `field_name`).
fn with_awkward_meta(field: &Field, meta: &J) -> Field {
    let J::Object(m) = meta else {
        return field.clone();
    };
    let subs: Vec<J> = m
        .get("subfield_metadata")
        .and_then(J::as_array)
        .cloned()
        .unwrap_or_default();
    let sub = |i: usize, f: &Field| -> Field {
        let by_name = || {
            subs.iter()
                .find(|s| s.get("field_name").and_then(J::as_str) == Some(f.name().as_str()))
        };
        match subs.get(i).filter(|_| subs.len() > i).or_else(by_name) {
            Some(s) => with_awkward_meta(f, s),
            None => f.clone(),
        }
    };
    use std::sync::Arc;
    let ty = match field.data_type() {
        DataType::List(f) => DataType::List(Arc::new(sub(0, f))),
        DataType::LargeList(f) => DataType::LargeList(Arc::new(sub(0, f))),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(Arc::new(sub(0, f)), *n),
        DataType::Struct(fs) => DataType::Struct(
            fs.iter()
                .enumerate()
                .map(|(i, f)| sub(i, f))
                .collect::<Vec<_>>()
                .into(),
        ),
        DataType::Union(fs, mode) => {
            let (ids, fields): (Vec<i8>, Vec<Field>) = fs
                .iter()
                .enumerate()
                .map(|(i, (id, f))| (id, sub(i, f)))
                .unzip();
            match arrow_schema::UnionFields::try_new(ids, fields) {
                Ok(u) => DataType::Union(u, *mode),
                Err(_) => field.data_type().clone(),
            }
        }
        other => other.clone(),
    };
    let mut ext = m.clone();
    ext.remove("subfield_metadata");
    ext.remove("field_name");
    let nullable = field.is_nullable() && m.get("option_type").and_then(J::as_str) != Some("False");
    let mut md = field.metadata().clone();
    md.insert("ARROW:extension:name".into(), "awkward".into());
    md.insert(
        "ARROW:extension:metadata".into(),
        J::Object(ext).to_string(),
    );
    Field::new(field.name(), ty, nullable).with_metadata(md)
}

/// The form and buffers of a layout (keys `node{id}-{attribute}` from `first`).
pub(crate) fn emit(ak: &Ak, first: usize) -> Result<(Form, MemorySource)> {
    let mut e = Emit {
        source: MemorySource::new(),
        next: first,
    };
    let j = e.node(ak);
    let form = Form::from_json(&j.to_string())?;
    Ok((form, e.source))
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
