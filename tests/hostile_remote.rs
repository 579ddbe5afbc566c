//! Remote reads against a server that lies (feature `remote`): every
//! ranged answer is checked (status, Content-Range, body length), an
//! encoding akbuf did not ask for is refused, two versions of one object
//! are never stitched together, one time budget bounds a read whatever
//! its retries and fallbacks, `info` asks sizes instead of calling
//! buffers missing, and prefetch asks only the bytes the nodes need.
//! The server is `common::hostile`, on loopback, in this process.
#![cfg(feature = "remote")]

mod common;

use akbuf::{open_with, Cache, Error, Fetch, Options};
use common::hostile::{Hostile, Trick};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sample() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))
}

/// Small parts, so that the 8,008-byte jets offsets (node4) come in several.
fn small_parts() -> Fetch {
    Fetch::default()
        .with_coalescing(0, 1024)
        .with_retries(1)
        .with_timeout(Duration::from_secs(5))
}

fn open(server: &Hostile, fetch: Fetch) -> akbuf::Array {
    let options = Options::default()
        .with_cache(Arc::new(Cache::new()))
        .with_fetch(fetch);
    open_with(format!("{}/events", server.url()), options).unwrap()
}

/// The error of reading the jets (offsets and pt), which must name `key`.
fn jets_error(server: &Hostile, fetch: Fetch, key: &str) -> String {
    let events = open(server, fetch);
    let err = events
        .field_path("jets.pt")
        .unwrap()
        .to_json()
        .expect_err("a lying server must give an error, not values");
    assert_eq!(err.key(), Some(key), "{err}");
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    text
}

fn akbuf_bin() -> &'static str {
    env!("CARGO_BIN_EXE_akbuf")
}

#[test]
fn a_range_answered_with_a_longer_body_is_refused() {
    let server = Hostile::serve_dir(sample(), "events", Trick::LongBody, &["node4-offsets"]);
    // A whole read in parts.
    let text = jets_error(&server, small_parts(), "node4-offsets");
    assert!(text.contains("more than"), "{text}");
    // One ranged request in the middle of the object (a row slice).
    let events = open(&server, Fetch::default().with_retries(0));
    let err = events
        .slice(500..510)
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .to_json()
        .unwrap_err();
    assert_eq!(err.key(), Some("node4-offsets"), "{err}");
    assert!(err.to_string().contains("more than"), "{err}");
}

#[test]
fn a_range_other_than_the_one_asked_is_refused() {
    let server = Hostile::serve_dir(sample(), "events", Trick::WrongRange, &["node4-offsets"]);
    let text = jets_error(&server, small_parts(), "node4-offsets");
    // (object_store compares Content-Range with the request first.)
    assert!(
        text.contains("answered bytes") || text.contains("Requested"),
        "{text}"
    );
}

#[test]
fn an_encoded_body_is_refused_and_identity_asked_for() {
    let server = Hostile::serve_dir(sample(), "events", Trick::Gzip, &["-offsets", "-data"]);
    let text = jets_error(&server, Fetch::default().with_retries(0), "node4-offsets");
    assert!(text.contains("Content-Encoding"), "{text}");
    let seen = server.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        assert_eq!(s.accept_encoding.as_deref(), Some("identity"), "{s:?}");
    }
    // metadata.json too.
    let server = Hostile::serve_dir(sample(), "events", Trick::Gzip, &["metadata.json"]);
    let err = open_with(format!("{}/events", server.url()), Options::default()).unwrap_err();
    assert!(err.to_string().contains("Content-Encoding"), "{err}");
}

#[test]
fn a_weak_etag_is_never_asked_for_with_if_match() {
    // A server that answers If-Match with 412 for its weak ETags: a key
    // read again after its first answer pinned the version reads right.
    let server = Hostile::serve_dir(sample(), "events", Trick::WeakETag, &[]);
    let url = format!("{}/events", server.url());
    use akbuf::Source;
    let source = akbuf::RemoteSource::open(&url, &small_parts()).unwrap();
    let whole = std::fs::read(sample().join("node10-offsets")).unwrap();
    let first = source.read_range("node10-offsets", 0..8).unwrap().unwrap();
    let again = source
        .read_range("node10-offsets", 8..4000)
        .unwrap()
        .unwrap();
    assert_eq!(first.as_slice(), &whole[..8]);
    assert_eq!(again.as_slice(), &whole[8..4000]);
    let events = open(&server, small_parts());
    let got = events.field_path("jets.pt").unwrap().to_json().unwrap();
    let local = akbuf::open(sample())
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(got, local);
}

