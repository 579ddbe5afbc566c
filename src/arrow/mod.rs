//! Arrow export (feature `arrow`): akbuf arrays as arrow-rs arrays, by
//! awkward's own rules (`ak.to_arrow`), sharing memory with akbuf's buffers
//! wherever the layouts coincide.
//!
//! Each node class has its function here, as awkward's `_to_arrow` methods:
//! options push their validity down to their content (which records the
//! option's class in its `"awkward"` extension metadata), lists keep their
//! offsets (rebased only if they do not start at 0), records become
//! structs, regular arrays fixed-size lists. Zero copy: a `NumpyArray`'s
//! data, a list's offsets starting at 0, a string's characters, are the
//! same memory (mapped pages included), kept alive by akbuf's owner.
//!
//! Gathers (copies) happen where awkward gathers: an `IndexedArray`'s or
//! `IndexedOptionArray`'s content, a `ListArray` whose lists are not
//! contiguous, missing lists that hold elements, a masked union's content
//! used more than once. Not yet exported (an [`Error::Argument`] says so):
//! partitioned arrays of several partitions (export each partition).

pub(crate) mod import;

use crate::array::Array;
use crate::buffer::Buffer;
use crate::error::{Error, Result};
use crate::form::{Primitive, TimeUnit};
use crate::layout::{Node, NodeData};
use arrow_array::{make_array, ArrayRef, RecordBatch};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use arrow_data::ArrayData;
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, TimeUnit as ArrowUnit};
use std::collections::HashMap;
use std::sync::Arc;

/// How [`Array::to_arrow`] maps types: `ak.to_arrow`'s options, with its
/// defaults.
///
/// ```
/// let options = akbuf::ToArrowOptions::default();
/// assert!(options.extensionarray && options.count_nulls && !options.list_to32);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ToArrowOptions {
    /// 64-bit list offsets narrowed to 32 bits when they fit (`List`
    /// instead of `LargeList`).
    pub list_to32: bool,
    /// The same for strings (`Utf8` instead of `LargeUtf8`).
    pub string_to32: bool,
    /// The same for bytestrings (`Binary` instead of `LargeBinary`).
    pub bytestring_to32: bool,
    /// What an `EmptyArray` becomes: `None` for Arrow's null type, or a
    /// primitive type.
    pub emptyarray_to: Option<Primitive>,
    /// Categorical arrays (`__array__: "categorical"` indexes) become arrow
    /// dictionaries over their content instead of their values gathered.
    pub categorical_as_dictionary: bool,
    /// Each level carries awkward's `"awkward"` extension metadata, so
    /// that `ak.from_arrow` restores the awkward type (default true).
    pub extensionarray: bool,
    /// Null counts computed up front (default true; arrow-rs always knows them).
    pub count_nulls: bool,
    /// The top record is a scalar record (awkward's `record_is_scalar`).
    pub record_is_scalar: bool,
}

impl Default for ToArrowOptions {
    fn default() -> ToArrowOptions {
        ToArrowOptions {
            list_to32: false,
            string_to32: false,
            bytestring_to32: false,
            emptyarray_to: None,
            categorical_as_dictionary: false,
            extensionarray: true,
            count_nulls: true,
            record_is_scalar: false,
        }
    }
}

/// An akbuf array over the buffers of an imported layout.
fn import_array(ak: &import::Ak, length: usize) -> Result<Array> {
    let (form, source) = import::emit(ak, 0)?;
    crate::array::from_buffers(
        &form,
        ak.top_length(length),
        source,
        crate::options::Options::default(),
    )
}

/// One converted level: the array data and the extension metadata its
/// field carries.
struct Out {
    data: ArrayData,
    ext: Option<String>,
}

/// The option above a node: its class and parameters (for the extension
/// metadata) and the validity of each element, true where valid.
#[derive(Clone)]
struct Mask<'a> {
    node: &'a Node,
    /// One bit per element, set where valid (shared with the stored mask
    /// when it is one: an lsb-first, valid-when-true bit mask).
    valid: Option<BooleanBuffer>,
}

impl Array {
    /// An arrow-rs array as an akbuf array, as `ak.from_arrow(array)` makes
    /// it: a level with a validity bitmap becomes a `BitMaskedArray`
    /// (lsb-first, valid when set) over the level, strings and binaries
    /// `ListOffsetArray`s of characters, structs records, fixed-size lists
    /// `RegularArray`s, dictionaries `IndexedOptionArray`s (categorical),
    /// dense and sparse unions `UnionArray`s. Numbers, offsets and
    /// characters are arrow's own memory (no copy); nothing is read later.
    /// An empty array takes the layout awkward gives an empty table (every
    /// option a `BitMaskedArray`).
    ///
    /// ```
    /// use akbuf::Array;
    /// use arrow_array::{Int32Array, ListArray, types::Int32Type};
    ///
    /// let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
    ///     Some(vec![Some(1), Some(2)]), None, Some(vec![Some(3)]),
    /// ]);
    /// let a = Array::from_arrow(&list)?;
    /// assert_eq!(a.type_string(), "3 * option[var * ?int32]");
    /// assert_eq!(a.to_json()?, "[[1,2],null,[3]]");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for what awkward does not convert either (maps,
    /// decimals, list views) or arrow data whose buffers are inconsistent.
    pub fn from_arrow(array: &dyn arrow_array::Array) -> Result<Array> {
        let ak = import::array_layout(import::Import::for_rows(array.len()), None, array)?;
        import_array(&ak, array.len())
    }

    /// An arrow-rs array under its field: the field's `"awkward"`
    /// extension metadata (as [`Array::to_arrow_field`] and `ak.to_arrow`
    /// write it) restores parameters, tuples and option types; a field
    /// that is not nullable gives no option at the top.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let jets = events.field("jets")?;
    /// let (field, values) = jets.to_arrow_field("jets", &Default::default())?;
    /// let back = akbuf::Array::from_arrow_field(&field, values.as_ref())?;
    /// assert_eq!(back.type_string(), jets.type_string());
    /// assert_eq!(back.to_json()?, jets.to_json()?);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Array::from_arrow`].
    pub fn from_arrow_field(field: &Field, array: &dyn arrow_array::Array) -> Result<Array> {
        let ak = import::array_layout(import::Import::for_rows(array.len()), Some(field), array)?;
        import_array(&ak, array.len())
    }

    /// A `RecordBatch` as an akbuf array, as `ak.from_arrow(batch)` makes
    /// it: a record of its columns (each an option unless its field is not
    /// nullable or awkward's `ak:parameters` say otherwise), or, for a
    /// single column named `""` (`ak.to_arrow_table` of a non-record), that
    /// column.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let batch = events.to_record_batch(&Default::default())?;
    /// let back = akbuf::Array::from_record_batch(&batch)?;
    /// assert_eq!(back.type_string(), events.type_string());
    /// assert_eq!(back.field("jets")?.to_json()?, events.field("jets")?.to_json()?);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Array::from_arrow`].
    pub fn from_record_batch(batch: &RecordBatch) -> Result<Array> {
        let ak = import::batch_layout(import::Import::for_rows(batch.num_rows()), batch)?;
        import_array(&ak, batch.num_rows())
    }

