//! Bad input gives an `Err` naming the key and the node, never a panic.

use akbuf::{from_buffers, Buffer, Error, Form, MemorySource, Options};

fn form(json: &str) -> Form {
    Form::from_json(json).unwrap()
}

const LIST: &str = r#"{"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "int64", "form_key": "node1"}, "form_key": "node0"}"#;

fn list(offsets: &[i64], data: &[i64], length: usize) -> akbuf::Array {
    let source = MemorySource::new()
        .with("node0-offsets", Buffer::from_slice(offsets))
        .with("node1-data", Buffer::from_slice(data));
    from_buffers(&form(LIST), length, source, Options::default()).unwrap()
}

#[test]
fn missing_key() {
    let a = from_buffers(&form(LIST), 2, MemorySource::new(), Options::default()).unwrap();
    let err = a.to_json().unwrap_err();
    assert!(
        matches!(&err, Error::MissingKey { key, node, class: "ListOffsetArray" } if key == "node0-offsets" && node == "/"),
        "{err:?}"
    );
    assert_eq!(err.key(), Some("node0-offsets"));
    // The error is not remembered: once the key exists, reading works.
}

#[test]
fn short_buffer_names_key_node_and_sizes() {
    let a = list(&[0, 1], &[1], 2); // 2 lists need 3 offsets
    let err = a.to_json().unwrap_err();
    match err {
        Error::ShortBuffer {
            key,
            node,
            expected,
            actual,
            ..
        } => {
            assert_eq!(
                (key.as_str(), node.as_str(), expected, actual),
                ("node0-offsets", "/", 24, 16)
            );
        }
        other => panic!("{other:?}"),
    }
    // Offsets pointing past the content make the content buffer too short.
    let a = list(&[0, 2, 5], &[1, 2, 3], 2);
    match a.to_json().unwrap_err() {
        Error::ShortBuffer {
            key,
            node,
            expected,
            actual,
            class,
        } => {
            assert_eq!(
                (key.as_str(), node.as_str(), class, expected, actual),
                ("node1-data", "/[]", "NumpyArray", 40, 24)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn offsets_going_backwards() {
    let a = list(&[0, 3, 1, 2], &[1, 2, 3], 3);
    let err = a.to_json().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidData { key, .. } if key == "node0-offsets"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("list 0 ends at 3, past the content's length 2"),
        "{err}"
    );
    let err = a.validate().unwrap_err();
    assert!(
        err.to_string().contains("offsets go backwards at 1"),
        "{err}"
    );
    // An empty list that goes backwards is caught by validate only.
    let a = list(&[2, 1, 3], &[1, 2, 3], 2);
    assert!(a.validate().is_err());
    // The last offset negative.
    let a = list(&[0, -1], &[], 1);
    let err = a.to_json().unwrap_err();
    assert!(err.to_string().contains("is negative"), "{err}");
}

#[test]
fn indexes_and_tags_out_of_range() {
    let indexed = form(
        r#"{"class": "IndexedArray", "index": "i32", "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "c"}, "form_key": "i"}"#,
    );
    let src = MemorySource::new()
        .with("i-index", Buffer::from_slice(&[0i32, -2, 1]))
        .with("c-data", Buffer::from_slice(&[1.0f64, 2.0]));
    let a = from_buffers(&indexed, 3, src, Options::default()).unwrap();
    let err = a.to_json().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidData { key, node, .. } if key == "i-index" && node == "/"),
        "{err:?}"
    );
    assert!(err.to_string().contains("index[1] = -2"), "{err}");
    assert_eq!(a.get(0).unwrap(), akbuf::Value::Float(1.0));
    assert!(a.get(1).is_err());

    let union = form(
        r#"{"class": "UnionArray", "tags": "i8", "index": "i64", "contents": [
        {"class": "NumpyArray", "primitive": "int64", "form_key": "a"},
        {"class": "NumpyArray", "primitive": "float64", "form_key": "b"}], "form_key": "u"}"#,
    );
    let src = MemorySource::new()
        .with("u-tags", Buffer::from_slice(&[0i8, 1, 2]))
        .with("u-index", Buffer::from_slice(&[0i64, 0, 0]))
        .with("a-data", Buffer::from_slice(&[5i64]))
        .with("b-data", Buffer::from_slice(&[0.5f64]));
    let a = from_buffers(&union, 3, src, Options::default()).unwrap();
    let err = a.validate().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidData { key, .. } if key == "u-tags"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("tags[2] = 2 is out of range for 2 contents"),
        "{err}"
    );
    assert_eq!(a.get(1).unwrap(), akbuf::Value::Float(0.5));
}

