//! Remote containers (feature `remote`) against real servers on loopback:
//! nginx (requests and bytes counted from its access log), moto's S3
//! server, and a proxy that delays or fails requests.
#![cfg(feature = "remote")]

mod common;

use akbuf::{open_with, Cache, Error, Fetch, Options, Source, WriteOptions};
use common::servers::{serve_copy, Logged, Moto, Nginx, Proxy};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn sample() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data/events"))
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/partitioned")
        .join(name)
}

/// The buffer keys requested (GET) in `log`, in order.
fn gets(log: &[Logged], prefix: &str) -> Vec<String> {
    log.iter()
        .filter(|l| l.method == "GET")
        .map(|l| l.path.trim_start_matches(prefix).to_string())
        .collect()
}

fn cached(fetch: Fetch) -> (Arc<Cache>, Options) {
    let cache = Arc::new(Cache::new());
    let options = Options::default()
        .with_cache(Arc::clone(&cache))
        .with_fetch(fetch);
    (cache, options)
}

#[test]
fn http_container_reads_the_same_values_as_local() {
    let Some(nginx) = Nginx::start() else { return };
    serve_copy(sample(), &nginx.www, "events");
    let local = akbuf::open(sample()).unwrap();
    let url = format!("{}/events", nginx.url());
    let remote = akbuf::open(&url).unwrap();
    assert_eq!(remote.type_string(), local.type_string());
    assert_eq!(remote.to_json().unwrap(), local.to_json().unwrap());
    // Opening read metadata.json only.
    let mark = nginx.mark();
    let again = akbuf::open(&url).unwrap();
    assert_eq!(gets(&nginx.since(mark), "/events/"), vec!["metadata.json"]);
    drop(again);
    // read_metadata and a partitioned container.
    assert_eq!(akbuf::read_metadata(&url).unwrap().length, 1000);
    serve_copy(&fixture("events_unequal"), &nginx.www, "parts");
    let parts_url = format!("{}/parts", nginx.url());
    let remote = akbuf::open(&parts_url).unwrap();
    let local = akbuf::open(fixture("events_unequal")).unwrap();
    assert_eq!(remote.partition_lengths(), local.partition_lengths());
    assert_eq!(remote.to_json().unwrap(), local.to_json().unwrap());
}

#[test]
fn prefetch_reads_a_selection_in_one_batch_each_key_once() {
    let Some(nginx) = Nginx::start() else { return };
    serve_copy(sample(), &nginx.www, "events");
    let url = format!("{}/events", nginx.url());
    let (cache, options) = cached(Fetch::default());
    let events = open_with(&url, options).unwrap();
    let mark = nginx.mark();
    let fields = ["jets.pt", "jets.eta", "jets.phi"];
    assert_eq!(events.prefetch(&fields).unwrap(), 4);
    let mut got = gets(&nginx.since(mark), "/events/");
    got.sort();
    let mut want: Vec<String> = events
        .field("jets")
        .unwrap()
        .buffers()
        .into_iter()
        .filter(|b| {
            ["", "pt", "eta", "phi"]
                .contains(&b.field.trim_start_matches("jets").trim_start_matches('.'))
        })
        .map(|b| b.key)
        .collect();
    want.sort();
    assert_eq!(got, want);
    // Summing them now asks the server nothing.
    let mark = nginx.mark();
    let mut total = 0f64;
    for f in fields {
        let a = events.field_path(f).unwrap();
        total += a
            .flat_values::<f32>()
            .unwrap()
            .iter()
            .map(|&x| f64::from(x))
            .sum::<f64>();
    }
    assert!(total.is_finite());
    assert!(nginx.since(mark).is_empty());
    assert_eq!(cache.stats().reads, 4);
    // Bytes fetched are the bytes stored.
    let stored: u64 = want
        .iter()
        .map(|k| std::fs::metadata(sample().join(k)).unwrap().len())
        .sum();
    assert_eq!(cache.stats().bytes_read, stored);
}