    /// The array flattened into a `RecordBatch`: one column per leaf
    /// ([`Array::leaves`]), named by its dotted path (`jets.pt`), each as
    /// [`Array::to_arrow_field`] makes it. Columns under the same list
    /// share its offsets (the same memory, no copy): the schema a query
    /// engine projects column by column, reading only what a query touches.
    ///
    /// ```
    /// use arrow_array::{cast::AsArray, Array as _};
    ///
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let flat = events.to_flat_record_batch(&Default::default())?;
    /// let schema = flat.schema();
    /// assert_eq!(schema.field(3).name(), "jets.pt");
    /// let (pt, eta) = (flat.column(3).as_list::<i64>(), flat.column(4).as_list::<i64>());
    /// assert_eq!(pt.offsets().inner().inner().as_ptr(), eta.offsets().inner().inner().as_ptr());
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Array::to_arrow`], for any leaf.
    pub fn to_flat_record_batch(&self, options: &ToArrowOptions) -> Result<RecordBatch> {
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for (path, leaf) in self.leaves()? {
            let (field, values) = leaf.to_arrow_field(&path, options)?;
            fields.push(field);
            columns.push(values);
        }
        let schema = Arc::new(Schema::new(fields));
        let rows = self.len();
        RecordBatch::try_new_with_options(
            schema,
            columns,
            &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| Error::Unsupported(format!("cannot make a RecordBatch: {e}")))
    }

    /// The array as one arrow-rs array, as `ak.to_arrow(array)` makes it.
    /// Reads only this array's buffers; shares their memory wherever the
    /// layouts coincide.
    ///
    /// ```
    /// use akbuf::ToArrowOptions;
    /// use arrow_array::{Array as _, cast::AsArray, types::Float32Type};
    ///
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let met = events.field("met")?.to_arrow(&ToArrowOptions::default())?;
    /// assert_eq!(met.len(), 1000);
    /// let values = met.as_primitive::<Float32Type>();
    /// assert_eq!(values.value(0), events.field("met")?.values::<f32>()?[0]);
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for what is not exported yet (see the module
    /// docs) or what awkward refuses too (complex numbers, `float128`);
    /// read errors.
    pub fn to_arrow(&self, options: &ToArrowOptions) -> Result<ArrayRef> {
        Ok(make_array(self.arrow_out(options)?.data))
    }

    /// The array as an arrow field named `name` (with its `"awkward"`
    /// extension metadata) and its values.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let (field, _) = events.field("jets")?.to_arrow_field("jets", &Default::default())?;
    /// assert_eq!(field.metadata()["ARROW:extension:name"], "awkward");
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Array::to_arrow`].
    pub fn to_arrow_field(
        &self,
        name: &str,
        options: &ToArrowOptions,
    ) -> Result<(FieldRef, ArrayRef)> {
        let out = self.arrow_out(options)?;
        let nullable = self.node().form.is_option() || is_empty(self.node());
        let field = with_ext(
            Field::new(name, out.data.data_type().clone(), nullable),
            out.ext,
        );
        Ok((Arc::new(field), make_array(out.data)))
    }

    /// The array as a `RecordBatch`, as `ak.to_arrow_table` makes it: a
    /// record array (under options or indexes, if any) gives one column per
    /// field, with the schema's `ak:parameters` metadata (the option-type
    /// fields and each wrapper's parameters); any other array one column
    /// named `""`.
    ///
    /// ```
    /// let events = akbuf::open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))?;
    /// let batch = events.to_record_batch(&Default::default())?;
    /// assert_eq!((batch.num_rows(), batch.num_columns()), (1000, 5));
    /// assert_eq!(batch.schema().field(3).name(), "jets");
    /// assert!(batch.schema().metadata()["ak:parameters"].starts_with(r#"[{"optiontype_fields": []}"#));
    /// # Ok::<(), akbuf::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Array::to_arrow`].
    pub fn to_record_batch(&self, options: &ToArrowOptions) -> Result<RecordBatch> {
        let fail = |e: arrow_schema::ArrowError| {
            Error::Unsupported(format!("cannot make a RecordBatch: {e}"))
        };
        if self.is_partitioned() {
            let mut parts = self.partitions()?;
            parts.retain(|p| !p.is_empty());
            return match parts.len() {
                0 => self.partition_template().to_record_batch(options),
                1 => parts[0].to_record_batch(options),
                _ => Err(Error::Argument(
                    "to_record_batch of a partitioned array: one batch per partition (Array::partitions)".into(),
                )),
            };
        }
        // The layouts above a record: options and indexes.
        let mut wrappers = vec![self.node()];
        while let Some(content) = wrappers
            .last()
            .filter(|n| n.form.is_option() || matches!(n.data, NodeData::Indexed { .. }))
            .and_then(|n| n.data.content())
        {
            wrappers.push(content);
        }
        let names = match wrappers.last().map(|n| n.form.kind()) {
            Some(crate::form::FormKind::Record {
                fields: Some(names),
                ..
            }) => names.clone(),
            _ => {
                let out = self.arrow_out(options)?;
                let field = with_ext(
                    Field::new(
                        "",
                        out.data.data_type().clone(),
                        self.node().form.is_option(),
                    ),
                    out.ext,
                );
                let schema = Arc::new(Schema::new(vec![field]));
                return RecordBatch::try_new(schema, vec![make_array(out.data)]).map_err(fail);
            }
        };
        let record = wrappers[wrappers.len() - 1];
        let NodeData::Record { contents } = &record.data else {
            unreachable!("a record form has a record node")
        };
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        let mut optiontype_fields = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let column = self.field(name)?;
            let out = column.arrow_out(options)?;
            let nullable = column.node().form.is_option() || is_empty(column.node());
            fields.push(with_ext(
                Field::new(name, out.data.data_type().clone(), nullable),
                out.ext,
            ));
            columns.push(make_array(out.data));
            if contents.get(i).form.is_option() {
                optiontype_fields.push(serde_json::Value::from(name.as_str()));
            }
        }
        let mut parameters = vec![
            serde_json::json!({ "optiontype_fields": optiontype_fields }),
            serde_json::json!({ "record_is_scalar": options.record_is_scalar }),
        ];
        for w in &wrappers {
            let mut one = serde_json::Map::new();
            one.insert(
                w.form.class_name().to_string(),
                serde_json::Value::Object(w.form.parameters().clone()),
            );
            parameters.push(serde_json::Value::Object(one));
        }
        let metadata = HashMap::from([(
            "ak:parameters".to_string(),
            crate::pyjson::dumps(&serde_json::Value::Array(parameters)),
        )]);
        let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
        // A record of no fields still has its rows.
        let rows = arrow_array::RecordBatchOptions::new().with_row_count(Some(self.len()));
        RecordBatch::try_new_with_options(schema, columns, &rows).map_err(fail)
    }

