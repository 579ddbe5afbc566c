//! Arrow export (feature `arrow`) against what awkward 2.14's `ak.to_arrow`
//! makes of every fixture (tests/fixtures/generate_arrow.py: Arrow IPC
//! files written by pyarrow, extension metadata included).
#![cfg(feature = "arrow")]

mod common;

use akbuf::ToArrowOptions;
use arrow_array::{Array as _, RecordBatch};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn arrow_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/arrow")
}

/// The one batch of a pyarrow-written IPC file.
fn read_ipc(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = arrow_ipc::reader::FileReader::try_new(file, None).unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    // pyarrow writes no batch for an empty table.
    assert!(batches.len() <= 1, "{}", path.display());
    batches
        .into_iter()
        .next()
        .unwrap_or_else(|| RecordBatch::new_empty(schema))
}

/// The cases akbuf does not export yet. Kept exact, so that a case that
/// starts or stops working is noticed.
const NOT_YET: &[&str] = &[];

/// Cases awkward converts into an array that arrow-rs holds invalid:
/// strings that are not UTF-8 (pyarrow does not check; arrow-rs must, a
/// `&str` over them would be undefined behaviour). akbuf refuses them.
const INVALID_IN_ARROW: &[&str] = &["strings_invalid_utf8"];

#[test]
fn every_fixture_exports_as_awkward_does() {
    let refused: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(arrow_dir().join("refused.json")).unwrap())
            .unwrap();
    let mut equal = 0;
    let mut special = 0;
    let mut not_yet = Vec::new();
    for (case, dir) in common::all_cases() {
        if case.starts_with("invalid_") {
            continue; // awkward calls them invalid: generate_arrow.py leaves them out
        }
        let array = akbuf::open(&dir).unwrap();
        let ours = array.to_arrow_field("x", &ToArrowOptions::default());
        if let Some(why) = refused.get(&case) {
            let err = ours
                .err()
                .unwrap_or_else(|| panic!("{case}: awkward refuses ({why}), akbuf exported it"));
            assert!(matches!(err, akbuf::Error::Unsupported(_)), "{case}: {err}");
            continue;
        }
        if INVALID_IN_ARROW.contains(&case.as_str()) {
            let err = ours
                .err()
                .unwrap_or_else(|| panic!("{case}: exported invalid data"));
            assert!(err.to_string().contains("UTF8"), "{case}: {err}");
            continue;
        }
        let (field, values) = match ours {
            Ok(x) => x,
            Err(akbuf::Error::Unsupported(m)) if m.contains("yet") => {
                eprintln!("{case}: {m}");
                not_yet.push(case.clone());
                continue;
            }
            Err(e) => panic!("{case}: {e}"),
        };
        let theirs = read_ipc(&arrow_dir().join(format!("{case}.arrow")));
        let their_field = theirs.schema().field(0).clone();
        assert_eq!(field.data_type(), their_field.data_type(), "{case}: types");
        assert_eq!(
            field.metadata(),
            their_field.metadata(),
            "{case}: extension metadata"
        );
        assert_eq!(
            values.to_data(),
            theirs.column(0).to_data(),
            "{case}: values"
        );
        // The other options: 32-bit offsets where they fit, no extension metadata.
        let opts_file = arrow_dir().join(format!("{case}.opts.arrow"));
        if opts_file.exists() {
            let mut options = ToArrowOptions::default();
            options.list_to32 = true;
            options.string_to32 = true;
            options.bytestring_to32 = true;
            options.extensionarray = false;
            let (field, values) = array.to_arrow_field("x", &options).unwrap();
            let theirs = read_ipc(&opts_file);
            let their_field = theirs.schema().field(0).clone();
            assert_eq!(
                field.data_type(),
                their_field.data_type(),
                "{case}: types (options)"
            );
            assert_eq!(
                field.metadata(),
                their_field.metadata(),
                "{case}: metadata (options)"
            );
            assert_eq!(
                values.to_data(),
                theirs.column(0).to_data(),
                "{case}: values (options)"
            );
        }
        // Categorical dictionaries and EmptyArray as float64, where they occur.
        for (suffix, options) in [
            ("dict", {
                let mut o = ToArrowOptions::default();
                o.categorical_as_dictionary = true;
                o
            }),
            ("empty", {
                let mut o = ToArrowOptions::default();
                o.emptyarray_to = Some(akbuf::Primitive::Float64);
                o
            }),
        ] {
            let file = arrow_dir().join(format!("{case}.{suffix}.arrow"));
            if !file.exists() {
                continue;
            }
            let (field, values) = array.to_arrow_field("x", &options).unwrap();
            let theirs = read_ipc(&file);
            let their_field = theirs.schema().field(0).clone();
            assert_eq!(
                field.data_type(),
                their_field.data_type(),
                "{case}: types ({suffix})"
            );
            assert_eq!(
                field.metadata(),
                their_field.metadata(),
                "{case}: metadata ({suffix})"
            );
            assert_eq!(
                values.to_data(),
                theirs.column(0).to_data(),
                "{case}: values ({suffix})"
            );
            special += 1;
        }
        // The table: columns, their fields and the schema's ak:parameters.
        let ours = array.to_record_batch(&ToArrowOptions::default()).unwrap();
        let theirs = read_ipc(&arrow_dir().join(format!("{case}.table.arrow")));
        assert_eq!(ours.schema(), theirs.schema(), "{case}: table schema");
        for i in 0..ours.num_columns() {
            assert_eq!(
                ours.column(i).to_data(),
                theirs.column(i).to_data(),
                "{case}: column {i}"
            );
        }
        equal += 1;
    }
    eprintln!("{equal} fixtures equal to awkward's to_arrow; not yet: {not_yet:?}");
    assert_eq!(not_yet, NOT_YET, "the cases not exported yet changed");
    assert!(equal >= 130, "only {equal} fixtures exported");
    assert_eq!(special, 10, "categorical and empty cases compared");
}

