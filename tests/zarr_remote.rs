//! Zarr v3 groups under URLs (features `zarr` and `remote`): a store served
//! by nginx on loopback read through the remote source, chunk by chunk —
//! opening asks for the group's `zarr.json` only, a row range asks for the
//! chunks it overlaps, a second process over a disk tier asks one
//! conditional request — and a store in moto's S3.
#![cfg(all(feature = "zarr", feature = "remote"))]

mod common;

use akbuf::{open_with, Cache, DiskCache, Options};
use common::servers::Nginx;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zarr")
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events")
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

fn open(url: &str, cache: &Arc<Cache>) -> akbuf::Array {
    open_with(url, Options::default().with_cache(Arc::clone(cache))).unwrap()
}

#[test]
fn a_store_over_http_reads_as_the_local_one_chunk_by_chunk() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    copy_dir(
        &fixtures().join("events.chunked.zarr"),
        &nginx.www.join("events.zarr"),
    );
    copy_dir(
        &fixtures().join("cells.zarr"),
        &nginx.www.join("cells.zarr"),
    );
    let url = format!("{}/events.zarr", nginx.url());

    // Opening: the group's zarr.json, nothing else.
    let mark = nginx.mark();
    let cache = Arc::new(Cache::new());
    let events = open(&url, &cache);
    let log = nginx.since(mark);
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].path.ends_with("/events.zarr/zarr.json"), "{log:?}");

    // Rows 150..160 of jets: the offsets' chunk 1 (chunks of 100
    // elements) and the chunks of pt those rows' jets are in.
    let mark = nginx.mark();
    let rows = events.slice(150..160).unwrap();
    let pt = rows.field_path("jets.pt").unwrap().to_json().unwrap();
    let local = akbuf::open(sample()).unwrap();
    let want = local
        .slice(150..160)
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(pt, want);
    let chunks: Vec<String> = nginx
        .since(mark)
        .into_iter()
        .filter(|l| l.path.contains("/c/"))
        .map(|l| l.path)
        .collect();
    assert!(
        chunks
            .iter()
            .any(|p| p.ends_with("/events.zarr/node4-offsets/c/1")),
        "{chunks:?}"
    );
    assert!(
        !chunks.iter().any(|p| p.ends_with("/node4-offsets/c/0")),
        "{chunks:?}"
    );
    assert!(chunks.len() <= 4, "only the overlapping chunks: {chunks:?}");

    // The whole array, and an anndata element as STORE.zarr:GROUP.
    assert_eq!(events.to_json().unwrap(), local.to_json().unwrap());
    let airr = open(&format!("{}/cells.zarr:obsm/airr", nginx.url()), &cache);
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("cells.expected.json")).unwrap(),
    )
    .unwrap();
    let got: serde_json::Value = serde_json::from_str(&airr.to_json().unwrap()).unwrap();
    assert_eq!(got, expected);
    let same = open(&format!("{}/cells.zarr/obsm/airr", nginx.url()), &cache);
    assert_eq!(same.to_json().unwrap(), airr.to_json().unwrap());

    // A missing group: one line naming zarr.json.
    let err = open_with(format!("{}/none.zarr", nginx.url()), Options::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("zarr.json"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_second_process_over_a_disk_tier_asks_only_for_zarr_json() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    copy_dir(
        &fixtures().join("events.sharded.zarr"),
        &nginx.www.join("events.zarr"),
    );
    let url = format!("{}/events.zarr", nginx.url());
    let tier = tempfile::tempdir().unwrap();
    let read = |url: &str| {
        let cache = Arc::new(Cache::new().with_disk(DiskCache::new(tier.path())));
        let events = open(url, &cache);
        events
            .field_path("jets.pt")
            .unwrap()
            .flat_values::<f32>()
            .unwrap()
            .to_vec()
    };
    let local: Vec<f32> = akbuf::open(sample())
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .flat_values::<f32>()
        .unwrap()
        .to_vec();
    let mark = nginx.mark();
    assert_eq!(read(&url), local);
    let first = nginx.since(mark);
    assert!(first.len() > 2, "{first:?}");

    let mark = nginx.mark();
    assert_eq!(read(&url), local);
    let second = nginx.since(mark);
    assert_eq!(second.len(), 1, "only the revalidation: {second:?}");
    assert!(
        second[0].path.ends_with("zarr.json") && second[0].status == 304,
        "{second:?}"
    );
}
