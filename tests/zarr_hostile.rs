//! Zarr stores made to hurt (feature `zarr`): chunks that decompress to far
//! more than their shape holds, FIFOs and folders where files should be,
//! links out of the store and link loops. Each ends in an error naming
//! the buffer key, made without allocating what no stored byte backs,
//! without blocking and without leaving the store when confined.
#![cfg(feature = "zarr")]

use akbuf::{Source, ZarrSource};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zarr")
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

/// A copy of zarr-python's chunked store (the sample, chunks of 100
/// elements, zstd): the jets' offsets are `node4-offsets`, 800 bytes a chunk.
fn chunked() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("events.zarr");
    copy_dir(&fixtures().join("events.chunked.zarr"), &store);
    (dir, store)
}

/// Rewrites the `zarr.json` of `array` in `store` through `edit`.
fn edit_array(store: &Path, array: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let file = store.join(array).join("zarr.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
}

fn read_err(source: &ZarrSource, key: &str) -> String {
    match source.read(key) {
        Ok(b) => panic!(
            "{key}: read {:?} bytes of a damaged store",
            b.map(|b| b.len())
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn chunks_that_decompress_past_their_shape_are_refused_before_they_are_made() {
    let zeros = vec![0u8; 64 << 20];
    // zstd: 64 MiB of zeros in a few kilobytes, where 800 bytes belong.
    let (_dir, store) = chunked();
    let chunk = store.join("node4-offsets/c/0");
    std::fs::write(&chunk, zstd::bulk::compress(&zeros, 1).unwrap()).unwrap();
    assert!(std::fs::metadata(&chunk).unwrap().len() < 64 << 10);
    let err = read_err(&ZarrSource::open(&store, "").unwrap(), "node4-offsets");
    assert!(
        err.contains("node4-offsets")
            && err.contains("chunk 0")
            && err.contains("zstd: the chunk decodes to more than the 800 bytes its shape holds"),
        "{err}"
    );
    // A range read of the same chunk, and the next chunk still reads.
    let source = ZarrSource::open(&store, "").unwrap();
    assert!(source.read_range("node4-offsets", 0..8).is_err());
    let next = source
        .read_range("node4-offsets", 800..816)
        .unwrap()
        .unwrap();
    assert_eq!(next.len(), 16);

    // gzip, likewise (16 MiB in 16 KB: deflate makes at most ~1,000 bytes
    // of one).
    let (_dir, store) = chunked();
    edit_array(&store, "node4-offsets", |j| {
        j["codecs"][1] = serde_json::json!({"name": "gzip", "configuration": {"level": 5}});
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&zeros[..16 << 20]).unwrap();
    std::fs::write(store.join("node4-offsets/c/0"), gz.finish().unwrap()).unwrap();
    let err = read_err(&ZarrSource::open(&store, "").unwrap(), "node4-offsets");
    assert!(
        err.contains("chunk 0")
            && err.contains("gzip: the chunk decodes to more than the 800 bytes its shape holds"),
        "{err}"
    );

    // blosc: a header claiming 4 GiB (its output is sized by the claim).
    let (_dir, store) = chunked();
    edit_array(&store, "node4-offsets", |j| {
        j["codecs"][1] = serde_json::json!({"name": "blosc", "configuration":
            {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": 8, "blocksize": 0}});
    });
    let mut header = vec![2u8, 1, 1, 8];
    header.extend(u32::MAX.to_le_bytes());
    header.extend(0u32.to_le_bytes());
    header.extend(32u32.to_le_bytes());
    header.extend([0u8; 16]);
    std::fs::write(store.join("node4-offsets/c/0"), header).unwrap();
    let err = read_err(&ZarrSource::open(&store, "").unwrap(), "node4-offsets");
    assert!(
        err.contains("chunk 0") && err.contains("claims 4294967295 bytes, more than the 800"),
        "{err}"
    );
}

/// Runs `akbuf args` to its end, or kills it after a minute: a read that
/// blocks would hang the suite.
fn akbuf_bounded(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_akbuf"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("akbuf {args:?} blocked");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(unix)]
#[test]
fn fifos_and_folders_where_files_belong_fail_without_blocking() {
    for (at, what) in [
        ("node4-offsets/c/0", "FIFO"),
        ("node4-offsets/zarr.json", "FIFO"),
        ("node4-offsets/c/0", "directory"),
    ] {
        let (_dir, store) = chunked();
        let file = store.join(at);
        std::fs::remove_file(&file).unwrap();
        if what == "FIFO" {
            let path = std::ffi::CString::new(file.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
            assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
        } else {
            std::fs::create_dir(&file).unwrap();
        }
        let spec = store.to_str().unwrap();
        let (code, err) = akbuf_bounded(&["show", spec, "--field", "jets.pt"]);
        assert_eq!(code, Some(1), "{at} {what}: {err}");
        assert!(
            err.lines().count() == 1 && err.contains(at) && err.contains("not a regular file"),
            "{at} {what}: {err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn confined_stores_refuse_links_out_of_the_store() {
    use std::os::unix::fs::symlink;
    let (dir, store) = chunked();
    // An array folder and a chunk file that lead out of the store.
    let outside = dir.path().join("elsewhere");
    copy_dir(&store.join("node4-offsets"), &outside);
    std::fs::remove_dir_all(store.join("node4-offsets")).unwrap();
    symlink(&outside, store.join("node4-offsets")).unwrap();
    let chunk = dir.path().join("chunk");
    std::fs::rename(store.join("node6-data/c/0"), &chunk).unwrap();
    symlink(&chunk, store.join("node6-data/c/0")).unwrap();
    // A link inside the store stays readable.
    std::fs::remove_file(store.join("node7-data/c/0")).unwrap();
    symlink("1", store.join("node7-data/c/0")).unwrap();

    let open = ZarrSource::open(&store, "").unwrap();
    assert_eq!(open.read("node4-offsets").unwrap().unwrap().len(), 8008);
    let confined = ZarrSource::open(&store, "").unwrap().confined();
    for key in ["node4-offsets", "node6-data"] {
        let err = read_err(&confined, key);
        assert!(
            err.contains("outside the container (confined)"),
            "{key}: {err}"
        );
    }
    assert!(confined.read_range("node7-data", 0..4).unwrap().is_some());

    let spec = store.to_str().unwrap();
    let (code, err) = akbuf_bounded(&["--confined", "show", spec, "--field", "jets.pt"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("outside the container (confined)"), "{err}");
    let (code, err) = akbuf_bounded(&["show", spec, "--field", "jets.pt"]);
    assert_eq!(code, Some(0), "{err}");
}

#[cfg(unix)]
#[test]
fn a_shape_no_chunk_backs_is_refused_though_links_loop_in_its_folder() {
    use std::os::unix::fs::symlink;
    let (_dir, store) = chunked();
    // A billion offsets declared, eleven chunks stored, and two links back
    // to the chunk folder (followed, they would make 2^depth paths).
    edit_array(&store, "node4-offsets", |j| {
        j["shape"] = serde_json::json!([1u64 << 30])
    });
    symlink(".", store.join("node4-offsets/c/a")).unwrap();
    symlink(".", store.join("node4-offsets/c/b")).unwrap();
    let source = ZarrSource::open(&store, "").unwrap();
    assert_eq!(source.size("node4-offsets"), Some(8 << 30));
    let err = read_err(&source, "node4-offsets");
    assert!(
        err.contains("node4-offsets") && err.contains("of fill value"),
        "{err}"
    );
}
