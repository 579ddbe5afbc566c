//! Sinks: the directory container is written atomically.

mod common;

use akbuf::{DirSink, Error, MemorySink, Metadata, Sink, Source};
use common::*;

fn copy_into(sink: &mut impl Sink, dir: &std::path::Path) -> Metadata {
    let meta = Metadata::read_dir(dir).unwrap();
    let source = akbuf::DirSource::new(dir);
    for b in akbuf::open(dir).unwrap().buffers() {
        let bytes = source.read(&b.key).unwrap().unwrap();
        sink.put(&b.key, bytes.as_slice()).unwrap();
    }
    meta
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_directory_written_by_the_sink_reads_back() {
    for name in ["events", "bigendian", "custom_keys"] {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("out");
        let mut sink = DirSink::create(&target).unwrap();
        let meta = copy_into(&mut sink, &case(name));
        assert!(!target.exists(), "{name}: visible before commit");
        sink.commit(&meta).unwrap();
        assert_eq!(
            entries(tmp.path()),
            ["out"],
            "{name}: no temporary folder left"
        );
        let back = akbuf::open(&target).unwrap();
        assert_eq!(
            back.to_json().unwrap(),
            expected(&case(name)).json,
            "{name}"
        );
        assert_eq!(Metadata::read_dir(&target).unwrap(), meta, "{name}");
    }
}

#[test]
fn a_failure_midway_leaves_nothing_under_the_target_name() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    let mut sink = DirSink::create(&target).unwrap();
    sink.put("node0-data", &[1, 2, 3]).unwrap();
    let err = sink.put("../escape", &[4]).unwrap_err();
    assert_eq!(err.key(), Some("../escape"));
    drop(sink);
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));

    // A target that exists is refused up front, and one that appears before
    // the commit is not overwritten.
    std::fs::create_dir(&target).unwrap();
    assert!(matches!(
        DirSink::create(&target),
        Err(Error::Container { .. })
    ));
    let other = tmp.path().join("other");
    let sink = DirSink::create(&other).unwrap();
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("mine"), b"x").unwrap();
    let meta = Metadata::read_dir(case("events")).unwrap();
    assert!(matches!(sink.commit(&meta), Err(Error::Container { .. })));
    assert_eq!(entries(&other), ["mine"]);
    assert_eq!(entries(tmp.path()), ["other", "out"]);
}

#[test]
fn the_memory_sink_serves_what_it_got() {
    let mut sink = MemorySink::new();
    let meta = copy_into(&mut sink, &case("union_mixed"));
    let array = meta.open(sink.into_source()).unwrap();
    assert_eq!(
        array.to_json().unwrap(),
        expected(&case("union_mixed")).json
    );
}