#[test]
fn two_versions_are_never_stitched_into_one_buffer() {
    for etags in [true, false] {
        let server = Hostile::serve_dir(
            sample(),
            "events",
            Trick::NewVersion { etags },
            &["node4-offsets"],
        );
        let text = jets_error(&server, small_parts(), "node4-offsets");
        assert!(text.contains("changed since it was opened"), "{text}");
        let parts = server
            .seen()
            .iter()
            .filter(|s| s.path.ends_with("node4-offsets"))
            .count();
        assert!(parts >= 2, "the read was in parts: {parts}");
    }
}

#[test]
fn an_honest_server_still_reads_the_same_values() {
    let server = Hostile::serve_dir(sample(), "events", Trick::Honest, &[]);
    let local = akbuf::open(sample()).unwrap();
    for fetch in [small_parts(), Fetch::default()] {
        let remote = open(&server, fetch);
        assert_eq!(remote.to_json().unwrap(), local.to_json().unwrap());
    }
}

#[test]
fn a_stalled_server_costs_one_budget_and_no_fallback() {
    let server = Hostile::serve_dir(sample(), "events", Trick::Stall, &["node3-data"]);
    let budget = Duration::from_secs(1);
    let events = open(
        &server,
        Fetch::default().with_retries(4).with_timeout(budget),
    );
    let started = Instant::now();
    let err = events.field("met").unwrap().to_json().unwrap_err();
    let took = started.elapsed();
    eprintln!("a stalled read failed after {took:?} (budget {budget:?})");
    assert_eq!(err.key(), Some("node3-data"), "{err}");
    assert!(err.to_string().contains("no answer"), "{err}");
    assert!(matches!(err, Error::Source { .. }), "{err:?}");
    assert_eq!(
        err.io_error().map(|io| io.kind()),
        Some(std::io::ErrorKind::TimedOut)
    );
    // No plain GET after the ranged one: no second cycle.
    let asked: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("node3-data"))
        .collect();
    assert!(asked.iter().all(|s| s.range.is_some()), "{asked:?}");
}

#[test]
fn server_errors_are_retried_once_per_read_not_once_per_fallback() {
    let server = Hostile::serve_dir(sample(), "events", Trick::Status(500), &["node3-data"]);
    let events = open(&server, Fetch::default().with_retries(2));
    let err = events.field("met").unwrap().to_json().unwrap_err();
    assert_eq!(err.key(), Some("node3-data"), "{err}");
    let asked: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("node3-data"))
        .collect();
    // One request and its two retries, all ranged.
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked.iter().all(|s| s.range.is_some()), "{asked:?}");
}

#[test]
fn info_asks_the_sizes_and_calls_no_present_buffer_missing() {
    let server = Hostile::serve_dir(sample(), "events", Trick::Honest, &[]);
    let local = akbuf::open(sample()).unwrap().stat_buffers();
    let remote = open(&server, Fetch::default()).stat_buffers();
    assert_eq!(remote.len(), local.len());
    for (r, l) in remote.iter().zip(&local) {
        assert_eq!(
            (&r.key, r.stored_bytes, r.present),
            (&l.key, l.stored_bytes, Some(true))
        );
    }
    let heads = server.seen().iter().filter(|s| s.method == "HEAD").count();
    assert_eq!(heads, local.len(), "one HEAD per buffer");
    let gets: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.path)
        .collect();
    assert_eq!(
        gets,
        vec!["/events/metadata.json".to_string()],
        "no buffer read"
    );
    // The CLI.
    let out = Command::new(akbuf_bin())
        .args(["info", &format!("{}/events", server.url())])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("buffer node10-offsets int64 8008"), "{text}");
    assert!(text.contains("total 11 buffers 104959 bytes\n"), "{text}");
    assert!(!text.contains("missing"), "{text}");
    // A buffer that is not there is missing; one whose size cannot be had is unknown.
    let mut objects = std::collections::HashMap::new();
    for e in std::fs::read_dir(sample()).unwrap() {
        let e = e.unwrap();
        let key = e.file_name().to_string_lossy().to_string();
        if key != "node3-data" {
            objects.insert(format!("/events/{key}"), std::fs::read(e.path()).unwrap());
        }
    }
    let server = Hostile::start(objects, Trick::Honest, &[]);
    let out = Command::new(akbuf_bin())
        .args(["info", &format!("{}/events", server.url())])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("buffer node3-data float32 missing"), "{text}");
    assert!(text.contains("(1 missing)"), "{text}");
}