    fn arrow_out(&self, options: &ToArrowOptions) -> Result<Out> {
        if self.is_partitioned() {
            let mut parts = self.partitions()?;
            parts.retain(|p| !p.is_empty());
            match parts.len() {
                0 => return self.partition_template().arrow_out(options),
                1 => return parts[0].arrow_out(options),
                _ => {}
            }
            return Err(Error::Argument(
                "to_arrow of a partitioned array: export each partition (Array::partitions)".into(),
            ));
        }
        let node = self.node();
        let length = node.len.get()?;
        convert(node, None, length, options)
    }
}

fn is_empty(node: &Node) -> bool {
    matches!(node.data, NodeData::Empty)
}

/// Adds the `"awkward"` extension metadata to a field.
/// The error for bad values of `node`, naming the buffer they are in: its
/// buffer `attribute` (offsets, index, starts), else its first buffer,
/// else the buffer its length comes from; the node's path only when there
/// is no buffer to name.
fn blame(node: &Node, attribute: &str, message: impl Into<String>) -> Error {
    let own = node.data.buffers();
    let key = own
        .iter()
        .find(|(a, _)| *a == attribute)
        .map(|(_, b)| b.key.to_string())
        .or_else(|| own.first().map(|(_, b)| b.key.to_string()))
        .or_else(|| node.len.origin().map(|o| o.key.to_string()))
        .unwrap_or_else(|| node.info.path.to_string());
    node.info.invalid(&key, message)
}

fn with_ext(field: Field, ext: Option<String>) -> Field {
    let Some(ext) = ext else { return field };
    let mut meta: HashMap<String, String> = field.metadata().clone();
    meta.insert("ARROW:extension:name".into(), "awkward".into());
    meta.insert("ARROW:extension:metadata".into(), ext);
    field.with_metadata(meta)
}

/// awkward's `AwkwardArrowType` metadata for `node` under `mask`.
fn ext_meta(
    node: &Node,
    mask: Option<&Mask<'_>>,
    options: &ToArrowOptions,
    nonnullable_nulltype: bool,
) -> Option<String> {
    ext_meta_as(
        node,
        node.form.class_name(),
        mask,
        options,
        nonnullable_nulltype,
    )
}

/// [`ext_meta`] for a node exported as another class (a `ListArray` goes
/// as the `ListOffsetArray` awkward converts it to).
fn ext_meta_as(
    node: &Node,
    class: &str,
    mask: Option<&Mask<'_>>,
    options: &ToArrowOptions,
    nonnullable_nulltype: bool,
) -> Option<String> {
    let record_is_tuple = match node.form.kind() {
        crate::form::FormKind::Record { fields, .. } => serde_json::Value::Bool(fields.is_none()),
        _ => serde_json::Value::Null,
    };
    ext_meta_for(
        class,
        node.form.parameters(),
        record_is_tuple,
        mask,
        options,
        nonnullable_nulltype,
    )
}

/// awkward's `AwkwardArrowType` metadata, field by field in its order.
fn ext_meta_for(
    class: &str,
    parameters: &crate::form::Parameters,
    record_is_tuple: serde_json::Value,
    mask: Option<&Mask<'_>>,
    options: &ToArrowOptions,
    nonnullable_nulltype: bool,
) -> Option<String> {
    if !options.extensionarray {
        return None;
    }
    let params = |n: &Node| serde_json::Value::Object(n.form.parameters().clone());
    let mut m = serde_json::Map::new();
    m.insert(
        "mask_type".into(),
        mask.map_or(serde_json::Value::Null, |k| mask_class(k.node).into()),
    );
    m.insert("node_type".into(), class.into());
    m.insert(
        "mask_parameters".into(),
        mask.map_or(serde_json::Value::Null, |k| params(k.node)),
    );
    m.insert(
        "node_parameters".into(),
        serde_json::Value::Object(parameters.clone()),
    );
    m.insert("record_is_tuple".into(), record_is_tuple);
    m.insert("record_is_scalar".into(), options.record_is_scalar.into());
    m.insert(
        "is_nonnullable_nulltype".into(),
        nonnullable_nulltype.into(),
    );
    m.insert("option_type".into(), false.into());
    Some(crate::pyjson::dumps(&serde_json::Value::Object(m)))
}

/// The class awkward records for an option: a `BitMaskedArray` is
/// exported as the `ByteMaskedArray` it converts to first.
fn mask_class(node: &Node) -> &'static str {
    match node.data {
        NodeData::BitMasked { .. } => "ByteMaskedArray",
        _ => node.form.class_name(),
    }
}

/// Validity bits from per-element validity.
fn null_buffer(valid: &Option<BooleanBuffer>) -> Option<NullBuffer> {
    valid.as_ref().map(|v| NullBuffer::new(v.clone()))
}

/// Validity bits from per-element flags.
fn bits(flags: impl Iterator<Item = bool>) -> BooleanBuffer {
    BooleanBuffer::from_iter(flags)
}

/// Both valid: an outer option's validity and an inner one's.
fn and(outer: Option<BooleanBuffer>, inner: BooleanBuffer) -> BooleanBuffer {
    match outer {
        Some(o) => &o & &inner,
        None => inner,
    }
}

/// akbuf bytes as an arrow buffer, sharing the memory.
fn shared(buf: Buffer) -> arrow_buffer::Buffer {
    if buf.is_empty() {
        // An empty buffer's pointer may be dangling and unaligned; arrow
        // checks alignment even for no bytes.
        return arrow_buffer::MutableBuffer::new(0).into();
    }
    arrow_buffer::Buffer::from(bytes::Bytes::from_owner(buf))
}

fn build(builder: arrow_data::ArrayDataBuilder, node: &Node) -> Result<ArrayData> {
    builder.build().map_err(|e| {
        Error::Unsupported(format!(
            "{} at {} does not make a valid arrow array: {e}",
            node.info.class, node.info.path
        ))
    })
}

/// Converts `length` elements of `node` (its validity, if under an option,
/// in `mask`): one function per class.
fn convert(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let have = node.len.get()?;
    if length > have {
        return Err(blame(
            node,
            "",
            format!("{length} elements are needed of a node that has {have}"),
        ));
    }
    match &node.data {
        NodeData::Numpy { .. } => numpy(node, mask, length, options),
        NodeData::Empty => empty(node, mask, length, options),
        NodeData::ListOffset { .. } => list_offset(node, mask, length, options),
        NodeData::List { .. } => list(node, mask, length, options),
        NodeData::Regular { .. } => regular(node, mask, length, options),
        NodeData::Record { .. } => record(node, mask, length, options),
        NodeData::ByteMasked { .. } | NodeData::BitMasked { .. } => {
            masked(node, mask, length, options)
        }
        NodeData::Unmasked { content } => {
            // An option with nothing missing: its content, marked optional.
            let m = Mask {
                node,
                valid: mask.and_then(|m| m.valid),
            };
            convert(content, Some(m), length, options)
        }
        NodeData::Indexed { .. } => indexed(node, mask, length, options),
        NodeData::IndexedOption { .. } => indexed_option(node, mask, length, options),
        NodeData::Union { .. } => union(node, mask, length, options),
    }
}