#[test]
fn layout_rules_are_checked_when_building() {
    let cases = [
        (
            r#"{"class": "ByteMaskedArray", "mask": "u8", "valid_when": true, "content": "int64"}"#,
            "'mask' must be an Index with dtype in (int8), not uint8",
        ),
        (
            r#"{"class": "IndexedOptionArray", "index": "u32", "content": "int64"}"#,
            "'index' must be an Index with dtype in (int32, int64), not uint32",
        ),
        (
            r#"{"class": "ListOffsetArray", "offsets": "i8", "content": "int64"}"#,
            "'offsets' must be an Index with dtype in (int32, uint32, int64), not int8",
        ),
        (
            r#"{"class": "ListArray", "starts": "i32", "stops": "i64", "content": "int64"}"#,
            "must have the same dtype",
        ),
        (
            r#"{"class": "BitMaskedArray", "mask": "i8", "valid_when": true, "lsb_order": true, "content": "int64"}"#,
            "not int8",
        ),
        (
            r#"{"class": "UnionArray", "tags": "i32", "index": "i64", "contents": ["int64", "float64"]}"#,
            "'tags' must be an Index",
        ),
        (
            r#"{"class": "UnionArray", "tags": "i8", "index": "i64", "contents": ["int64"]}"#,
            "at least 2 'contents'",
        ),
        (
            r#"{"class": "IndexedArray", "index": "i64", "content": {"class": "IndexedArray", "index": "i64", "content": "int64"}}"#,
            "indexed 'content'",
        ),
        (
            r#"{"class": "UnmaskedArray", "content": {"class": "UnmaskedArray", "content": "int64"}}"#,
            "option-type",
        ),
        (
            r#"{"class": "UnionArray", "tags": "i8", "index": "i64", "contents": ["int64", {"class": "UnmaskedArray", "content": "int64"}]}"#,
            "entirely optional",
        ),
        (
            r#"{"class": "ListOffsetArray", "offsets": "i64", "content": "int64", "parameters": {"__array__": "string"}}"#,
            "must be uint8 NumpyArray of char",
        ),
        (
            r#"{"class": "NumpyArray", "primitive": "int32", "parameters": {"__array__": "char"}}"#,
            "must be 1-dimensional and uint8",
        ),
        (
            r#"{"class": "NumpyArray", "primitive": "int32", "parameters": {"__array__": "string"}}"#,
            "not allowed to have parameters",
        ),
    ];
    for (json, want) in cases {
        let err =
            from_buffers(&form(json), 1, MemorySource::new(), Options::default()).unwrap_err();
        assert!(matches!(err, Error::Layout { .. }), "{json}: {err:?}");
        assert!(err.to_string().contains(want), "{json}: {err}");
    }
    let err = from_buffers(
        &form(r#"{"class": "EmptyArray"}"#),
        3,
        MemorySource::new(),
        Options::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad length for EmptyArray at /: expected 0 (an EmptyArray has no elements), got 3"
    );
}

#[test]
fn a_mask_byte_of_five_is_true() {
    // awkward's kernels (and a[i], ak.is_none) read any non-zero byte as true:
    // with valid_when=False, mask [1, 0, 5] is [None, x, None].
    let f = form(
        r#"{"class": "ByteMaskedArray", "mask": "i8", "valid_when": false, "content": {"class": "NumpyArray", "primitive": "int64", "form_key": "c"}, "form_key": "m"}"#,
    );
    let src = MemorySource::new()
        .with("m-mask", Buffer::from_slice(&[1i8, 0, 5]))
        .with("c-data", Buffer::from_slice(&[1i64, 2, 3]));
    let a = from_buffers(&f, 3, src, Options::default()).unwrap();
    assert_eq!(a.to_json().unwrap(), "[null,2,null]");
}

#[test]
fn failed_reads_are_retried() {
    let tries = std::sync::atomic::AtomicUsize::new(0);
    let source = akbuf::FnSource::new(move |key: &str| {
        if tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Err(Error::read_failed(key, "disk on fire"))
        } else {
            Ok(Some(Buffer::from_slice(&[4i64, 5])))
        }
    });
    let a = from_buffers(
        &form(r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "x"}"#),
        2,
        source,
        Options::default(),
    )
    .unwrap();
    let err = a.to_json().unwrap_err();
    assert_eq!(
        err.to_string(),
        "reading buffer \"x-data\" failed: disk on fire"
    );
    assert_eq!(a.to_json().unwrap(), "[4,5]");
}

