//! Zarr v3 containers (feature `zarr`): the fixtures zarr-python and
//! anndata wrote (`tests/fixtures/generate_zarr.py`) read as awkward reads
//! them, range reads that decode only the chunks they overlap, and damaged
//! stores that end in one line naming the key and the chunk.
#![cfg(feature = "zarr")]

use akbuf::{Source, ZarrSource};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zarr")
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events")
}

const STORES: [&str; 3] = [
    "events.chunked.zarr",
    "events.crc.zarr",
    "events.sharded.zarr",
];

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
fn stores_written_by_zarr_python_read_as_the_sample() {
    let local = akbuf::open(sample()).unwrap();
    for store in STORES {
        let events = akbuf::open(fixtures().join(store)).unwrap();
        assert_eq!(events.len(), local.len(), "{store}");
        assert_eq!(
            events.to_json().unwrap(),
            local.to_json().unwrap(),
            "{store}"
        );
        assert_eq!(events.type_string(), local.type_string(), "{store}");
        let pt = events.field_path("jets.pt").unwrap();
        assert_eq!(
            pt.flat_values::<f32>().unwrap().as_slice(),
            local
                .field_path("jets.pt")
                .unwrap()
                .flat_values::<f32>()
                .unwrap()
                .as_slice()
        );
        events.validate().unwrap();
    }
}

#[test]
fn an_anndata_element_reads_as_anndata_reads_it() {
    let spec = format!("{}:obsm/airr", fixtures().join("cells.zarr").display());
    let expected = std::fs::read_to_string(fixtures().join("cells.expected.json")).unwrap();
    let airr = akbuf::open(&spec).unwrap();
    assert_eq!(airr.to_json().unwrap(), expected.trim());
    let (code, out, err) = akbuf(&["show", &spec]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), expected.trim());
    // The store's root group is anndata's, not an awkward array.
    let (code, _, err) = akbuf(&["show", fixtures().join("cells.zarr").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("not an awkward array") && err.lines().count() == 1,
        "{err}"
    );
}

/// A copy of `store` in which every chunk file but those of chunks
/// `keep` (of every array) holds garbage.
fn damaged_beyond(store: &str, keep: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(store);
    copy_dir(&fixtures().join(store), &copy);
    for array in std::fs::read_dir(&copy).unwrap() {
        let chunks = array.unwrap().path().join("c");
        for chunk in std::fs::read_dir(&chunks).into_iter().flatten() {
            let chunk = chunk.unwrap().path();
            let n: usize = chunk
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            if n >= keep {
                std::fs::write(&chunk, b"garbage, not zstd").unwrap();
            }
        }
    }
    dir
}

#[test]
fn a_range_decodes_only_the_chunks_it_overlaps() {
    let dir = damaged_beyond("events.chunked.zarr", 1);
    let store = dir.path().join("events.chunked.zarr");
    let source = ZarrSource::open(&store, "").unwrap();
    // node10-offsets: int64, chunks of 100 elements (800 bytes).
    let first = source
        .read_range("node10-offsets", 8..400)
        .unwrap()
        .unwrap();
    let whole = std::fs::read(sample().join("node10-offsets")).unwrap();
    assert_eq!(first.as_slice(), &whole[8..400]);
    assert_eq!(source.size("node10-offsets"), Some(whole.len() as u64));
    let err = source.read("node10-offsets").unwrap_err().to_string();
    assert!(
        err.contains("node10-offsets") && err.contains("chunk 1"),
        "{err}"
    );
    // The first rows need only the first chunk of each buffer.
    let spec = store.to_str().unwrap();
    let (code, out, err) = akbuf(&["show", spec, "--rows", "0:5", "--field", "jets.pt"]);
    assert_eq!(code, Some(0), "{err}");
    let local = akbuf::open(sample()).unwrap();
    let want = local
        .slice(0..5)
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(out.trim(), want);
    // The whole array meets a damaged chunk: one line, the key and the chunk.
    let (code, _, err) = akbuf(&["show", spec, "--field", "jets.pt"]);
    assert_eq!(code, Some(1));
    assert!(err.lines().count() == 1 && err.contains("chunk "), "{err}");
}