#[test]
fn sixteen_threads_request_each_key_once() {
    let Some(nginx) = Nginx::start() else { return };
    serve_copy(sample(), &nginx.www, "events");
    let proxy = Proxy::start(nginx.port, Duration::from_millis(20), 0);
    let url = format!("{}/events", proxy.url());
    let cache = Arc::new(Cache::new());
    let mark = nginx.mark();
    std::thread::scope(|s| {
        for i in 0..16 {
            let (cache, url) = (Arc::clone(&cache), url.clone());
            s.spawn(move || {
                let events = open_with(&url, Options::default().with_cache(cache)).unwrap();
                if i % 2 == 0 {
                    events.prefetch(&["jets.pt", "muons"]).unwrap();
                }
                events.field_path("jets.pt").unwrap().to_json().unwrap();
                events.field("muons").unwrap().to_json().unwrap();
            });
        }
    });
    let log = nginx.since(mark);
    let keys: Vec<String> = gets(&log, "/events/")
        .into_iter()
        .filter(|k| k != "metadata.json")
        .collect();
    let distinct: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(
        keys.len(),
        distinct.len(),
        "a key was requested twice: {keys:?}"
    );
    assert_eq!(keys.len(), 5, "{keys:?}"); // jets offsets, pt; muons offsets, pt, charge
    assert_eq!(cache.stats().reads, 5);
}

#[test]
fn a_large_buffer_comes_in_parallel_ranges_into_one_buffer() {
    let Some(nginx) = Nginx::start() else { return };
    // 24 MiB of float64 written by akbuf itself.
    let n = 3 << 20;
    let values: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
    let form = akbuf::Form::from_json(
        r#"{"class": "NumpyArray", "primitive": "float64", "form_key": "node0"}"#,
    )
    .unwrap();
    let source = akbuf::MemorySource::new().with("node0-data", akbuf::Buffer::from_slice(&values));
    let array = akbuf::from_buffers(&form, n, source, Options::default()).unwrap();
    akbuf::write_dir(&array, nginx.www.join("big"), &WriteOptions::default()).unwrap();
    let url = format!("{}/big", nginx.url());
    let fetch = Fetch::default()
        .with_coalescing(32 << 10, 4 << 20)
        .with_parallel(4);
    let (_, options) = cached(fetch);
    let mark = nginx.mark();
    let remote = open_with(&url, options).unwrap();
    let got = remote.values::<f64>().unwrap();
    assert_eq!(&got[..], &values[..]);
    let log: Vec<Logged> = nginx
        .since(mark)
        .into_iter()
        .filter(|l| l.path.ends_with("node0-data"))
        .collect();
    // The first 4 MiB by range learn the size, then 5 more ranges: every
    // byte sent once.
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(log.iter().all(|l| l.range.starts_with("bytes=")), "{log:?}");
    assert_eq!(log.iter().map(|l| l.bytes).sum::<u64>(), 24 << 20);
    // An empty object: the range is refused, a plain GET gives it.
    std::fs::write(nginx.www.join("big/empty"), b"").unwrap();
    let source = akbuf::RemoteSource::open(&url, &Fetch::default()).unwrap();
    assert_eq!(source.read("empty").unwrap().unwrap().len(), 0);
    assert!(source.read("absent").unwrap().is_none());
    // A row slice reads only its range.
    let (cache, options) = cached(Fetch::default());
    let remote = open_with(&url, options).unwrap();
    let mark = nginx.mark();
    let slice = remote.slice(1000..1010).unwrap();
    assert_eq!(&slice.values::<f64>().unwrap()[..], &values[1000..1010]);
    let log = nginx.since(mark);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].range, "bytes=8000-8079");
    assert_eq!(log[0].bytes, 80);
    assert_eq!(cache.stats().bytes_read, 80);
}

