//! Property tests: random forms over random buffers never panic. Every
//! operation returns `Ok` or `Err`; a panic fails the test. The whole
//! binary runs under an address-space limit (8 GB), so an allocation that
//! no stored byte backs fails the test instead of passing on a big machine.

use akbuf::{from_buffers, Buffer, ByteOrder, Form, MemorySource, Options};
use proptest::prelude::*;
use serde_json::{json, Value};

const INDEX: [&str; 6] = ["i8", "u8", "i32", "u32", "i64", "i64"];
const PRIMS: [&str; 10] = [
    "bool",
    "int8",
    "uint8",
    "int32",
    "float16",
    "float64",
    "complex64",
    "datetime64[s]",
    "float128",
    "uint64",
];

/// Caps this test process's address space at 8 GB, once.
fn limit_memory() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let limit = libc::rlimit {
                rlim_cur: 8 << 30,
                rlim_max: 8 << 30,
            };
            // SAFETY: setrlimit reads the struct, which lives for the call.
            let r = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
            assert_eq!(r, 0, "setrlimit");
        });
    }
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0..PRIMS.len(), prop::collection::vec(1usize..3, 0..2)).prop_map(
            |(p, shape)| json!({"class": "NumpyArray", "primitive": PRIMS[p], "inner_shape": shape})
        ),
        Just(json!({"class": "EmptyArray"})),
        Just(
            json!({"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "uint8", "parameters": {"__array__": "char"}}, "parameters": {"__array__": "string"}})
        ),
    ]
}

fn node() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (1usize..3, inner.clone()).prop_map(|(size, c)| json!({"class": "RegularArray", "size": size, "content": c})),
            (0..INDEX.len(), inner.clone()).prop_map(|(i, c)| json!({"class": "ListOffsetArray", "offsets": INDEX[i], "content": c})),
            (0..INDEX.len(), inner.clone()).prop_map(|(i, c)| json!({"class": "ListArray", "starts": INDEX[i], "stops": INDEX[i], "content": c})),
            (0..INDEX.len(), inner.clone()).prop_map(|(i, c)| json!({"class": "IndexedArray", "index": INDEX[i], "content": c})),
            (0..INDEX.len(), inner.clone()).prop_map(|(i, c)| json!({"class": "IndexedOptionArray", "index": INDEX[i], "content": c})),
            (any::<bool>(), inner.clone()).prop_map(|(v, c)| json!({"class": "ByteMaskedArray", "mask": "i8", "valid_when": v, "content": c})),
            (any::<bool>(), any::<bool>(), inner.clone()).prop_map(|(v, l, c)| json!({"class": "BitMaskedArray", "mask": "u8", "valid_when": v, "lsb_order": l, "content": c})),
            inner.clone().prop_map(|c| json!({"class": "UnmaskedArray", "content": c})),
            // Records get at least one field, and inner shapes and regular
            // sizes are at least 1: an element of zero bytes has no buffer to
            // bound its count, so random offsets could ask for 2^60 empty
            // records, which is valid data but no test can print it.
            prop::collection::vec(inner.clone(), 1..3).prop_map(|cs| {
                let fields: Vec<String> = (0..cs.len()).map(|i| format!("f{i}")).collect();
                json!({"class": "RecordArray", "fields": fields, "contents": cs})
            }),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|cs| json!({"class": "RecordArray", "fields": null, "contents": cs})),
            (0..INDEX.len(), prop::collection::vec(inner, 1..4)).prop_map(|(i, cs)| json!({"class": "UnionArray", "tags": "i8", "index": INDEX[i], "contents": cs})),
        ]
    })
}

