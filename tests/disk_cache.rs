//! The disk tier under the cache (feature `remote`): against nginx and
//! moto's S3 on loopback, what a second process asks of the server, what
//! a rewritten object or a damaged piece gives, two processes on one cold
//! tier, the budget, an unwritable tier, and a container rewritten under
//! a reader.
#![cfg(feature = "remote")]

mod common;

use akbuf::{open_with, Cache, DiskCache, Fetch, Options, Source};

use common::servers::{serve_copy, Logged, Moto, Nginx, Proxy};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn sample() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))
}

/// `jets.pt` of the container at `url`, read as a fresh process would:
/// a new cache over the tier in `dir` (if any).
fn jets_pt(url: &str, dir: Option<&Path>, fetch: &Fetch) -> akbuf::Result<(Vec<f32>, Arc<Cache>)> {
    let mut cache = Cache::new();
    if let Some(d) = dir {
        cache = cache.with_disk(DiskCache::new(d));
    }
    let cache = Arc::new(cache);
    let options = Options::default()
        .with_cache(Arc::clone(&cache))
        .with_fetch(fetch.clone());
    let events = open_with(url, options)?;
    let pt = events.field_path("jets.pt")?.flat_values::<f32>()?.to_vec();
    Ok((pt, cache))
}

fn local_pt() -> Vec<f32> {
    akbuf::open(sample())
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .flat_values::<f32>()
        .unwrap()
        .to_vec()
}

/// The buffer keys requested in `log` (metadata.json left out).
fn buffer_gets(log: &[Logged]) -> Vec<String> {
    let mut keys: Vec<String> = log
        .iter()
        .filter(|l| l.method == "GET" && !l.path.ends_with("metadata.json"))
        .map(|l| l.path.rsplit('/').next().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

/// Every piece file under the tier's directory.
fn pieces(dir: &Path) -> Vec<PathBuf> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "piece") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

#[test]
fn a_second_process_asks_one_conditional_request_then_reads_from_disk() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    serve_copy(sample(), &nginx.www, "events");
    let url = format!("{}/events", nginx.url());
    let tier = tempfile::tempdir().unwrap();
    let mark = nginx.mark();
    let (first, cache) = jets_pt(&url, Some(tier.path()), &Fetch::default()).unwrap();
    assert_eq!(first, local_pt());
    let log = nginx.since(mark);
    assert_eq!(buffer_gets(&log).len(), 2, "{log:?}"); // jets offsets, pt
    assert_eq!(
        cache.disk().unwrap().stats().stored,
        3,
        "metadata.json and the two buffers"
    );

    let mark = nginx.mark();
    let (second, cache) = jets_pt(&url, Some(tier.path()), &Fetch::default()).unwrap();
    assert_eq!(second, first);
    let log = nginx.since(mark);
    assert_eq!(log.len(), 1, "only the revalidation: {log:?}");
    assert!(
        log[0].path.ends_with("metadata.json") && log[0].status == 304,
        "{log:?}"
    );
    let stats = cache.disk().unwrap().stats();
    assert_eq!((stats.hits, stats.misses), (3, 0), "{stats:?}");

    // The command line, a process of its own: one request too.
    let bin = env!("CARGO_BIN_EXE_akbuf");
    let mark = nginx.mark();
    let out = Command::new(bin)
        .args(["--cache-dir", tier.path().to_str().unwrap()])
        .args(["show", &url, "--field", "jets.pt"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local = akbuf::open(sample())
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), local);
    assert_eq!(nginx.since(mark).len(), 1);
    // AKBUF_CACHE_DIR is the same option; `akbuf cache` shows and clears it.
    let out = Command::new(bin)
        .env("AKBUF_CACHE_DIR", tier.path())
        .arg("cache")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pieces: 3"), "{text}");
    let out = Command::new(bin)
        .env("AKBUF_CACHE_DIR", tier.path())
        .args(["cache", "--clear"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pieces: 0") && text.contains("bytes: 0"),
        "{text}"
    );
    assert!(pieces(tier.path()).is_empty());
    let out = Command::new(bin)
        .env_remove("AKBUF_CACHE_DIR")
        .arg("cache")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_rewritten_container_is_read_fresh_after_revalidation() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    let served = serve_copy(sample(), &nginx.www, "events");
    let url = format!("{}/events", nginx.url());
    let tier = tempfile::tempdir().unwrap();
    let (first, _) = jets_pt(&url, Some(tier.path()), &Fetch::default()).unwrap();
    // Rewritten with other rows: every object new, metadata.json last.
    let other = akbuf::open(sample()).unwrap().slice(500..1000).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let copy = fresh.path().join("c");
    akbuf::write_dir(&other, &copy, &akbuf::WriteOptions::default()).unwrap();
    std::fs::remove_dir_all(&served).unwrap();
    std::thread::sleep(Duration::from_millis(1100)); // a new Last-Modified second
    serve_copy(&copy, &nginx.www, "events");
    let mark = nginx.mark();
    let (second, cache) = jets_pt(&url, Some(tier.path()), &Fetch::default()).unwrap();
    let expected = other
        .field_path("jets.pt")
        .unwrap()
        .flat_values::<f32>()
        .unwrap()
        .to_vec();
    assert_eq!(second, expected);
    assert_ne!(second, first);
    let log = nginx.since(mark);
    assert_eq!(buffer_gets(&log).len(), 2, "read fresh: {log:?}");
    // No buffer from disk: both fetched (the old metadata.json was read
    // from disk only to ask whether it still holds).
    assert_eq!(cache.disk().unwrap().stats().misses, 2);
}

#[test]
fn a_rewrite_under_a_reader_is_an_error_naming_the_key() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    let served = serve_copy(sample(), &nginx.www, "events");
    let url = format!("{}/events", nginx.url());
    for tier in [None, Some(tempfile::tempdir().unwrap())] {
        let cache = Arc::new(match &tier {
            Some(t) => Cache::new().with_disk(DiskCache::new(t.path())),
            None => Cache::new(),
        });
        let events = open_with(&url, Options::default().with_cache(cache)).unwrap();
        let jets = events.field_path("jets.pt").unwrap();
        let info = jets.buffers();
        let data = info
            .iter()
            .find(|b| b.key.ends_with("-data"))
            .unwrap()
            .key
            .clone();
        // Written after the open (a later modification time).
        let path = served.join(&data);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, vec![0u8; bytes.len()]).unwrap();
        let later = SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .append(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let err = jets.flat_values::<f32>().unwrap_err().to_string();
        assert!(
            err.contains("changed since it was opened") && err.contains(&data),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        std::fs::write(&path, &bytes).unwrap();
    }
    // A key read once, then rewritten: its next range is refused (If-Match).
    let source = akbuf::RemoteSource::open(&url, &Fetch::default()).unwrap();
    let first = source.read_range("node10-offsets", 0..8).unwrap().unwrap();
    assert_eq!(first.len(), 8);
    let path = served.join("node10-offsets");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    let later = SystemTime::now() + Duration::from_secs(7);
    std::fs::File::options()
        .append(true)
        .open(&path)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let err = source
        .read_range("node10-offsets", 8..16)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("changed since it was opened") && err.contains("node10-offsets"),
        "{err}"
    );
}

