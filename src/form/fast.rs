//! A fast path for form JSON as awkward writes it: one pass over the bytes,
//! straight into [`Form`]s, no intermediate JSON tree. It takes the verbose
//! and terse forms of awkward 2 (new-style records, bare primitive strings,
//! parameters of any JSON); anything else (escaped strings, legacy keys or
//! class names, old-style records, repeated keys, anything malformed) makes
//! it give up with `None`, and the general parser (`parse.rs`) reads the
//! text instead, with its exact error messages. Both give equal forms on
//! everything the fast path takes (tested on every fixture and on random
//! forms).

use super::{Form, FormKind, IndexType, Parameters, Primitive};
use crate::buffer::ByteOrder;
use std::sync::Arc;

/// A cursor over JSON text.
struct Cur<'a> {
    t: &'a str,
    s: &'a [u8],
    i: usize,
    /// Forms entered: deep nesting is left to the general parser, which
    /// refuses it past serde_json's recursion limit instead of overflowing
    /// the stack.
    depth: usize,
}

/// The most items a list's vector is made for before it is read (more
/// grow it as they come).
const MAX_HINT: usize = 1 << 16;

/// The deepest form the fast path enters.
const MAX_DEPTH: usize = 64;

impl<'a> Cur<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// A string without escapes (`None` for one with escapes: the general
    /// parser decodes those).
    fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = start + string_end(&self.s[start..])?;
        if self.s[end] != b'"' {
            return None;
        }
        self.i = end + 1;
        // The text is UTF-8 and quotes are ASCII: the slice is on char boundaries.
        self.t.get(start..end)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        self.s[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    fn bool(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// A non-negative integer written plainly (no sign, fraction or exponent).
    fn uint(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
        if self.i == start || matches!(self.s.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.t.get(start..self.i)?.parse().ok()
    }

    /// Skips any JSON value, returning its text.
    fn skip(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        let mut depth = 0usize;
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => loop {
                    match *self.s.get(self.i)? {
                        b'\\' => self.i += 2,
                        b'"' => {
                            self.i += 1;
                            break;
                        }
                        _ => self.i += 1,
                    }
                },
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth = depth.checked_sub(1)?,
                _ => {}
            }
            let at_end = matches!(
                self.s.get(self.i),
                None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            );
            if depth == 0 && at_end {
                return self.t.get(start..self.i);
            }
        }
    }

    /// `[item, ...]`.
    fn list<T>(&mut self, item: impl FnMut(&mut Cur<'a>) -> Option<T>) -> Option<Vec<T>> {
        self.list_of(0, item)
    }

    /// [`Cur::list`] into a vector made for `capacity` items (a record's
    /// contents: as many as its fields), so that a list of thousands is not
    /// copied as it grows.
    fn list_of<T>(
        &mut self,
        capacity: usize,
        mut item: impl FnMut(&mut Cur<'a>) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.eat(b'[')?;
        // A hint, bounded: a text of commas must not make a huge vector.
        let mut out = Vec::with_capacity(capacity.min(MAX_HINT));
        if self.eat(b']').is_some() {
            return Some(out);
        }
        loop {
            out.push(item(self)?);
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// How many items the list of strings ahead holds, by its commas (a
    /// hint for its vector: the list itself is parsed after).
    fn count_items(&self) -> usize {
        let mut in_string = false;
        let mut escaped = false;
        let mut commas = 0;
        for &b in self.s.get(self.i..).unwrap_or_default() {
            match (in_string, b) {
                (true, _) if escaped => escaped = false,
                (true, b'\\') => escaped = true,
                (_, b'"') => in_string = !in_string,
                (false, b',') => commas += 1,
                (false, b']') => return commas + 1,
                _ => {}
            }
        }
        0
    }

    /// `{"key": value, ...}`, calling `field` for each key at its value.
    fn object(&mut self, mut field: impl FnMut(&mut Cur<'a>, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.str()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn index(&mut self) -> Option<IndexType> {
        IndexType::parse(self.str()?)
    }

    /// A form: an object, or a primitive's name.
    fn form(&mut self) -> Option<Form> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        if self.peek()? == b'"' {
            let p = Primitive::parse(self.str()?)?;
            return Some(numpy(p, Vec::new(), None, None));
        }
        let mut n = Pending::default();
        self.depth += 1;
        let parsed = self.object(|c, key| n.set(c, key));
        self.depth -= 1;
        parsed?;
        n.finish()
    }
}

/// The position of the first `"`, `\\` or control byte: eight bytes at a
/// time (a plain loop, not `memchr`, whose first call detects CPU features:
/// tens of microseconds in a virtual machine, on every fresh process's
/// first open).
fn string_end(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        let hit = zero_in(x ^ (ONES * u64::from(b'"')))
            | zero_in(x ^ (ONES * u64::from(b'\\')))
            // Bytes below 0x20: their top three bits are zero.
            | zero_in(x & (ONES * 0xe0));
        if hit != 0 {
            break;
        }
        at += 8;
    }
    s[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

fn numpy(
    primitive: Primitive,
    inner_shape: Vec<usize>,
    parameters: Option<Parameters>,
    form_key: Option<&str>,
) -> Form {
    Form::from_parts(
        FormKind::Numpy {
            primitive,
            inner_shape,
        },
        parameters,
        form_key,
    )
}

/// A form node's keys as they come.
#[derive(Default)]
struct Pending<'a> {
    class: Option<&'a str>,
    primitive: Option<Primitive>,
    inner_shape: Option<Vec<usize>>,
    /// `Some(None)`: given, and empty or null.
    parameters: Option<Option<Parameters>>,
    form_key: Option<Option<&'a str>>,
    content: Option<Arc<Form>>,
    contents: Option<Vec<Arc<Form>>>,
    fields: Option<Option<Vec<String>>>,
    size: Option<usize>,
    indexes: [Option<IndexType>; 6],
    valid_when: Option<bool>,
    lsb_order: Option<bool>,
}

/// The index-typed attributes, by their place in `Pending::indexes`.
const INDEXES: [&str; 6] = ["offsets", "starts", "stops", "index", "mask", "tags"];

/// Sets `slot` once: a repeated key is the general parser's business.
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

impl<'a> Pending<'a> {
    fn set(&mut self, c: &mut Cur<'a>, key: &'a str) -> Option<()> {
        match key {
            "class" => once(&mut self.class, c.str()),
            "primitive" => once(&mut self.primitive, c.str().and_then(Primitive::parse)),
            "inner_shape" => once(
                &mut self.inner_shape,
                c.list(|c| c.uint().and_then(|n| usize::try_from(n).ok())),
            ),
            "parameters" => once(&mut self.parameters, parameters(c)),
            "form_key" => {
                let v = if c.peek()? == b'n' {
                    c.literal(b"null").map(|()| None)
                } else {
                    c.str().map(Some)
                };
                once(&mut self.form_key, v)
            }
            "content" => once(&mut self.content, c.form().map(Arc::new)),
            "contents" => {
                // awkward writes "fields" first: as many contents.
                let n = match &self.fields {
                    Some(Some(f)) => f.len(),
                    _ => 0,
                };
                once(&mut self.contents, c.list_of(n, |c| c.form().map(Arc::new)))
            }
            "fields" => {
                let v = if c.peek()? == b'n' {
                    c.literal(b"null").map(|()| None)
                } else {
                    let n = c.count_items();
                    c.list_of(n, |c| c.str().map(str::to_string)).map(Some)
                };
                once(&mut self.fields, v)
            }
            "size" => once(
                &mut self.size,
                c.uint().and_then(|n| usize::try_from(n).ok()),
            ),
            "valid_when" => once(&mut self.valid_when, c.bool()),
            "lsb_order" => once(&mut self.lsb_order, c.bool()),
            other => {
                let i = INDEXES.iter().position(|k| *k == other)?;
                once(&mut self.indexes[i], c.index())
            }
        }
    }

    fn finish(self) -> Option<Form> {
        // Taken apart, not cloned: a record's fields and contents are moved
        // into the node (thousands of names and nodes for a wide record).
        let Pending {
            class,
            primitive,
            inner_shape,
            parameters,
            form_key,
            content,
            contents,
            fields,
            size,
            indexes,
            valid_when,
            lsb_order,
        } = self;
        let [offsets, starts, stops, index, mask, tags] = indexes;
        let kind = match class? {
            "NumpyArray" => FormKind::Numpy {
                primitive: primitive?,
                inner_shape: inner_shape.unwrap_or_default(),
            },
            "EmptyArray" if matches!(parameters, Some(Some(_))) => return None,
            "EmptyArray" => FormKind::Empty,
            "RegularArray" => FormKind::Regular {
                size: size?,
                content: content?,
            },
            "ListArray" => FormKind::List {
                starts: starts?,
                stops: stops?,
                content: content?,
            },
            "ListOffsetArray" => FormKind::ListOffset {
                offsets: offsets?,
                content: content?,
            },
            "IndexedArray" => FormKind::Indexed {
                index: index?,
                content: content?,
            },
            "IndexedOptionArray" => FormKind::IndexedOption {
                index: index?,
                content: content?,
            },
            "ByteMaskedArray" => FormKind::ByteMasked {
                mask: mask?,
                valid_when: valid_when?,
                content: content?,
            },
            "BitMaskedArray" => FormKind::BitMasked {
                mask: mask?,
                valid_when: valid_when?,
                lsb_order: lsb_order?,
                content: content?,
            },
            "UnmaskedArray" => FormKind::Unmasked { content: content? },
            "RecordArray" => {
                let contents = contents?;
                // Old-style records (no "fields") are the general parser's.
                let fields = fields?;
                if fields.as_ref().is_some_and(|f| f.len() != contents.len()) {
                    return None;
                }
                FormKind::Record { fields, contents }
            }
            "UnionArray" => FormKind::Union {
                tags: tags?,
                index: index?,
                contents: contents?,
            },
            _ => return None,
        };
        Some(Form::from_parts(
            kind,
            parameters.flatten(),
            form_key.flatten(),
        ))
    }
}

/// `"parameters"`: an object (of any JSON) or null; `Some(None)` for null
/// or `{}` (no map made: an empty one would seed a hasher, per node).
fn parameters(c: &mut Cur<'_>) -> Option<Option<Parameters>> {
    match c.peek()? {
        b'n' => c.literal(b"null").map(|()| None),
        b'{' => {
            let start = c.i;
            c.i += 1;
            if c.eat(b'}').is_some() {
                return Some(None);
            }
            c.i = start;
            let text = c.skip()?;
            let map = serde_json::from_str::<Parameters>(text).ok()?;
            Some((!map.is_empty()).then_some(map))
        }
        _ => None,
    }
}

/// A whole text holding one form (an object; bare primitives are taken
/// before this is asked).
pub(crate) fn form(text: &str) -> Option<Form> {
    let mut c = Cur {
        t: text,
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    let f = c.form()?;
    c.ws();
    (c.i == c.s.len()).then_some(f)
}

/// A whole `metadata.json`: form, length, and optionally byteorder and
/// buffer_key (anything else is the general parser's).
pub(crate) fn metadata(text: &str) -> Option<(Form, usize, ByteOrder, Option<String>)> {
    let mut c = Cur {
        t: text,
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    let (mut form, mut length, mut order, mut key) = (None, None, None, None);
    c.object(|c, k| match k {
        "form" if c.peek()? == b'{' => once(&mut form, c.form()),
        "length" => once(&mut length, c.uint().and_then(|n| usize::try_from(n).ok())),
        "byteorder" => {
            let v = if c.peek()? == b'n' {
                c.literal(b"null").map(|()| ByteOrder::Little)
            } else {
                c.str().and_then(ByteOrder::parse)
            };
            once(&mut order, v)
        }
        "buffer_key" => {
            let v = if c.peek()? == b'n' {
                c.literal(b"null").map(|()| None)
            } else {
                c.str().map(|s| Some(s.to_string()))
            };
            once(&mut key, v)
        }
        _ => None,
    })?;
    c.ws();
    if c.i != c.s.len() {
        return None;
    }
    Some((
        form?,
        length?,
        order.unwrap_or(ByteOrder::Little),
        key.flatten(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Metadata;
    use crate::form::json::J;

    fn general(text: &str) -> Option<Form> {
        let v: J<'_> = serde_json::from_str(text).ok()?;
        crate::form::parse::parse(&v, "/").ok()
    }

    /// Every form the fast path takes, it reads as the general parser does.
    fn same(text: &str) -> bool {
        match form(text) {
            Some(f) => {
                assert_eq!(Some(&f), general(text).as_ref(), "{text}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_parser_on_every_fixture() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut fast = 0;
        let mut all = 0;
        for e in std::fs::read_dir(root.join("cases")).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path().join("metadata.json")).unwrap();
            all += 1;
            if let Some((form, length, order, key)) = metadata(&text) {
                let m = Metadata::from_json_general(&text).unwrap();
                assert_eq!(
                    (&form, length, order, &key),
                    (&*m.form, m.length, m.byteorder, &m.buffer_key)
                );
                fast += 1;
            }
        }
        // The legacy and escaped cases go the general way; most do not.
        assert!(
            fast * 10 > all * 8,
            "{fast} of {all} fixtures took the fast path"
        );
        let forms: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("forms.json")).unwrap())
                .unwrap();
        for case in forms.as_array().unwrap() {
            let input = case["input"].as_str().unwrap();
            if case.get("error").is_some() {
                assert!(form(input).is_none(), "{input}");
                continue;
            }
            same(input);
            same(case["json"].as_str().unwrap());
        }
    }

    /// Fixture forms with one byte changed: whenever the fast path takes
    /// the text, it reads what the general parser reads.
    #[test]
    fn mangled_forms_agree_or_go_the_general_way() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cases");
        let mut texts = Vec::new();
        for e in std::fs::read_dir(root).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path().join("metadata.json")).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            texts.push(v["form"].to_string());
        }
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut taken, mut tried) = (0, 0);
        for _ in 0..20_000 {
            let text = &texts[next() as usize % texts.len()];
            let mut bytes = text.clone().into_bytes();
            let i = next() as usize % bytes.len();
            let alphabet = b" \"{}[],:0123456789-.etrufalsn\\x";
            bytes[i] = alphabet[next() as usize % alphabet.len()];
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            tried += 1;
            if same(&text) {
                taken += 1;
            }
        }
        assert!(taken > 0 && taken < tried, "{taken} of {tried}");
    }

    #[test]
    fn a_list_is_counted_by_its_commas_outside_strings() {
        let count = |t: &str| {
            Cur {
                t,
                s: t.as_bytes(),
                i: 0,
                depth: 0,
            }
            .count_items()
        };
        assert_eq!(count(r#"["a,]", "b\"", "c"]"#), 3);
        assert_eq!(count(r#"["x"]"#), 1);
        assert_eq!(count(r#"["x", "#), 0); // unfinished: no hint
                                           // A hint only, bounded: a text of commas makes no huge vector.
        let commas = format!("[{}]", ",".repeat(1 << 20));
        assert_eq!(count(&commas), (1 << 20) + 1);
        let text = format!(r#"{{"class": "RecordArray", "fields": {commas}, "contents": []}}"#);
        assert!(form(&text).is_none());
    }

    #[test]
    fn anything_unusual_goes_the_general_way() {
        for text in [
            r#"{"class": "ListOffsetArray64", "offsets": "i64", "content": "int8"}"#,
            r#"{"class": "RecordArray", "contents": {"x": "int8"}}"#,
            r#"{"class": "NumpyArray", "primitive": "int8", "primitive": "int16"}"#,
            r#"{"class": "NumpyArray", "primitive": "int8", "form_key": "a\"b"}"#,
            r#"{"class": "NumpyArray", "primitive": "int8", "has_identities": false}"#,
            r#"{"class": "RegularArray", "size": 2.0, "content": "int8"}"#,
            r#"{"class": "EmptyArray", "parameters": {"x": 1}}"#,
            r#"{"class": "NumpyArray", "primitive": "int8"} trailing"#,
        ] {
            assert!(form(text).is_none(), "{text}");
        }
        // Deep nesting is left to serde_json's recursion limit.
        let deep = "{\"class\": \"UnmaskedArray\", \"content\": ".repeat(200)
            + "\"int8\""
            + &"}".repeat(200);
        assert!(form(&deep).is_none());
        assert!(same(
            r#" {"class": "NumpyArray", "primitive": "int8", "parameters": {"a": [1, {"b": "}"}]}} "#
        ));
    }
}