#[test]
fn the_sample_as_a_record_batch_equals_ak_to_arrow_table() {
    let events = akbuf::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events")).unwrap();
    let ours = events.to_record_batch(&ToArrowOptions::default()).unwrap();
    let theirs = read_ipc(&arrow_dir().join("events_table.arrow"));
    assert_eq!(ours.num_columns(), theirs.num_columns());
    assert_eq!(ours.schema(), theirs.schema());
    for i in 0..ours.num_columns() {
        assert_eq!(ours.column(i).to_data(), theirs.column(i).to_data());
    }
}

#[test]
fn numbers_offsets_and_strings_share_akbuf_memory() {
    let events = akbuf::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events")).unwrap();
    let pt = events.field_path("jets.pt").unwrap();
    let ours = pt.to_arrow(&ToArrowOptions::default()).unwrap();
    let data = ours.to_data();
    // The offsets and the values are the mapped buffers themselves.
    let offsets = pt.offsets::<i64>().unwrap();
    assert_eq!(
        data.buffers()[0].as_ptr(),
        offsets.as_slice().as_ptr() as *const u8
    );
    let values = pt.content().unwrap().values::<f32>().unwrap();
    assert_eq!(
        data.child_data()[0].buffers()[0].as_ptr(),
        values.as_slice().as_ptr() as *const u8
    );
}

