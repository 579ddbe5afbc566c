//! What a table's schema says beyond its types: `ak.to_parquet`'s
//! `awkward_array_metadata` as fields' extension metadata, the options a
//! table keeps, storage types compared.

#[allow(unused_imports)]
use super::*;

/// The schema's `ak:parameters` (a list of one-key objects).
pub(super) struct TopParams {
    pub(super) optiontype_fields: Vec<String>,
    pub(super) option: Option<Params>,
    pub(super) record: Params,
}

pub(super) fn top_params(schema: &Schema) -> TopParams {
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

pub(super) fn keeps_option(top: &TopParams, field: &Field) -> bool {
    let listed = top.option.is_none() || top.optiontype_fields.iter().any(|f| f == field.name());
    listed && field.is_nullable() && option_type(field) != Some(false)
}

/// Which entries of an option-type layout are missing (`mask_as_bool(valid_when=False)`).
pub(super) fn missing_of(ak: &Ak, n: usize) -> Vec<bool> {
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
pub(super) fn same_storage(a: &DataType, b: &DataType) -> bool {
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
pub(super) fn with_awkward_meta(field: &Field, meta: &J) -> Field {
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
