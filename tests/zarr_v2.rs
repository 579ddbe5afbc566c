//! Zarr v2 groups (feature `zarr`), as anndata writes them by default
//! (`zarr_write_format` 2) and as zarr-python writes v2 arrays: `.zgroup`,
//! the form and the length in `.zattrs`, one array per buffer key with its
//! `.zarray` (blosc here), chunk keys `0`, `1`... They read as the Zarr v3
//! stores of the same data do, chunk by chunk, through the same bounded
//! decoders. The fixtures are `tests/fixtures/generate_zarr.py`'s.
#![cfg(feature = "zarr")]

use akbuf::{Source, ZarrSource};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zarr")
}

fn akbuf(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_akbuf"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn anndatas_default_store_reads_as_its_v3_store() {
    let spec = format!("{}:obsm/airr", fixtures().join("cells.v2.zarr").display());
    let expected = std::fs::read_to_string(fixtures().join("cells.expected.json")).unwrap();
    assert_eq!(
        akbuf::open(&spec).unwrap().to_json().unwrap(),
        expected.trim()
    );
    let (code, out, err) = akbuf(&["show", &spec]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), expected.trim());
    // Its root is anndata's group, not an awkward array: one line.
    let root = fixtures().join("cells.v2.zarr");
    let (code, _, err) = akbuf(&["show", root.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("not an awkward array") && err.lines().count() == 1,
        "{err}"
    );
}

#[test]
fn zarr_python_v2_arrays_read_as_the_sample() {
    let sample = akbuf::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events")).unwrap();
    let v2 = akbuf::open(fixtures().join("events.v2.zarr")).unwrap();
    assert_eq!(v2.to_json().unwrap(), sample.to_json().unwrap());
    assert_eq!(v2.type_string(), sample.type_string());
    v2.validate().unwrap();
    // A range decodes the chunks it overlaps: chunk keys as v2 names them.
    let source = ZarrSource::open(fixtures().join("events.v2.zarr"), "").unwrap();
    assert_eq!(source.size("node4-offsets"), Some(8008));
    let part = source
        .read_range("node4-offsets", 800..816)
        .unwrap()
        .unwrap();
    let whole = sample_offsets();
    assert_eq!(part.typed::<i64>().unwrap(), &whole[100..102]);
}

fn sample_offsets() -> Vec<i64> {
    let dir = akbuf::DirSource::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events"));
    dir.read("node4-offsets")
        .unwrap()
        .unwrap()
        .typed::<i64>()
        .unwrap()
        .to_vec()
}

#[test]
fn rows_traced_decode_only_the_v2_chunks_they_overlap() {
    let store = fixtures().join("events.v2.zarr");
    let (code, out, err) = akbuf(&[
        "show",
        store.to_str().unwrap(),
        "--rows",
        "150:152",
        "--field",
        "jets.pt",
        "--trace",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let offsets = sample_offsets();
    let (a, b) = (offsets[150] as u64, offsets[152] as u64);
    let chunks: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("read "))
        .map(|l| l.split(' ').next().unwrap())
        .filter(|k| k.contains('/'))
        .collect();
    let mut want = vec!["node4-offsets/1".to_string()];
    want.extend((a / 100..b.div_ceil(100)).map(|c| format!("node6-data/{c}")));
    assert_eq!(chunks, want, "{err}");
    let sample = akbuf::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events")).unwrap();
    let jets = sample
        .slice(150..152)
        .unwrap()
        .field_path("jets.pt")
        .unwrap();
    assert_eq!(out.trim(), jets.to_json().unwrap());
}

#[test]
fn damaged_v2_stores_are_one_line_naming_the_key_and_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.zarr");
    copy_dir(&fixtures().join("events.v2.zarr"), &store);
    // A blosc chunk cut short; a .zgroup that is not v2's; .zattrs missing.
    let chunk = store.join("node4-offsets/0");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
    let spec = store.to_str().unwrap();
    let (code, _, err) = akbuf(&["show", spec, "--field", "jets.pt"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.lines().count() == 1 && err.contains("node4-offsets") && err.contains("chunk 0"),
        "{err}"
    );
    std::fs::write(store.join(".zgroup"), r#"{"zarr_format": 3}"#).unwrap();
    let (code, _, err) = akbuf(&["show", spec]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(".zgroup") && err.lines().count() == 1, "{err}");
    std::fs::write(store.join(".zgroup"), r#"{"zarr_format": 2}"#).unwrap();
    std::fs::remove_file(store.join(".zattrs")).unwrap();
    let (code, _, err) = akbuf(&["show", spec]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no .zattrs") && err.lines().count() == 1,
        "{err}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

#[test]
fn no_v3_group_is_written_into_a_v2_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("cells.zarr");
    copy_dir(&fixtures().join("cells.v2.zarr"), &store);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events");
    let at = format!("{}:obsm/events", store.display());
    let (code, _, err) = akbuf(&["copy", sample.to_str().unwrap(), &at]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("Zarr v2 group") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!store.join("obsm/events").exists());
    // The store still reads as anndata wrote it.
    let expected = std::fs::read_to_string(fixtures().join("cells.expected.json")).unwrap();
    let airr = akbuf::open(format!("{}:obsm/airr", store.display())).unwrap();
    assert_eq!(airr.to_json().unwrap(), expected.trim());
}