#[test]
fn arrow_ipc_files_are_written_whole_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let events = akbuf::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events")).unwrap();
    let out = tmp.path().join("events.arrow");
    assert_eq!(
        akbuf::write_arrow_ipc(&events, &out, &ToArrowOptions::default()).unwrap(),
        1000
    );
    // Never over an existing file.
    let err = akbuf::write_arrow_ipc(&events, &out, &ToArrowOptions::default()).unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
    // A conversion that fails leaves nothing behind, no temporary file either.
    let bad = akbuf::open(common::case("strings_invalid_utf8")).unwrap();
    let out2 = tmp.path().join("bad.arrow");
    assert!(akbuf::write_arrow_ipc(&bad, &out2, &ToArrowOptions::default()).is_err());
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("events.arrow")]);
    // What was written reads back as the table.
    let back = read_ipc(&out);
    let ours = events.to_record_batch(&ToArrowOptions::default()).unwrap();
    assert_eq!(back.schema(), ours.schema());
    assert_eq!(back.num_rows(), 1000);
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_files_hold_the_table_and_its_metadata() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let tmp = tempfile::tempdir().unwrap();
    let events = akbuf::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events")).unwrap();
    let out = tmp.path().join("events.parquet");
    assert_eq!(
        akbuf::write_parquet(&events, &out, &ToArrowOptions::default()).unwrap(),
        1000
    );
    let ours = events.to_record_batch(&ToArrowOptions::default()).unwrap();
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap()).unwrap();
    // ak.from_parquet finds ak:parameters among the file's key-values.
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .clone();
    assert!(kv.iter().any(|k| k.key == "ak:parameters"
        && k.value.as_deref() == Some(ours.schema().metadata()["ak:parameters"].as_str())));
    let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
    let back = arrow_select_concat(&batches);
    assert_eq!(back.num_rows(), 1000);
    for i in 0..ours.num_columns() {
        assert_eq!(
            back.schema().field(i).metadata(),
            ours.schema().field(i).metadata()
        );
        assert_eq!(
            back.column(i).to_data(),
            ours.column(i).to_data(),
            "column {i}"
        );
    }
    // Unions are refused, and nothing is left.
    let unions = akbuf::open(common::case("union_i32")).unwrap();
    let err = akbuf::write_parquet(
        &unions,
        tmp.path().join("u.parquet"),
        &ToArrowOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unions"), "{err}");
    assert!(!tmp.path().join("u.parquet").exists());
}

/// The one batch a small file reads as.
#[cfg(feature = "parquet")]
fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert_eq!(batches.len(), 1);
    batches[0].clone()
}

/// Row slices (what the IPC and Parquet writers export step by step) give
/// the rows of the whole array's export.
#[test]
fn slices_export_the_rows_of_the_whole() {
    let mut checked = 0;
    for (case, dir) in common::all_cases() {
        if case.starts_with("invalid_") {
            continue; // awkward calls them invalid: generate_arrow.py leaves them out
        }
        // datetime64[2D]: awkward hands its int64 bytes to date32 as they
        // are, so rows are not elements (a slice of the array starts 8
        // bytes in, a slice of the arrow array 4).
        if INVALID_IN_ARROW.contains(&case.as_str()) || case == "numpy_datetime64_2D" {
            continue;
        }
        // Its whole ListArray is carried (lazily: a ByteMaskedArray over
        // records becomes an IndexedOptionArray and drops its null
        // parameters) where the one-row slice is contiguous and is not: in
        // awkward too, the slice's Arrow type is not the whole's.
        if case == "pack_null_parameters_carried_record" {
            continue;
        }
        let array = akbuf::open(&dir).unwrap();
        let Ok(whole) = array.to_arrow(&ToArrowOptions::default()) else {
            continue;
        };
        let n = array.len();
        if n < 3 {
            continue;
        }
        let part = match array
            .slice(1..n - 1)
            .unwrap()
            .to_arrow(&ToArrowOptions::default())
        {
            Ok(p) => p,
            // Rows all missing over an empty content: awkward fails there too.
            Err(e) if e.to_string().contains("awkward cannot either") => continue,
            Err(e) => panic!("{case}: {e}"),
        };
        assert_eq!(part.data_type(), whole.data_type(), "{case}");
        assert_eq!(part.to_data(), whole.slice(1, n - 2).to_data(), "{case}");
        checked += 1;
    }
    assert!(checked >= 80, "{checked}");
}

