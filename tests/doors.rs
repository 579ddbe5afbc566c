//! The two doors: `open_locations`/`open` in, `write_to` out. A location's
//! format is found by content (a folder's metadata.json, a file's first
//! bytes), its name a hint only where nothing exists yet; a destination
//! is never clobbered unless asked, and a failed write leaves it as it was.

use akbuf::{file_format, open, open_locations, write_to, Options, WriteOptions};

fn events() -> akbuf::Array {
    open(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events")).unwrap()
}

#[test]
fn a_directory_container_goes_out_and_in_through_the_doors() {
    let tmp = tempfile::tempdir().unwrap();
    let events = events();
    // A name that looks like another format's: nothing there, so the
    // name is the hint; a folder that exists is a directory container.
    let dir = tmp.path().join("plain");
    let meta = write_to(&events, &dir, &WriteOptions::default()).unwrap();
    assert_eq!(meta.length, 1000);
    assert!(dir.join("metadata.json").is_file());
    let (back, m) = open_locations([&dir], Options::default()).unwrap();
    assert_eq!(m, Some(meta));
    assert_eq!(back.to_json().unwrap(), events.to_json().unwrap());
    // Never clobbered unless asked; replaced whole when asked.
    let before = std::fs::read(dir.join("metadata.json")).unwrap();
    let err = write_to(
        &events.field("run").unwrap(),
        &dir,
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, akbuf::Error::Container { .. }), "{err}");
    assert_eq!(std::fs::read(dir.join("metadata.json")).unwrap(), before);
    let run = events.field("run").unwrap();
    write_to(&run, &dir, &WriteOptions::default().with_replace(true)).unwrap();
    assert_eq!(
        open(&dir).unwrap().to_json().unwrap(),
        run.to_json().unwrap()
    );
}

#[test]
fn a_folder_of_containers_is_one_dataset_without_one_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let events = events();
    for (i, rows) in [0..300, 300..1000].into_iter().enumerate() {
        let part = events.slice(rows).unwrap();
        write_to(
            &part,
            tmp.path().join(format!("p{i}")),
            &WriteOptions::default(),
        )
        .unwrap();
    }
    // Not a container: skipped; a hidden entry: skipped.
    std::fs::write(tmp.path().join("README"), "notes").unwrap();
    std::fs::create_dir(tmp.path().join(".tmp")).unwrap();
    let (all, meta) = open_locations([tmp.path()], Options::default()).unwrap();
    assert_eq!((all.len(), all.num_partitions(), meta), (1000, 2, None));
    assert_eq!(all.to_json().unwrap(), events.to_json().unwrap());
    assert_eq!(open(tmp.path()).unwrap().len(), 1000);
    // open_with_metadata wants one container.
    assert!(akbuf::open_with_metadata(tmp.path(), Options::default()).is_err());
    // An empty folder: one error naming metadata.json.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = open(&empty).unwrap_err().to_string();
    assert!(err.contains("metadata.json"), "{err}");
}

