//! Arrow IPC and Parquet files as containers, from writers akbuf must not
//! trust (issue 27): truncated files and damaged footers, zero-row and
//! zero-column tables, thousands of one-row groups, lying `"awkward"`
//! extension metadata and `awkward_array_metadata`, column types awkward
//! cannot represent, and `copy` onto an existing file. Every case gives
//! values or an error: never a panic (each is run under `catch_unwind`,
//! and every case that panics is listed), a hang or a half-written file.
#![cfg(all(feature = "parquet", feature = "cli"))]

mod common;

use akbuf::{open, write_to, WriteOptions};
use arrow_array::{Array as _, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What akbuf does with the file at `path`: opening it, its JSON, its
/// validation and its copies (a directory container, Arrow IPC, Parquet).
/// `Ok(Ok(json))`, `Ok(Err(first error))`, or `Err(panic message)`.
fn exercise(path: &Path, copies: bool) -> Result<Result<String, String>, String> {
    let out = tempfile::tempdir().unwrap();
    catch_unwind(AssertUnwindSafe(|| {
        let array = open(path).map_err(|e| e.to_string())?;
        let json = array.to_json().map_err(|e| e.to_string())?;
        array.validate().map_err(|e| e.to_string())?;
        if copies {
            for name in ["copy", "copy.arrow", "copy.parquet"] {
                let to = out.path().join(name);
                write_to(&array, &to, &WriteOptions::default()).map_err(|e| e.to_string())?;
                let back = open(&to).map_err(|e| e.to_string())?;
                assert_eq!(back.len(), array.len(), "{name}");
            }
        }
        Ok(json)
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// Every `(case, panic)` of `cases`, for one assertion listing them all.
fn panics(cases: Vec<(String, PathBuf, bool)>) -> Vec<(String, String)> {
    cases
        .into_iter()
        .filter_map(|(name, path, copies)| exercise(&path, copies).err().map(|p| (name, p)))
        .collect()
}

fn ipc_file(path: &Path, batches: &[RecordBatch], schema: &Schema) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new(file, schema).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
}

fn parquet_file(path: &Path, batches: &[RecordBatch], schema: Arc<Schema>, group_rows: usize) {
    let file = std::fs::File::create(path).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows.max(1)))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    for b in batches {
        // In steps of a group (arrow-rs's writer recurses once per group
        // of one larger batch).
        for start in (0..b.num_rows()).step_by(group_rows.max(1)) {
            w.write(&b.slice(start, group_rows.min(b.num_rows() - start)))
                .unwrap();
        }
        if b.num_rows() == 0 {
            w.write(b).unwrap();
        }
    }
    w.close().unwrap();
}

/// The sample's files: awkward's Parquet and Arrow IPC of `events`, and
/// what akbuf writes of it.
fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let events = open(root().join("data/events")).unwrap();
    let mut files = vec![
        root().join("tests/fixtures/arrow/events.arrow"),
        root().join("tests/fixtures/arrow/events.parquet"),
    ];
    for name in ["akbuf.arrow", "akbuf.parquet"] {
        let to = dir.join(name);
        write_to(&events, &to, &WriteOptions::default()).unwrap();
        files.push(to);
    }
    files
}

#[test]
fn truncated_files_are_errors_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for file in sample_files(tmp.path()) {
        let data = std::fs::read(&file).unwrap();
        let n = data.len();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for cut in [
            0,
            1,
            4,
            6,
            8,
            12,
            64,
            n / 3,
            n / 2,
            n - 100,
            n - 12,
            n - 8,
            n - 4,
            n - 1,
        ] {
            // A misnamed file too: the format is found by content.
            let path = tmp.path().join(format!("cut{cut}-{name}"));
            std::fs::write(&path, &data[..cut]).unwrap();
            match exercise(&path, false) {
                Err(p) => cases.push(format!("{name} cut at {cut}: panic {p}")),
                Ok(Ok(_)) => cases.push(format!("{name} cut at {cut}: read as if whole")),
                Ok(Err(e)) => assert!(!e.contains('\n'), "{e}"),
            }
        }
    }
    assert!(cases.is_empty(), "{cases:#?}");
    // The command line: exit 1, one line.
    let data = std::fs::read(root().join("tests/fixtures/arrow/events.parquet")).unwrap();
    let path = tmp.path().join("half.parquet");
    std::fs::write(&path, &data[..data.len() / 2]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_akbuf"))
        .args(["show", path.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn damaged_footers_and_bodies_are_values_or_errors_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for file in sample_files(tmp.path()) {
        let data = std::fs::read(&file).unwrap();
        let n = data.len();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        // Every byte of the footer's end, a spread over the rest.
        let at: Vec<usize> = (n.saturating_sub(300)..n)
            .chain((0..n).step_by(997))
            .collect();
        for (i, &a) in at.iter().enumerate() {
            let mut d = data.clone();
            d[a] ^= 0xFF;
            let path = tmp.path().join(format!("{i}-{name}"));
            std::fs::write(&path, &d).unwrap();
            cases.push((format!("{name} byte {a} ^ 0xff"), path, false));
        }
    }
    let count = cases.len();
    let found = panics(cases);
    eprintln!("{count} damaged files, {} panics", found.len());
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn zero_rows_and_zero_columns_keep_their_shape() {
    let tmp = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int32, false),
        Field::new_list("y", Field::new("item", DataType::Float64, true), true),
    ]));
    let one = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(arrow_array::Int32Array::from(vec![1])) as ArrayRef,
            Arc::new(arrow_array::ListArray::from_iter_primitive::<
                arrow_array::types::Float64Type,
                _,
                _,
            >([Some(vec![Some(1.5)])])),
        ],
    )
    .unwrap();
    let empty = RecordBatch::new_empty(Arc::clone(&schema));
    // The same type as one row, length 0: as IPC without batches, with an
    // empty batch, and as Parquet without rows.
    ipc_file(
        &tmp.path().join("one.arrow"),
        std::slice::from_ref(&one),
        &schema,
    );
    ipc_file(&tmp.path().join("none.arrow"), &[], &schema);
    ipc_file(
        &tmp.path().join("empty.arrow"),
        std::slice::from_ref(&empty),
        &schema,
    );
    parquet_file(
        &tmp.path().join("one.parquet"),
        &[one],
        Arc::clone(&schema),
        10,
    );
    parquet_file(
        &tmp.path().join("empty.parquet"),
        &[empty],
        Arc::clone(&schema),
        10,
    );
    let one = open(tmp.path().join("one.arrow")).unwrap().type_string();
    let shape = one.trim_start_matches("1 * ").to_string();
    for name in ["none.arrow", "empty.arrow", "empty.parquet"] {
        let path = tmp.path().join(name);
        let a = open(&path).unwrap();
        assert_eq!(a.len(), 0, "{name}");
        assert_eq!(a.type_string(), format!("0 * {shape}"), "{name}");
        assert_eq!(a.to_json().unwrap(), "[]", "{name}");
        // Its copies keep the type.
        for to in ["copy", "copy.arrow", "copy.parquet"] {
            let out = tmp.path().join(format!("{name}-{to}"));
            write_to(&a, &out, &WriteOptions::default()).unwrap();
            assert_eq!(
                open(&out).unwrap().type_string(),
                a.type_string(),
                "{name} {to}"
            );
        }
    }
    // A batch of no columns keeps its row count (awkward's from_arrow
    // loses it): five empty records.
    let none = Arc::new(Schema::empty());
    let batch = RecordBatch::try_new_with_options(
        Arc::clone(&none),
        vec![],
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(5)),
    )
    .unwrap();
    let path = tmp.path().join("columnless.arrow");
    ipc_file(&path, &[batch.clone(), batch], &none);
    let a = open(&path).unwrap();
    assert_eq!(a.len(), 10);
    assert_eq!(a.to_json().unwrap(), format!("[{}]", ["{}"; 10].join(",")));
    let out = tmp.path().join("columnless-copy");
    write_to(&a, &out, &WriteOptions::default()).unwrap();
    assert_eq!(open(&out).unwrap().len(), 10);
}