/// A form's JSON without its form keys (awkward's forms here have none).
fn keyless(form_json: &str) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.insert("form_key".into(), serde_json::Value::Null);
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(form_json).unwrap();
    strip(&mut v);
    v
}

/// What `ak.from_arrow` made of every file (tests/fixtures/arrow/from_arrow.json).
fn from_arrow_expected() -> BTreeMap<String, serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(arrow_dir().join("from_arrow.json")).unwrap())
        .unwrap()
}

/// Compares an imported array with awkward's result; a difference is
/// pushed onto `failures`.
fn same_as_awkward(
    name: &str,
    got: akbuf::Result<akbuf::Array>,
    want: &serde_json::Value,
    failures: &mut Vec<String>,
) {
    let got = match got {
        Ok(a) => a,
        Err(e) => return failures.push(format!("{name}: {e}")),
    };
    if got.type_string() != want["type"].as_str().unwrap() {
        failures.push(format!(
            "{name}: type\n  got  {}\n  want {}",
            got.type_string(),
            want["type"]
        ));
    }
    match got.to_json() {
        Ok(j) if j == want["json"].as_str().unwrap() => {}
        Ok(j) => failures.push(format!("{name}: json\n  got  {j}\n  want {}", want["json"])),
        Err(e) => failures.push(format!("{name}: to_json: {e}")),
    }
    if keyless(&got.form().to_json()) != keyless(want["form"].as_str().unwrap()) {
        failures.push(format!(
            "{name}: form\n  got  {}\n  want {}",
            got.form().to_json(),
            want["form"]
        ));
    }
    if let Err(e) = got.validate() {
        failures.push(format!("{name}: invalid: {e}"));
    }
}

/// Where akbuf's import differs from awkward's, kept exact so that a change
/// is noticed: awkward's `UnionArray.simplified` merges a union of int64
/// and float64 into float64; akbuf keeps the union (the same numbers).
const IMPORT_DIFFERS: &[&str] = &[
    "params_union.arrow",
    "params_union.opts.arrow",
    "params_union.table.arrow",
];

#[test]
fn every_arrow_file_imports_as_ak_from_arrow_does() {
    let expected = from_arrow_expected();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, want) in &expected {
        if !name.ends_with(".arrow")
            || name == "plain.arrow"
            || want.get("error").is_some()
            || INVALID_IN_ARROW
                .iter()
                .any(|c| name.starts_with(&format!("{c}.")))
        {
            continue;
        }
        if IMPORT_DIFFERS.contains(&name.as_str()) {
            let batch = read_ipc(&arrow_dir().join(name));
            let got = akbuf::Array::from_record_batch(&batch).unwrap();
            assert!(
                got.type_string().contains("union["),
                "{name}: {}",
                got.type_string()
            );
            continue;
        }
        let batch = read_ipc(&arrow_dir().join(name));
        let got = if name.ends_with(".table.arrow") || name == "events_table.arrow" {
            akbuf::Array::from_record_batch(&batch)
        } else {
            let schema = batch.schema();
            akbuf::Array::from_arrow_field(schema.field(0), batch.column(0).as_ref())
        };
        same_as_awkward(name, got, want, &mut failures);
        checked += 1;
    }
    assert!(checked > 400, "{checked}");
    assert!(
        failures.is_empty(),
        "{} of {checked} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Opens a file with a cache that records every key read.
fn open_observed(path: &Path) -> (akbuf::Array, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = keys.clone();
    let cache = akbuf::Cache::new().with_observer(move |e: &akbuf::ReadEvent<'_>| {
        seen.lock().unwrap().push(e.key.to_string());
    });
    let options = akbuf::Options::default().with_cache(std::sync::Arc::new(cache));
    (akbuf::open_with(path, options).unwrap(), keys)
}

