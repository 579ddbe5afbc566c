//! Zarr v3 groups under URLs (features `zarr` and `remote`): a store served
//! by nginx on loopback read through the remote source, chunk by chunk —
//! opening asks for the group's `zarr.json` only, a row range asks for the
//! chunks it overlaps, a second process over a disk tier asks one
//! conditional request — and a store in moto's S3.
#![cfg(all(feature = "zarr", feature = "remote"))]

mod common;

use akbuf::{open_with, Cache, DiskCache, Options};
use akbuf::{Fetch, WriteOptions};
use common::servers::{Moto, Nginx};
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

#[test]
fn a_group_written_to_s3_reads_back_and_a_failed_one_leaves_nothing() {
    let Some(moto) = Moto::start("akbuf") else {
        return;
    };
    let mut fetch = Fetch::default();
    fetch.config = moto.config();
    let events = akbuf::open(sample()).unwrap();
    let opts = WriteOptions::default()
        .with_chunks(4096, Some(16384))
        .with_fetch(fetch.clone());
    akbuf::write_to(&events, "s3://akbuf/events.zarr", &opts).unwrap();
    // The group's zarr.json and each array's, chunks in shards.
    let listing = objects(&moto, "events.zarr/node4-offsets");
    assert_eq!(
        listing,
        [
            "events.zarr/node4-offsets/c/0",
            "events.zarr/node4-offsets/zarr.json"
        ],
        "8,008 bytes of offsets: one shard"
    );
    let back = open_with(
        "s3://akbuf/events.zarr",
        Options::default().with_fetch(fetch.clone()),
    )
    .unwrap();
    assert_eq!(back.to_json().unwrap(), events.to_json().unwrap());
    let rows = back.slice(500..510).unwrap().to_json().unwrap();
    assert_eq!(rows, events.slice(500..510).unwrap().to_json().unwrap());
    // A second write to the same prefix is refused.
    let err = akbuf::write_to(&events, "s3://akbuf/events.zarr", &opts).unwrap_err();
    assert!(err.to_string().contains("already holds objects"), "{err}");

    // A copy whose source fails midway uploads nothing that stays.
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for e in std::fs::read_dir(sample()).unwrap().flatten() {
        std::fs::copy(e.path(), broken.join(e.file_name())).unwrap();
    }
    let last = events.buffers().last().unwrap().key.clone();
    std::fs::remove_file(broken.join(&last)).unwrap();
    let array = akbuf::open(&broken).unwrap();
    assert!(akbuf::write_to(&array, "s3://akbuf/half.zarr", &opts).is_err());
    assert_eq!(objects(&moto, "half.zarr"), Vec::<String>::new());
}

/// The objects under `prefix` in moto's bucket, by object_store's listing.
fn objects(moto: &Moto, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let mut builder = object_store::aws::AmazonS3Builder::new().with_bucket_name("akbuf");
    for (k, v) in moto.config() {
        builder = builder.with_config(k.parse().unwrap(), v);
    }
    let store = builder.build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut names: Vec<String> = rt
        .block_on(
            store
                .list(Some(&object_store::path::Path::from(prefix)))
                .try_collect::<Vec<_>>(),
        )
        .unwrap()
        .into_iter()
        .map(|m| m.location.to_string())
        .collect();
    names.sort();
    names
}