#[test]
fn prefetch_asks_only_the_bytes_the_nodes_need() {
    // A container whose met data object holds far more than its 1000
    // float32s (4000 bytes): garbage after them.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("events");
    std::fs::create_dir(&copy).unwrap();
    for e in std::fs::read_dir(sample()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(e.file_name())).unwrap();
    }
    let mut data = std::fs::read(copy.join("node3-data")).unwrap();
    data.resize(1 << 20, 0xAB);
    std::fs::write(copy.join("node3-data"), &data).unwrap();
    let mut jets = std::fs::read(copy.join("node6-data")).unwrap();
    jets.resize(1 << 20, 0xAB);
    std::fs::write(copy.join("node6-data"), &jets).unwrap();
    let server = Hostile::serve_dir(&copy, "events", Trick::Honest, &[]);
    let events = open(&server, Fetch::default());
    assert_eq!(events.prefetch(&["met", "jets.pt"]).unwrap(), 3);
    let local = akbuf::open(sample()).unwrap();
    assert_eq!(
        events.field("met").unwrap().to_json().unwrap(),
        local.field("met").unwrap().to_json().unwrap()
    );
    let ranges: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && !s.path.ends_with("metadata.json"))
        .map(|s| (s.path, s.range))
        .collect();
    let of = |key: &str| {
        ranges
            .iter()
            .filter(|(p, _)| p.ends_with(key))
            .map(|(_, r)| r.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of("node3-data"),
        vec!["bytes=0-3999".to_string()],
        "{ranges:?}"
    );
    assert_eq!(
        of("node4-offsets"),
        vec!["bytes=0-8007".to_string()],
        "{ranges:?}"
    );
    assert_eq!(
        of("node6-data"),
        vec!["bytes=0-15831".to_string()],
        "{ranges:?}"
    );
    // The CLI's `show --field` prefetches the same way.
    let server = Hostile::serve_dir(&copy, "events", Trick::Honest, &[]);
    let out = Command::new(akbuf_bin())
        .args([
            "show",
            &format!("{}/events", server.url()),
            "--field",
            "met",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let asked: Vec<_> = server
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("node3-data"))
        .map(|s| s.range.unwrap_or_default())
        .collect();
    assert_eq!(asked, vec!["bytes=0-3999".to_string()]);
}

#[test]
fn the_cli_takes_a_request_timeout() {
    let server = Hostile::serve_dir(sample(), "events", Trick::Stall, &["node3-data"]);
    let url = format!("{}/events", server.url());
    for (args, env) in [(vec!["--request-timeout", "1"], None), (vec![], Some("1"))] {
        let mut cmd = Command::new(akbuf_bin());
        cmd.args(["show", &url, "--field", "met"]).args(&args);
        if let Some(v) = env {
            cmd.env("AKBUF_REQUEST_TIMEOUT", v);
        }
        let started = Instant::now();
        let out = cmd.output().unwrap();
        eprintln!("show over a stalled server: {:?}", started.elapsed());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("node3-data") && err.contains("no answer"),
            "{err}"
        );
    }
    let out = Command::new(akbuf_bin())
        .args(["show", &url, "--request-timeout", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// The values of every field read through `server`, or the first error.
fn read_all(server: &Hostile, fetch: Fetch) -> Result<String, Error> {
    let options = Options::default()
        .with_cache(Arc::new(Cache::new()))
        .with_fetch(fetch);
    open_with(format!("{}/events", server.url()), options)?.to_json()
}

fn one_line_naming(err: &Error, key: &str) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains(key), "{text}");
}

#[test]
fn a_server_that_ignores_ranges_still_gives_the_right_values() {
    let local = akbuf::open(sample()).unwrap().to_json().unwrap();
    let server = Hostile::serve_dir(sample(), "events", Trick::IgnoreRange, &[]);
    for fetch in [small_parts(), Fetch::default()] {
        assert_eq!(read_all(&server, fetch).unwrap(), local);
    }
    // A row slice too (its ranges answered with whole objects).
    let events = open(&server, Fetch::default());
    assert_eq!(
        events.slice(500..510).unwrap().to_json().unwrap(),
        akbuf::open(sample())
            .unwrap()
            .slice(500..510)
            .unwrap()
            .to_json()
            .unwrap()
    );
}

#[test]
fn a_short_body_or_a_lying_length_is_an_error_naming_the_key() {
    for trick in [Trick::ShortBody, Trick::LyingLength] {
        let server = Hostile::serve_dir(sample(), "events", trick.clone(), &["node4-offsets"]);
        for fetch in [small_parts(), Fetch::default().with_retries(1)] {
            let err = read_all(&server, fetch).expect_err("a short body must not give values");
            assert_eq!(err.key(), Some("node4-offsets"), "{trick:?}: {err}");
            one_line_naming(&err, "node4-offsets");
        }
    }
}

#[test]
fn a_503_then_an_answer_is_retried_and_read() {
    let local = akbuf::open(sample()).unwrap().to_json().unwrap();
    let server = Hostile::serve_dir(sample(), "events", Trick::Flaky(1), &[]);
    assert_eq!(
        read_all(&server, Fetch::default().with_retries(2)).unwrap(),
        local
    );
    let meta = server
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("metadata.json"))
        .count();
    assert_eq!(meta, 2, "one 503, one answer");
    // Without retries, the 503 is the error, naming the object.
    let server = Hostile::serve_dir(sample(), "events", Trick::Flaky(1), &["node3-data"]);
    let err = read_all(&server, Fetch::default().with_retries(0)).unwrap_err();
    assert_eq!(err.key(), Some("node3-data"), "{err}");
    one_line_naming(&err, "503");
}