/// Files pyarrow and awkward wrote, opened by akbuf, against what
/// `ak.from_parquet` / `ak.from_arrow` make of them: the same type and
/// values; the same form where the file's validity buffers do not depend
/// on pyarrow's choices (awkward's option is a BitMaskedArray when pyarrow
/// kept a validity bitmap, else an UnmaskedArray; akbuf's always the
/// former, as awkward gives a table's form).
#[test]
#[cfg(feature = "parquet")]
fn parquet_and_arrow_files_open_as_awkward_reads_them() {
    let expected = from_arrow_expected();
    for name in [
        "plain.parquet",
        "plain_one.parquet",
        "plain.arrow",
        "events.parquet",
        "events_table.arrow",
    ] {
        let want = &expected[name];
        let (array, keys) = open_observed(&arrow_dir().join(name));
        assert!(keys.lock().unwrap().is_empty(), "{name}: opening read");
        assert_eq!(
            array.type_string(),
            want["type"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            array.to_json().unwrap(),
            want["json"].as_str().unwrap(),
            "{name}"
        );
        array.validate().unwrap();
        if name.starts_with("events") {
            assert_eq!(
                keyless(&array.form().to_json()),
                keyless(want["form"].as_str().unwrap()),
                "{name}"
            );
        }
        // Every key read once.
        let keys = keys.lock().unwrap();
        let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "{name}: a key read twice");
    }
    // Row groups and batches are the partitions.
    let plain = akbuf::open(arrow_dir().join("plain.parquet")).unwrap();
    assert_eq!(plain.partition_lengths(), vec![1000, 1000, 500]);
    let batches = akbuf::open(arrow_dir().join("plain.arrow")).unwrap();
    assert_eq!(batches.partition_lengths(), vec![900, 900, 700]);
}