#[test]
fn missing_keys_failures_and_retries() {
    let Some(nginx) = Nginx::start() else { return };
    let dir = serve_copy(sample(), &nginx.www, "events");
    // A missing object is the same missing-buffer error as locally.
    let key = akbuf::open(sample())
        .unwrap()
        .field("met")
        .unwrap()
        .buffers()[0]
        .key
        .clone();
    std::fs::remove_file(dir.join(&key)).unwrap();
    let remote = akbuf::open(format!("{}/events", nginx.url())).unwrap();
    match remote.field("met").unwrap().to_json() {
        Err(Error::MissingKey { key: k, .. }) => assert_eq!(k, key),
        other => panic!("{other:?}"),
    }
    // No server: one line naming the URL.
    let port = common::servers::free_port();
    let url = format!("http://127.0.0.1:{port}/events");
    let fetch = Fetch::default().with_retries(1);
    let err = open_with(&url, Options::default().with_fetch(fetch)).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&url), "{text}");
    assert!(!text.contains('\n'), "{text}");
    // Two 503s are retried; the values arrive.
    let proxy = Proxy::start(nginx.port, Duration::ZERO, 2);
    let remote = open_with(
        format!("{}/events", proxy.url()),
        Options::default().with_fetch(Fetch::default().with_retries(3)),
    )
    .unwrap();
    assert_eq!(
        remote.field("run").unwrap().to_json().unwrap(),
        akbuf::open(sample())
            .unwrap()
            .field("run")
            .unwrap()
            .to_json()
            .unwrap()
    );
    assert_eq!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst), 2);
    // More failures than retries: an error, not a hang.
    let proxy = Proxy::start(nginx.port, Duration::ZERO, 100);
    let err = open_with(
        format!("{}/events", proxy.url()),
        Options::default().with_fetch(Fetch::default().with_retries(2)),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("503") || err.to_string().contains("Service Unavailable"),
        "{err}"
    );
    assert_eq!(proxy.failed.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn coalesced_ranges_of_one_object_are_one_request() {
    let Some(nginx) = Nginx::start() else { return };
    serve_copy(sample(), &nginx.www, "events");
    let source =
        akbuf::RemoteSource::open(&format!("{}/events", nginx.url()), &Fetch::default()).unwrap();
    let mark = nginx.mark();
    let want = [
        ("node10-offsets", akbuf::Want::Range(0..100)),
        ("node10-offsets", akbuf::Want::Range(4000..4100)),
        ("node1-data", akbuf::Want::All),
    ];
    let got = source.read_many(&want);
    let local = akbuf::DirSource::new(sample());
    for ((key, w), g) in want.iter().zip(&got) {
        let expect = match w {
            akbuf::Want::Range(r) => local.read_range(key, r.clone()).unwrap().unwrap(),
            _ => local.read(key).unwrap().unwrap(),
        };
        assert_eq!(
            g.as_ref().unwrap().as_ref().unwrap().as_slice(),
            expect.as_slice()
        );
    }
    let log = nginx.since(mark);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().any(|l| l.range == "bytes=0-4099"), "{log:?}");
}

