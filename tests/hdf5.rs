//! HDF5 containers (feature `hdf5`): every fixture stored by h5py as Awkward's
//! documentation does it reads back with awkward's values and type.
#![cfg(feature = "hdf5")]

mod common;

use akbuf::{open_hdf5, Hdf5Source, Metadata, Residence, Source};
use common::*;
use std::path::PathBuf;

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