/// The arrow type of a primitive, as `pyarrow.from_numpy_dtype`.
fn primitive_type(p: Primitive, node: &Node) -> Result<DataType> {
    // pyarrow's from_numpy_dtype: the unit's multiple is dropped (the
    // counts stay as stored: datetime64[10s] becomes timestamp[s]).
    let unit = |u: TimeUnit| -> Result<ArrowUnit> {
        Ok(match u.code {
            "s" => ArrowUnit::Second,
            "ms" => ArrowUnit::Millisecond,
            "us" => ArrowUnit::Microsecond,
            "ns" => ArrowUnit::Nanosecond,
            _ => {
                return Err(Error::Unsupported(format!(
                    "arrow has no time unit {u} (at {})",
                    node.info.path
                )))
            }
        })
    };
    Ok(match p {
        Primitive::Bool => DataType::Boolean,
        Primitive::Int8 => DataType::Int8,
        Primitive::UInt8 => DataType::UInt8,
        Primitive::Int16 => DataType::Int16,
        Primitive::UInt16 => DataType::UInt16,
        Primitive::Int32 => DataType::Int32,
        Primitive::UInt32 => DataType::UInt32,
        Primitive::Int64 => DataType::Int64,
        Primitive::UInt64 => DataType::UInt64,
        Primitive::Float16 => DataType::Float16,
        Primitive::Float32 => DataType::Float32,
        Primitive::Float64 => DataType::Float64,
        // Days: date32 (awkward converts datetime64[D] to int32 days; any
        // other multiple of days keeps its int64 bytes, read as date32 by
        // pyarrow, and so here).
        Primitive::Datetime64(TimeUnit { code: "D", .. }) => DataType::Date32,
        Primitive::Datetime64(u) => DataType::Timestamp(unit(u)?, None),
        Primitive::Timedelta64(u) => DataType::Duration(unit(u)?),
        other => {
            return Err(Error::Unsupported(format!(
                "arrow has no type for {} (at {}), as pyarrow has none",
                other, node.info.path
            )))
        }
    })
}

fn numpy(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Numpy {
        data,
        primitive,
        inner_shape,
    } = &node.data
    else {
        unreachable!("numpy() is called for NumpyArray nodes")
    };
    let ty = primitive_type(*primitive, node)?;
    if !inner_shape.is_empty() {
        return inner_shaped(node, mask, length, options, ty);
    }
    let bytes = data.get()?;
    let values = match primitive {
        Primitive::Bool => {
            // One byte per value to one bit per value (a copy, as awkward's packbits).
            bits(bytes.as_slice()[..length].iter().map(|&b| b != 0)).into_inner()
        }
        Primitive::Datetime64(TimeUnit {
            multiple: 1,
            code: "D",
        }) => {
            // int64 days to int32 days (date32), as awkward converts them.
            let days: Vec<i32> = bytes.as_slice()[..length * 8]
                .chunks_exact(8)
                .map(|c| i64::from_ne_bytes(c.try_into().unwrap_or([0; 8])) as i32)
                .collect();
            arrow_buffer::Buffer::from_vec(days)
        }
        _ => {
            let size = primitive.itemsize();
            shared(bytes.slice(0, length * size)?)
        }
    };
    let nulls = mask.as_ref().and_then(|m| null_buffer(&m.valid));
    let builder = ArrayData::builder(ty)
        .len(length)
        .add_buffer(values)
        .nulls(nulls);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, mask.as_ref(), options, false),
    })
}

/// A NumpyArray with an inner shape, as awkward's `to_RegularArray`:
/// fixed-size lists around the flat values (shared), the node's
/// parameters on the outermost level.
fn inner_shaped(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
    ty: DataType,
) -> Result<Out> {
    let NodeData::Numpy {
        data,
        primitive,
        inner_shape,
    } = &node.data
    else {
        unreachable!("inner_shaped() is called for NumpyArray nodes")
    };
    if matches!(primitive, Primitive::Bool | Primitive::Datetime64(_)) {
        return Err(Error::Unsupported(format!(
            "to_arrow does not export booleans or dates with an inner shape yet (at {})",
            node.info.path
        )));
    }
    let overflow = || blame(node, "data", "the inner shape overflows");
    let total = inner_shape
        .iter()
        .try_fold(length, |a, &d| a.checked_mul(d))
        .ok_or_else(overflow)?;
    let values = shared(data.get()?.slice(0, total * primitive.itemsize())?);
    let none = crate::form::Parameters::new();
    let builder = ArrayData::builder(ty).len(total).add_buffer(values);
    let mut level = Out {
        data: build(builder, node)?,
        ext: ext_meta_for(
            "NumpyArray",
            &none,
            serde_json::Value::Null,
            None,
            options,
            false,
        ),
    };
    let mut count = total;
    for (depth, &size) in inner_shape.iter().enumerate().rev() {
        count /= size.max(1);
        if size == 0 {
            count = inner_shape[..depth].iter().product::<usize>() * length;
        }
        let outermost = depth == 0;
        let width = i32::try_from(size).map_err(|_| overflow())?;
        let item = with_ext(
            Field::new("item", level.data.data_type().clone(), false),
            level.ext.take(),
        );
        let mut builder = ArrayData::builder(DataType::FixedSizeList(Arc::new(item), width))
            .len(count)
            .add_child_data(level.data);
        if outermost {
            builder = builder.nulls(mask.as_ref().and_then(|m| null_buffer(&m.valid)));
        }
        level = Out {
            data: build(builder, node)?,
            ext: if outermost {
                ext_meta_for(
                    "RegularArray",
                    node.form.parameters(),
                    serde_json::Value::Null,
                    mask.as_ref(),
                    options,
                    false,
                )
            } else {
                ext_meta_for(
                    "RegularArray",
                    &none,
                    serde_json::Value::Null,
                    None,
                    options,
                    false,
                )
            },
        };
    }
    Ok(level)
}

/// Index values `..length` of an index buffer, widened.
fn index_values(b: &crate::layout::lazy::LazyBuf, length: usize) -> Result<Vec<i64>> {
    Ok(match b.dtype.name().as_str() {
        "int32" => b.typed::<i32>()?.as_slice()[..length]
            .iter()
            .map(|&x| i64::from(x))
            .collect(),
        "uint32" => b.typed::<u32>()?.as_slice()[..length]
            .iter()
            .map(|&x| i64::from(x))
            .collect(),
        "int8" => b.typed::<i8>()?.as_slice()[..length]
            .iter()
            .map(|&x| i64::from(x))
            .collect(),
        "uint8" => b.typed::<u8>()?.as_slice()[..length]
            .iter()
            .map(|&x| i64::from(x))
            .collect(),
        _ => b.typed::<i64>()?.as_slice()[..length].to_vec(),
    })
}