#[test]
fn s3_copy_both_ways_and_awkward_reads_the_upload() {
    let Some(moto) = Moto::start("akbuf") else {
        return;
    };
    let bin = env!("CARGO_BIN_EXE_akbuf");
    let env: Vec<(String, String)> = moto
        .config()
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "aws_endpoint" => ("AWS_ENDPOINT_URL".to_string(), v),
            _ => (k.to_ascii_uppercase(), v),
        })
        .collect();
    let run = |args: &[&str]| {
        let out = Command::new(bin)
            .args(args)
            .envs(env.clone())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&["copy", sample().to_str().unwrap(), "s3://akbuf/events"]);
    assert_eq!(code, Some(0), "{err}");
    // A second copy to the same prefix is refused.
    let (code, _, err) = run(&["copy", sample().to_str().unwrap(), "s3://akbuf/events"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("s3://akbuf/events") && err.lines().count() == 1,
        "{err}"
    );
    let (code, shown, err) = run(&["show", "s3://akbuf/events", "--field", "jets.pt"]);
    assert_eq!(code, Some(0), "{err}");
    let local = akbuf::open(sample())
        .unwrap()
        .field_path("jets.pt")
        .unwrap()
        .to_json()
        .unwrap();
    assert_eq!(shown.trim(), local);
    let back = tempfile::tempdir().unwrap();
    let dst = back.path().join("back");
    let (code, _, err) = run(&[
        "copy",
        "s3://akbuf/events",
        dst.to_str().unwrap(),
        "--field",
        "jets",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        akbuf::open(&dst).unwrap().to_json().unwrap(),
        akbuf::open(sample())
            .unwrap()
            .field("jets")
            .unwrap()
            .to_json()
            .unwrap()
    );
    // The library over the same store.
    let mut fetch = Fetch::default();
    fetch.config = moto.config();
    let remote = open_with(
        "s3://akbuf/events",
        Options::default().with_fetch(fetch.clone()),
    )
    .unwrap();
    assert_eq!(
        remote.to_json().unwrap(),
        akbuf::open(sample()).unwrap().to_json().unwrap()
    );
    // Missing credentials for a bucket that does not exist: one line.
    let err = open_with("s3://nobucket/events", Options::default().with_fetch(fetch)).unwrap_err();
    assert!(err.to_string().contains("s3://nobucket/events"), "{err}");
    // awkward + s3fs read what akbuf uploaded.
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let script = r#"
import sys, json, awkward as ak, s3fs
fs = s3fs.S3FileSystem(key="testing", secret="testing", client_kwargs={"endpoint_url": sys.argv[1], "region_name": "us-east-1"})
meta = json.loads(fs.cat_file("akbuf/events/metadata.json"))
arr = ak.from_buffers(meta["form"], meta["length"], {k.split("/")[-1]: fs.cat_file(k) for k in fs.ls("akbuf/events") if not k.endswith("metadata.json")}, buffer_key=meta.get("buffer_key", "{form_key}-{attribute}"))
print(json.dumps(ak.to_list(arr["jets", "pt"])[:50]))
"#;
    let out = Command::new(python)
        .args(["-c", script, &moto.endpoint()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&local).unwrap();
    assert_eq!(
        theirs,
        serde_json::Value::Array(ours.as_array().unwrap()[..50].to_vec())
    );
}

#[test]
fn a_failed_upload_leaves_no_container() {
    let Some(moto) = Moto::start("akbuf") else {
        return;
    };
    let mut fetch = Fetch::default();
    fetch.config = moto.config();
    // A buffer that cannot be read (it is missing) fails the copy midway.
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    for e in std::fs::read_dir(sample()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), broken.join(e.file_name())).unwrap();
    }
    let events = akbuf::open(sample()).unwrap();
    let last = events.buffers().last().unwrap().key.clone();
    std::fs::remove_file(broken.join(&last)).unwrap();
    let array = akbuf::open(&broken).unwrap();
    let err =
        akbuf::write_url(&array, "s3://akbuf/half", &WriteOptions::default(), &fetch).unwrap_err();
    assert!(matches!(err, Error::MissingKey { .. }), "{err}");
    // Nothing is left under the prefix: a new copy goes through.
    assert!(akbuf::open_with(
        "s3://akbuf/half",
        Options::default().with_fetch(fetch.clone())
    )
    .is_err());
    akbuf::write_url(&events, "s3://akbuf/half", &WriteOptions::default(), &fetch).unwrap();
    let back = akbuf::open_with("s3://akbuf/half", Options::default().with_fetch(fetch)).unwrap();
    assert_eq!(back.to_json().unwrap(), events.to_json().unwrap());
}

