//! A Zarr store behind a server that lies (features `zarr`, `remote`): a
//! `zarr.json` or a chunk far larger than it may be is refused without
//! downloading it, and a chunk answered wrongly (an error status, HTML, an
//! encoding not asked for, a length the body does not have) ends the read
//! in one line naming the buffer key. The server is `common::hostile`, on
//! loopback, in this process.
#![cfg(all(feature = "zarr", feature = "remote"))]

mod common;

use akbuf::{open_with, Cache, Fetch, Options};
use common::hostile::{Hostile, Trick};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// zarr-python's chunked store of the sample (chunks of 100 elements,
/// zstd), every file an object under `/events.zarr/`.
fn serve(trick: Trick, only: &[&str]) -> Hostile {
    serve_store("events.chunked.zarr", trick, only)
}

/// The fixture store `name`, every file an object under `/events.zarr/`.
fn serve_store(name: &str, trick: Trick, only: &[&str]) -> Hostile {
    fn walk(dir: &Path, prefix: &str, objects: &mut HashMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
            if e.path().is_dir() {
                walk(&e.path(), &name, objects);
            } else {
                objects.insert(name, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let store = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zarr")
        .join(name);
    let mut objects = HashMap::new();
    walk(&store, "/events.zarr", &mut objects);
    Hostile::start(objects, trick, only)
}

fn options() -> Options {
    Options::default()
        .with_cache(Arc::new(Cache::new()))
        .with_fetch(
            Fetch::default()
                .with_retries(1)
                .with_timeout(Duration::from_secs(3)),
        )
}

fn open(server: &Hostile) -> akbuf::Result<akbuf::Array> {
    open_with(format!("{}/events.zarr", server.url()), options())
}

/// The error of reading the jets' pt (offsets, then content): one line
/// naming `key`.
fn jets_error(server: &Hostile, key: &str) -> String {
    let err = open(server)
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .to_json()
        .expect_err("a lying server must give an error, not values");
    let text = err.to_string();
    assert_eq!(err.key(), Some(key), "{text}");
    assert!(!text.contains('\n'), "{text}");
    text
}

#[test]
fn an_honest_server_reads_the_values_of_the_local_store() {
    let server = serve(Trick::Honest, &[]);
    let remote = open(&server).unwrap();
    let local = akbuf::open(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zarr/events.chunked.zarr"),
    )
    .unwrap();
    assert_eq!(remote.to_json().unwrap(), local.to_json().unwrap());
}

#[test]
fn zarr_json_far_too_large_is_refused_without_downloading_it() {
    // The group's: the open fails.
    let server = serve(Trick::Huge(300_000_000), &["events.zarr/zarr.json"]);
    let err = open(&server).unwrap_err().to_string();
    assert!(err.contains("more than") && !err.contains('\n'), "{err}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        server.huge_sent() < 64 << 20,
        "{} bytes sent",
        server.huge_sent()
    );

    // An array's: reading it fails, naming its key.
    let server = serve(Trick::Huge(300_000_000), &["node4-offsets/zarr.json"]);
    let err = jets_error(&server, "node4-offsets");
    assert!(
        err.contains("zarr.json") && err.contains("more than"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        server.huge_sent() < 64 << 20,
        "{} bytes sent",
        server.huge_sent()
    );
}

#[test]
fn a_chunk_far_larger_than_its_shape_encodes_to_is_refused_without_downloading_it() {
    let server = serve(Trick::Huge(300_000_000), &["node4-offsets/c/0"]);
    let err = jets_error(&server, "node4-offsets");
    assert!(err.contains("chunk 0"), "{err}");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        server.huge_sent() < 64 << 20,
        "{} bytes sent",
        server.huge_sent()
    );
}

#[test]
fn a_chunk_answered_wrongly_is_one_line_naming_the_key_and_chunk() {
    for trick in [
        Trick::Status(500),
        Trick::Html,
        Trick::Gzip,
        Trick::LyingLength,
        Trick::StallBody,
    ] {
        let server = serve(trick.clone(), &["node4-offsets/c/1"]);
        let err = jets_error(&server, "node4-offsets");
        assert!(err.contains("chunk 1"), "{trick:?}: {err}");
    }
}

#[test]
fn a_zarr_v2_store_over_http_reads_as_the_local_one() {
    let server = serve_store("events.v2.zarr", Trick::Honest, &[]);
    let remote = open(&server).unwrap();
    // The open: zarr.json (not there), then the group's .zattrs.
    let paths: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        ["/events.zarr/zarr.json", "/events.zarr/.zattrs"],
        "{paths:?}"
    );
    let local = akbuf::open(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zarr/events.v2.zarr"),
    )
    .unwrap();
    assert_eq!(remote.to_json().unwrap(), local.to_json().unwrap());
    // Each array's metadata asked once, as .zarray (no zarr.json first).
    let seen: Vec<String> = server.seen().into_iter().map(|s| s.path).collect();
    assert!(
        !seen.iter().skip(2).any(|p| p.ends_with("zarr.json")),
        "{seen:?}"
    );
}