/// `content` gathered at `index` (awkward's carry: a copy), with `extra`
/// parameters over the content's, converted under `mask`.
fn gathered(
    node: &Node,
    content: &Node,
    index: &[i64],
    extra: Option<&crate::form::Parameters>,
    mask: Option<Mask<'_>>,
    options: &ToArrowOptions,
) -> Result<Out> {
    let have = content.len.get()?;
    if have == 0 && !index.is_empty() {
        return Err(Error::Unsupported(format!(
            "to_arrow does not export an index over an empty content yet (at {})",
            node.info.path
        )));
    }
    let mut at = Vec::with_capacity(index.len());
    for &i in index {
        match usize::try_from(i) {
            Ok(i) if i < have => at.push(i),
            _ => {
                return Err(blame(
                    node,
                    "index",
                    format!("index {i} is outside the content's {have} elements"),
                ))
            }
        }
    }
    let n = at.len();
    let carried = crate::pack::carry(content, at, extra)?;
    convert(carried.node(), mask, n, options)
}

fn indexed(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Indexed { index, content } = &node.data else {
        unreachable!("indexed() is called for IndexedArray nodes")
    };
    if node.form.array_parameter() == Some("categorical")
        && options.categorical_as_dictionary
        && content.len.get()? > 0
    {
        let outer = mask
            .as_ref()
            .and_then(|m| m.valid.clone().map(|v| (m.node, v)));
        return dictionary(node, index, content, outer, length, options);
    }
    // Not as a dictionary: the categorical mark is dropped, the rest of the
    // parameters laid over the content's.
    let mut params = node.form.parameters().clone();
    if params.get("__array__").and_then(serde_json::Value::as_str) == Some("categorical") {
        params.shift_remove("__array__");
    }
    let values = index_values(index, length)?;
    gathered(node, content, &values, Some(&params), mask, options)
}

fn indexed_option(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::IndexedOption { index, content } = &node.data else {
        unreachable!("indexed_option() is called for IndexedOptionArray nodes")
    };
    if node.form.array_parameter() == Some("categorical")
        && options.categorical_as_dictionary
        && content.len.get()? > 0
    {
        let raw = index_values(index, length)?;
        let valid = and(
            mask.and_then(|m| m.valid),
            bits(raw.iter().map(|&i| i >= 0)),
        );
        return dictionary(node, index, content, Some((node, valid)), length, options);
    }
    let mut values = index_values(index, length)?;
    let valid = and(
        mask.and_then(|m| m.valid),
        bits(values.iter().map(|&i| i >= 0)),
    );
    // Behind every missing value, the content's first element (as awkward).
    values.iter_mut().filter(|i| **i < 0).for_each(|i| *i = 0);
    if content.len.get()? == 0 {
        if length == 0 {
            let m = Mask {
                node,
                valid: Some(valid),
            };
            return convert(content, Some(m), 0, options);
        }
        // awkward pads an empty NumpyArray to the length (every value is
        // missing, the padding never read): zeros here.
        if let NodeData::Numpy {
            primitive,
            inner_shape,
            ..
        } = &content.data
        {
            if inner_shape.is_empty() && !matches!(primitive, Primitive::Bool) {
                let ty = primitive_type(*primitive, content)?;
                let width = match ty {
                    DataType::Date32 => 4,
                    _ => primitive.itemsize(),
                };
                let zeros = arrow_buffer::MutableBuffer::from_len_zeroed(length * width);
                let m = Mask {
                    node,
                    valid: Some(valid),
                };
                let builder = ArrayData::builder(ty)
                    .len(length)
                    .add_buffer(zeros.into())
                    .nulls(null_buffer(&m.valid));
                let params = content.form.parameters().clone();
                return Ok(Out {
                    data: build(builder, content)?,
                    ext: ext_meta_for(
                        "NumpyArray",
                        &params,
                        serde_json::Value::Null,
                        Some(&m),
                        options,
                        false,
                    ),
                });
            }
        }
        return Err(Error::Unsupported(format!(
            "missing values over an empty {} cannot be exported (awkward cannot either) (at {})",
            content.info.class, node.info.path
        )));
    }
    let m = Mask {
        node,
        valid: Some(valid),
    };
    gathered(node, content, &values, None, Some(m), options)
}

/// A union as a dense arrow union, as awkward's `UnionArray._to_arrow`:
/// arrow unions have no validity, so an option above pushes it into each
/// content (reordered to the content's order when each element is used
/// once, else the content gathered); the union's own metadata names no
/// mask.
fn union(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Union {
        tags,
        index,
        contents,
    } = &node.data
    else {
        unreachable!("union() is called for UnionArray nodes")
    };
    let tag_values: Vec<i8> = tags.typed::<i8>()?.as_slice()[..length].to_vec();
    let mut index_values = index_values(index, length)?;
    let outer = mask.as_ref().and_then(|m| m.valid.clone());
    let mut fields = Vec::new();
    let mut children = Vec::new();
    for (tag, content) in contents.iter().enumerate() {
        let selected: Vec<usize> = (0..length)
            .filter(|&i| usize::try_from(tag_values[i]).ok() == Some(tag))
            .collect();
        let this_index: Vec<i64> = selected.iter().map(|&i| index_values[i]).collect();
        if this_index.iter().any(|&i| i < 0) {
            return Err(blame(node, "index", "a negative index"));
        }
        let mut gathered_content = None;
        let this_valid = match &outer {
            None => None,
            Some(valid) => {
                let mut seen = std::collections::HashSet::new();
                let unique = this_index.iter().all(|&i| seen.insert(i));
                if unique {
                    let count = this_index.len();
                    let mut v = vec![false; count];
                    for (j, &i) in this_index.iter().enumerate() {
                        let i = usize::try_from(i).ok().filter(|&i| i < count).ok_or_else(|| {
                            Error::Unsupported(format!(
                                "awkward cannot export this masked union either: index {i} of content {tag} is past its {count} uses (at {})",
                                node.info.path
                            ))
                        })?;
                        v[i] = valid.value(selected[j]);
                    }
                    Some(bits(v.into_iter()))
                } else {
                    let have = content.len.get()?;
                    let at = this_index
                        .iter()
                        .map(|&i| usize::try_from(i).ok().filter(|&i| i < have))
                        .collect::<Option<Vec<usize>>>()
                        .ok_or_else(|| blame(node, "index", "an index past its content"))?;
                    gathered_content = Some(crate::pack::carry(content, at, None)?);
                    for (j, &i) in selected.iter().enumerate() {
                        index_values[i] = j as i64;
                    }
                    Some(bits(selected.iter().map(|&i| valid.value(i))))
                }
            }
        };
        let this_length = match (&gathered_content, this_index.iter().max()) {
            (Some(_), _) => this_index.len(),
            (None, Some(&m)) => {
                usize::try_from(m).map_err(|_| blame(node, "index", "index overflow"))? + 1
            }
            (None, None) => 0,
        };
        let content_node: &Node = match &gathered_content {
            Some(a) => a.node(),
            None => content,
        };
        let child_mask = mask.as_ref().map(|m| Mask {
            node: m.node,
            valid: this_valid,
        });
        let out = convert(content_node, child_mask, this_length, options)?;
        let nullable = mask.is_some() || content.form.is_option() || is_empty(content);
        fields.push(with_ext(
            Field::new(tag.to_string(), out.data.data_type().clone(), nullable),
            out.ext,
        ));
        children.push(out.data);
    }
    let offsets: Vec<i32> = index_values
        .iter()
        .map(|&i| i32::try_from(i))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| blame(node, "index", "a union index past 32 bits"))?;
    let ids: Vec<i8> = (0..contents.len())
        .map(|t| i8::try_from(t).unwrap_or(i8::MAX))
        .collect();
    let ty = DataType::Union(
        arrow_schema::UnionFields::try_new(ids, fields)
            .map_err(|e| Error::Unsupported(e.to_string()))?,
        arrow_schema::UnionMode::Dense,
    );
    let builder = ArrayData::builder(ty)
        .len(length)
        .add_buffer(arrow_buffer::Buffer::from_vec(tag_values))
        .add_buffer(arrow_buffer::Buffer::from_vec(offsets))
        .child_data(children);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, None, options, false),
    })
}