#[test]
fn damaged_stores_are_one_line_naming_the_key_and_chunk() {
    // A flipped byte under crc32c; a truncated chunk; a shard whose index
    // points past the shard.
    for (store, how) in [
        ("events.crc.zarr", "flip"),
        ("events.crc.zarr", "truncate"),
        ("events.sharded.zarr", "index"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(store);
        copy_dir(&fixtures().join(store), &copy);
        // The jets' offsets (node4 in these stores, as in the sample).
        let chunk = copy.join("node4-offsets/c/0");
        let mut bytes = std::fs::read(&chunk).unwrap();
        let n = bytes.len();
        match how {
            "flip" => bytes[10] ^= 0x40,
            "truncate" => bytes.truncate(n - 9),
            _ => {
                // The index is at the end: (offset, length) pairs, then its crc32c.
                bytes[n - 20..n - 12].copy_from_slice(&(1u64 << 40).to_le_bytes());
            }
        }
        std::fs::write(&chunk, bytes).unwrap();
        let spec = copy.to_str().unwrap();
        // Read whole, and a few rows (a range of the damaged chunk).
        for rows in [None, Some("0:5")] {
            let mut args = vec!["show", spec, "--field", "jets.pt"];
            if let Some(r) = rows {
                args.extend(["--rows", r]);
            }
            let (code, _, err) = akbuf(&args);
            assert_eq!(code, Some(1), "{store} {how} {rows:?}: {err}");
            assert!(
                err.lines().count() == 1
                    && err.contains("node4-offsets")
                    && err.contains("chunk 0"),
                "{store} {how} {rows:?}: {err}"
            );
        }
    }
}

#[test]
fn groups_that_are_not_awkward_arrays_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("x.zarr");
    copy_dir(&fixtures().join("events.chunked.zarr"), &copy);
    let meta = copy.join("zarr.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (change, says) in [
        ("v2", "Zarr v2"),
        ("no form", "no form attribute"),
        ("bad form", "NoSuchArray"),
        ("array", "not a group"),
        ("not json", "not JSON"),
    ] {
        let mut j = json.clone();
        match change {
            "v2" => j["zarr_format"] = 2.into(),
            "no form" => {
                j["attributes"].as_object_mut().unwrap().remove("form");
            }
            "bad form" => j["attributes"]["form"] = "{\"class\": \"NoSuchArray\"}".into(),
            "array" => j["node_type"] = "array".into(),
            _ => {}
        }
        let written = if change == "not json" {
            "{".to_string()
        } else {
            j.to_string()
        };
        std::fs::write(&meta, written).unwrap();
        let (code, _, err) = akbuf(&["show", copy.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{change}: {err}");
        assert!(
            err.lines().count() == 1 && err.contains(says),
            "{change}: {err}"
        );
    }
    json["attributes"]["length"] = 1000.into();
    std::fs::write(&meta, json.to_string()).unwrap();
    let (code, _, err) = akbuf(&["show", copy.to_str().unwrap(), "--field", "run"]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_declared_shape_no_chunk_backs_is_refused_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("x.zarr");
    copy_dir(&fixtures().join("events.chunked.zarr"), &copy);
    // The run numbers (node1, int32) declared 2^60 long, in chunks of 100
    // or in one chunk; the group's length to match.
    let meta = copy.join("zarr.json");
    let mut group: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    group["attributes"]["length"] = (1u64 << 60).into();
    std::fs::write(&meta, group.to_string()).unwrap();
    for chunk in [100u64, 1 << 60] {
        let array = copy.join("node1-data/zarr.json");
        let mut a: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&array).unwrap()).unwrap();
        a["shape"] = serde_json::json!([1u64 << 60]);
        a["chunk_grid"]["configuration"]["chunk_shape"] = serde_json::json!([chunk]);
        std::fs::write(&array, a.to_string()).unwrap();
        let spec = copy.to_str().unwrap();
        let (code, _, err) = akbuf(&["show", spec, "--field", "run", "--rows", "0:3"]);
        if chunk == 100 {
            // Stored chunks read; only the unbacked rest is refused.
            assert_eq!(code, Some(0), "{err}");
        }
        let (code, _, err) = akbuf(&["show", spec, "--field", "run"]);
        assert_eq!(code, Some(1), "chunk {chunk}: {err}");
        assert!(
            err.lines().count() == 1 && err.contains("node1-data"),
            "chunk {chunk}: {err}"
        );
    }
}

/// The chunk files of one array of a store (`c/N` under its folder).
fn chunk_files(array: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(array.join("c"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort_by_key(|n| n.parse::<u64>().unwrap_or(u64::MAX));
    names
}

#[test]
fn a_copy_to_zarr_is_typed_chunked_and_reads_back_equal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("events.zarr");
    let (code, _, err) = akbuf(&[
        "copy",
        sample().to_str().unwrap(),
        out.to_str().unwrap(),
        "--chunk-bytes",
        "1K",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (back, local) = (akbuf::open(&out).unwrap(), akbuf::open(sample()).unwrap());
    assert_eq!(back.to_json().unwrap(), local.to_json().unwrap());
    // The group as anndata writes an awkward array.
    let group: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("zarr.json")).unwrap()).unwrap();
    let attrs = &group["attributes"];
    assert_eq!(attrs["encoding-type"], "awkward-array");
    assert_eq!(attrs["length"], 1000);
    assert!(attrs["form"].is_string());
    // Offsets typed int64, in chunks of 1 KiB (128 elements): 1001 → 8.
    let offsets = out.join("node4-offsets");
    let array: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(offsets.join("zarr.json")).unwrap()).unwrap();
    assert_eq!(array["data_type"], "int64");
    assert_eq!(array["shape"], serde_json::json!([1001]));
    assert_eq!(
        array["chunk_grid"]["configuration"]["chunk_shape"],
        serde_json::json!([128])
    );
    assert_eq!(
        chunk_files(&offsets),
        ["0", "1", "2", "3", "4", "5", "6", "7"]
    );
    // Nothing else beside it.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn a_sharded_copy_holds_its_chunks_in_shards_and_reads_back_by_range() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("events.zarr");
    let (code, _, err) = akbuf(&[
        "copy",
        sample().to_str().unwrap(),
        out.to_str().unwrap(),
        "--chunk-bytes",
        "256",
        "--shard-bytes",
        "2K",
    ]);
    assert_eq!(code, Some(0), "{err}");
    // 8008 bytes of offsets: shards of 2048 bytes → 4 shard files.
    assert_eq!(
        chunk_files(&out.join("node4-offsets")),
        ["0", "1", "2", "3"]
    );
    let source = ZarrSource::open(&out, "").unwrap();
    let local = akbuf::DirSource::new(sample());
    let whole = local.read("node4-offsets").unwrap().unwrap();
    let part = source
        .read_range("node4-offsets", 3000..3100)
        .unwrap()
        .unwrap();
    assert_eq!(part.as_slice(), &whole.as_slice()[3000..3100]);
    let (code, shown, _) = akbuf(&["show", out.to_str().unwrap(), "--rows", "990:1000"]);
    let (_, want, _) = akbuf(&["show", sample().to_str().unwrap(), "--rows", "990:1000"]);
    assert_eq!((code, shown), (Some(0), want));
}

#[test]
fn a_group_is_written_into_an_existing_store_beside_anndatas() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("cells.zarr");
    copy_dir(&fixtures().join("cells.zarr"), &store);
    let spec = format!("{}:obsm/events", store.display());
    let (code, _, err) = akbuf(&["copy", sample().to_str().unwrap(), &spec]);
    assert_eq!(code, Some(0), "{err}");
    let (_, shown, _) = akbuf(&["show", &spec, "--rows", "0:3"]);
    let (_, want, _) = akbuf(&["show", sample().to_str().unwrap(), "--rows", "0:3"]);
    assert_eq!(shown, want);
    // The element anndata wrote is still there and the same.
    let (code, airr, _) = akbuf(&["show", &format!("{}:obsm/airr", store.display())]);
    assert_eq!(code, Some(0));
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("cells.expected.json")).unwrap(),
    )
    .unwrap();
    let airr: serde_json::Value = serde_json::from_str(&airr).unwrap();
    assert_eq!(airr, expected);
    // A second write there is refused; --force replaces it.
    let (code, _, err) = akbuf(&["copy", sample().to_str().unwrap(), &spec]);
    assert_eq!(code, Some(1));
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = akbuf(&[
        "copy",
        sample().to_str().unwrap(),
        &spec,
        "--rows",
        "0:10",
        "--force",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(akbuf::open(&spec).unwrap().len(), 10);
    // A group whose parent group does not exist, a store that does not
    // exist: one line each, nothing made.
    for bad in [
        format!("{}:nothing/here", store.display()),
        format!("{}:g", tmp.path().join("none.zarr").display()),
    ] {
        let (code, _, err) = akbuf(&["copy", sample().to_str().unwrap(), &bad]);
        assert_eq!(code, Some(1), "{bad}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    assert!(!store.join("nothing").exists());
    assert!(!tmp.path().join("none.zarr").exists());
    assert!(!tmp.path().join("none.zarr:g").exists());
}

#[test]
fn a_failed_zarr_write_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // A source whose buffer is short: the copy fails while writing.
    let src = tmp.path().join("src");
    copy_dir(&sample(), &src);
    let data = src.join("node7-data");
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = tmp.path().join("out.zarr");
    let (code, _, err) = akbuf(&["copy", src.to_str().unwrap(), out.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("node7-data"), "{err}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("src")]);
    // Chunks larger than a read decodes are refused before anything.
    let (code, _, err) = akbuf(&[
        "copy",
        sample().to_str().unwrap(),
        out.to_str().unwrap(),
        "--chunk-bytes",
        "3G",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(!out.exists());
}

#[test]
fn range_reads_keep_decoded_chunks_in_the_shared_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("events.zarr");
    copy_dir(&fixtures().join("events.chunked.zarr"), &store);
    let cache = std::sync::Arc::new(akbuf::Cache::new());
    let events = akbuf::open_with(
        &store,
        akbuf::Options::default().with_cache(std::sync::Arc::clone(&cache)),
    )
    .unwrap();
    let local = akbuf::open(sample()).unwrap();
    let rows = |a: &akbuf::Array, r: std::ops::Range<usize>| {
        a.slice(r)
            .unwrap()
            .field_path("jets")
            .unwrap()
            .to_json()
            .unwrap()
    };
    assert_eq!(rows(&events, 150..160), rows(&local, 150..160));
    // The chunks the rows overlap, held decoded (the budget counts them).
    let held = cache.stats();
    assert!(held.entries >= 2 && held.heap_bytes > 0, "{held:?}");
    // Every chunk of the jets damaged on disk: what the first read decoded
    // is served from the cache (other rows of the same chunks too).
    for e in std::fs::read_dir(&store).unwrap().flatten() {
        if e.path().join("c").is_dir() {
            for c in std::fs::read_dir(e.path().join("c")).unwrap().flatten() {
                std::fs::write(c.path(), b"not zstd").unwrap();
            }
        }
    }
    assert_eq!(rows(&events, 150..160), rows(&local, 150..160));
    assert_eq!(rows(&events, 170..180), rows(&local, 170..180));
    // Once the cache lets them go, the damage shows: one line naming a chunk.
    cache.clear();
    let err = events
        .slice(150..160)
        .unwrap()
        .field_path("jets")
        .unwrap()
        .to_json()
        .unwrap_err()
        .to_string();
    assert!(err.contains("chunk"), "{err}");
}

#[test]
fn rows_traced_read_only_the_chunks_they_overlap() {
    let store = fixtures().join("events.chunked.zarr");
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
    let local = akbuf::open(sample()).unwrap();
    let jets = local
        .slice(150..152)
        .unwrap()
        .field_path("jets.pt")
        .unwrap();
    assert_eq!(out.trim(), jets.to_json().unwrap());
    // Offsets 150..=152 are in chunk 1 (chunks of 100); the rows' pt
    // values in one chunk of node6-data.
    let offsets = akbuf::DirSource::new(sample())
        .read_range("node4-offsets", 150 * 8..153 * 8)
        .unwrap()
        .unwrap();
    let offsets = offsets.typed::<i64>().unwrap();
    let (a, b) = (offsets[0] as u64, offsets[2] as u64);
    let chunks: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("read "))
        .filter(|l| l.contains("/c/"))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let mut want = vec!["node4-offsets/c/1".to_string()];
    want.extend((a / 100..b.div_ceil(100)).map(|c| format!("node6-data/c/{c}")));
    assert_eq!(chunks, want, "{err}");
}

#[test]
fn flat_values_of_large_offsets_decode_their_first_and_last_chunks_only() {
    use akbuf::{Buffer, Cache, Form, MemorySource, Options, ReadEvent, WriteOptions};
    let form = Form::from_json(
        r#"{"class": "ListOffsetArray", "offsets": "i64",
        "content": {"class": "NumpyArray", "primitive": "float32", "form_key": "node1"},
        "form_key": "node0"}"#,
    )
    .unwrap();
    let n = 200_000; // 1.6 MB of offsets: 25 chunks of 64 KiB
    let mut offsets = vec![3i64];
    for i in 0..n {
        offsets.push(offsets[i] + (i % 4) as i64);
    }
    let content: Vec<f32> = (0..offsets[n] + 2).map(|x| x as f32).collect();
    let array = akbuf::from_buffers(
        &form,
        n,
        MemorySource::new()
            .with("node0-offsets", Buffer::from_slice(&offsets))
            .with("node1-data", Buffer::from_slice(&content)),
        Options::default(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("lists.zarr");
    let mut options = WriteOptions::default();
    options.chunk_bytes = Some(64 << 10);
    akbuf::write_to(&array, &store, &options).unwrap();

    let heard = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&heard);
    let cache = std::sync::Arc::new(
        Cache::new().with_observer(move |e: &ReadEvent<'_>| log.lock().push(e.key.to_string())),
    );
    let back = akbuf::open_with(&store, Options::default().with_cache(cache)).unwrap();
    let got = back.flat_values::<f32>().unwrap();
    assert_eq!(got.as_slice(), &content[3..offsets[n] as usize]);
    let mut decoded: Vec<String> = heard
        .lock()
        .iter()
        .filter(|k| k.starts_with("node0-offsets/"))
        .cloned()
        .collect();
    decoded.sort();
    assert_eq!(decoded, ["node0-offsets/c/0", "node0-offsets/c/24"]);
}
