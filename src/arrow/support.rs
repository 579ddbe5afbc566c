//! What every class's export shares: blame on a node, the "awkward" extension
//! metadata of fields, validity bits, akbuf's buffers shared with Arrow.

#[allow(unused_imports)]
use super::*;

pub(super) fn is_empty(node: &Node) -> bool {
    matches!(node.data, NodeData::Empty)
}

/// Adds the `"awkward"` extension metadata to a field.
/// The error for bad values of `node`, naming the buffer they are in: its
/// buffer `attribute` (offsets, index, starts), else its first buffer,
/// else the buffer its length comes from; the node's path only when there
/// is no buffer to name.
pub(super) fn blame(node: &Node, attribute: &str, message: impl Into<String>) -> Error {
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

pub(super) fn with_ext(field: Field, ext: Option<String>) -> Field {
    let Some(ext) = ext else { return field };
    let mut meta: HashMap<String, String> = field.metadata().clone();
    meta.insert("ARROW:extension:name".into(), "awkward".into());
    meta.insert("ARROW:extension:metadata".into(), ext);
    field.with_metadata(meta)
}

/// awkward's `AwkwardArrowType` metadata for `node` under `mask`.
pub(super) fn ext_meta(
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
pub(super) fn ext_meta_as(
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
pub(super) fn ext_meta_for(
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
pub(super) fn mask_class(node: &Node) -> &'static str {
    match node.data {
        NodeData::BitMasked { .. } => "ByteMaskedArray",
        _ => node.form.class_name(),
    }
}

/// Validity bits from per-element validity.
pub(super) fn null_buffer(valid: &Option<BooleanBuffer>) -> Option<NullBuffer> {
    valid.as_ref().map(|v| NullBuffer::new(v.clone()))
}

/// Validity bits from per-element flags.
pub(super) fn bits(flags: impl Iterator<Item = bool>) -> BooleanBuffer {
    BooleanBuffer::from_iter(flags)
}

/// Both valid: an outer option's validity and an inner one's.
pub(super) fn and(outer: Option<BooleanBuffer>, inner: BooleanBuffer) -> BooleanBuffer {
    match outer {
        Some(o) => &o & &inner,
        None => inner,
    }
}

/// akbuf bytes as an arrow buffer, sharing the memory.
pub(super) fn shared(buf: Buffer) -> arrow_buffer::Buffer {
    if buf.is_empty() {
        // An empty buffer's pointer may be dangling and unaligned; arrow
        // checks alignment even for no bytes.
        return arrow_buffer::MutableBuffer::new(0).into();
    }
    arrow_buffer::Buffer::from(bytes::Bytes::from_owner(buf))
}

pub(super) fn build(builder: arrow_data::ArrayDataBuilder, node: &Node) -> Result<ArrayData> {
    builder.build().map_err(|e| {
        Error::Unsupported(format!(
            "{} at {} does not make a valid arrow array: {e}",
            node.info.class, node.info.path
        ))
    })
}