/// A categorical index as an arrow dictionary over its whole content: the
/// keys in the index's own type (the stored index shared when nothing is
/// missing), the content converted once.
fn dictionary(
    node: &Node,
    index: &crate::layout::lazy::LazyBuf,
    content: &Node,
    masked: Option<(&Node, BooleanBuffer)>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let have = content.len.get()?;
    let values = convert(content, None, have, options)?;
    let key_type = match index.dtype.name().as_str() {
        "int32" => DataType::Int32,
        "uint32" => DataType::UInt32,
        "int8" => DataType::Int8,
        "uint8" => DataType::UInt8,
        _ => DataType::Int64,
    };
    let width = index.dtype.itemsize();
    let keys = match &masked {
        // Missing entries (-1) point at entry 0, as awkward makes them.
        Some((_, valid)) => {
            let raw = index_values(index, length)?;
            let fixed: Vec<i64> = raw
                .iter()
                .enumerate()
                .map(|(i, &k)| if valid.value(i) { k } else { 0 })
                .collect();
            match key_type {
                DataType::Int32 => arrow_buffer::Buffer::from_vec(
                    fixed.iter().map(|&k| k as i32).collect::<Vec<_>>(),
                ),
                DataType::UInt32 => arrow_buffer::Buffer::from_vec(
                    fixed.iter().map(|&k| k as u32).collect::<Vec<_>>(),
                ),
                DataType::Int8 => arrow_buffer::Buffer::from_vec(
                    fixed.iter().map(|&k| k as i8).collect::<Vec<_>>(),
                ),
                DataType::UInt8 => arrow_buffer::Buffer::from_vec(
                    fixed.iter().map(|&k| k as u8).collect::<Vec<_>>(),
                ),
                _ => arrow_buffer::Buffer::from_vec(fixed),
            }
        }
        None => shared(index.get()?.slice(0, length * width)?),
    };
    let nulls = masked.as_ref().map(|(_, v)| NullBuffer::new(v.clone()));
    let ty = DataType::Dictionary(
        Box::new(key_type),
        Box::new(values.data.data_type().clone()),
    );
    let builder = ArrayData::builder(ty)
        .len(length)
        .add_buffer(keys)
        .add_child_data(values.data)
        .nulls(nulls);
    let data = build(builder, node)?;
    let ext = match &masked {
        Some((option, valid)) => {
            let m = Mask {
                node: option,
                valid: Some(valid.clone()),
            };
            let mut params = crate::form::Parameters::new();
            params.insert("__array__".into(), "categorical".into());
            ext_meta_for(
                "IndexedArray",
                &params,
                serde_json::Value::Null,
                Some(&m),
                options,
                false,
            )
        }
        None => ext_meta(node, None, options, false),
    };
    Ok(Out { data, ext })
}

fn empty(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    if let Some(p) = options.emptyarray_to {
        // As awkward: a NumpyArray of that type and length (its values
        // never read: an empty array under an option is all missing).
        let ty = primitive_type(p, node)?;
        let width = match (&ty, p) {
            (DataType::Boolean, _) => 0,
            (DataType::Date32, _) => 4,
            _ => p.itemsize(),
        };
        let values: arrow_buffer::Buffer = match ty {
            DataType::Boolean => {
                arrow_buffer::MutableBuffer::from_len_zeroed(length.div_ceil(8)).into()
            }
            _ => arrow_buffer::MutableBuffer::from_len_zeroed(length * width).into(),
        };
        let builder = ArrayData::builder(ty)
            .len(length)
            .add_buffer(values)
            .nulls(mask.as_ref().and_then(|m| null_buffer(&m.valid)));
        return Ok(Out {
            data: build(builder, node)?,
            ext: ext_meta_for(
                "NumpyArray",
                node.form.parameters(),
                serde_json::Value::Null,
                mask.as_ref(),
                options,
                false,
            ),
        });
    }
    let builder = ArrayData::builder(DataType::Null).len(length);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, mask.as_ref(), options, mask.is_none()),
    })
}

/// A list's content as a child field named `item`, nullable if the content
/// is an option (or empty).
fn child_field(content: &Node, out: &Out, name: &str) -> Field {
    let nullable = content.form.is_option() || is_empty(content);
    with_ext(
        Field::new(name, out.data.data_type().clone(), nullable),
        out.ext.clone(),
    )
}

fn list_offset(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::ListOffset { offsets, content } = &node.data else {
        unreachable!("list_offset() is called for ListOffsetArray nodes")
    };
    let offsets = match offsets.dtype.name().as_str() {
        "int32" => Offsets {
            values: Wide::I32(offsets.typed::<i32>()?),
            kind: OffsetKind::I32,
            stored: Some(offsets.get()?),
        },
        "uint32" => Offsets {
            values: Wide::Owned(
                offsets.typed::<u32>()?.as_slice()[..=length]
                    .iter()
                    .map(|&o| i64::from(o))
                    .collect(),
            ),
            kind: OffsetKind::U32,
            stored: None,
        },
        _ => Offsets {
            values: Wide::I64(offsets.typed::<i64>()?),
            kind: OffsetKind::I64,
            stored: Some(offsets.get()?),
        },
    };
    lists(node, content, offsets, mask, length, options)
}