#[test]
fn a_file_no_format_knows_is_an_error_never_a_guess() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("notes.txt");
    std::fs::write(&f, "not a container").unwrap();
    assert_eq!(file_format(&f), None);
    assert!(matches!(
        open(&f).unwrap_err(),
        akbuf::Error::Container { .. }
    ));
    // Nor is it written over.
    assert!(write_to(&events(), &f, &WriteOptions::default()).is_err());
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "not a container");
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_and_arrow_files_are_written_by_name_and_read_by_content() {
    let tmp = tempfile::tempdir().unwrap();
    let events = events();
    for name in ["e.parquet", "e.arrow", "e.FEATHER"] {
        let p = tmp.path().join(name);
        let meta = write_to(&events, &p, &WriteOptions::default()).unwrap();
        assert_eq!(meta.length, 1000, "{name}");
        let kind = if name.ends_with(".parquet") {
            "parquet"
        } else {
            "arrow"
        };
        assert_eq!(file_format(&p), Some(kind), "{name}");
        // The content, not the name: the same bytes called x.bin.
        let misnamed = tmp.path().join(format!("{name}.bin"));
        std::fs::copy(&p, &misnamed).unwrap();
        let (back, m) = open_locations([&misnamed], Options::default()).unwrap();
        assert_eq!(m, Some(meta), "{name}");
        assert_eq!(back.to_json().unwrap(), events.to_json().unwrap(), "{name}");
        // A file is replaced only when asked, and then whole.
        let before = std::fs::read(&p).unwrap();
        let run = events.field("run").unwrap();
        assert!(
            write_to(&run, &p, &WriteOptions::default()).is_err(),
            "{name}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), before, "{name}");
        write_to(&run, &misnamed, &WriteOptions::default().with_replace(true)).unwrap();
        assert_eq!(
            open(&misnamed).unwrap().to_json().unwrap(),
            run.to_json().unwrap()
        );
        // These files have no groups.
        let grouped = format!("{}:g", p.display());
        assert!(open(&grouped).is_err(), "{name}");
    }
    // A folder of Parquet files is a dataset too.
    let folder = tmp.path().join("parts");
    std::fs::create_dir(&folder).unwrap();
    for (i, rows) in [0..600, 600..1000].into_iter().enumerate() {
        let part = events.slice(rows).unwrap();
        write_to(
            &part,
            folder.join(format!("{i}.parquet")),
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let (all, meta) = open_locations([&folder], Options::default()).unwrap();
    assert_eq!((all.len(), meta), (1000, None));
    assert_eq!(all.to_json().unwrap(), events.to_json().unwrap());
    // Replacing a folder with a file is refused.
    let err = write_to(
        &events,
        &folder,
        &WriteOptions::default().with_replace(true),
    );
    assert!(err.is_err());
    assert!(folder.join("0.parquet").is_file());
}

#[cfg(feature = "hdf5")]
#[test]
fn an_hdf5_file_takes_new_groups_whatever_it_is_called() {
    let tmp = tempfile::tempdir().unwrap();
    let events = events();
    let h5 = tmp.path().join("x.h5");
    write_to(&events, &h5, &WriteOptions::default()).unwrap();
    assert_eq!(file_format(&h5), Some("hdf5"));
    // Renamed as anndata names its files: still HDF5, by content.
    let h5ad = tmp.path().join("x.h5ad");
    std::fs::rename(&h5, &h5ad).unwrap();
    let run = events.field("run").unwrap();
    let at = format!("{}:obsm/run", h5ad.display());
    write_to(&run, &at, &WriteOptions::default()).unwrap();
    assert_eq!(
        open(&at).unwrap().to_json().unwrap(),
        run.to_json().unwrap()
    );
    assert_eq!(open(&h5ad).unwrap().len(), 1000); // the default group
                                                  // The group exists: refused, and the file still reads.
    assert!(write_to(&run, &at, &WriteOptions::default()).is_err());
    assert_eq!(open(&at).unwrap().len(), 1000);
    assert!(std::path::Path::new(&h5ad).is_file());
}

/// A format's own error (parquet's, libhdf5's, the file system's) stays the
/// typed `source()` of akbuf's error, found by `downcast_ref`.
#[test]
fn a_format_s_own_error_stays_the_typed_cause() {
    use std::error::Error as _;
    let tmp = tempfile::tempdir().unwrap();
    let missing = akbuf::open(tmp.path().join("nothing")).unwrap_err();
    assert!(missing.is_io(), "{missing}");
    let io = missing
        .source()
        .and_then(|c| c.downcast_ref::<std::io::Error>());
    assert_eq!(io.map(|e| e.kind()), Some(std::io::ErrorKind::NotFound));
    #[cfg(feature = "parquet")]
    {
        let bad = tmp.path().join("bad.bin");
        std::fs::write(&bad, b"PAR1 these are not row groups \x10\0\0\0PAR1").unwrap();
        let err = akbuf::open(&bad).unwrap_err();
        assert!(matches!(err, akbuf::Error::Container { .. }), "{err:?}");
        assert!(!err.is_io(), "{err:?}");
        let cause = err.source().expect("a cause");
        assert!(
            cause
                .downcast_ref::<parquet::errors::ParquetError>()
                .is_some(),
            "{cause:?}"
        );
    }
    #[cfg(feature = "hdf5")]
    {
        let bad = tmp.path().join("bad.h5ad");
        let mut bytes = b"\x89HDF\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(&[0xff; 100]);
        std::fs::write(&bad, bytes).unwrap();
        let err = akbuf::open(&bad).unwrap_err();
        let cause = err.source().expect("a cause");
        assert!(
            cause.downcast_ref::<hdf5_metno::Error>().is_some(),
            "{cause:?}"
        );
    }
}