#[test]
fn thousands_of_one_row_groups_open_and_read_in_bounded_time() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = 5000usize;
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int64, false),
        Field::new_list("y", Field::new("item", DataType::Float32, true), true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(arrow_array::Int64Array::from_iter_values(0..rows as i64)) as ArrayRef,
            Arc::new(arrow_array::ListArray::from_iter_primitive::<
                arrow_array::types::Float32Type,
                _,
                _,
            >(
                (0..rows).map(|i| Some(vec![Some(i as f32); i % 3]))
            )),
        ],
    )
    .unwrap();
    let many = tmp.path().join("many.parquet");
    let whole = tmp.path().join("whole.parquet");
    parquet_file(&many, std::slice::from_ref(&batch), Arc::clone(&schema), 1);
    parquet_file(&whole, &[batch], Arc::clone(&schema), rows);
    let started = std::time::Instant::now();
    let a = open(&many).unwrap();
    let opened = started.elapsed();
    assert_eq!(a.len(), rows);
    let json = a.to_json().unwrap();
    let read = started.elapsed();
    assert_eq!(json, open(&whole).unwrap().to_json().unwrap());
    let out = tmp.path().join("many-copy");
    write_to(&a, &out, &WriteOptions::default()).unwrap();
    let copied = started.elapsed();
    assert_eq!(open(&out).unwrap().to_json().unwrap(), json);
    eprintln!("{rows} one-row groups: open {opened:?}, all values {read:?}, copy {copied:?}");
}