fn list(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::List {
        starts,
        stops,
        content,
    } = &node.data
    else {
        unreachable!("list() is called for ListArray nodes")
    };
    let (mut a, mut b) = (index_values(starts, length)?, index_values(stops, length)?);
    // Missing lists that hold elements are emptied (arrow refuses them).
    if let Some(valid) = mask.as_ref().and_then(|m| m.valid.as_ref()) {
        for i in 0..length {
            if !valid.value(i) {
                (a[i], b[i]) = (0, 0);
            }
        }
    }
    let contiguous = (0..length).all(|i| b[i] >= a[i] && (i + 1 == length || b[i] == a[i + 1]));
    if !contiguous {
        return gathered_lists(node, content, &a, &b, mask, length, options);
    }
    let mut offsets = Vec::with_capacity(length + 1);
    offsets.push(a.first().copied().unwrap_or(0));
    offsets.extend_from_slice(&b[..length]);
    let offsets = Offsets {
        values: Wide::Owned(offsets),
        kind: OffsetKind::I64,
        stored: None,
    };
    lists(node, content, offsets, mask, length, options)
}

/// A list's offsets: the values (widened), the stored type, and the stored
/// buffer when the values are its bytes (shared when they start at 0).
struct Offsets {
    values: Wide,
    kind: OffsetKind,
    stored: Option<Buffer>,
}

/// Offset values read as `i64` without copying the stored ones.
enum Wide {
    I32(crate::buffer::TypedBuffer<i32>),
    I64(crate::buffer::TypedBuffer<i64>),
    Owned(Vec<i64>),
}

impl Wide {
    /// Whether the first `n` values never decrease (one typed pass that
    /// the compiler vectorizes, not `at` per value).
    fn ascending(&self, n: usize) -> bool {
        fn check<T: PartialOrd + Copy>(v: &[T]) -> bool {
            v.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]))
        }
        match self {
            Wide::I32(v) => check(&v[..n]),
            Wide::I64(v) => check(&v[..n]),
            Wide::Owned(v) => check(&v[..n]),
        }
    }

    /// `f` of each of the first `n` values (matched once, not per value).
    fn mapped<U>(&self, n: usize, f: impl Fn(i64) -> U) -> Vec<U> {
        match self {
            Wide::I32(v) => v[..n].iter().map(|&o| f(i64::from(o))).collect(),
            Wide::I64(v) => v[..n].iter().map(|&o| f(o)).collect(),
            Wide::Owned(v) => v[..n].iter().map(|&o| f(o)).collect(),
        }
    }

    fn at(&self, i: usize) -> i64 {
        match self {
            Wide::I32(v) => i64::from(v[i]),
            Wide::I64(v) => v[i],
            Wide::Owned(v) => v[i],
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum OffsetKind {
    I32,
    U32,
    I64,
}

/// Lists and strings over `content`, as awkward's `ListOffsetArray._to_arrow`.
fn lists(
    node: &Node,
    content: &Node,
    offsets: Offsets,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let array = node.form.array_parameter();
    let (is_string, is_bytes) = (array == Some("string"), array == Some("bytestring"));
    let downsize = if is_string {
        options.string_to32
    } else if is_bytes {
        options.bytestring_to32
    } else {
        options.list_to32
    };
    let Offsets {
        values: wide,
        kind,
        stored,
    } = offsets;
    let first = wide.at(0);
    let last = wide.at(length);
    if first < 0 || last < first || !wide.ascending(length + 1) {
        return Err(blame(node, "offsets", "offsets decrease or are negative"));
    }
    // Missing lists that hold elements are emptied (arrow refuses them):
    // their content gathered, as awkward's ListArray with zeroed bounds.
    if let Some(valid) = mask.as_ref().and_then(|m| m.valid.as_ref()) {
        if (0..length).any(|i| !valid.value(i) && wide.at(i + 1) != wide.at(i)) {
            let mut a: Vec<i64> = (0..length).map(|i| wide.at(i)).collect();
            let mut b: Vec<i64> = (1..=length).map(|i| wide.at(i)).collect();
            for i in 0..length {
                if !valid.value(i) {
                    (a[i], b[i]) = (0, 0);
                }
            }
            return gathered_lists(node, content, &a, &b, mask, length, options);
        }
    }
    let rebased = first != 0;
    let fits = last - first < i64::from(i32::MAX);
    // awkward's rules: int32 stays, uint32 narrows when it fits, int64
    // narrows when asked and it fits.
    let narrow = match kind {
        OffsetKind::I32 => true,
        OffsetKind::U32 => fits,
        OffsetKind::I64 => downsize && fits,
    };
    let offsets_buffer = match (&stored, rebased, kind, narrow) {
        (Some(b), false, OffsetKind::I32, _) => shared(b.slice(0, (length + 1) * 4)?),
        (Some(b), false, OffsetKind::I64, false) => shared(b.slice(0, (length + 1) * 8)?),
        (_, _, _, true) => {
            arrow_buffer::Buffer::from_vec(wide.mapped(length + 1, |o| (o - first) as i32))
        }
        (_, _, _, false) => arrow_buffer::Buffer::from_vec(wide.mapped(length + 1, |o| o - first)),
    };
    let (from, to) = (
        usize::try_from(first).unwrap_or(0),
        usize::try_from(last).unwrap_or(0),
    );
    let nulls = mask.as_ref().and_then(|m| null_buffer(&m.valid));
    if is_string || is_bytes {
        let NodeData::Numpy { data, .. } = &content.data else {
            return Err(blame(node, "", "a string's content is not a NumpyArray"));
        };
        let chars = if from == to {
            arrow_buffer::Buffer::from_vec(Vec::<u8>::new())
        } else {
            shared(data.get()?.slice(from, to - from)?)
        };
        let ty = match (is_string, narrow) {
            (true, true) => DataType::Utf8,
            (true, false) => DataType::LargeUtf8,
            (false, true) => DataType::Binary,
            (false, false) => DataType::LargeBinary,
        };
        let builder = ArrayData::builder(ty)
            .len(length)
            .add_buffer(offsets_buffer)
            .add_buffer(chars)
            .nulls(nulls);
        return Ok(Out {
            data: build(builder, node)?,
            ext: ext_meta_as(node, "ListOffsetArray", mask.as_ref(), options, false),
        });
    }
    let inner = window(content, from, to, options)?;
    let item = child_field(content, &inner, "item");
    let ty = if narrow {
        DataType::List(Arc::new(item))
    } else {
        DataType::LargeList(Arc::new(item))
    };
    let builder = ArrayData::builder(ty)
        .len(length)
        .add_buffer(offsets_buffer)
        .add_child_data(inner.data)
        .nulls(nulls);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta_as(node, "ListOffsetArray", mask.as_ref(), options, false),
    })
}