#[test]
fn two_processes_on_one_cold_tier_fetch_each_buffer_once() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    serve_copy(sample(), &nginx.www, "events");
    // Each request held 100 ms: the two processes overlap.
    let proxy = Proxy::start(nginx.port, Duration::from_millis(100), 0);
    let url = format!("{}/events", proxy.url());
    let tier = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_akbuf");
    let mark = nginx.mark();
    let run = || {
        Command::new(bin)
            .args(["--cache-dir", tier.path().to_str().unwrap()])
            .args(["show", &url, "--field", "jets"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (run(), run());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout);
    let local = akbuf::open(sample())
        .unwrap()
        .field("jets")
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&a.stdout).trim(), local);
    let gets = buffer_gets(&nginx.since(mark));
    let mut unique = gets.clone();
    unique.dedup();
    assert_eq!(gets, unique, "one GET per buffer");
    assert_eq!(unique.len(), 5, "{gets:?}"); // offsets, pt, eta, phi, mass
}

#[test]
fn a_damaged_piece_is_fetched_again_never_served() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    serve_copy(sample(), &nginx.www, "events");
    let url = format!("{}/events", nginx.url());
    let tier = tempfile::tempdir().unwrap();
    jets_pt(&url, Some(tier.path()), &Fetch::default()).unwrap();
    let all = pieces(tier.path());
    assert_eq!(all.len(), 3);
    for (i, p) in all.iter().enumerate() {
        let mut bytes = std::fs::read(p).unwrap();
        let n = bytes.len();
        if i % 2 == 0 {
            bytes[n - 1] ^= 0x5a; // a flipped byte
            std::fs::write(p, bytes).unwrap();
        } else {
            std::fs::write(p, &bytes[..n - 3]).unwrap(); // truncated
        }
    }
    let mark = nginx.mark();
    let (pt, cache) = jets_pt(&url, Some(tier.path()), &Fetch::default()).unwrap();
    assert_eq!(pt, local_pt());
    let stats = cache.disk().unwrap().stats();
    assert_eq!(stats.corrupt, 3, "{stats:?}");
    assert_eq!(buffer_gets(&nginx.since(mark)).len(), 2);
    // Stored again, whole.
    let (again, cache) = jets_pt(&url, Some(tier.path()), &Fetch::default()).unwrap();
    assert_eq!(again, pt);
    assert_eq!(cache.disk().unwrap().stats().hits, 3);
}

