//! Partitioned containers written by awkward 1.10.5 (tests/fixtures/
//! generate_v1.py), checked against awkward 2.14 reading the same buffers
//! partition by partition and concatenating (tests/fixtures/generate.py,
//! `partitioned_expected`); what akbuf writes back reads the same.

mod common;

use akbuf::{
    open, read_metadata, to_buffers, to_packed, write_dir, Array, Error, MemorySink, Metadata,
    WriteOptions,
};
use common::*;
use std::path::{Path, PathBuf};

fn partitioned_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/partitioned")
}

fn partitioned_cases() -> Vec<(String, PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(partitioned_dir())
        .expect("fixtures present: run tests/fixtures/generate_v1.py")
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().to_string(), e.path())
        })
        .collect();
    out.sort();
    out
}

struct Want {
    type_: String,
    json: String,
    form: String,
    lengths: Option<Vec<usize>>,
    /// What `ak.validity_error` says ("" when valid).
    validity: String,
}

fn want(dir: &Path) -> Want {
    let text = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Want {
        type_: v["type"].as_str().unwrap().to_string(),
        json: v["json"].as_str().unwrap().to_string(),
        form: v["form"].as_str().unwrap().to_string(),
        lengths: v["lengths"].as_array().map(|l| {
            l.iter()
                .map(|n| n.as_u64().unwrap() as usize)
                .collect::<Vec<_>>()
        }),
        validity: v["validity"].as_str().unwrap_or("").to_string(),
    }
}

fn open_counting(dir: &Path) -> (Array, Counting<akbuf::DirSource>, Metadata) {
    let meta = Metadata::read_dir(dir).unwrap();
    let source = counting_dir(dir);
    let array = meta.open(source.clone()).unwrap();
    (array, source, meta)
}

/// The prefix every key of partition `number` starts with under `template`.
fn key_prefix(template: &str, number: usize) -> String {
    let at = template.find("{partition}").unwrap();
    let rest = &template[at + "{partition}".len()..];
    let literal = &rest[..rest.find('{').unwrap_or(rest.len())];
    format!("{}{number}{literal}", &template[..at])
}