#[test]
fn the_cli_takes_urls_wherever_it_takes_a_path() {
    let Some(nginx) = Nginx::start() else { return };
    serve_copy(sample(), &nginx.www, "events");
    let url = format!("{}/events", nginx.url());
    let bin = env!("CARGO_BIN_EXE_akbuf");
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let local = sample().to_str().unwrap();
    for cmd in [
        vec!["type"],
        vec!["form"],
        vec!["info"],
        vec!["show", "--field", "muons"],
        vec!["show", "--rows", "10:20"],
        vec!["show", "--limit", "3"],
    ] {
        let mut theirs = cmd.clone();
        theirs.insert(1, &url);
        let mut ours = cmd.clone();
        ours.insert(1, local);
        let (remote_out, local_out) = (run(&theirs), run(&ours));
        if cmd[0] == "info" {
            // Sizes are not known before reading; the keys and dtypes are.
            let keys = |s: &str| {
                s.lines()
                    .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(&remote_out), keys(&local_out));
        } else {
            assert_eq!(remote_out, local_out, "{cmd:?}");
        }
    }
    // --trace names each key as it is read, once.
    let out = Command::new(bin)
        .args(["show", &url, "--field", "jets.pt", "--trace"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("read ")).count(),
        2,
        "{err}"
    );
    // A URL that names no container: exit 1, one line naming it.
    let missing = format!("{}/nothing", nginx.url());
    let out = Command::new(bin).args(["type", &missing]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&missing), "{err}");
}

#[test]
fn stores_that_cannot_be_configured_say_so_in_one_line() {
    // Azure without an account name: refused before any request.
    let err = open_with(
        "az://container/events",
        Options::default()
            .with_fetch(Fetch::default().with_config("azure_storage_account_name", "")),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("az://container/events") && !text.contains('\n'),
        "{text}"
    );
    // An unknown setting is named.
    let err = open_with(
        "s3://bucket/events",
        Options::default().with_fetch(Fetch::default().with_config("aws_no_such_thing", "1")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("aws_no_such_thing"), "{err}");
    assert!(akbuf::is_url("gs://bucket/x") && akbuf::is_url("HTTPS://host/x"));
}

#[test]
fn a_prefetched_slice_reads_only_its_ranges_each_once() {
    let Some(nginx) = Nginx::start() else { return };
    serve_copy(sample(), &nginx.www, "events");
    let url = format!("{}/events", nginx.url());
    let events = akbuf::open(&url).unwrap();
    let local = akbuf::open(sample()).unwrap();
    let mark = nginx.mark();
    let slice = events.slice(100..110).unwrap();
    let fields = ["jets.pt", "jets.eta"];
    assert_eq!(slice.prefetch(&fields).unwrap(), 3); // the slice's offsets, pt, eta
    let log = nginx.since(mark);
    // The jets offsets' range once, then the two contents' ranges.
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|l| l.range.starts_with("bytes=")), "{log:?}");
    assert_eq!(
        log.iter().filter(|l| l.path.ends_with("-offsets")).count(),
        1
    );
    let mark = nginx.mark();
    for f in fields {
        assert_eq!(
            slice.field_path(f).unwrap().to_json().unwrap(),
            local
                .slice(100..110)
                .unwrap()
                .field_path(f)
                .unwrap()
                .to_json()
                .unwrap()
        );
    }
    assert!(nginx.since(mark).is_empty());
    let sent: u64 = log.iter().map(|l| l.bytes).sum();
    assert!(sent < 1000, "{sent} bytes for 10 rows");
}

#[test]
fn large_buffers_go_up_as_multipart_uploads() {
    let Some(moto) = Moto::start("akbuf") else {
        return;
    };
    let mut fetch = Fetch::default()
        .with_coalescing(32 << 10, 5 << 20)
        .with_parallel(2);
    fetch.config = moto.config();
    // 12 MiB of int32: three parts of 5, 5 and 2 MiB.
    let n = 3 << 20;
    let values: Vec<i32> = (0..n).map(|i| i * 7 - 5).collect();
    let form = akbuf::Form::from_json(
        r#"{"class": "NumpyArray", "primitive": "int32", "form_key": "node0"}"#,
    )
    .unwrap();
    let source = akbuf::MemorySource::new().with("node0-data", akbuf::Buffer::from_slice(&values));
    let array = akbuf::from_buffers(&form, n as usize, source, Options::default()).unwrap();
    akbuf::write_url(
        &array,
        "s3://akbuf/multipart",
        &WriteOptions::default(),
        &fetch,
    )
    .unwrap();
    let back = open_with("s3://akbuf/multipart", Options::default().with_fetch(fetch)).unwrap();
    assert_eq!(&back.values::<i32>().unwrap()[..], &values[..]);
}