/// Elements `from..to` of `content`, converted (a slice of arrow data:
/// the buffers are shared and offset, not copied).
/// Lists `a[i]..b[i]` of `content` made contiguous: the content gathered
/// in list order (awkward's `to_ListOffsetArray64`), 64-bit offsets.
#[allow(clippy::too_many_arguments)]
fn gathered_lists(
    node: &Node,
    content: &Node,
    a: &[i64],
    b: &[i64],
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let have = content.len.get()?;
    // Overlapping lists repeat entries: bounded as to_packed's gathers are,
    // so that corrupt starts cannot ask for any amount of memory.
    let limit = crate::pack::gather_limit(node)?;
    let mut at = Vec::new();
    let mut offsets = Vec::with_capacity(length + 1);
    offsets.push(0i64);
    for i in 0..length {
        let (lo, hi) = (a[i], b[i]);
        if hi > lo {
            let n = usize::try_from(i128::from(hi) - i128::from(lo)).unwrap_or(usize::MAX);
            if at.len().saturating_add(n) > limit {
                return Err(blame(node, "starts", format!(
                        "its lists would gather more than {limit} entries (64 times the bytes of its buffers, plus a million)"
                    ),
                ));
            }
            let (lo, hi) = match (usize::try_from(lo), usize::try_from(hi)) {
                (Ok(l), Ok(h)) if h <= have => (l, h),
                _ => {
                    return Err(blame(
                        node,
                        "starts",
                        format!("list {i} ({lo}..{hi}) is outside the content's {have} elements"),
                    ))
                }
            };
            at.extend(lo..hi);
        }
        offsets.push(at.len() as i64);
    }
    let carried = crate::pack::carry(content, at, None)?;
    let offsets = Offsets {
        values: Wide::Owned(offsets),
        kind: OffsetKind::I64,
        stored: None,
    };
    // The mask's missing lists are empty now: nothing left to empty.
    lists(node, carried.node(), offsets, mask, length, options)
}

fn window(content: &Node, from: usize, to: usize, options: &ToArrowOptions) -> Result<Out> {
    if from == to {
        // Empty lists may point past the content (awkward slices clamp).
        return convert(content, None, 0, options);
    }
    let out = convert(content, None, to, options)?;
    Ok(Out {
        data: slice(out.data, from, to - from),
        ext: out.ext,
    })
}

/// Elements `from..from + len` of converted data. Through the array (not
/// `ArrayData::slice`, which slices a struct's children and keeps its
/// offset, so that a `StructArray` made from it would slice them twice).
fn slice(data: ArrayData, from: usize, len: usize) -> ArrayData {
    if from == 0 && len == data.len() {
        return data;
    }
    make_array(data).slice(from, len).to_data()
}

fn regular(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Regular { size, content } = &node.data else {
        unreachable!("regular() is called for RegularArray nodes")
    };
    let array = node.form.array_parameter();
    if array == Some("string") {
        // As awkward: through a ListOffsetArray64 (offsets i × size).
        let values = (0..=length)
            .map(|i| i.checked_mul(*size).and_then(|o| i64::try_from(o).ok()))
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| blame(node, "", "length × size overflows"))?;
        let offsets = Offsets {
            values: Wide::Owned(values),
            kind: OffsetKind::I64,
            stored: None,
        };
        return lists(node, content, offsets, mask, length, options);
    }
    let n = length
        .checked_mul(*size)
        .ok_or_else(|| blame(node, "", "length × size overflows"))?;
    let nulls = mask.as_ref().and_then(|m| null_buffer(&m.valid));
    let width = i32::try_from(*size).map_err(|_| {
        Error::Unsupported(format!(
            "a RegularArray of size {size} is too wide for arrow (at {})",
            node.info.path
        ))
    })?;
    if array == Some("bytestring") {
        let NodeData::Numpy { data, .. } = &content.data else {
            return Err(blame(
                node,
                "",
                "a bytestring's content is not a NumpyArray",
            ));
        };
        let bytes = shared(data.get()?.slice(0, n)?);
        let builder = ArrayData::builder(DataType::FixedSizeBinary(width))
            .len(length)
            .add_buffer(bytes)
            .nulls(nulls);
        return Ok(Out {
            data: build(builder, node)?,
            ext: ext_meta(node, mask.as_ref(), options, false),
        });
    }
    let inner = window(content, 0, n, options)?;
    let item = child_field(content, &inner, "item");
    let builder = ArrayData::builder(DataType::FixedSizeList(Arc::new(item), width))
        .len(length)
        .add_child_data(inner.data)
        .nulls(nulls);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, mask.as_ref(), options, false),
    })
}

fn record(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let NodeData::Record { contents } = &node.data else {
        unreachable!("record() is called for RecordArray nodes")
    };
    let names: Vec<String> = match contents.names() {
        Some(n) => n.to_vec(),
        None => (0..contents.len()).map(|i| i.to_string()).collect(),
    };
    let mask_optional = mask.as_ref().is_some_and(|m| m.node.form.is_option());
    let mut fields = Vec::new();
    let mut children = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        // Every field carries the record's validity, as awkward passes it down.
        let inner = convert(c, mask.clone(), length, options)?;
        let option = c.form.is_option() || is_empty(c);
        let mut meta = HashMap::new();
        meta.insert(
            "option_type".to_string(),
            if option { "True" } else { "False" }.to_string(),
        );
        let field = Field::new(
            &names[i],
            inner.data.data_type().clone(),
            mask_optional || option,
        )
        .with_metadata(meta);
        fields.push(with_ext(field, inner.ext.clone()));
        children.push(slice(inner.data, 0, length));
    }
    let nulls = mask.as_ref().and_then(|m| null_buffer(&m.valid));
    let builder = ArrayData::builder(DataType::Struct(Fields::from(fields)))
        .len(length)
        .child_data(children)
        .nulls(nulls);
    Ok(Out {
        data: build(builder, node)?,
        ext: ext_meta(node, mask.as_ref(), options, false),
    })
}

fn masked(
    node: &Node,
    mask: Option<Mask<'_>>,
    length: usize,
    options: &ToArrowOptions,
) -> Result<Out> {
    let (valid, content) = match &node.data {
        NodeData::ByteMasked {
            mask: m,
            valid_when,
            content,
        } => {
            let bytes = m.get()?;
            let valid = bits(
                bytes.as_slice()[..length]
                    .iter()
                    .map(|&b| (b != 0) == *valid_when),
            );
            (valid, content)
        }
        NodeData::BitMasked {
            mask: m,
            valid_when,
            lsb_order,
            content,
        } => {
            let bytes = m.get()?;
            let valid = if *lsb_order && *valid_when {
                // Arrow's own layout: the stored bits, shared.
                BooleanBuffer::new(shared(bytes.slice(0, length.div_ceil(8))?), 0, length)
            } else {
                let b = bytes.as_slice();
                bits((0..length).map(|i| {
                    let byte = b[i / 8];
                    let bit = if *lsb_order {
                        (byte >> (i % 8)) & 1
                    } else {
                        (byte >> (7 - i % 8)) & 1
                    };
                    (bit != 0) == *valid_when
                }))
            };
            (valid, content)
        }
        _ => unreachable!("masked() is called for ByteMaskedArray and BitMaskedArray nodes"),
    };
    let valid = and(mask.and_then(|m| m.valid), valid);
    convert(
        content,
        Some(Mask {
            node,
            valid: Some(valid),
        }),
        length,
        options,
    )
}
