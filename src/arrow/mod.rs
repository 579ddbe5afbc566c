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

mod indexed;
mod lists;
mod numbers;
mod records;
mod support;
mod unions;
use indexed::*;
use lists::*;
use numbers::*;
use records::*;
use support::*;
use unions::*;

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