#[test]
fn a_redirect_loop_ends_in_an_error() {
    let server = Hostile::serve_dir(sample(), "events", Trick::RedirectLoop, &["node3-data"]);
    let started = Instant::now();
    let err = read_all(&server, Fetch::default().with_retries(1)).unwrap_err();
    assert_eq!(err.key(), Some("node3-data"), "{err}");
    one_line_naming(&err, "node3-data");
    let asked = server
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("node3-data"))
        .count();
    assert!(asked <= 64, "{asked} requests");
    assert!(started.elapsed() < Duration::from_secs(20));
    let server = Hostile::serve_dir(sample(), "events", Trick::RedirectLoop, &["metadata.json"]);
    let err = open_with(format!("{}/events", server.url()), Options::default()).unwrap_err();
    one_line_naming(&err, "metadata.json");
}

#[test]
fn one_missing_buffer_is_an_error_naming_it_and_the_rest_reads() {
    let server = Hostile::serve_dir(sample(), "events", Trick::Status(404), &["node3-data"]);
    let events = open(&server, Fetch::default());
    let err = events.field("met").unwrap().to_json().unwrap_err();
    assert_eq!(err.key(), Some("node3-data"), "{err}");
    one_line_naming(&err, "node3-data");
    let local = akbuf::open(sample()).unwrap();
    assert_eq!(
        events.field_path("jets.pt").unwrap().to_json().unwrap(),
        local.field_path("jets.pt").unwrap().to_json().unwrap()
    );
}

#[test]
fn html_where_metadata_should_be_is_an_error() {
    let server = Hostile::serve_dir(sample(), "events", Trick::Html, &["metadata.json"]);
    let err = open_with(format!("{}/events", server.url()), Options::default()).unwrap_err();
    one_line_naming(&err, "metadata.json");
    // A buffer answered by a page: its size is not the buffer's.
    let server = Hostile::serve_dir(sample(), "events", Trick::Html, &["node3-data"]);
    let err = read_all(&server, Fetch::default().with_retries(0)).unwrap_err();
    assert_eq!(err.key(), Some("node3-data"), "{err}");
}