#[test]
fn hostile_keys_never_leave_the_prefix() {
    let Some(nginx) = Nginx::start() else { return };
    // Outside the container, where `prefix/..%2Fx-data` resolves on nginx.
    std::fs::write(nginx.www.join("x-data"), 7i64.to_le_bytes()).unwrap();
    let dir = nginx.www.join("events");
    std::fs::create_dir(&dir).unwrap();
    for form_key in ["../x", "..%2Fx", "%2E%2E%2Fx", "a/../../x"] {
        let meta = format!(
            r#"{{"form": {{"class": "NumpyArray", "primitive": "int64", "form_key": {}}}, "length": 1}}"#,
            serde_json::to_string(form_key).unwrap()
        );
        std::fs::write(dir.join("metadata.json"), meta).unwrap();
        let url = format!("{}/events", nginx.url());
        let array = akbuf::open(&url).unwrap();
        let err = array.to_json().unwrap_err();
        assert!(
            err.to_string().contains("plain object name"),
            "{form_key}: {err}"
        );
        let err = array.prefetch(&[""]).unwrap_err();
        assert!(
            err.to_string().contains("plain object name"),
            "{form_key}: {err}"
        );
    }
    // Nothing outside was asked for.
    let mark_all = nginx.since(0);
    assert!(
        mark_all.iter().all(|l| l.path.ends_with("metadata.json")),
        "{mark_all:?}"
    );
}

#[test]
fn a_prefix_read_never_fetches_past_what_the_node_needs() {
    let Some(nginx) = Nginx::start() else { return };
    // A 1-element int64 array whose stored object is 30 MiB.
    let dir = nginx.www.join("padded");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("metadata.json"), r#"{"form": {"class": "NumpyArray", "primitive": "int64", "form_key": "node0"}, "length": 1}"#).unwrap();
    let mut data = vec![0u8; 30 << 20];
    data[..8].copy_from_slice(&42i64.to_le_bytes());
    std::fs::write(dir.join("node0-data"), &data).unwrap();
    let (cache, options) = cached(Fetch::default());
    let array = open_with(format!("{}/padded", nginx.url()), options).unwrap();
    let mark = nginx.mark();
    assert_eq!(array.to_json().unwrap(), "[42]");
    let log = nginx.since(mark);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!((log[0].range.as_str(), log[0].bytes), ("bytes=0-7", 8));
    assert_eq!(cache.stats().bytes_read, 8);
}

