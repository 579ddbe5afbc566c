//! The write path against awkward: for every fixture, what akbuf writes
//! (with the defaults, with non-default options, and after `to_packed`)
//! equals what awkward 2.14 writes for the same array, key by key and byte
//! for byte (tests/fixtures/written/*.json, made by generate.py).

mod common;

use akbuf::{
    from_buffers, to_buffers, to_packed, write_dir, Array, Buffer, BufferKey, ByteOrder, DirSink,
    Error, Form, FormKey, MemorySink, MemorySource, Metadata, Options, Sink, WriteOptions,
};
use common::*;
use sha2::{Digest, Sha256};

fn written_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/written")
}

/// What awkward wrote: form JSON, length, and (key, size, sha256) in order.
struct Summary {
    form: String,
    length: usize,
    buffers: Vec<(String, usize, String)>,
}

fn summary_of(v: &serde_json::Value) -> Summary {
    Summary {
        form: v["form"].as_str().unwrap().to_string(),
        length: v["length"].as_u64().unwrap() as usize,
        buffers: v["buffers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b[0].as_str().unwrap().to_string(),
                    b[1].as_u64().unwrap() as usize,
                    b[2].as_str().unwrap().to_string(),
                )
            })
            .collect(),
    }
}

fn written(array: &Array, options: &WriteOptions) -> akbuf::Result<Summary> {
    let mut sink = MemorySink::new();
    let (form, length) = to_buffers(array, &mut sink, options)?;
    Ok(Summary {
        form: form.to_json(),
        length,
        buffers: sink
            .buffers()
            .iter()
            .map(|(k, b)| {
                let hash = Sha256::digest(b.as_slice());
                let hex: String = hash.iter().map(|x| format!("{x:02x}")).collect();
                (k.clone(), b.len(), hex)
            })
            .collect(),
    })
}

fn compare(what: &str, got: akbuf::Result<Summary>, want: &Summary, failures: &mut Vec<String>) {
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            failures.push(format!("{what}: error {e}"));
            return;
        }
    };
    if got.form != want.form {
        failures.push(format!(
            "{what}: form\n  got  {}\n  want {}",
            got.form, want.form
        ));
    }
    if got.length != want.length {
        failures.push(format!("{what}: length {} != {}", got.length, want.length));
    }
    if got.buffers != want.buffers {
        failures.push(format!(
            "{what}: buffers\n  got  {:?}\n  want {:?}",
            got.buffers, want.buffers
        ));
    }
}

/// The options generate.py's OPTIONS stands for.
fn options() -> WriteOptions {
    WriteOptions::default()
        .with_form_key_template("x{id}")
        .unwrap()
        .with_buffer_key_template("{form_key}:{attribute}")
        .unwrap()
        .with_id_start(3)
        .with_byteorder(ByteOrder::Big)
}