/// Numbers every node with a form key, depth-first, as awkward does.
fn with_keys(v: &mut Value, next: &mut usize) {
    if let Value::Object(m) = v {
        m.insert("form_key".into(), json!(format!("node{next}")));
        *next += 1;
        if let Some(c) = m.get_mut("content") {
            with_keys(c, next);
        }
        if let Some(Value::Array(cs)) = m.get_mut("contents") {
            for c in cs {
                with_keys(c, next);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn random_forms_and_buffers_never_panic(
        mut form in node(),
        length in 0usize..6,
        bufs in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 40),
        big in any::<bool>(),
        offset in 0usize..3,
    ) {
        limit_memory();
        let mut n = 0;
        with_keys(&mut form, &mut n);
        let form = Form::from_value(&form).unwrap();
        let attrs = ["data", "offsets", "starts", "stops", "index", "mask", "tags"];
        let mut source = MemorySource::new();
        let mut k = 0;
        for id in 0..n {
            for a in attrs {
                // Some keys are left out; some buffers are sliced off their alignment.
                if (id + a.len()) % 7 != 3 {
                    let bytes = Buffer::from_vec(bufs[k % bufs.len()].clone());
                    let len = bytes.len().saturating_sub(offset);
                    source.insert(format!("node{id}-{a}"), bytes.slice(offset.min(bytes.len()), len).unwrap());
                    k += 1;
                }
            }
        }
        let opts = Options::default().with_byteorder(if big { ByteOrder::Big } else { ByteOrder::Little });
        if let Ok(array) = from_buffers(&form, length, source, opts) {
            let _ = array.type_string();
            let _ = array.to_json();
            let _ = array.validate();
            let _ = array.materialize();
            for i in 0..=length {
                let _ = array.get(i);
            }
            for f in array.fields() {
                if let Ok(sub) = array.field(&f) {
                    let _ = sub.to_json();
                    let _ = sub.type_string();
                }
            }
            if let Ok(c) = array.content() {
                let _ = c.to_json();
            }
            let _ = array.flat_values::<f64>();
            let _ = array.buffers();
            // The write path on corrupt input: errors, never a panic.
            let _ = akbuf::to_buffers(&array, &mut akbuf::MemorySink::new(), &Default::default());
            // Packing on corrupt input: errors, never a panic, and no gather
            // beyond to_packed's budget (an out-of-memory kill before it).
            if let Ok(packed) = akbuf::to_packed(&array) {
                let _ = packed.to_json();
            }
            // Arrow export on corrupt input: errors, never a panic (arrow-rs
            // validates what it is given; akbuf checks what it reads first).
            #[cfg(feature = "arrow")]
            {
                let options = akbuf::ToArrowOptions::default();
                if let Ok(a) = array.to_arrow(&options) {
                    let _ = a.to_data().validate_full();
                }
                let _ = array.to_record_batch(&options);
            }
        }
    }

    #[test]
    fn random_text_is_not_a_panic(text in ".{0,200}") {
        limit_memory();
        let _ = Form::from_json(&text);
        let _ = akbuf::Metadata::from_json(&text);
    }

    #[test]
    fn mangled_form_json_is_not_a_panic(form in node(), cut in 0usize..400, byte in any::<u8>()) {
        limit_memory();
        let mut text = form.to_string().into_bytes();
        if !text.is_empty() {
            let i = cut % text.len();
            text[i] = byte;
        }
        let text = String::from_utf8_lossy(&text);
        if let Ok(f) = Form::from_json(&text) {
            let _ = f.to_json();
            let _ = f.type_string();
            let _ = from_buffers(&f, 2, MemorySource::new(), Options::default()).map(|a| a.to_json());
        }
    }
}

/// Sizes and lengths that no stored byte backs: regular sizes, inner shapes
/// and lengths up to 2^62, records without fields.
fn huge_count() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1u64..4,
        Just(1 << 20),
        Just(1 << 40),
        Just(1 << 62)
    ]
}

