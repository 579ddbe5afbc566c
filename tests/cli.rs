//! The command-line tool: output, exit status and one-line errors.

mod common;

use common::*;
use std::process::{Command, Output};

fn akbuf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_akbuf"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn show_type_and_form_print_what_awkward_does() {
    for name in [
        "events",
        "union_mixed",
        "strings",
        "bigendian",
        "custom_keys",
        "chars_top",
        "bytes_top",
        "numpy_float16",
        "deep_30",
    ] {
        let dir = case(name);
        let want = expected(&dir);
        let path = dir.to_str().unwrap();
        let o = akbuf(&["show", path]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{}\n", want.json), "{name}");
        let o = akbuf(&["type", path]);
        assert_eq!(stdout(&o), format!("{}\n", want.type_), "{name}");
        let o = akbuf(&["form", path]);
        assert_eq!(stdout(&o), format!("{}\n", want.form), "{name}");
    }
}

#[test]
fn fields_and_trace() {
    let dir = case("events");
    let path = dir.to_str().unwrap();
    let o = akbuf(&["type", path, "--field", "jets", "--field", "pt"]);
    assert_eq!(stdout(&o), "50 * var * float32\n");
    let o = akbuf(&[
        "show", path, "--field", "muons", "--field", "charge", "--trace",
    ]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("[[],[1,1,1],[-1,-1],"),
        "{}",
        stdout(&o)
    );
    let size = |k: &str| std::fs::metadata(dir.join(k)).unwrap().len();
    assert_eq!(
        stderr(&o),
        format!(
            "read node10-offsets {}\nread node13-data {}\n",
            size("node10-offsets"),
            size("node13-data")
        )
    );
    // A field name is taken literally: dots and spaces included.
    let o = akbuf(&[
        "show",
        case("record_fieldnames").to_str().unwrap(),
        "--field",
        "a b",
    ]);
    assert_eq!(stdout(&o), "[4]\n");
    // Tuple slots by number.
    let o = akbuf(&["show", case("tuple").to_str().unwrap(), "--field", "1"]);
    assert_eq!(stdout(&o), "[\"a\",\"bc\"]\n");
}

#[test]
fn info_lists_buffers_without_reading() {
    let dir = case("events");
    let o = akbuf(&["info", dir.to_str().unwrap()]);
    assert!(o.status.success());
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "length 50");
    assert_eq!(lines.len(), 1 + 11 + 1, "{out}");
    let size = std::fs::metadata(dir.join("node6-data")).unwrap().len();
    assert!(
        lines.contains(&format!("buffer node6-data float32 {size}").as_str()),
        "{out}"
    );
    assert!(
        lines.last().unwrap().starts_with("total 11 buffers "),
        "{out}"
    );
}

fn assert_one_line_error(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{err} lacks {needle}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn errors_exit_1_with_one_line() {
    let o = akbuf(&["show", "/nonexistent/container"]);
    assert_one_line_error(&o, "/nonexistent/container");
    let events = case("events");
    let o = akbuf(&[
        "show",
        events.to_str().unwrap(),
        "--field",
        "jets",
        "--field",
        "nope",
    ]);
    assert_one_line_error(&o, "no field \"nope\"");

    // A container with a truncated buffer and one with a missing buffer.
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&events).unwrap() {
        let e = entry.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let pt = tmp.path().join("node6-data");
    let len = std::fs::metadata(&pt).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&pt)
        .unwrap()
        .set_len(len - 4)
        .unwrap();
    std::fs::remove_file(tmp.path().join("node3-data")).unwrap();
    let path = tmp.path().to_str().unwrap();
    let o = akbuf(&["show", path, "--field", "jets", "--field", "pt"]);
    assert_one_line_error(&o, &format!("buffer \"node6-data\" of NumpyArray at /jets/[]/pt is too short: expected at least {len} bytes, got {}", len - 4));
    let o = akbuf(&["show", path, "--field", "met"]);
    assert_one_line_error(&o, "missing buffer \"node3-data\" for NumpyArray at /met");
    // info still works, and says what is missing.
    let o = akbuf(&["info", path]);
    assert!(stdout(&o).contains("buffer node3-data float32 missing"));

    // Bad metadata.
    std::fs::write(
        tmp.path().join("metadata.json"),
        r#"{"form": {"class": "Nope"}, "length": 3}"#,
    )
    .unwrap();
    assert_one_line_error(
        &akbuf(&["type", path]),
        "input class: 'Nope' was not recognised",
    );
    std::fs::write(
        tmp.path().join("metadata.json"),
        r#"{"form": "int64", "length": -3}"#,
    )
    .unwrap();
    assert_one_line_error(
        &akbuf(&["type", path]),
        "\"length\" must be a non-negative integer",
    );
    std::fs::write(tmp.path().join("metadata.json"), "{not json").unwrap();
    assert_one_line_error(&akbuf(&["form", path]), "not valid JSON");
}

