//! HDF5 containers (feature `hdf5`): every fixture stored by h5py as Awkward's
//! documentation does it reads back with awkward's values and type.
#![cfg(feature = "hdf5")]

mod common;

use akbuf::{open_hdf5, Hdf5Source, Metadata, Residence, Source};
use common::*;
use std::path::PathBuf;

/// libhdf5 opens files without close-on-exec and locks them with flock:
/// a CLI process spawned by one test while another test's file is being
/// opened would inherit that descriptor and hold the lock for its life.
/// The tests of this file run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn h5(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hdf5")
        .join(name)
}

fn skipped() -> Vec<String> {
    let text = std::fs::read_to_string(h5("skipped.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_fixture_stored_by_h5py_reads_back_as_awkward_says() {
    let _serial = serial();
    let skipped = skipped();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in ["cases.h5", "cases_gzip.h5", "cases_be.h5"] {
        for (name, dir) in all_cases() {
            if skipped.contains(&name) {
                continue;
            }
            let want = expected(&dir);
            let source = match Hdf5Source::open(h5(file), &name) {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("{file}:{name}: {e}"));
                    continue;
                }
            };
            let counting = Counting::new(source);
            let array = match counting
                .inner
                .metadata()
                .and_then(|m| m.open(counting.clone()))
            {
                Ok(a) => a,
                Err(e) => {
                    failures.push(format!("{file}:{name}: {e}"));
                    continue;
                }
            };
            checked += 1;
            if array.type_string() != want.type_ {
                failures.push(format!(
                    "{file}:{name}: type {} != {}",
                    array.type_string(),
                    want.type_
                ));
            }
            match array.to_json() {
                Ok(j) if j == want.json => {}
                Ok(j) => failures.push(format!(
                    "{file}:{name}: json\n  got  {j}\n  want {}",
                    want.json
                )),
                Err(e) => failures.push(format!("{file}:{name}: {e}")),
            }
            failures.extend(counting.reread(&format!("{file}:{name}")));
        }
    }
    assert!(checked > 400, "only {checked} groups checked");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn touching_one_field_reads_only_its_datasets() {
    let _serial = serial();
    let source = Counting::new(Hdf5Source::open(h5("cases.h5"), "events").unwrap());
    let array = source
        .inner
        .metadata()
        .unwrap()
        .open(source.clone())
        .unwrap();
    assert_eq!(source.total(), 0, "opening read a dataset");
    let pt = array.field("jets").unwrap().field("pt").unwrap();
    let sum: f32 = pt.flat_values::<f32>().unwrap().iter().sum();
    assert!(sum > 0.0);
    let mut want = vec![
        array.field("jets").unwrap().buffers()[0].key.clone(),
        pt.buffers().last().unwrap().key.clone(),
    ];
    want.sort();
    assert_eq!(source.keys(), want);
}

#[test]
fn contiguous_datasets_are_mapped_and_compressed_ones_are_read() {
    let _serial = serial();
    let plain = Hdf5Source::open(h5("cases.h5"), "events").unwrap();
    let gzip = Hdf5Source::open(h5("cases_gzip.h5"), "events").unwrap();
    let key = "node1-data";
    let a = plain.read(key).unwrap().unwrap();
    let b = gzip.read(key).unwrap().unwrap();
    assert_eq!(a.residence(), Residence::Mapped);
    assert_eq!(b.residence(), Residence::Heap);
    assert_eq!(a.as_slice(), b.as_slice());
    assert_eq!(plain.size(key), Some(a.len() as u64));
    assert!(plain.read("no-such-key").unwrap().is_none());
    assert!(plain.read("a/b").unwrap().is_none());
}

#[test]
fn metadata_errors_name_the_file_and_group() {
    let _serial = serial();
    let err = Hdf5Source::open(h5("cases.h5"), "no_such_group").unwrap_err();
    assert!(err.to_string().contains("no_such_group"), "{err}");
    let err = open_hdf5(h5("missing.h5"), "awkward").unwrap_err();
    assert!(err.to_string().contains("missing.h5"), "{err}");
    let m: Metadata = Hdf5Source::open(h5("cases_be.h5"), "events")
        .unwrap()
        .metadata()
        .unwrap();
    assert_eq!(m.byteorder, akbuf::ByteOrder::Big);
}

#[test]
fn the_cli_takes_file_h5_colon_group_wherever_it_takes_a_path() {
    let _serial = serial();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_akbuf"))
            .args(args)
            .output()
            .unwrap()
    };
    let want = expected(&case("events"));
    let spec = format!("{}:events", h5("cases_gzip.h5").display());
    let o = run(&["show", &spec]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("{}\n", want.json)
    );
    let o = run(&["type", &spec]);
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        format!("{}\n", want.type_)
    );
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("copy");
    let o = run(&["copy", &spec, dst.to_str().unwrap(), "--packed"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(akbuf::open(&dst).unwrap().to_json().unwrap(), want.json);
    // A missing group: exit 1, one line naming it.
    let o = run(&["show", &format!("{}:nope", h5("cases.h5").display())]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("\"nope\"") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn arrays_written_to_hdf5_read_back_and_groups_are_never_overwritten() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("out.h5");
    for name in [
        "events",
        "union_mixed",
        "numpy_inner_shape",
        "strings",
        "bitmasked_valid_lsb",
    ] {
        let array = akbuf::open(case(name)).unwrap();
        let opts = akbuf::WriteOptions::default().with_byteorder(akbuf::ByteOrder::Big);
        akbuf::write_hdf5(&array, &path, name, &opts).unwrap();
        let back = open_hdf5(&path, name).unwrap();
        assert_eq!(
            back.to_json().unwrap(),
            expected(&case(name)).json,
            "{name}"
        );
    }
    let array = akbuf::open(case("events")).unwrap();
    let err = akbuf::write_hdf5(&array, &path, "events", &Default::default()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

// ---------------------------------------------------------------------------
// Hostile files and failed writes (data safety).

use hdf5_metno as h5;

fn akbuf_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_akbuf"))
        .args(args)
        .output()
        .unwrap()
}

/// A group with an int64 NumpyArray form of `length` and its dataset made by `data`.
fn group_with(path: &std::path::Path, group: &str, length: &str, data: impl FnOnce(&h5::Group)) {
    let file = if path.exists() {
        h5::File::append(path)
    } else {
        h5::File::create(path)
    }
    .unwrap();
    let g = file.create_group(group).unwrap();
    let form = r#"{"class": "NumpyArray", "primitive": "int64", "form_key": "node0"}"#;
    let put = |name: &str, value: &str| {
        let v: h5::types::VarLenUnicode = value.parse().unwrap();
        g.new_attr::<h5::types::VarLenUnicode>()
            .create(name)
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    };
    put("form", form);
    put("length", length);
    data(&g);
}

#[test]
fn a_huge_unwritten_dataset_is_refused_before_any_allocation() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bomb.h5");
    // Declared as 2^40 int64 (8 TiB), chunked, never written.
    group_with(&path, "awkward", "1099511627776", |g| {
        g.new_dataset::<i64>()
            .chunk(1 << 16)
            .shape(1usize << 40)
            .create("node0-data")
            .unwrap();
    });
    let array = open_hdf5(&path, "awkward").unwrap();
    let err = array.to_json().unwrap_err();
    assert_eq!(err.key(), Some("node0-data"), "{err}");
    assert!(err.to_string().contains("stores only"), "{err}");
    let o = akbuf_cli(&["show", path.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // A short length over the same dataset reads only the rows it needs.
    let path = tmp.path().join("long.h5");
    group_with(&path, "awkward", "3", |g| {
        let ds = g
            .new_dataset::<i64>()
            .chunk(4)
            .shape(1usize << 40)
            .create("node0-data")
            .unwrap();
        ds.write_slice(&[1i64, 2, 3, 4], 0..4).unwrap();
    });
    let cache = std::sync::Arc::new(akbuf::Cache::new());
    let source = Hdf5Source::open(&path, "awkward").unwrap();
    let array = source
        .metadata()
        .unwrap()
        .open_with(
            source.clone(),
            akbuf::Options::default().with_cache(cache.clone()),
        )
        .unwrap();
    assert_eq!(array.to_json().unwrap(), "[1,2,3]");
    assert_eq!(cache.stats().bytes_read, 24);
}

#[test]
fn a_non_integer_length_attribute_is_refused() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("len.h5");
    let file = h5::File::create(&path).unwrap();
    for (name, value) in [("float", 1.5f64), ("whole_float", 1.0)] {
        let g = file.create_group(name).unwrap();
        let form: h5::types::VarLenUnicode =
            r#"{"class": "NumpyArray", "primitive": "int8", "form_key": "node0"}"#
                .parse()
                .unwrap();
        g.new_attr::<h5::types::VarLenUnicode>()
            .create("form")
            .unwrap()
            .write_scalar(&form)
            .unwrap();
        g.new_attr::<f64>()
            .create("length")
            .unwrap()
            .write_scalar(&value)
            .unwrap();
    }
    let g = file.create_group("string").unwrap();
    for (k, v) in [
        (
            "form",
            r#"{"class": "NumpyArray", "primitive": "int8", "form_key": "node0"}"#,
        ),
        ("length", "1.5"),
    ] {
        let v: h5::types::VarLenUnicode = v.parse().unwrap();
        g.new_attr::<h5::types::VarLenUnicode>()
            .create(k)
            .unwrap()
            .write_scalar(&v)
            .unwrap();
    }
    drop((g, file));
    for group in ["float", "whole_float", "string"] {
        let err = Hdf5Source::open(&path, group)
            .unwrap()
            .metadata()
            .unwrap_err();
        assert!(
            err.to_string().contains("non-negative integer"),
            "{group}: {err}"
        );
    }
}

#[test]
fn a_failed_write_into_hdf5_leaves_the_file_as_it_was() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    // A source whose last buffer is missing: every copy of it fails at its end.
    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    let events = case("events");
    for e in std::fs::read_dir(&events).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name != "node13-data" && name != "expected.json" {
            std::fs::copy(e.path(), broken.join(&name)).unwrap();
        }
    }
    let (broken, events) = (broken.to_str().unwrap(), events.to_str().unwrap());

    // Into a new file: no file is left.
    let new = tmp.path().join("new.h5");
    let o = akbuf_cli(&["copy", broken, &format!("{}:g", new.display())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!new.exists(), "a new file was left behind");

    // Into an existing file: no group is left, and a retry works.
    let file = tmp.path().join("file.h5");
    let spec = format!("{}:a/b/g", file.display());
    assert!(
        akbuf_cli(&["copy", events, &format!("{}:other", file.display())])
            .status
            .success()
    );
    let o = akbuf_cli(&["copy", broken, &spec]);
    assert_eq!(o.status.code(), Some(1));
    let members = h5::File::open(&file).unwrap().member_names().unwrap();
    assert_eq!(members, ["other"], "litter in the file");
    let o = akbuf_cli(&["copy", events, &spec]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let want = expected(&case("events"));
    assert_eq!(open_hdf5(&file, "a/b/g").unwrap().len(), want.length);

    // --force replaces the group; a failing --force leaves it whole.
    let o = akbuf_cli(&["copy", events, &spec, "--field", "run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    let o = akbuf_cli(&["copy", broken, &spec, "--force"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(open_hdf5(&file, "a/b/g").unwrap().fields().len(), 5);
    let o = akbuf_cli(&["copy", events, &spec, "--field", "run", "--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        open_hdf5(&file, "a/b/g").unwrap().type_string(),
        format!("{} * int32", want.length)
    );
    let members = h5::File::open(&file)
        .unwrap()
        .group("a/b")
        .unwrap()
        .member_names()
        .unwrap();
    assert_eq!(members, ["g"]);

    // A temporary group of a writer that died is removed by the next write.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    h5::File::append(&file)
        .unwrap()
        .create_group(&format!("a/b/.g.akbuf-tmp-{dead}-0"))
        .unwrap();
    let o = akbuf_cli(&[
        "copy",
        events,
        &format!("{}:a/b/g", file.display()),
        "--force",
    ]);
    assert!(o.status.success());
    let members = h5::File::open(&file)
        .unwrap()
        .group("a/b")
        .unwrap()
        .member_names()
        .unwrap();
    assert_eq!(members, ["g"]);
}

#[test]
fn the_hdf5_sink_refuses_a_key_twice() {
    let _serial = serial();
    use akbuf::Sink;
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = akbuf::Hdf5Sink::create(tmp.path().join("s.h5"), "g").unwrap();
    sink.put("k", &[1]).unwrap();
    assert_eq!(sink.put("k", &[2]).unwrap_err().key(), Some("k"));
}

#[test]
fn external_links_are_followed_unless_confined() {
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other.h5");
    h5::File::create(&other)
        .unwrap()
        .new_dataset::<i64>()
        .shape(2)
        .create("secret")
        .unwrap()
        .write_raw(&[41i64, 42])
        .unwrap();
    let path = tmp.path().join("links.h5");
    group_with(&path, "awkward", "2", |g| {
        g.link_external(other.to_str().unwrap(), "secret", "node0-data")
            .unwrap();
    });
    assert_eq!(
        open_hdf5(&path, "awkward").unwrap().to_json().unwrap(),
        "[41,42]"
    );
    let confined = Hdf5Source::open(&path, "awkward").unwrap().confined();
    let err = confined.read("node0-data").unwrap_err();
    assert!(err.to_string().contains("outside the container"), "{err}");
    let o = akbuf_cli(&["show", path.to_str().unwrap(), "--confined"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(akbuf_cli(&["show", path.to_str().unwrap()])
        .status
        .success());
}

#[test]
fn partitioned_arrays_round_trip_through_a_group() {
    let _serial = serial();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/partitioned");
    let tmp = std::env::temp_dir().join(format!("akbuf-h5-parts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let file = tmp.join("parts.h5");
    for name in [
        "events_unequal",
        "strings",
        "partition_start",
        "custom_keys",
    ] {
        let array = akbuf::open(dir.join(name)).unwrap();
        let opts = akbuf::WriteOptions::default().with_partition_start(2);
        let meta = akbuf::write_hdf5(&array, &file, name, &opts).unwrap();
        assert_eq!(meta.partitions, Some(array.partition_lengths()), "{name}");
        let source = Hdf5Source::open(&file, name).unwrap();
        let read = source.metadata().unwrap();
        assert_eq!(read.partitions, meta.partitions, "{name}");
        assert_eq!(read.partition_start, 2, "{name}");
        let back = read.open(source).unwrap();
        assert_eq!(back.to_json().unwrap(), array.to_json().unwrap(), "{name}");
        assert_eq!(back.type_string(), array.type_string(), "{name}");
        assert_eq!(back.num_partitions(), array.num_partitions(), "{name}");
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn slices_of_groups_read_ranges_and_give_awkwards_rows() {
    let _serial = serial();
    let skipped = skipped();
    let mut failures = Vec::new();
    for file in ["cases.h5", "cases_gzip.h5", "cases_be.h5"] {
        for (name, dir) in all_cases() {
            if skipped.contains(&name) {
                continue;
            }
            let Ok(all) = serde_json::from_str::<Vec<serde_json::Value>>(&expected(&dir).json)
            else {
                continue;
            };
            let n = all.len();
            let (a, b) = (n / 3, n - n / 4);
            let source = Hdf5Source::open(h5(file), &name).unwrap();
            let array = source.metadata().unwrap().open(source).unwrap();
            match array.slice(a..b).and_then(|s| s.to_json()) {
                Ok(j)
                    if serde_json::from_str::<Vec<serde_json::Value>>(&j).unwrap() == all[a..b] => {
                }
                Ok(j) => failures.push(format!("{file}:{name}[{a}..{b}]: {j}")),
                Err(e) => failures.push(format!("{file}:{name}[{a}..{b}]: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A range of a compressed dataset is read as whole rows around it,
    // sliced to the bytes asked for.
    let source = Hdf5Source::open(h5("cases_gzip.h5"), "events").unwrap();
    let meta = source.metadata().unwrap();
    let whole = source.read(&source_key(&meta, "run")).unwrap().unwrap();
    let part = source
        .read_range(&source_key(&meta, "run"), 8..24)
        .unwrap()
        .unwrap();
    assert_eq!(part.as_slice(), &whole.as_slice()[8..24]);
    let past = source
        .read_range(
            &source_key(&meta, "run"),
            whole.len() - 4..whole.len() + 100,
        )
        .unwrap()
        .unwrap();
    assert_eq!(past.len(), 4);
}

/// The buffer key of a top-level field's data.
fn source_key(meta: &Metadata, field: &str) -> String {
    let array = meta
        .open(akbuf::MemorySource::new())
        .unwrap()
        .field(field)
        .unwrap();
    array.buffers()[0].key.clone()
}

#[test]
fn partitioned_groups_stored_by_h5py_read_as_awkward_says() {
    let _serial = serial();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/partitioned");
    for name in [
        "events_unequal",
        "custom_keys",
        "partition_start",
        "strings",
        "unions",
    ] {
        let text = std::fs::read_to_string(dir.join(name).join("expected.json")).unwrap();
        let want: serde_json::Value = serde_json::from_str(&text).unwrap();
        for group in [name.to_string(), format!("{name}_array")] {
            let source = Counting::new(Hdf5Source::open(h5("partitioned.h5"), &group).unwrap());
            let meta = source.inner.metadata().unwrap();
            let lengths: Vec<usize> = want["lengths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(meta.partitions.as_ref(), Some(&lengths), "{group}");
            let array = meta.open(source.clone()).unwrap();
            assert_eq!(
                array.type_string(),
                want["type"].as_str().unwrap(),
                "{group}"
            );
            assert_eq!(
                array.to_json().unwrap(),
                want["json"].as_str().unwrap(),
                "{group}"
            );
            assert!(source.reread(&group).is_empty(), "{group}");
            // Empty partitions' datasets are never read.
            let template = meta.buffer_key_template().to_string();
            for (i, n) in lengths.iter().enumerate() {
                let number = (meta.partition_start + i).to_string();
                let prefix = template.replace("{partition}", &number);
                let prefix = &prefix[..prefix.find('{').unwrap_or(prefix.len())];
                let read = source.keys().iter().any(|k| k.starts_with(prefix));
                assert_eq!(read, *n > 0, "{group}: partition {i}");
            }
        }
    }
}