#[test]
fn every_fixture_is_written_as_awkward_writes_it() {
    let mut failures = Vec::new();
    let cases = all_cases();
    assert!(cases.len() > 100);
    for (name, dir) in &cases {
        let text = std::fs::read_to_string(written_dir().join(format!("{name}.json")))
            .expect("written expectations: run tests/fixtures/generate.py");
        let want: serde_json::Value = serde_json::from_str(&text).unwrap();
        let meta = Metadata::read_dir(dir).unwrap();
        let source = counting_dir(dir);
        let array = meta.open(source.clone()).unwrap();
        compare(
            &format!("{name} (defaults)"),
            written(&array, &WriteOptions::default()),
            &summary_of(&want["rewrite"]),
            &mut failures,
        );
        compare(
            &format!("{name} (options)"),
            written(&array, &options()),
            &summary_of(&want["options"]),
            &mut failures,
        );
        let packed = to_packed(&array).and_then(|p| written(&p, &WriteOptions::default()));
        compare(
            &format!("{name} (packed)"),
            packed,
            &summary_of(&want["packed"]),
            &mut failures,
        );
        failures.extend(source.reread(name));
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn writing_one_field_reads_only_that_field() {
    let dir = case("events");
    let source = counting_dir(&dir);
    let array = Metadata::read_dir(&dir)
        .unwrap()
        .open(source.clone())
        .unwrap();
    let pt = array.field("jets").unwrap().field("pt").unwrap();
    let mut sink = MemorySink::new();
    let (form, length) = to_buffers(&pt, &mut sink, &WriteOptions::default()).unwrap();
    assert_eq!(length, array.len());
    assert_eq!(form.type_string(), pt.form().type_string());
    let jets_offsets = array.field("jets").unwrap().buffers()[0].key.clone();
    let pt_data = pt.buffers().last().unwrap().key.clone();
    assert_eq!(source.keys(), vec![jets_offsets, pt_data]);
    assert!(source.counts().values().all(|&n| n == 1));
    // And the packed copy reads the same two keys, no more.
    let packed = to_packed(&pt).unwrap();
    assert_eq!(packed.to_json().unwrap(), pt.to_json().unwrap());
    assert_eq!(source.total(), 2);
}

#[test]
fn a_written_directory_reads_back_and_records_its_options() {
    let tmp = tempfile::tempdir().unwrap();
    let array = akbuf::open(case("events")).unwrap();
    let out = tmp.path().join("copy");
    let meta = write_dir(&array, &out, &options()).unwrap();
    let text = std::fs::read_to_string(out.join("metadata.json")).unwrap();
    assert!(text.contains(r#""byteorder": ">""#), "{text}");
    assert!(
        text.contains(r#""buffer_key": "{form_key}:{attribute}""#),
        "{text}"
    );
    assert_eq!(Metadata::read_dir(&out).unwrap(), meta);
    let back = akbuf::open(&out).unwrap();
    assert_eq!(back.to_json().unwrap(), array.to_json().unwrap());
    assert_eq!(back.form().form_key(), Some("x3"));
}

#[test]
fn a_closure_buffer_key_cannot_be_recorded_in_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let array = akbuf::open(case("events")).unwrap();
    let opts =
        WriteOptions::default().with_buffer_key(BufferKey::func(|fk, a| format!("{fk:?}{a}")));
    let err = write_dir(&array, tmp.path().join("x"), &opts).unwrap_err();
    assert!(matches!(err, Error::Argument(_)), "{err}");
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn form_key_and_buffer_key_closures_see_ids_forms_and_attributes() {
    let array = akbuf::open(case("events")).unwrap();
    let opts = WriteOptions::default()
        .with_form_key(FormKey::func(|id, f: &Form| {
            format!("{}{id}", &f.class_name()[..4])
        }))
        .with_buffer_key(BufferKey::func(|fk, a| {
            format!("{}/{a}", fk.unwrap_or("?"))
        }));
    let mut sink = MemorySink::new();
    let (form, _) = to_buffers(&array, &mut sink, &opts).unwrap();
    assert_eq!(form.form_key(), Some("Reco0"));
    let keys: Vec<&str> = sink.keys().collect();
    assert!(keys.iter().all(|k| k.contains('/')), "{keys:?}");
    let first_list = keys.iter().find(|k| k.ends_with("/offsets")).unwrap();
    assert!(first_list.starts_with("List"), "{first_list}");
}

/// A sink that fails on its third buffer.
struct FailingSink {
    inner: DirSink,
    puts: usize,
}

impl Sink for FailingSink {
    fn put(&mut self, key: &str, bytes: &[u8]) -> akbuf::Result<()> {
        self.puts += 1;
        if self.puts == 3 {
            return Err(Error::sink(key, "disk full (simulated)"));
        }
        self.inner.put(key, bytes)
    }
}

#[test]
fn a_sink_failing_midway_leaves_nothing_and_names_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    let array = akbuf::open(case("events")).unwrap();
    let mut sink = FailingSink {
        inner: DirSink::create(&target).unwrap(),
        puts: 0,
    };
    let mut keys = MemorySink::new();
    to_buffers(&array, &mut keys, &WriteOptions::default()).unwrap();
    let third = keys.keys().nth(2).unwrap().to_string();
    let err = to_buffers(&array, &mut sink, &WriteOptions::default()).unwrap_err();
    assert_eq!(err.key(), Some(third.as_str()), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    drop(sink);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);

    // A directory sink failing on its own (a key that is not a file name).
    let opts = WriteOptions::default().with_buffer_key(BufferKey::func(|fk, a| {
        if a == "data" {
            format!("{}/{a}", fk.unwrap_or("?"))
        } else {
            format!("{}-{a}", fk.unwrap_or("?"))
        }
    }));
    let mut dir_sink = DirSink::create(&target).unwrap();
    let err = to_buffers(&array, &mut dir_sink, &opts).unwrap_err();
    assert!(matches!(err, Error::Sink { .. }), "{err}");
    assert!(err.key().unwrap().ends_with("/data"), "{err}");
    drop(dir_sink);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn a_missing_buffer_fails_the_copy_with_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_dir(&case("events"), &src);
    let array = akbuf::open(&src).unwrap();
    let victim = array.buffers()[3].key.clone();
    std::fs::remove_file(src.join(&victim)).unwrap();
    let err = write_dir(&array, tmp.path().join("out"), &WriteOptions::default()).unwrap_err();
    assert!(matches!(err, Error::MissingKey { .. }), "{err}");
    assert_eq!(err.key(), Some(victim.as_str()));
    assert!(!tmp.path().join("out").exists());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn packing_refuses_to_gather_without_bound() {
    // 300 references to one row of a million bytes: packing would copy that
    // row 300 times (300 MB from 1 MB), past the limit of 64 times the input.
    let form = Form::from_json(
        r#"{"class": "IndexedArray", "index": "i64", "form_key": "ix",
            "content": {"class": "RegularArray", "size": 1048576, "form_key": "reg",
                "content": {"class": "NumpyArray", "primitive": "uint8", "form_key": "bytes"}}}"#,
    )
    .unwrap();
    let source = MemorySource::new()
        .with("ix-index", Buffer::from_slice(&[0i64; 300]))
        .with("bytes-data", Buffer::from_vec(vec![7u8; 1 << 20]));
    let array = from_buffers(&form, 300, source.clone(), Options::default()).unwrap();
    match to_packed(&array) {
        Err(e @ akbuf::Error::InvalidData { .. }) => {
            assert!(e.to_string().contains("that to_packed allows"), "{e}");
            assert!(e.to_string().contains("RegularArray"), "{e}");
        }
        other => panic!(
            "expected the gather limit, got {:?}",
            other.map(|a| a.len())
        ),
    }
    // Within the limit, the same array packs (3 copies of the row).
    let few = from_buffers(&form, 3, source, Options::default()).unwrap();
    let packed = to_packed(&few).unwrap();
    assert_eq!(packed.type_string(), "3 * 1048576 * uint8");
    assert_eq!(
        packed.content().unwrap().values::<u8>().unwrap().len(),
        3 << 20
    );
}