#[test]
fn typed_views_check_their_type() {
    let a = list(&[0, 2], &[1, 2], 1);
    assert!(matches!(a.values::<i64>(), Err(Error::TypeMismatch { .. })));
    assert!(matches!(
        a.offsets::<i32>(),
        Err(Error::TypeMismatch { .. })
    ));
    assert_eq!(&*a.offsets::<i64>().unwrap(), &[0, 2]);
    let content = a.content().unwrap();
    assert!(content.values::<f64>().is_err());
    assert_eq!(&*content.values::<i64>().unwrap(), &[1, 2]);
    let err = a.field("x").unwrap_err();
    assert_eq!(err.to_string(), "no field \"x\" in NumpyArray at /[]");
}

#[test]
fn byteorder_and_misaligned_buffers_are_converted_once() {
    let f = form(r#"{"class": "NumpyArray", "primitive": "int32", "form_key": "n"}"#);
    // Big-endian bytes.
    let big: Vec<u8> = [1i32, -2].iter().flat_map(|v| v.to_be_bytes()).collect();
    let src = MemorySource::new().with("n-data", Buffer::from_vec(big));
    let a = from_buffers(
        &f,
        2,
        src,
        Options::default().with_byteorder(akbuf::ByteOrder::Big),
    )
    .unwrap();
    assert_eq!(&*a.values::<i32>().unwrap(), &[1, -2]);
    // Misaligned native bytes: one byte into an aligned buffer.
    let mut bytes = vec![0u8];
    bytes.extend([7i32, 8].iter().flat_map(|v| v.to_ne_bytes()));
    let whole = Buffer::copy_from_slice(&bytes);
    let src = MemorySource::new().with("n-data", whole.slice(1, 8).unwrap());
    let a = from_buffers(&f, 2, src, Options::default()).unwrap();
    let v = a.values::<i32>().unwrap();
    assert_eq!(&*v, &[7, 8]);
    assert!(!v.buffer().same_owner(&whole));
}

#[test]
fn aligned_native_buffers_are_zero_copy() {
    let f = form(r#"{"class": "NumpyArray", "primitive": "float64", "form_key": "n"}"#);
    let data = Buffer::from_slice(&[1.0f64, 2.0, 3.0, 4.0]);
    let src = MemorySource::new().with("n-data", data.clone());
    let a = from_buffers(&f, 3, src, Options::default()).unwrap();
    let v = a.values::<f64>().unwrap();
    assert_eq!(&*v, &[1.0, 2.0, 3.0]);
    assert!(v.buffer().same_owner(&data));
    assert_eq!(v.as_ptr() as *const u8, data.as_ptr());
}
