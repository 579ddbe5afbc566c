//! The command line given files it must not trust (issue 33): a damaged
//! Arrow IPC file is one line and exit 1, never a panic's report; what a
//! file or a query holds is exit 1, not a usage error (exit 2); `sql
//! --timeout` ends the query; a table of more rows than a query engine
//! counts is refused; a query's data error names the buffer key.
#![cfg(all(feature = "cli", feature = "datafusion"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Instant;

fn akbuf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_akbuf"))
        .args(args)
        // A caught panic's report stays off the terminal, backtraces
        // asked for or not.
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Exit 1 and one line on stderr, naming `what`.
fn one_line_error(o: &Output, what: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(what), "{what:?} not in {err}");
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/arrow/events.arrow` with one byte changed.
fn damaged_ipc(dir: &Path, name: &str, at: usize, byte: u8) -> String {
    let mut data = std::fs::read(root().join("tests/fixtures/arrow/events.arrow")).unwrap();
    data[at] = byte;
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_damaged_arrow_file_is_one_line_never_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    // A record batch whose first buffer lies far past its body (arrow-rs
    // slices it and panics), and schemas with types arrow-rs panics on.
    let body = damaged_ipc(tmp.path(), "body.arrow", 5852, 0x7F);
    for args in [
        vec!["show", body.as_str()],
        vec!["validate", body.as_str()],
        vec![
            "sql",
            body.as_str(),
            "SELECT count(*), sum(\"x.met\") FROM body",
        ],
    ] {
        one_line_error(&akbuf(&args), "outside the 5184-byte body");
    }
    for (at, what) in [
        (13358, "a Int type arrow-rs cannot read"),
        (13367, "which arrow-rs does not read"),
    ] {
        let file = damaged_ipc(tmp.path(), &format!("schema{at}.arrow"), at, 0x7F);
        one_line_error(&akbuf(&["show", &file]), what);
        one_line_error(&akbuf(&["sql", &file, "SELECT 1"]), what);
    }
}

/// An Arrow IPC file of one column.
fn ipc_file(dir: &Path, name: &str, array: arrow_array::ArrayRef) -> String {
    let batch = arrow_array::RecordBatch::try_from_iter([("x", array)]).unwrap();
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn what_a_file_holds_is_exit_1_not_a_usage_error() {
    use arrow_array::builder::{Int32Builder, MapBuilder, StringBuilder};
    let tmp = tempfile::tempdir().unwrap();
    let decimal = arrow_array::Decimal128Array::from(vec![1, 2])
        .with_precision_and_scale(10, 2)
        .unwrap();
    let interval = arrow_array::IntervalYearMonthArray::from(vec![1, 2]);
    let mut map = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    map.keys().append_value("a");
    map.values().append_value(1);
    map.append(true).unwrap();
    let files = [
        ipc_file(tmp.path(), "decimal.arrow", Arc::new(decimal)),
        ipc_file(tmp.path(), "interval.arrow", Arc::new(interval)),
        ipc_file(tmp.path(), "map.arrow", Arc::new(map.finish())),
    ];
    for f in &files {
        for cmd in ["show", "copy"] {
            let out = tmp.path().join("out");
            let args = match cmd {
                "copy" => vec![cmd, f.as_str(), out.to_str().unwrap()],
                _ => vec![cmd, f.as_str()],
            };
            one_line_error(&akbuf(&args), "cannot convert");
            assert!(!out.exists());
        }
    }
    // Strings that are not UTF-8 cannot go to Arrow.
    let bad = common::case("strings_invalid_utf8");
    let out = tmp.path().join("bad.arrow");
    one_line_error(
        &akbuf(&["copy", bad.to_str().unwrap(), out.to_str().unwrap()]),
        "UTF8",
    );
    assert!(!out.exists());
    // Command-line mistakes stay exit 2.
    assert_eq!(
        akbuf(&["sql", "x", "SELECT 1", "--timeout", "soon"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        akbuf(&["show", "x", "--request-timeout", "-1"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn sql_timeout_ends_the_query_with_exit_1() {
    let events = root().join("data/events");
    let events = events.to_str().unwrap();
    // A cross join of 10^12 rows: it would run for hours.
    let started = Instant::now();
    let o = akbuf(&[
        "sql",
        events,
        "SELECT count(*) FROM events a, events b, events c, events d WHERE a.met + b.met + c.met + d.met > -1",
        "--timeout",
        "1",
    ]);
    eprintln!("sql --timeout 1 returned after {:?}", started.elapsed());
    one_line_error(&o, "did not finish in 1 s");
}

#[test]
fn a_table_of_more_rows_than_an_engine_counts_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("huge");
    std::fs::create_dir(&dir).unwrap();
    let quarter = 1u64 << 62;
    std::fs::write(
        dir.join("metadata.json"),
        format!(
            r#"{{"form": {{"class": "NumpyArray", "primitive": "float64", "form_key": "node0"}}, "length": [{quarter}, {quarter}, {quarter}]}}"#
        ),
    )
    .unwrap();
    let o = akbuf(&["sql", dir.to_str().unwrap(), "SELECT count(*) FROM huge"]);
    one_line_error(&o, "table huge");
    assert!(
        stderr(&o).contains("13835058055282163712 rows"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_data_error_in_a_query_names_the_buffer_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("events");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(root().join("data/events")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    // The jets offsets (node4) decrease at list 2.
    let key = "node4-offsets";
    let mut offsets = std::fs::read(dir.join(key)).unwrap();
    offsets[16..24].copy_from_slice(&1_000_000i64.to_le_bytes());
    std::fs::write(dir.join(key), offsets).unwrap();
    let o = akbuf(&[
        "sql",
        dir.to_str().unwrap(),
        r#"SELECT sum(pt) FROM (SELECT unnest("jets.pt") AS pt FROM events)"#,
    ]);
    one_line_error(&o, key);
    assert!(stderr(&o).contains("/jets"), "{}", stderr(&o));
}

#[test]
fn bad_queries_are_one_line_naming_the_table() {
    let events = root().join("data/events");
    let events = events.to_str().unwrap();
    for (query, says) in [
        ("SELECT nope FROM events", "nope"),
        ("SELEC 1", "SELEC"),
        ("SELECT run / 0 FROM events", "Divide by zero"),
        ("SELECT CAST(met AS INT) % 0 FROM events", "by zero"),
        ("SELECT * FROM elsewhere", "elsewhere"),
        ("SELECT unnest(run) FROM events", "unnest"),
        ("", "query"),
    ] {
        let o = akbuf(&["sql", events, query]);
        one_line_error(&o, says);
        one_line_error(&o, "events (");
    }
    // Two tables: both named.
    let o = akbuf(&[
        "sql",
        "--table",
        &format!("a={events}"),
        "--table",
        &format!("b={events}"),
        "SELECT a.run / 0 FROM a JOIN b ON a.run = b.run",
    ]);
    one_line_error(&o, "a (");
    one_line_error(&o, "b (");
}

#[test]
fn a_data_error_under_a_query_names_the_table_and_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("events");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(root().join("data/events")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    // met's data (node3) cut short, and then missing.
    let key = "node3-data";
    std::fs::write(dir.join(key), [0u8; 10]).unwrap();
    let o = akbuf(&["sql", dir.to_str().unwrap(), "SELECT sum(met) FROM events"]);
    one_line_error(&o, key);
    one_line_error(&o, "events (");
    std::fs::remove_file(dir.join(key)).unwrap();
    let o = akbuf(&["sql", dir.to_str().unwrap(), "SELECT sum(met) FROM events"]);
    one_line_error(&o, key);
    // A query that does not touch it still runs.
    let o = akbuf(&["sql", dir.to_str().unwrap(), "SELECT sum(run) FROM events"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
