//! An imported layout written out: its form, and a `MemorySource` of
//! Arrow's buffers shared.

#[allow(unused_imports)]
use super::*;

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