/// A field of a Parquet file reads only that column's keys, of the row
/// groups its rows lie in.
#[test]
#[cfg(feature = "parquet")]
fn a_parquet_field_reads_only_its_column() {
    let (array, keys) = open_observed(&arrow_dir().join("plain.parquet"));
    let s = array.field("s").unwrap();
    let form = s.form().to_json();
    let all: serde_json::Value = serde_json::from_str(
        from_arrow_expected()["plain.parquet"]["json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    for row in [1001, 1500] {
        let got: serde_json::Value = serde_json::from_str(&s.get(row).unwrap().to_json()).unwrap();
        assert_eq!(got, all[row]["s"], "row {row}");
    }
    let read = keys.lock().unwrap().clone();
    // The option's mask, the offsets and the characters of row group 1.
    assert_eq!(read.len(), 3, "{read:?}");
    for k in &read {
        assert!(k.starts_with("part1-"), "{k}");
        let node = k.split('-').nth(1).unwrap();
        assert!(
            form.contains(&format!("\"{node}\"")),
            "{k} is not a key of s: {form}"
        );
    }
}

/// `copy in.parquet out/` and `copy in.arrow out/` write one piece that
/// reads back as the file does.
#[test]
#[cfg(feature = "parquet")]
fn arrow_and_parquet_files_copy_into_one_piece_containers() {
    let expected = from_arrow_expected();
    let tmp = tempfile::tempdir().unwrap();
    for name in ["plain.parquet", "plain.arrow", "events.parquet"] {
        let array = akbuf::open(arrow_dir().join(name)).unwrap();
        let out = tmp.path().join(name.replace('.', "_"));
        akbuf::write_dir(
            &array,
            &out,
            &akbuf::WriteOptions::default().with_one_piece(true),
        )
        .unwrap();
        let meta = akbuf::read_metadata(&out).unwrap();
        assert!(meta.partitions.is_none(), "{name}");
        let back = akbuf::open(&out).unwrap();
        let want = &expected[name];
        assert_eq!(back.type_string(), want["type"].as_str().unwrap(), "{name}");
        assert_eq!(
            back.to_json().unwrap(),
            want["json"].as_str().unwrap(),
            "{name}"
        );
        back.validate().unwrap();
    }
}

/// Hostile files: errors, never a panic.
#[test]
#[cfg(feature = "parquet")]
fn damaged_arrow_and_parquet_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["plain.parquet", "plain.arrow"] {
        let good = std::fs::read(arrow_dir().join(name)).unwrap();
        let ext = name.rsplit('.').next().unwrap();
        let mut cases: Vec<Vec<u8>> = vec![Vec::new(), good[..good.len() / 2].to_vec()];
        // Bytes flipped across the file, the footer included.
        for at in (0..good.len()).step_by(good.len() / 150 + 1) {
            let mut bad = good.clone();
            bad[at] ^= 0x5a;
            cases.push(bad);
        }
        let tail = good.len() - 12;
        let mut bad = good.clone();
        bad[tail..tail + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
        cases.push(bad);
        for (i, bytes) in cases.into_iter().enumerate() {
            let path = tmp.path().join(format!("bad{i}.{ext}"));
            std::fs::write(&path, bytes).unwrap();
            let result = std::panic::catch_unwind(|| {
                let a = akbuf::open(&path)?;
                a.validate()?;
                a.to_json()
            });
            assert!(result.is_ok(), "{name} case {i} panicked");
        }
    }
}

/// `value` (awkward's JSON of one row) projected to a field path through
/// lists and missing values, as `array.a.b` projects.
fn project_json(value: &serde_json::Value, path: &[&str]) -> serde_json::Value {
    match (value, path.split_first()) {
        (_, None) => value.clone(),
        (serde_json::Value::Array(items), Some(_)) => {
            serde_json::Value::Array(items.iter().map(|v| project_json(v, path)).collect())
        }
        (serde_json::Value::Object(m), Some((first, rest))) => project_json(&m[*first], rest),
        (other, Some(_)) => other.clone(),
    }
}

/// Flattened leaves hold awkward's values of each path, and the flat
/// RecordBatch has them as columns (every fixture with records).
#[test]
fn leaves_and_the_flat_batch_hold_each_paths_values() {
    let mut checked = 0;
    for (case, dir) in common::all_cases() {
        if case.starts_with("invalid_") {
            continue; // awkward calls them invalid: generate_arrow.py leaves them out
        }
        let array = akbuf::open(&dir).unwrap();
        // (Tuples are JSON arrays, which the projection here takes for lists.)
        let form = array.form().to_json();
        if array.fields().is_empty()
            || form.contains("UnionArray")
            || form.contains("\"fields\": null")
        {
            continue;
        }
        let want: Vec<serde_json::Value> =
            serde_json::from_str(&common::expected(&dir).json).unwrap();
        let Ok(leaves) = array.leaves() else { continue };
        // Each leaf's field names, walked as `leaves` walks them (a name
        // may itself hold a dot).
        fn names(a: &akbuf::Array, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
            let fields = a.fields();
            if fields.is_empty() {
                return out.push(prefix);
            }
            for f in fields {
                let mut p = prefix.clone();
                p.push(f.clone());
                names(&a.field(&f).unwrap(), p, out);
            }
        }
        let mut all = Vec::new();
        names(&array, Vec::new(), &mut all);
        assert_eq!(all.len(), leaves.len(), "{case}");
        for ((path, leaf), parts) in leaves.iter().zip(&all) {
            assert_eq!(path, &parts.join("."), "{case}");
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let got: serde_json::Value = serde_json::from_str(&leaf.to_json().unwrap()).unwrap();
            let expect: Vec<serde_json::Value> =
                want.iter().map(|r| project_json(r, &parts)).collect();
            assert_eq!(got, serde_json::Value::Array(expect), "{case}: {path}");
        }
        if let Ok(flat) = array.to_flat_record_batch(&ToArrowOptions::default()) {
            assert_eq!(flat.num_columns(), leaves.len(), "{case}");
            assert_eq!(flat.num_rows(), array.len(), "{case}");
            for (i, (path, _)) in leaves.iter().enumerate() {
                assert_eq!(flat.schema().field(i).name(), path, "{case}");
            }
        }
        checked += 1;
    }
    assert!(checked > 20, "{checked}");
}