/// A table over an HTTP URL through `CREATE EXTERNAL TABLE … STORED AS
/// AKBUF` (features `datafusion` and `remote`): the sum of `jets.pt`
/// equals the local table's, and nginx served only metadata.json, the jets
/// offsets and the pt data.
#[cfg(feature = "datafusion")]
#[test]
fn sql_over_a_url_reads_only_the_touched_objects() {
    let Some(nginx) = Nginx::start() else { return };
    serve_copy(sample(), &nginx.www, "sqlevents");
    let url = format!("{}/sqlevents", nginx.url());
    let query =
        r#"SELECT sum(CAST(pt AS DOUBLE)) AS s FROM (SELECT unnest("jets.pt") AS pt FROM t)"#;
    let sum = |location: &str| -> f64 {
        use arrow_array::cast::AsArray;
        let ctx = akbuf::session_context();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let batches = rt
            .block_on(async {
                ctx.sql(&format!(
                    "CREATE EXTERNAL TABLE t STORED AS AKBUF LOCATION '{location}'"
                ))
                .await?;
                ctx.sql(query).await?.collect().await
            })
            .unwrap();
        batches[0]
            .column(0)
            .as_primitive::<arrow_array::types::Float64Type>()
            .value(0)
    };
    let mark = nginx.mark();
    let remote = sum(&url);
    let mut got = gets(&nginx.since(mark), "/sqlevents/");
    got.sort();
    let local = sum(sample().to_str().unwrap());
    assert_eq!(remote, local);
    let events = akbuf::open(sample()).unwrap();
    let mut want: Vec<String> = common::jets_pt_keys(&events)
        .into_iter()
        .chain(["metadata.json".to_string()])
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn flat_values_of_large_offsets_fetch_their_two_ends_in_one_round() {
    let Some(nginx) = Nginx::start() else { return };
    // 300,000 lists: 2.4 MB of offsets, of which flat values need two.
    let form = akbuf::Form::from_json(
        r#"{"class": "ListOffsetArray", "offsets": "i64",
        "content": {"class": "NumpyArray", "primitive": "float64", "form_key": "node1"},
        "form_key": "node0"}"#,
    )
    .unwrap();
    let n = 300_000;
    let mut offsets = vec![2i64];
    for i in 0..n {
        offsets.push(offsets[i] + (i % 3) as i64);
    }
    let content: Vec<f64> = (0..offsets[n] + 5).map(|x| x as f64).collect();
    let source = akbuf::MemorySource::new()
        .with("node0-offsets", akbuf::Buffer::from_slice(&offsets))
        .with("node1-data", akbuf::Buffer::from_slice(&content));
    let array = akbuf::from_buffers(&form, n, source, Options::default()).unwrap();
    akbuf::write_dir(&array, nginx.www.join("lists"), &WriteOptions::default()).unwrap();
    let url = format!("{}/lists", nginx.url());
    let (cache, options) = cached(Fetch::default());
    let remote = open_with(&url, options).unwrap();
    let mark = nginx.mark();
    let got = remote.flat_values::<f64>().unwrap();
    assert_eq!(got.as_slice(), &content[2..offsets[n] as usize]);
    let log = nginx.since(mark);
    let ends: Vec<&Logged> = log
        .iter()
        .filter(|l| l.path.ends_with("node0-offsets"))
        .collect();
    let last = n * 8;
    let mut ranges: Vec<&str> = ends.iter().map(|l| l.range.as_str()).collect();
    ranges.sort();
    assert_eq!(
        ranges,
        [
            "bytes=0-7".to_string(),
            format!("bytes={last}-{}", last + 7)
        ],
        "{log:?}"
    );
    assert_eq!(ends.iter().map(|l| l.bytes).sum::<u64>(), 16);
    // The content: only the bytes the lists reach, never the spare ones.
    let sent: u64 = log
        .iter()
        .filter(|l| l.path.ends_with("node1-data"))
        .map(|l| l.bytes)
        .sum();
    assert_eq!(sent, offsets[n] as u64 * 8);
    assert_eq!(cache.stats().bytes_read, 16 + sent);

    // A length far past the stored offsets: the last entry asked alone is
    // not there, an error naming the offsets (no allocation for the length).
    let meta_path = nginx.www.join("lists/metadata.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["length"] = serde_json::json!(1u64 << 50);
    std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let (_, options) = cached(Fetch::default());
    let remote = open_with(&url, options).unwrap();
    let mark = nginx.mark();
    let err = remote.flat_values::<f64>().unwrap_err().to_string();
    assert!(err.contains("node0-offsets"), "{err}");
    let log = nginx.since(mark);
    assert!(log.len() <= 4, "{log:?}");
    let data: u64 = log.iter().filter(|l| l.status < 300).map(|l| l.bytes).sum();
    assert!(data <= 16, "{log:?}");
}