fn hollow() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (huge_count(), huge_count()).prop_map(
            |(a, b)| json!({"class": "NumpyArray", "primitive": "float64", "inner_shape": [a, b]})
        ),
        Just(json!({"class": "NumpyArray", "primitive": "int8"})),
        Just(json!({"class": "RecordArray", "fields": [], "contents": []})),
        Just(json!({"class": "EmptyArray"})),
    ];
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (huge_count(), inner.clone())
                .prop_map(|(size, c)| json!({"class": "RegularArray", "size": size, "content": c})),
            inner
                .clone()
                .prop_map(|c| json!({"class": "ListOffsetArray", "offsets": "i64", "content": c})),
            inner
                .clone()
                .prop_map(|c| json!({"class": "IndexedArray", "index": "i64", "content": c})),
            prop::collection::vec(inner, 1..3).prop_map(|cs| {
                let fields: Vec<String> = (0..cs.len()).map(|i| format!("f{i}")).collect();
                json!({"class": "RecordArray", "fields": fields, "contents": cs})
            }),
        ]
    })
}

/// A writer that stops after a few MiB, as `akbuf show | head` does.
struct Head(usize);
impl std::io::Write for Head {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0 < buf.len() {
            return Err(std::io::Error::other("closed"));
        }
        self.0 -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn huge_counts_over_empty_content_are_errors_not_allocations(
        mut form in hollow(),
        length in huge_count(),
        offsets in prop::collection::vec(any::<i64>(), 0..4),
    ) {
        limit_memory();
        let mut n = 0;
        with_keys(&mut form, &mut n);
        let Ok(form) = Form::from_value(&form) else { return Ok(()) };
        let mut source = MemorySource::new();
        for id in 0..n {
            source.insert(format!("node{id}-data"), Buffer::empty());
            source.insert(format!("node{id}-offsets"), Buffer::from_slice(&offsets));
            source.insert(format!("node{id}-index"), Buffer::from_slice(&offsets));
        }
        let Ok(length) = usize::try_from(length) else { return Ok(()) };
        if let Ok(array) = from_buffers(&form, length, source, Options::default()) {
            let _ = array.get(0);
            let _ = array.to_json();
            let _ = array.validate();
            let _ = array.write_json(Head(4 << 20));
            if let Ok(mut it) = array.iter() {
                let _ = it.next();
            }
            let _ = akbuf::to_packed(&array).map(|p| p.write_json(Head(1 << 20)));
            let _ = akbuf::to_buffers(&array, &mut akbuf::MemorySink::new(), &Default::default());
        }
    }
}

/// Directory containers whose files are special: FIFOs, devices, folders,
/// links to endless devices, metadata of every kind. Nothing may block.
#[cfg(unix)]
#[test]
fn special_files_never_block_or_run_away() {
    limit_memory();
    let kinds = [
        "fifo", "zero", "urandom", "dir", "missing", "empty", "plain",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut case = 0;
    for meta in kinds {
        for buffer in kinds {
            case += 1;
            let dir = tmp.path().join(format!("c{case}"));
            std::fs::create_dir(&dir).unwrap();
            let meta_text = r#"{"form": {"class": "NumpyArray", "primitive": "int8", "form_key": "node0"}, "length": 4}"#;
            for (name, kind) in [("metadata.json", meta), ("node0-data", buffer)] {
                let path = dir.join(name);
                match kind {
                    "fifo" => {
                        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
                        // SAFETY: a valid NUL-terminated path.
                        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
                    }
                    "zero" => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
                    "urandom" => std::os::unix::fs::symlink("/dev/urandom", &path).unwrap(),
                    "dir" => std::fs::create_dir(&path).unwrap(),
                    "missing" => {}
                    "empty" => std::fs::write(&path, b"").unwrap(),
                    _ if name == "metadata.json" => std::fs::write(&path, meta_text).unwrap(),
                    _ => std::fs::write(&path, [1u8, 2, 3, 4]).unwrap(),
                }
            }
            let (tx, rx) = std::sync::mpsc::channel();
            let d = dir.clone();
            std::thread::spawn(move || {
                let r = akbuf::open(&d).and_then(|a| a.to_json());
                let _ = tx.send(r);
            });
            let r = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("metadata {meta}, buffer {buffer}: blocked"));
            let ok = meta == "plain" && buffer == "plain";
            assert_eq!(r.is_ok(), ok, "metadata {meta}, buffer {buffer}: {r:?}");
        }
    }
}