#[test]
fn what_a_container_holds_is_never_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("events");
    std::fs::create_dir(&dir).unwrap();
    for e in std::fs::read_dir(case("events")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let meta = std::fs::read_to_string(dir.join("metadata.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&meta).unwrap();
    v["buffer_key"] = "{form_key}-{attribute}-{bogus}".into();
    std::fs::write(dir.join("metadata.json"), v.to_string()).unwrap();
    let o = akbuf(&["show", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("buffer_key"), "{}", stderr(&o));
    // `--field ''` is a field named "", not the whole array.
    let o = akbuf(&["show", case("events").to_str().unwrap(), "--field", ""]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no field"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(akbuf(&[]).status.code(), Some(2));
    assert_eq!(akbuf(&["show"]).status.code(), Some(2));
    assert_eq!(akbuf(&["frobnicate", "x"]).status.code(), Some(2));
    assert_eq!(akbuf(&["show", "x", "--bogus"]).status.code(), Some(2));
    assert_eq!(akbuf(&["--help"]).status.code(), Some(0));
}

#[test]
fn copy_writes_a_container_that_reads_back_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let src = case("events");
    let src = src.to_str().unwrap();
    let want = expected(&case("events"));
    for (i, extra) in [
        &[][..],
        &["--packed"][..],
        &["--byteorder", ">", "--form-key", "f{id}", "--id-start", "3"][..],
        &["--buffer-key", "{form_key}.{attribute}"][..],
    ]
    .iter()
    .enumerate()
    {
        let dst = tmp.path().join(format!("copy{i}"));
        let dst = dst.to_str().unwrap();
        let mut args = vec!["copy", src, dst];
        args.extend_from_slice(extra);
        let o = akbuf(&args);
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        // Not a terminal: no progress bar, nothing on stderr.
        assert_eq!(stderr(&o), "", "{extra:?}");
        let o = akbuf(&["show", dst]);
        assert_eq!(stdout(&o), format!("{}\n", want.json), "{extra:?}");
    }
    let meta = std::fs::read_to_string(tmp.path().join("copy2/metadata.json")).unwrap();
    assert!(meta.contains(r#""byteorder": ">""#) && meta.contains(r#""form_key": "f3""#));
}

#[test]
fn copy_errors_are_one_line_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let src = case("events");
    let src = src.to_str().unwrap();
    let dst = tmp.path().join("out");
    let dst_s = dst.to_str().unwrap();
    // An existing target is never overwritten.
    std::fs::create_dir(&dst).unwrap();
    let o = akbuf(&["copy", src, dst_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    std::fs::remove_dir(&dst).unwrap();
    // A key that cannot be a file name: exit 1, nothing left behind.
    let o = akbuf(&["copy", src, dst_s, "--buffer-key", "{form_key}/{attribute}"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("node1/data"), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // Bad options are usage errors.
    for bad in [
        &["--byteorder", "="][..],
        &["--form-key", "node{oops}"][..],
        &["--id-start", "-1"][..],
    ] {
        let mut args = vec!["copy", src, dst_s];
        args.extend_from_slice(bad);
        let o = akbuf(&args);
        assert_ne!(o.status.code(), Some(0), "{bad:?}");
        assert!(!dst.exists());
    }
}

#[test]
fn every_subcommand_takes_fields_as_names_or_dotted_paths() {
    let dir = case("events");
    let path = dir.to_str().unwrap();
    let want = akbuf::open(&dir).unwrap();
    let pt = want.field("jets").unwrap().field("pt").unwrap();
    for args in [
        vec!["--field", "jets.pt"],
        vec!["--field", "jets", "--field", "pt"],
    ] {
        for (cmd, expect) in [
            ("type", pt.type_string()),
            ("form", pt.form().to_json()),
            ("show", pt.to_json().unwrap()),
        ] {
            let mut all = vec![cmd, path];
            all.extend(&args);
            let o = akbuf(&all);
            assert!(o.status.success(), "{cmd} {args:?}: {}", stderr(&o));
            assert_eq!(stdout(&o), format!("{expect}\n"), "{cmd} {args:?}");
        }
        let mut all = vec!["info", path, "--json"];
        all.extend(&args);
        let o = akbuf(&all);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(doc["buffers"].as_array().unwrap().len(), 2, "{doc}");
    }
    let o = akbuf(&["show", path, "--field", "jets.nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("\"nope\""), "{}", stderr(&o));
}

#[test]
fn info_json_names_each_buffer_field_path() {
    let dir = case("events");
    let o = akbuf(&["info", dir.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["length"], 50);
    let buffers = doc["buffers"].as_array().unwrap();
    assert_eq!(buffers.len(), 11);
    let pt = buffers.iter().find(|b| b["field"] == "jets.pt").unwrap();
    assert_eq!(pt["dtype"], "float32");
    assert_eq!(pt["attribute"], "data");
    let size = std::fs::metadata(dir.join(pt["key"].as_str().unwrap()))
        .unwrap()
        .len();
    assert_eq!(pt["bytes"], size);
    assert_eq!(doc["total_buffers"], 11);
}

#[test]
fn show_limits_and_pretty_prints() {
    for name in ["events", "strings", "union_mixed", "bytestrings"] {
        let dir = case(name);
        let path = dir.to_str().unwrap();
        let all: serde_json::Value = serde_json::from_str(&expected(&dir).json).unwrap();
        let o = akbuf(&["show", path, "--limit", "2"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let two: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let want: Vec<_> = all.as_array().unwrap().iter().take(2).cloned().collect();
        assert_eq!(two, serde_json::Value::Array(want), "{name}");
        let o = akbuf(&["show", path, "--pretty"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(text.lines().count() > 2, "{name}: {text}");
        let pretty: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(pretty, all, "{name}");
    }
    let o = akbuf(&["show", case("events").to_str().unwrap(), "--limit", "0"]);
    assert_eq!(stdout(&o), "[]\n");
}

fn partitioned(name: &str) -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/partitioned")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn partitioned_containers_show_info_and_trace_by_partition() {
    let path = partitioned("events_unequal");
    let o = akbuf(&["info", &path]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // Lengths [7, 0, 23, 0, 0, 10]; bytes are the stored sizes of each
    // partition's five buffers (awkward 1 wrote them).
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "length 40");
    assert_eq!(lines[1], "partitions 6");
    let sizes = |p: usize| -> u64 {
        [
            "node1-data",
            "node2-data",
            "node3-offsets",
            "node5-data",
            "node6-data",
        ]
        .iter()
        .map(|k| {
            std::fs::metadata(format!("{path}/part{p}-{k}"))
                .unwrap()
                .len()
        })
        .sum()
    };
    assert_eq!(lines[2], format!("partition 0 7 {} bytes", sizes(0)));
    assert_eq!(lines[3], "partition 1 0 0 bytes");
    assert_eq!(lines[7], format!("partition 5 10 {} bytes", sizes(5)));
    let o = akbuf(&["info", &path, "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["partitions"].as_array().unwrap().len(), 6);
    assert_eq!(doc["partitions"][2]["length"], 23);
    assert_eq!(doc["buffers"][0]["partition"], 0);
    // --trace: the partitions' keys as read, only those of the field.
    let o = akbuf(&["show", &path, "--field", "met", "--limit", "9", "--trace"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let reads: Vec<&str> = err.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(reads, ["part0-node2-data", "part2-node2-data"]);
    let want = expected_partitioned(&path);
    let o = akbuf(&["show", &path]);
    assert_eq!(stdout(&o), format!("{want}\n"));
}

fn expected_partitioned(path: &str) -> String {
    let text = std::fs::read_to_string(format!("{path}/expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["json"].as_str().unwrap().to_string()
}

#[test]
fn bad_partitions_exit_1_naming_the_partition_and_key() {
    let tmp = std::env::temp_dir().join(format!("akbuf-cli-parts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let form = r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "node0"}"#;
    for (length, needle) in [
        ("[3, -1]", "(partition 1)"),
        ("[3, 2.5]", "(partition 1)"),
        ("[3, null]", "(partition 1)"),
    ] {
        std::fs::write(
            tmp.join("metadata.json"),
            format!(r#"{{"form": {form}, "length": {length}}}"#),
        )
        .unwrap();
        let o = akbuf(&["show", tmp.to_str().unwrap()]);
        assert_one_line_error(&o, needle);
    }
    // A partition's missing key.
    std::fs::write(
        tmp.join("metadata.json"),
        format!(r#"{{"form": {form}, "length": [0, 1]}}"#),
    )
    .unwrap();
    let o = akbuf(&["show", tmp.to_str().unwrap()]);
    assert_one_line_error(&o, "part1-node0-data");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn rows_take_a_slice_on_every_subcommand() {
    let dir = case("events");
    let path = dir.to_str().unwrap();
    let want = expected(&dir);
    let all: Vec<serde_json::Value> = serde_json::from_str(&want.json).unwrap();
    let o = akbuf(&["show", path, "--rows", "10:13"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(got, all[10..13]);
    let o = akbuf(&["show", path, "--rows", "48:"]);
    let got: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(got, all[48..]);
    let o = akbuf(&["type", path, "--rows", ":7"]);
    assert_eq!(
        stdout(&o).trim(),
        format!("7 * {}", want.type_.split_once(" * ").unwrap().1)
    );
    // --trace: ranges, not whole buffers (4 offsets of 8 bytes).
    let o = akbuf(&[
        "show", path, "--rows", "10:13", "--field", "jets.pt", "--trace",
    ]);
    let err = stderr(&o);
    let offsets = err.lines().find(|l| l.contains("offsets")).unwrap();
    assert!(offsets.ends_with(" 32"), "{err}");
    // info: the slice's buffers, sizes known where no read is needed.
    let o = akbuf(&["info", path, "--rows", "10:13"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("length 3\n"), "{}", stdout(&o));
    assert!(stdout(&o).contains("unknown until read"), "{}", stdout(&o));
    // copy: the rows, read back the same.
    let tmp = std::env::temp_dir().join(format!("akbuf-cli-rows-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for packed in [false, true] {
        let dst = tmp.join(format!("rows-{packed}"));
        let mut args = vec!["copy", path, dst.to_str().unwrap(), "--rows", "5:25"];
        if packed {
            args.push("--packed");
        }
        let o = akbuf(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = akbuf(&["show", dst.to_str().unwrap()]);
        let got: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(got, all[5..25]);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    // Past the end: clipped to the length (DESIGN.md), as a Python slice.
    for (past, from) in [
        ("0:51", 0),
        ("45:99999999999999999999999", 45),
        ("60:70", 50),
    ] {
        let o = akbuf(&["show", path, "--rows", past]);
        assert!(o.status.success(), "{past}: {}", stderr(&o));
        let got: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(got, all[from..], "{past}");
    }
    // Bad ranges (reversed, not numbers, no colon): usage errors, one line.
    for bad in ["5:3", "x:3", "7", "-1:3", "1.5:3", ":-2", "3:4:5"] {
        let o = akbuf(&["show", path, "--rows", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn a_folder_of_containers_is_one_array_and_mismatched_forms_exit_1() {
    let tmp = std::env::temp_dir().join(format!("akbuf-cli-dataset-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let src = |name: &str| partitioned(name);
    for (dst, name) in [("a", "events_unequal"), ("b", "custom_keys")] {
        let o = akbuf(&["copy", &src(name), tmp.join(dst).to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let folder = tmp.to_str().unwrap();
    let want: Vec<serde_json::Value> = ["events_unequal", "custom_keys"]
        .iter()
        .flat_map(|n| {
            serde_json::from_str::<Vec<serde_json::Value>>(&expected_partitioned(&src(n))).unwrap()
        })
        .collect();
    let o = akbuf(&["show", folder]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(got, want);
    let o = akbuf(&["info", folder]);
    assert!(
        stdout(&o).starts_with("length 80\npartitions 9\n"),
        "{}",
        stdout(&o)
    );
    // Rows 38..42 cross from the first container into the second.
    let o = akbuf(&[
        "show", folder, "--rows", "38:42", "--field", "met", "--trace",
    ]);
    let got: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    let met: Vec<serde_json::Value> = want[38..42].iter().map(|e| e["met"].clone()).collect();
    assert_eq!(got, met);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 2, "{err}"); // one met range per container
                                                 // A container of another form: exit 1, one line naming both.
    let o = akbuf(&["copy", &src("strings"), tmp.join("c").to_str().unwrap()]);
    assert!(o.status.success());
    let o = akbuf(&["show", folder]);
    assert_one_line_error(&o, "differs");
    assert!(
        stderr(&o).contains("/a") && stderr(&o).contains("/c"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[cfg(not(feature = "remote"))]
#[test]
fn urls_need_the_remote_feature() {
    for url in ["s3://bucket/events", "https://example.org/events"] {
        let out = akbuf(&["type", url]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains(url) && err.contains("remote feature"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // file:// URLs open locally.
    let url = format!("file://{}/data/events", env!("CARGO_MANIFEST_DIR"));
    let out = akbuf(&["type", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("1000 * {run: int32"));
}

/// `--column` keeps the record's fields asked for, in that order, for
/// every subcommand and for copies.
#[test]
fn columns_select_a_records_fields_in_order() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/events");
    let whole = akbuf::open(sample).unwrap();
    let o = akbuf(&["type", sample, "--column", "met", "--column", "run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).trim(),
        whole.select(&["met", "run"]).unwrap().type_string()
    );
    let o = akbuf(&[
        "show", sample, "--field", "jets", "--column", "eta", "--limit", "2",
    ]);
    let want: serde_json::Value = serde_json::from_str(
        &whole
            .field("jets")
            .unwrap()
            .field("eta")
            .unwrap()
            .slice(0..2)
            .unwrap()
            .to_json()
            .unwrap(),
    )
    .unwrap();
    let got: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let etas: Vec<Vec<serde_json::Value>> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l.as_array()
                .unwrap()
                .iter()
                .map(|r| r["eta"].clone())
                .collect()
        })
        .collect();
    assert_eq!(serde_json::to_value(etas).unwrap(), want);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("two");
    let o = akbuf(&[
        "copy",
        sample,
        out.to_str().unwrap(),
        "--column",
        "muons",
        "--column",
        "run",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let back = akbuf::open(&out).unwrap();
    assert_eq!(back.fields(), ["muons", "run"]);
    assert_eq!(
        back.field("run").unwrap().to_json().unwrap(),
        whole.field("run").unwrap().to_json().unwrap()
    );
    let o = akbuf(&["type", sample, "--column", "nope"]);
    assert_one_line_error(&o, "nope");
}

/// `copy in.parquet out/` and `copy in.arrow out/` write one awkward 2
/// container (one length, no partition keys) holding the file's values.
#[cfg(feature = "parquet")]
#[test]
fn parquet_and_arrow_files_copy_into_one_container() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arrow");
    let tmp = tempfile::tempdir().unwrap();
    for name in ["plain.parquet", "plain.arrow"] {
        let src = format!("{dir}/{name}");
        let out = tmp.path().join(name.replace('.', "_"));
        let o = akbuf(&["copy", &src, out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let meta = akbuf::read_metadata(&out).unwrap();
        assert!(meta.partitions.is_none(), "{name}");
        assert!(std::fs::read_dir(&out).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("part")));
        let file = akbuf::open(&src).unwrap();
        assert_eq!(
            akbuf::open(&out).unwrap().to_json().unwrap(),
            file.to_json().unwrap()
        );
        // Asked for, partitions of the copy's own size instead.
        let parts = tmp.path().join(format!("{}_parts", name.replace('.', "_")));
        let o = akbuf(&[
            "copy",
            &src,
            parts.to_str().unwrap(),
            "--partition-rows",
            "1000",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        // (Steps never cross a batch's or row group's end.)
        let lengths = akbuf::read_metadata(&parts).unwrap().partitions.unwrap();
        assert_eq!(lengths.iter().sum::<usize>(), file.len());
        assert!(
            lengths.len() >= 3 && lengths.iter().all(|&n| n <= 1000),
            "{lengths:?}"
        );
        // Info does not call a file's buffers missing: their sizes are unknown until read.
        let o = akbuf(&["info", &src]);
        assert!(stdout(&o).contains("unknown"), "{}", stdout(&o));
        assert!(!stdout(&o).contains("missing"), "{}", stdout(&o));
    }
}

/// A file's format is told by its content, not its name: a Parquet file
/// called `x.bin`, an Arrow IPC file called `x.dat`, an HDF5 file called
/// `x.h5ad` with a group after `:` (as anndata names its files).
#[test]
#[cfg(all(feature = "parquet", feature = "hdf5"))]
fn files_open_by_their_content_whatever_their_name() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    for (from, to, group) in [
        ("tests/fixtures/arrow/plain.parquet", "plain.bin", ""),
        ("tests/fixtures/arrow/events.arrow", "events.dat", ""),
        ("tests/fixtures/hdf5/cases.h5", "cases.h5ad", ":strings"),
    ] {
        let named = tmp.path().join(to);
        std::fs::copy(root.join(from), &named).unwrap();
        let original = format!("{}{group}", root.join(from).display());
        let renamed = format!("{}{group}", named.display());
        for cmd in ["type", "show"] {
            let want = akbuf(&[cmd, &original]);
            let got = akbuf(&[cmd, &renamed]);
            assert!(got.status.success(), "{renamed}: {}", stderr(&got));
            assert_eq!(stdout(&got), stdout(&want), "{renamed}");
        }
    }
    // A group of a file that has none, and a file that is no container.
    let o = akbuf(&[
        "show",
        &format!("{}:x", tmp.path().join("plain.bin").display()),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    std::fs::write(tmp.path().join("junk.h5"), b"not hdf5 at all").unwrap();
    let o = akbuf(&["show", tmp.path().join("junk.h5").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}