#[test]
fn the_budget_holds_on_disk_and_an_unwritable_tier_only_warns() {
    let Some(nginx) = Nginx::start() else {
        return;
    };
    serve_copy(sample(), &nginx.www, "events");
    let url = format!("{}/events", nginx.url());
    let tier = tempfile::tempdir().unwrap();
    let budget = 20_000;
    let bin = env!("CARGO_BIN_EXE_akbuf");
    let out = Command::new(bin)
        .args([
            "--cache-dir",
            tier.path().to_str().unwrap(),
            "--cache-budget",
            "20000",
        ])
        .args(["show", &url])
        .output()
        .unwrap();
    assert!(out.status.success());
    let full = akbuf::open(sample()).unwrap().to_json().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), full);
    let held: u64 = pieces(tier.path())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert!(held <= budget && held > 0, "{held} bytes on disk");
    let usage = DiskCache::new(tier.path()).usage().unwrap();
    assert_eq!(usage.bytes, held);
    let out = Command::new(bin)
        .args(["--cache-budget", "12Q", "cache"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A tier that cannot be made (a file where its folder would be) and
    // a read-only one: right values from the network, one warning.
    let file = tier.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let readonly = tier.path().join("ro");
    std::fs::create_dir(&readonly).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&readonly, std::fs::Permissions::from_mode(0o555)).unwrap();
    for dir in [file.join("cache"), readonly.clone()] {
        let (pt, cache) = jets_pt(&url, Some(&dir), &Fetch::default()).unwrap();
        assert_eq!(pt, local_pt());
        let stats = cache.disk().unwrap().stats();
        let root = std::fs::metadata(&readonly)
            .map(|_| unsafe_root())
            .unwrap_or(false);
        if dir != readonly || !root {
            assert!(stats.failures >= 1 && stats.stored == 0, "{stats:?}");
        }
        let out = Command::new(bin)
            .args([
                "--cache-dir",
                dir.to_str().unwrap(),
                "show",
                &url,
                "--field",
                "run",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        if dir != readonly || !root {
            assert_eq!(err.matches("warning").count(), 1, "{err}");
        }
    }
}

/// Whether this process runs as root (which writes into read-only folders).
fn unsafe_root() -> bool {
    let probe = std::env::temp_dir().join(format!("akbuf-root-probe-{}", std::process::id()));
    std::fs::create_dir_all(&probe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o555)).unwrap();
    let root = std::fs::write(probe.join("x"), b"x").is_ok();
    let _ = std::fs::remove_file(probe.join("x"));
    let _ = std::fs::remove_dir(&probe);
    root
}

#[test]
fn s3_a_second_process_asks_one_listing_and_sees_a_rewritten_object() {
    let Some(moto) = Moto::start("akbuf") else {
        return;
    };
    let proxy = Proxy::start(moto.port, Duration::ZERO, 0);
    let mut fetch = Fetch::default();
    fetch.config = moto.config();
    fetch
        .config
        .iter_mut()
        .filter(|(k, _)| k == "aws_endpoint")
        .for_each(|(_, v)| *v = proxy.url());
    let url = "s3://akbuf/events";
    let events = akbuf::open(sample()).unwrap();
    akbuf::write_url(&events, url, &akbuf::WriteOptions::default(), &fetch).unwrap();
    let tier = tempfile::tempdir().unwrap();
    let seen = proxy.requests().len();
    let (first, _) = jets_pt(url, Some(tier.path()), &fetch).unwrap();
    assert_eq!(first, local_pt());
    let requests = proxy.requests()[seen..].to_vec();
    // The listing and metadata.json in one round trip, then the buffers.
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(
        requests.iter().any(|r| r.contains("list-type=2")),
        "{requests:?}"
    );

    let seen = proxy.requests().len();
    let (second, cache) = jets_pt(url, Some(tier.path()), &fetch).unwrap();
    assert_eq!(second, first);
    let requests = proxy.requests()[seen..].to_vec();
    assert_eq!(requests.len(), 1, "only the listing: {requests:?}");
    assert_eq!(cache.disk().unwrap().stats().hits, 3);

    // One buffer rewritten in place (metadata.json untouched): the listing
    // shows its new ETag, and it is read fresh.
    let info = events.field_path("jets.pt").unwrap().buffers();
    let data = info
        .iter()
        .find(|b| b.key.ends_with("-data"))
        .unwrap()
        .key
        .clone();
    let doubled: Vec<u8> = first.iter().flat_map(|x| (x * 2.0).to_le_bytes()).collect();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("akbuf")
        .with_endpoint(moto.endpoint())
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_region("us-east-1")
        .with_allow_http(true)
        .build()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    use object_store::ObjectStoreExt;
    let path = object_store::path::Path::from(format!("events/{data}"));
    rt.block_on(store.put(&path, doubled.into())).unwrap();
    let (third, _) = jets_pt(url, Some(tier.path()), &fetch).unwrap();
    let expected: Vec<f32> = first.iter().map(|x| x * 2.0).collect();
    assert_eq!(third, expected);

    // Rewritten under a reader: the pinned ETag no longer matches.
    let cache = Arc::new(Cache::new());
    let options = Options::default()
        .with_cache(cache)
        .with_fetch(fetch.clone());
    let opened = open_with(url, options).unwrap();
    rt.block_on(store.put(&path, vec![0u8; first.len() * 4].into()))
        .unwrap();
    let err = opened
        .field_path("jets.pt")
        .unwrap()
        .flat_values::<f32>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("changed since it was opened") && err.contains(&data),
        "{err}"
    );
}