/// A one-column IPC file whose field carries `metadata`.
fn with_field_metadata(path: &Path, array: ArrayRef, metadata: HashMap<String, String>) {
    let field = Field::new("x", array.data_type().clone(), true).with_metadata(metadata);
    let schema = Arc::new(Schema::new(vec![field]));
    let batch = RecordBatch::try_new(Arc::clone(&schema), vec![array]).unwrap();
    ipc_file(path, &[batch], &schema);
}

/// Arrays of many kinds (some awkward cannot represent).
fn arrays() -> Vec<(&'static str, ArrayRef)> {
    use arrow_array::*;
    let list = ListArray::from_iter_primitive::<types::Int32Type, _, _>([
        Some(vec![Some(1), None]),
        None,
        Some(vec![]),
    ]);
    let strct = StructArray::from(vec![
        (
            Arc::new(Field::new("a", DataType::Int8, true)),
            Arc::new(Int8Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("b", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![Some("x"), None, Some("zz")])) as ArrayRef,
        ),
    ]);
    let dict: DictionaryArray<types::Int16Type> =
        vec![Some("a"), None, Some("b")].into_iter().collect();
    let union = UnionArray::try_new(
        arrow_schema::UnionFields::try_new(
            [0, 1],
            [
                Field::new("i", DataType::Int32, false),
                Field::new("f", DataType::Float64, false),
            ],
        )
        .unwrap(),
        vec![0i8, 1, 0].into(),
        Some(vec![0i32, 0, 1].into()),
        vec![
            Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
            Arc::new(Float64Array::from(vec![0.5])),
        ],
    )
    .unwrap();
    vec![
        (
            "int32",
            Arc::new(Int32Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
        ),
        (
            "float16",
            Arc::new(Float16Array::from(vec![half::f16::from_f32(1.5); 3])),
        ),
        (
            "bool",
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        ),
        (
            "utf8",
            Arc::new(StringArray::from(vec![Some("a"), None, Some("é")])),
        ),
        (
            "large_utf8",
            Arc::new(LargeStringArray::from(vec!["a", "b", "c"])),
        ),
        (
            "utf8_view",
            Arc::new(StringViewArray::from(vec!["a", "bb", "ccc"])),
        ),
        (
            "binary",
            Arc::new(BinaryArray::from(vec![&b"\x00"[..], b"", b"\xff\xfe"])),
        ),
        (
            "fixed_binary",
            Arc::new(
                FixedSizeBinaryArray::try_from_iter([[1u8, 2], [3, 4], [5, 6]].into_iter())
                    .unwrap(),
            ),
        ),
        ("list", Arc::new(list)),
        ("struct", Arc::new(strct)),
        ("dictionary", Arc::new(dict)),
        ("union", Arc::new(union)),
        ("null", Arc::new(NullArray::new(3))),
        ("date32", Arc::new(Date32Array::from(vec![1, 2, 3]))),
        (
            "date64",
            Arc::new(Date64Array::from(vec![86_400_000, 0, -86_400_000])),
        ),
        ("time32", Arc::new(Time32SecondArray::from(vec![1, 2, 3]))),
        (
            "time64",
            Arc::new(Time64NanosecondArray::from(vec![1, 2, 3])),
        ),
        (
            "timestamp_tz",
            Arc::new(TimestampSecondArray::from(vec![1, 2, 3]).with_timezone("+01:00")),
        ),
        (
            "duration",
            Arc::new(DurationMillisecondArray::from(vec![1, 2, 3])),
        ),
        (
            "decimal",
            Arc::new(
                Decimal128Array::from(vec![1, 2, 3])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        (
            "run_end",
            Arc::new(
                RunArray::<types::Int32Type>::try_new(
                    &Int32Array::from(vec![2, 3]),
                    &Int64Array::from(vec![7, 8]),
                )
                .unwrap(),
            ),
        ),
    ]
}

/// `"awkward"` extension metadata that lies about or garbles the column.
fn lies() -> Vec<(&'static str, String)> {
    [
        ("garbage", "{not json"),
        ("a list", "[1, 2]"),
        ("a number", "5"),
        ("mask bytes", r#"{"mask_type": "ByteMaskedArray", "mask_parameters": null, "node_parameters": null}"#),
        ("mask bits", r#"{"mask_type": "BitMaskedArray"}"#),
        ("mask unmasked", r#"{"mask_type": "UnmaskedArray"}"#),
        ("mask indexed", r#"{"mask_type": "IndexedOptionArray"}"#),
        ("mask nonsense", r#"{"mask_type": "NoSuchArray", "mask_parameters": 7}"#),
        ("mask a number", r#"{"mask_type": 3}"#),
        ("string", r#"{"node_parameters": {"__array__": "string"}}"#),
        ("bytestring", r#"{"node_parameters": {"__array__": "bytestring"}}"#),
        ("char", r#"{"node_parameters": {"__array__": "char"}}"#),
        ("byte", r#"{"node_parameters": {"__array__": "byte"}}"#),
        ("categorical", r#"{"node_parameters": {"__array__": "categorical"}}"#),
        ("sorted_map", r#"{"node_parameters": {"__array__": "sorted_map"}}"#),
        ("array a number", r#"{"node_parameters": {"__array__": 5}}"#),
        ("record a list", r#"{"node_parameters": {"__record__": [1]}}"#),
        ("parameters a list", r#"{"node_parameters": [1, 2], "mask_parameters": "x"}"#),
        ("tuple", r#"{"record_is_tuple": true}"#),
        ("tuple a string", r#"{"record_is_tuple": "yes"}"#),
        ("nonnullable null", r#"{"is_nonnullable_nulltype": true}"#),
        ("everything", r#"{"mask_type": "BitMaskedArray", "node_parameters": {"__array__": "string", "__list__": 1}, "record_is_tuple": true, "is_nonnullable_nulltype": true}"#),
    ]
    .into_iter()
    .map(|(n, m)| (n, m.to_string()))
    .collect()
}

#[test]
fn lying_awkward_metadata_and_unrepresentable_columns_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for (kind, array) in arrays() {
        // The plain column first.
        let path = tmp.path().join(format!("{kind}.arrow"));
        with_field_metadata(&path, Arc::clone(&array), HashMap::new());
        cases.push((kind.to_string(), path, true));
        for (lie, meta) in lies() {
            let path = tmp
                .path()
                .join(format!("{kind}-{}.arrow", lie.replace(' ', "_")));
            let md = HashMap::from([
                ("ARROW:extension:name".to_string(), "awkward".to_string()),
                ("ARROW:extension:metadata".to_string(), meta),
            ]);
            with_field_metadata(&path, Arc::clone(&array), md);
            cases.push((format!("{kind} / {lie}"), path, true));
        }
    }
    let count = cases.len();
    let found = panics(cases);
    eprintln!(
        "{count} columns with lying metadata, {} panics",
        found.len()
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn lying_awkward_array_metadata_in_parquet_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    let trees = [
        "{not json",
        "[]",
        r#"{"x": 5}"#,
        r#"{"x": {"subfield_metadata": 5}}"#,
        r#"{"x": {"subfield_metadata": [1, 2, 3, 4, 5]}}"#,
        r#"{"x": {"subfield_metadata": [{"field_name": "nope", "mask_type": "IndexedOptionArray"}]}}"#,
        r#"{"x": {"option_type": "False", "mask_type": "ByteMaskedArray"}}"#,
        r#"{"x": {"node_parameters": {"__array__": "string"}}}"#,
        r#"{"x": {"node_parameters": {"__array__": "categorical"}, "record_is_tuple": true}}"#,
        r#"{"x": {"subfield_metadata": [{"node_parameters": {"__array__": "char"}}]}}"#,
    ];
    // (arrow-rs's Parquet writer panics on unions: not written.)
    for (kind, array) in arrays().into_iter().filter(|(k, _)| *k != "union") {
        let schema = Schema::new(vec![Field::new("x", array.data_type().clone(), true)]);
        let Ok(batch) = RecordBatch::try_new(Arc::new(schema.clone()), vec![array]) else {
            continue;
        };
        for (i, tree) in trees.iter().enumerate() {
            let with = Arc::new(schema.clone().with_metadata(HashMap::from([(
                "awkward_array_metadata".to_string(),
                tree.to_string(),
            )])));
            let Ok(batch) = batch.clone().with_schema(Arc::clone(&with)) else {
                continue;
            };
            let path = tmp.path().join(format!("{kind}-{i}.parquet"));
            let file = std::fs::File::create(&path).unwrap();
            // (arrow-rs's writer panics on types Parquet does not store.)
            let written = catch_unwind(AssertUnwindSafe(|| {
                let mut w =
                    parquet::arrow::ArrowWriter::try_new(file, Arc::clone(&with), None).ok()?;
                w.write(&batch).ok()?;
                w.close().ok()
            }));
            if !matches!(written, Ok(Some(_))) {
                continue;
            }
            cases.push((format!("{kind} / tree {i}"), path, true));
        }
    }
    let count = cases.len();
    let found = panics(cases);
    eprintln!(
        "{count} Parquet files with lying awkward_array_metadata, {} panics",
        found.len()
    );
    assert!(count > 50, "{count}");
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn copy_onto_an_existing_file_needs_force_and_replaces_only_when_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let events = root().join("data/events");
    let bad = common::case("strings_invalid_utf8");
    for name in ["old.arrow", "old.parquet"] {
        let dst = tmp.path().join(name);
        let old = b"the old bytes, which must survive".to_vec();
        std::fs::write(&dst, &old).unwrap();
        let copy = |src: &Path, force: bool| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_akbuf"));
            cmd.args(["copy", src.to_str().unwrap(), dst.to_str().unwrap()]);
            if force {
                cmd.arg("--force");
            }
            cmd.output().unwrap()
        };
        let listing = || {
            let mut l: Vec<_> = std::fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            l.sort();
            l
        };
        let before = listing();
        // Without --force: refused, the old bytes kept.
        let out = copy(&events, false);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(std::fs::read(&dst).unwrap(), old, "{name}");
        // With --force and a copy that fails half way (strings that are
        // not UTF-8 cannot go to Arrow): the old bytes kept, nothing left.
        let out = copy(&bad, true);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&dst).unwrap(), old, "{name}");
        assert_eq!(listing(), before, "{name}: no temporary left");
        // With --force and a good copy: replaced, complete.
        let out = copy(&events, true);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            open(&dst).unwrap().to_json().unwrap(),
            open(&events).unwrap().to_json().unwrap()
        );
        assert_eq!(listing(), before, "{name}: no temporary left");
    }
}