#[test]
fn a_huge_metadata_json_is_refused_without_downloading_it() {
    let mut objects = std::collections::HashMap::new();
    objects.insert("/events/metadata.json".to_string(), Vec::new());
    let server = Hostile::start(objects, Trick::Huge(300_000_000), &["metadata.json"]);
    let started = Instant::now();
    let err = open_with(format!("{}/events", server.url()), Options::default()).unwrap_err();
    one_line_naming(&err, "metadata.json");
    assert!(err.to_string().contains("more than"), "{err}");
    std::thread::sleep(Duration::from_millis(100));
    let sent = server.huge_sent();
    eprintln!(
        "a 300 MB metadata.json refused after {:?}, {sent} bytes sent",
        started.elapsed()
    );
    assert!(sent < 64 << 20, "{sent} bytes downloaded");
    // The CLI: exit 1, one line.
    let out = Command::new(akbuf_bin())
        .args(["show", &format!("{}/events", server.url())])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_body_that_stalls_after_its_head_ends_within_the_budget() {
    let server = Hostile::serve_dir(sample(), "events", Trick::StallBody, &["node3-data"]);
    let budget = Duration::from_secs(1);
    let events = open(
        &server,
        Fetch::default().with_retries(2).with_timeout(budget),
    );
    let started = Instant::now();
    let err = events.field("met").unwrap().to_json().unwrap_err();
    let took = started.elapsed();
    eprintln!("a body stalled after its head failed after {took:?}");
    assert_eq!(err.key(), Some("node3-data"), "{err}");
    one_line_naming(&err, "node3-data");
    assert!(took < Duration::from_secs(15), "{took:?}");
    // metadata.json stalling: open fails within its budget too.
    for trick in [Trick::Stall, Trick::StallBody] {
        let server = Hostile::serve_dir(sample(), "events", trick.clone(), &["metadata.json"]);
        let options = Options::default().with_fetch(Fetch::default().with_timeout(budget));
        let started = Instant::now();
        let err = open_with(format!("{}/events", server.url()), options).unwrap_err();
        let took = started.elapsed();
        eprintln!("{trick:?} on metadata.json failed after {took:?}: {err}");
        one_line_naming(&err, "metadata.json");
        assert!(took < Duration::from_secs(15), "{took:?}");
    }
}

/// Puts `body` at `path` (or removes it: `what` = "rm") in moto's store,
/// through s3fs (a signed request, as a writer would make it).
fn s3(moto: &common::servers::Moto, what: &str, path: &str, body: &[u8]) {
    let py = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let script = "import s3fs, sys\n\
fs = s3fs.S3FileSystem(key='testing', secret='testing', client_kwargs={'endpoint_url': sys.argv[1], 'region_name': 'us-east-1'})\n\
if sys.argv[2] == 'put':\n    fs.pipe(sys.argv[3], sys.stdin.buffer.read())\n\
else:\n    fs.rm(sys.argv[3])\n";
    let mut child = Command::new(py)
        .args(["-c", script, &moto.endpoint(), what, path])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    assert!(child.wait().unwrap().success(), "s3fs {what} {path}");
}

#[test]
fn s3_objects_rewritten_or_deleted_under_a_reader_are_errors_naming_them() {
    let Some(moto) = common::servers::Moto::start("hostile") else {
        return;
    };
    let mut fetch = Fetch::default().with_retries(1);
    for (k, v) in moto.config() {
        fetch = fetch.with_config(&k, &v);
    }
    let local = akbuf::open(sample()).unwrap();
    akbuf::write_to(
        &local,
        "s3://hostile/events",
        &akbuf::WriteOptions::default().with_fetch(fetch.clone()),
    )
    .unwrap();
    let options = || {
        Options::default()
            .with_cache(Arc::new(Cache::new()))
            .with_fetch(fetch.clone())
    };
    let events = open_with("s3://hostile/events", options()).unwrap();
    // A first range of the jets offsets, at the version stored.
    let slice = |a, b| {
        events
            .slice(a..b)
            .unwrap()
            .field_path("jets.pt")
            .unwrap()
            .to_json()
    };
    assert_eq!(
        slice(0, 10).unwrap(),
        local
            .slice(0..10)
            .unwrap()
            .field_path("jets.pt")
            .unwrap()
            .to_json()
            .unwrap()
    );
    // The offsets rewritten (the same size, other bytes): the next range of
    // them is an error naming the key, never the new bytes under the old ones.
    let offsets = std::fs::read(sample().join("node4-offsets")).unwrap();
    let other: Vec<u8> = offsets.iter().map(|b| !b).collect();
    s3(&moto, "put", "hostile/events/node4-offsets", &other);
    let err = slice(500, 510).unwrap_err();
    assert_eq!(err.key(), Some("node4-offsets"), "{err}");
    assert!(err.to_string().contains("changed"), "{err}");
    one_line_naming(&err, "node4-offsets");
    // A buffer deleted: an error naming it.
    s3(&moto, "rm", "hostile/events/node3-data", &[]);
    let err = events.field("met").unwrap().to_json().unwrap_err();
    assert_eq!(err.key(), Some("node3-data"), "{err}");
    one_line_naming(&err, "node3-data");
    // metadata.json replaced by a page: opening it is one line.
    s3(
        &moto,
        "put",
        "hostile/events/metadata.json",
        b"<html></html>",
    );
    let err = open_with("s3://hostile/events", options()).unwrap_err();
    one_line_naming(&err, "metadata.json");
}