#[test]
fn every_partitioned_fixture_matches_awkward() {
    let cases = partitioned_cases();
    assert!(cases.len() >= 12, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (name, dir) in &cases {
        let want = want(dir);
        let (array, source, meta) = open_counting(dir);
        if meta.form.to_json() != want.form {
            failures.push(format!(
                "{name}: form\n  got  {}\n  want {}",
                meta.form.to_json(),
                want.form
            ));
        }
        let lengths = want.lengths.clone().unwrap();
        // A list of lengths in metadata.json makes a partitioned array.
        assert_eq!(array.is_partitioned(), meta.partitions.is_some(), "{name}");
        assert_eq!(array.partition_lengths(), lengths, "{name}");
        assert_eq!(array.len(), lengths.iter().sum::<usize>(), "{name}");
        if array.type_string() != want.type_ {
            failures.push(format!(
                "{name}: type {} != {}",
                array.type_string(),
                want.type_
            ));
        }
        assert_eq!(source.total(), 0, "{name}: opening and typing read");
        match array.to_json() {
            Ok(j) if j == want.json => {}
            Ok(j) => failures.push(format!("{name}: json\n  got  {j}\n  want {}", want.json)),
            Err(e) => failures.push(format!("{name}: error {e}")),
        }
        failures.extend(source.reread(name));
        // Empty partitions are never read, the others entirely.
        if array.is_partitioned() {
            let template = meta.buffer_key_template().to_string();
            for (i, &n) in lengths.iter().enumerate() {
                let prefix = key_prefix(&template, meta.partition_start + i);
                let read = source
                    .keys()
                    .iter()
                    .filter(|k| k.starts_with(&prefix))
                    .count();
                if n == 0 && read > 0 {
                    failures.push(format!("{name}: empty partition {i} read"));
                }
                if n > 0 && read == 0 {
                    failures.push(format!("{name}: partition {i} not read"));
                }
            }
        }
        // Valid exactly where awkward 2.14 says so.
        match (array.validate(), want.validity.is_empty()) {
            (Ok(()), true) => {}
            (Err(e), false)
                if want
                    .validity
                    .ends_with(e.to_string().rsplit(": ").next().unwrap_or("")) => {}
            (got, _) => failures.push(format!(
                "{name}: validate: {got:?}; awkward: {:?}",
                want.validity
            )),
        }
        assert!(
            source.counts().values().all(|&n| n == 1),
            "{name}: validate re-read"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn elements_partitions_and_iteration_agree_with_awkward() {
    for (name, dir) in partitioned_cases() {
        let want = want(&dir);
        let items: Vec<serde_json::Value> = serde_json::from_str(&want.json).unwrap();
        let (array, _, _) = open_counting(&dir);
        assert_eq!(items.len(), array.len(), "{name}");
        let got: Vec<serde_json::Value> = array
            .iter()
            .unwrap()
            .map(|v| serde_json::from_str(&v.unwrap().to_json()).unwrap())
            .collect();
        assert_eq!(got, items, "{name}: iteration");
        for (i, item) in items.iter().enumerate().step_by(7) {
            let one: serde_json::Value =
                serde_json::from_str(&array.get(i).unwrap().to_json()).unwrap();
            assert_eq!(&one, item, "{name}: element {i}");
        }
        // The partitions, concatenated.
        let mut joined = Vec::new();
        for p in array.partitions().unwrap() {
            let part: Vec<serde_json::Value> = serde_json::from_str(&p.to_json().unwrap()).unwrap();
            assert_eq!(part.len(), p.len(), "{name}");
            joined.extend(part);
        }
        assert_eq!(joined, items, "{name}: partitions");
        assert!(array.get(array.len()).is_err(), "{name}: past the end");
    }
}

#[test]
fn a_field_of_one_row_reads_that_fields_keys_of_its_partition_only() {
    let dir = partitioned_dir().join("events_unequal");
    let (array, source, _) = open_counting(&dir);
    // Lengths [7, 0, 23, 0, 0, 10]: row 30 is row 0 of partition 5.
    let pt = array.field("jets").unwrap().field("pt").unwrap();
    assert_eq!(source.total(), 0);
    let _ = pt.get(30).unwrap();
    assert_eq!(
        source.keys(),
        ["part5-node3-offsets", "part5-node5-data"],
        "read {:?}",
        source.counts()
    );
    // Row 8 is in partition 2: its keys join, each read once.
    let _ = pt.get(8).unwrap();
    let _ = pt.get(31).unwrap();
    assert_eq!(
        source.keys(),
        [
            "part2-node3-offsets",
            "part2-node5-data",
            "part5-node3-offsets",
            "part5-node5-data"
        ]
    );
    assert!(source.counts().values().all(|&n| n == 1));
    // The whole field: every non-empty partition's, nothing of the other fields.
    let want: Vec<serde_json::Value> = serde_json::from_str(&want(&dir).json).unwrap();
    let pts: Vec<serde_json::Value> = want
        .iter()
        .map(|e| {
            serde_json::Value::Array(
                e["jets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|j| j["pt"].clone())
                    .collect(),
            )
        })
        .collect();
    let got: Vec<serde_json::Value> = serde_json::from_str(&pt.to_json().unwrap()).unwrap();
    assert_eq!(got, pts);
    assert_eq!(source.keys().len(), 6);
    assert!(source
        .keys()
        .iter()
        .all(|k| k.ends_with("node3-offsets") || k.ends_with("node5-data")));
}

#[test]
fn empty_partitions_need_no_stored_bytes() {
    // The container without the empty partitions' files reads the same.
    let src = partitioned_dir().join("events_unequal");
    let tmp = tempdir("empty-parts");
    for e in std::fs::read_dir(&src).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if !["part1-", "part3-", "part4-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            std::fs::copy(src.join(&name), tmp.join(&name)).unwrap();
        }
    }
    let array = open(&tmp).unwrap();
    assert_eq!(array.to_json().unwrap(), want(&src).json);
    assert_eq!(array.partition(1).unwrap().to_json().unwrap(), "[]");
    assert_eq!(
        array
            .partition(3)
            .unwrap()
            .field("jets")
            .unwrap()
            .to_json()
            .unwrap(),
        "[]"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn opening_ten_thousand_partitions_reads_nothing() {
    let tmp = tempdir("ten-thousand");
    let meta = read_metadata(partitioned_dir().join("many_small")).unwrap();
    let lengths: Vec<usize> = (0..10_000).map(|i| i % 3).collect();
    let many = Metadata::partitioned(meta.form.clone(), lengths.clone());
    std::fs::write(tmp.join("metadata.json"), many.to_json()).unwrap();
    let source = counting_dir(&tmp);
    let array = read_metadata(&tmp).unwrap().open(source.clone()).unwrap();
    assert_eq!(array.num_partitions(), 10_000);
    assert_eq!(array.len(), lengths.iter().sum::<usize>());
    assert_eq!(array.type_string(), "9999 * int64");
    assert_eq!(source.total(), 0);
    // Touching one row reads one key of one partition (and fails: the
    // key is not there), naming the key and the partition's number.
    let err = array.get(5000).unwrap_err();
    assert_eq!(source.keys(), ["part5000-node0-data"]);
    let msg = err.to_string();
    assert!(msg.contains("part5000-node0-data"), "{msg}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn written_partitions_read_back_and_keep_their_lengths() {
    for (name, dir) in partitioned_cases() {
        let array = open(&dir).unwrap();
        let tmp = tempdir(&format!("write-{name}"));
        let out = tmp.join("copy");
        let written = write_dir(&array, &out, &WriteOptions::default()).unwrap();
        assert_eq!(
            written.partitions,
            array.is_partitioned().then(|| array.partition_lengths())
        );
        let back = open(&out).unwrap();
        assert_eq!(
            back.partition_lengths(),
            array.partition_lengths(),
            "{name}"
        );
        assert_eq!(back.to_json().unwrap(), want(&dir).json, "{name}");
        assert_eq!(back.type_string(), want(&dir).type_, "{name}");
        if array.is_partitioned() {
            // awkward 1's default keys, partition by partition, from 0.
            assert!(
                std::fs::read_dir(&out).unwrap().any(|e| e
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("part0-node")),
                "{name}: {:?}",
                std::fs::read_dir(&out)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect::<Vec<_>>()
            );
        }
        // Packed partition by partition: the same values and lengths.
        let packed = to_packed(&array).unwrap();
        assert_eq!(
            packed.partition_lengths(),
            array.partition_lengths(),
            "{name}"
        );
        assert_eq!(packed.to_json().unwrap(), want(&dir).json, "{name}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}

#[test]
fn partition_start_and_custom_templates_are_written_as_asked() {
    let array = open(partitioned_dir().join("events_unequal")).unwrap();
    let mut sink = MemorySink::new();
    let opts = WriteOptions::default()
        .with_partition_start(3)
        .with_buffer_key_template("x{partition}/{form_key}/{attribute}")
        .unwrap();
    to_buffers(&array, &mut sink, &opts).unwrap();
    let keys: Vec<&str> = sink.keys().collect();
    // Six partitions numbered 3..9, five buffers each (the empty ones too,
    // as awkward 1 writes them).
    assert_eq!(keys.len(), 30, "{keys:?}");
    assert!(keys.contains(&"x3/node1/data") && keys.contains(&"x8/node6/data"));
    assert_eq!(sink.get("x4/node3/offsets").unwrap().len(), 8); // one zero offset
                                                                // A template without {partition} gets awkward 1's `part{partition}-`.
    let mut sink = MemorySink::new();
    to_buffers(&array, &mut sink, &WriteOptions::default()).unwrap();
    assert!(sink.keys().any(|k| k == "part5-node5-data"));
}

fn bad_metadata(name: &str, length: &str, extra: &str) -> Error {
    let tmp = tempdir(name);
    let text = format!(
        r#"{{"form": {{"class": "NumpyArray", "primitive": "int64", "form_key": "node0"}}, "length": {length}{extra}}}"#
    );
    std::fs::write(tmp.join("metadata.json"), text).unwrap();
    let err = open(&tmp).unwrap_err();
    std::fs::remove_dir_all(&tmp).unwrap();
    err
}

#[test]
fn bad_partition_lists_are_refused_naming_the_partition() {
    let e = bad_metadata("neg", "[3, -1, 2]", "").to_string();
    assert!(e.contains("(partition 1)") && e.contains("-1"), "{e}");
    let e = bad_metadata("frac", "[3, 1.5]", "").to_string();
    assert!(e.contains("(partition 1)") && e.contains("1.5"), "{e}");
    let e = bad_metadata("str", r#"[3, "2"]"#, "").to_string();
    assert!(e.contains("(partition 1)"), "{e}");
    let e = bad_metadata(
        "nokey",
        "[1, 2]",
        r#", "buffer_key": "{form_key}-{attribute}""#,
    )
    .to_string();
    assert!(e.contains("{partition}"), "{e}");
    let e = bad_metadata("start", "[1, 2]", r#", "partition_start": -3"#).to_string();
    assert!(e.contains("partition_start"), "{e}");
    let e = bad_metadata("overflow", "[18446744073709551615, 1]", "").to_string();
    assert!(e.contains("overflow") || e.contains("too"), "{e}");
    // Too many partitions: refused before any is made.
    let many = format!("[{}0]", "0,".repeat(akbuf::MAX_PARTITIONS));
    let e = bad_metadata("many", &many, "").to_string();
    assert!(e.contains("partitions"), "{e}");
}

#[test]
fn a_missing_partition_key_names_the_key() {
    let src = partitioned_dir().join("events_unequal");
    let tmp = tempdir("missing-key");
    for e in std::fs::read_dir(&src).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if name != "part2-node5-data" {
            std::fs::copy(src.join(&name), tmp.join(&name)).unwrap();
        }
    }
    let array = open(&tmp).unwrap();
    // Partition 0 reads; partition 2's jets do not.
    assert!(array.partition(0).unwrap().to_json().is_ok());
    let e = array.to_json().unwrap_err();
    assert!(matches!(e, Error::MissingKey { .. }), "{e:?}");
    assert!(e.to_string().contains("part2-node5-data"), "{e}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("akbuf-partitioned-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn expected_values(name: &str) -> Vec<serde_json::Value> {
    serde_json::from_str(&want(&partitioned_dir().join(name)).json).unwrap()
}

#[test]
fn a_dataset_concatenates_containers_lazily() {
    let names = [
        "events_unequal",
        "custom_keys",
        "v1_single",
        "partition_start",
    ];
    let paths: Vec<PathBuf> = names.iter().map(|n| partitioned_dir().join(n)).collect();
    let all = akbuf::open_dataset(&paths).unwrap();
    let want: Vec<serde_json::Value> = names.iter().flat_map(|n| expected_values(n)).collect();
    assert_eq!(all.len(), want.len());
    // Each container's partitions, in order (v1_single is one piece).
    assert_eq!(all.num_partitions(), 6 + 3 + 1 + 3);
    let got: Vec<serde_json::Value> = serde_json::from_str(&all.to_json().unwrap()).unwrap();
    assert_eq!(got, want);
    // Rows of the third container read only its keys.
    let cache = std::sync::Arc::new(akbuf::Cache::new());
    let reads = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&reads);
    let cache = std::sync::Arc::new(
        std::sync::Arc::try_unwrap(cache)
            .ok()
            .unwrap()
            .with_observer(move |e: &akbuf::ReadEvent<'_>| log.lock().push(e.key.to_string())),
    );
    let all =
        akbuf::open_dataset_with(&paths, akbuf::Options::default().with_cache(cache)).unwrap();
    assert!(reads.lock().is_empty());
    let met = all.field("met").unwrap().slice(80..82).unwrap();
    let got: Vec<serde_json::Value> = serde_json::from_str(&met.to_json().unwrap()).unwrap();
    let expect: Vec<serde_json::Value> = want[80..82].iter().map(|e| e["met"].clone()).collect();
    assert_eq!(got, expect);
    // 40 + 40 rows before it: rows 0..2 of v1_single.
    assert_eq!(*reads.lock(), ["part0-node2-data"]);
}

#[test]
fn a_dataset_refuses_forms_that_differ_naming_both_paths() {
    let a = partitioned_dir().join("events_unequal");
    let b = partitioned_dir().join("strings");
    let e = akbuf::open_dataset([&a, &b]).unwrap_err().to_string();
    assert!(e.contains("events_unequal") && e.contains("strings"), "{e}");
    let e = akbuf::open_dataset(Vec::<PathBuf>::new()).unwrap_err();
    assert!(matches!(e, Error::Argument(_)), "{e}");
    let empty = tempdir("no-containers");
    let e = akbuf::open_dataset([&empty]).unwrap_err().to_string();
    assert!(e.contains("no-containers"), "{e}");
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn a_folder_of_containers_is_a_dataset_and_repartitioning_keeps_every_row() {
    let events = open(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/events")).unwrap();
    let dir = tempdir("folder");
    for (i, rows) in [0..250, 250..251, 251..1000].into_iter().enumerate() {
        write_dir(
            &events.slice(rows).unwrap(),
            dir.join(format!("c{i}")),
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let all = akbuf::open_dataset([&dir]).unwrap();
    assert_eq!(all.partition_lengths(), [250, 1, 749]);
    assert_eq!(all.to_json().unwrap(), events.to_json().unwrap());
    // Split, never merged: partitions end where the containers do.
    let parts = all.repartition(akbuf::ChunkSize::Rows(400)).unwrap();
    assert_eq!(parts.partition_lengths(), [250, 1, 400, 349]);
    let out = dir.join("repartitioned");
    write_dir(&parts, &out, &WriteOptions::default()).unwrap();
    let back = open(&out).unwrap();
    assert_eq!(back.partition_lengths(), [250, 1, 400, 349]);
    assert_eq!(back.to_json().unwrap(), events.to_json().unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What `to_buffers` wrote into a memory sink, read back.
fn read_back(
    sink: MemorySink,
    form: &akbuf::Form,
    length: usize,
    order: akbuf::ByteOrder,
) -> Array {
    let mut source = akbuf::MemorySource::new();
    for k in sink.keys().map(str::to_string).collect::<Vec<_>>() {
        source.insert(k.clone(), sink.get(&k).unwrap().clone());
    }
    akbuf::from_buffers(
        form,
        length,
        source,
        akbuf::Options::default().with_byteorder(order),
    )
    .unwrap()
}

#[test]
fn one_piece_writes_hold_the_partitions_concatenated() {
    let mut checked = 0;
    for (name, dir) in partitioned_cases() {
        let want = want(&dir);
        let array = open(&dir).unwrap();
        // As stored, split again into pieces of 3 rows (windows inside the
        // stored partitions: offsets, indexes and bits rebased), and big-endian.
        let pieces = array.repartition(akbuf::ChunkSize::Rows(3)).unwrap();
        for (what, a, order) in [
            ("stored", &array, akbuf::ByteOrder::Little),
            ("pieces of 3", &pieces, akbuf::ByteOrder::Little),
            ("big-endian", &array, akbuf::ByteOrder::Big),
        ] {
            let mut sink = MemorySink::new();
            let opts = WriteOptions::default()
                .with_one_piece(true)
                .with_byteorder(order);
            let (form, length) = to_buffers(a, &mut sink, &opts).unwrap();
            assert!(sink.keys().all(|k| !k.starts_with("part")), "{name}");
            let back = read_back(sink, &form, length, order);
            assert!(!back.is_partitioned());
            match back.validate() {
                Ok(()) => assert!(
                    want.validity.is_empty(),
                    "{name} ({what}): awkward: {}",
                    want.validity
                ),
                Err(e) => assert!(!want.validity.is_empty(), "{name} ({what}): {e}"),
            }
            assert_eq!(back.type_string(), want.type_, "{name} ({what})");
            assert_eq!(back.to_json().unwrap(), want.json, "{name} ({what})");
            checked += 1;
        }
    }
    assert!(checked >= 36, "{checked}");
}

#[test]
fn one_piece_directory_containers_are_awkward_2_containers() {
    let dir = partitioned_dir().join("events_unequal");
    let out = tempdir("one_piece").join("out");
    let array = open(&dir).unwrap();
    write_dir(&array, &out, &WriteOptions::default().with_one_piece(true)).unwrap();
    let meta = read_metadata(&out).unwrap();
    assert!(meta.partitions.is_none());
    assert_eq!(meta.length, array.len());
    let text = std::fs::read_to_string(out.join("metadata.json")).unwrap();
    assert!(
        text.contains(&format!("\"length\": {}", array.len())),
        "{text}"
    );
    assert_eq!(open(&out).unwrap().to_json().unwrap(), want(&dir).json);
}

/// `select` keeps the chosen fields, in the order asked, of every row, on
/// partitioned arrays, their slices and their one-piece writes (checked
/// against awkward's values with the other fields dropped).
#[test]
fn selected_fields_hold_awkwards_values_in_the_order_asked() {
    let mut checked = 0;
    for (name, dir) in partitioned_cases() {
        let array = open(&dir).unwrap();
        let fields = array.fields();
        if fields.len() < 2 {
            continue;
        }
        let picked: Vec<String> = fields.iter().rev().cloned().collect();
        let want: Vec<serde_json::Value> =
            serde_json::from_str::<Vec<serde_json::Value>>(&want(&dir).json)
                .unwrap()
                .into_iter()
                .map(|row| {
                    if row.is_null() {
                        return row; // a missing record stays missing
                    }
                    let mut m = serde_json::Map::new();
                    for f in &picked {
                        m.insert(f.clone(), row[f].clone());
                    }
                    serde_json::Value::Object(m)
                })
                .collect();
        let selected = array.select(&picked).unwrap();
        assert_eq!(selected.fields(), picked, "{name}");
        let parsed = |t: String| serde_json::from_str::<Vec<serde_json::Value>>(&t).unwrap();
        let text = selected.to_json().unwrap();
        assert_eq!(parsed(text.clone()), want, "{name}");
        // (Each object's keys in the order asked: the text starts so.)
        let first = format!("[{{\"{}\":", picked[0]);
        assert!(
            text.starts_with(&first) || want.is_empty(),
            "{name}: {text:.80}"
        );
        // A slice, and a one-piece write of the selection.
        let n = array.len();
        if n > 2 {
            let rows = array.slice(1..n - 1).unwrap().select(&picked).unwrap();
            assert_eq!(parsed(rows.to_json().unwrap()), want[1..n - 1], "{name}");
        }
        let mut sink = MemorySink::new();
        let opts = WriteOptions::default().with_one_piece(true);
        let (form, length) = to_buffers(&selected, &mut sink, &opts).unwrap();
        let back = read_back(sink, &form, length, akbuf::ByteOrder::Little);
        assert_eq!(back.to_json().unwrap(), text, "{name}");
        checked += 1;
    }
    assert!(checked >= 4, "{checked}");
    let events = open(partitioned_dir().join("events_unequal")).unwrap();
    assert!(matches!(
        events.select(&["nope"]),
        Err(Error::NoField { .. })
    ));
    assert!(matches!(
        events.select(&["met", "met"]),
        Err(Error::Argument(_))
    ));
}

/// Spools past their memory share go to a temporary file and come back
/// whole (a sink that cannot append: a memory sink).
#[test]
fn one_piece_spools_larger_than_memory_come_back_whole() {
    use akbuf::{Buffer, BufferKey, Form, MemorySource, Options};
    use std::sync::Arc;
    let n = 700_000usize; // 5.6 MB per partition, 11.2 MB in all: past the 8 MiB kept in memory
    let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let b: Vec<f64> = (0..n).map(|i| -(i as f64)).collect();
    let source = MemorySource::new()
        .with("part0-x-data", Buffer::from_slice(&a))
        .with("part1-x-data", Buffer::from_slice(&b));
    let form = Arc::new(
        Form::from_json(r#"{"class": "NumpyArray", "primitive": "float64", "form_key": "x"}"#)
            .unwrap(),
    );
    let opts = Options::default()
        .with_buffer_key(BufferKey::template("part{partition}-{form_key}-{attribute}").unwrap());
    let parts = Array::partitioned(form, vec![n, n], 0, Arc::new(source), opts).unwrap();
    let mut sink = MemorySink::new();
    let (_, length) = to_buffers(
        &parts,
        &mut sink,
        &WriteOptions::default().with_one_piece(true),
    )
    .unwrap();
    assert_eq!(length, 2 * n);
    let data = sink.get("node0-data").unwrap();
    let values = data.typed::<f64>().unwrap();
    assert_eq!(&values[..n], &a[..]);
    assert_eq!(&values[n..], &b[..]);
}
