//! Remote reads over HTTP (feature `remote`), side by side with awkward
//! 2.14 over fsspec, on one nginx with a fixed delay added per request:
//!
//!     cargo run --profile profiling -p akbuf-bench --features remote --example remote -- DIR [DELAY_MS] [REPS]
//!
//! DIR is a directory container with `jets.{pt,eta,phi}` (the sample
//! `data/events`, or a generated one). nginx serves it; a proxy in this
//! process holds every request DELAY_MS (default 20) before passing it on.
//! Measured, medians of REPS (default 9) runs each:
//! - akbuf: open + prefetch of the three fields + their sums, fresh cache
//!   (and the same without prefetch: one round trip per buffer);
//! - awkward + fsspec (`benches/remote_peer.py`), same URL, same proxy;
//! - the floor: round trips × delay + bytes / loopback rate, the rate
//!   being curl's for the same bytes from the same nginx;
//! - one 1 GiB object read whole by parallel range requests beside curl
//!   fetching it (no delay).

mod common;
#[path = "../../tests/common/servers.rs"]
mod servers;

use akbuf::{open_with, Cache, Fetch, Options, Source};
use servers::{serve_copy, Nginx, Proxy};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const FIELDS: [&str; 3] = ["jets.pt", "jets.eta", "jets.phi"];

/// Open + (prefetch) + sums; (seconds, sum, bytes read, reads).
fn akbuf_run(url: &str, prefetch: bool) -> (f64, f64, u64, u64) {
    let cache = Arc::new(Cache::new());
    let t = Instant::now();
    let events = open_with(url, Options::default().with_cache(Arc::clone(&cache))).unwrap();
    if prefetch {
        events.prefetch(&FIELDS).unwrap();
    }
    let mut total = 0.0;
    for f in FIELDS {
        total += common::sum(&events.field_path(f).unwrap().flat_values::<f32>().unwrap());
    }
    let s = t.elapsed().as_secs_f64();
    let stats = cache.stats();
    (s, total, stats.bytes_read, stats.reads)
}

/// curl's seconds to fetch `url` to /dev/null.
fn curl(url: &str) -> f64 {
    let t = Instant::now();
    let ok = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-f", url])
        .status()
        .unwrap()
        .success();
    assert!(ok, "curl {url}");
    t.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("data/events", String::as_str));
    let delay_ms: u64 = args.get(2).map_or(20, |s| s.parse().unwrap());
    let reps: usize = args.get(3).map_or(9, |s| s.parse().unwrap());
    let nginx = Nginx::start().expect("nginx");
    if std::env::var("BLOB_ONLY").is_ok() {
        return blob(&nginx);
    }
    serve_copy(&dir, &nginx.www, "events");
    let proxy = Proxy::start(nginx.port, Duration::from_millis(delay_ms), 0);
    let url = format!("{}/events", proxy.url());
    let direct = format!("{}/events", nginx.url());

    // Requests and bytes of one prefetched run, from nginx's log.
    let mark = nginx.mark();
    let (_, sum0, bytes, reads) = akbuf_run(&url, true);
    let log = nginx.since(mark);
    let logged: u64 = log.iter().map(|l| l.bytes).sum();
    println!(
        "akbuf prefetch: {} requests ({} buffers + metadata.json), {logged} bytes sent by nginx, {bytes} bytes needed, sum {sum0:.6e}",
        log.len(),
        reads
    );

    let mut fetched = Vec::new();
    let mut lazy = Vec::new();
    for _ in 0..reps {
        fetched.push(akbuf_run(&url, true).0);
        lazy.push(akbuf_run(&url, false).0);
    }
    let peer = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python"))
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/remote_peer.py"),
            &url,
            &reps.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        peer.status.success(),
        "{}",
        String::from_utf8_lossy(&peer.stderr)
    );
    let lines: Vec<Vec<f64>> = String::from_utf8_lossy(&peer.stdout)
        .lines()
        .map(|l| l.split(' ').map(|x| x.parse().unwrap()).collect())
        .collect();
    let peer_s = median(lines.iter().map(|l| l[0]).collect());
    let (peer_requests, peer_bytes, peer_sum) = (lines[0][1], lines[0][2], lines[0][3]);

    // The floor: the loopback rate is curl's for the same buffers, direct.
    let keys: Vec<String> = log
        .iter()
        .filter(|l| !l.path.ends_with("metadata.json"))
        .map(|l| l.path.rsplit('/').next().unwrap().to_string())
        .collect();
    let mut curl_s = Vec::new();
    for _ in 0..reps {
        // One curl process, one connection, every buffer in turn.
        let mut args = vec!["-s".to_string(), "-f".to_string()];
        for k in &keys {
            args.extend([format!("{direct}/{k}"), "-o".into(), "/dev/null".into()]);
        }
        let t = Instant::now();
        assert!(Command::new("curl").args(&args).status().unwrap().success());
        curl_s.push(t.elapsed().as_secs_f64());
    }
    let rate = bytes as f64 / median(curl_s);
    // metadata.json, the jets offsets, then the fields' data (prefetch asks
    // a content once its offsets give its length: never more bytes).
    let rounds = 3.0;
    let floor = rounds * delay_ms as f64 / 1e3 + bytes as f64 / rate;
    let (f, l) = (median(fetched), median(lazy));
    println!("delay {delay_ms} ms per request, {reps} runs each, medians:");
    println!("  akbuf open + prefetch + 3 sums   {:9.2} ms", f * 1e3);
    println!("  akbuf open + 3 sums (no prefetch) {:9.2} ms", l * 1e3);
    println!(
        "  awkward 2.14 + fsspec (http)      {:9.2} ms  ({peer_requests} requests, {peer_bytes} bytes, sum {peer_sum:.6e})",
        peer_s * 1e3
    );
    println!(
        "  floor: 3 round trips + {bytes} bytes at curl's {:.0} MB/s = {:.2} ms",
        rate / 1e6,
        floor * 1e3
    );
    println!(
        "  akbuf vs awkward: {:.1}x faster; akbuf / floor: {:.2}",
        peer_s / f,
        f / floor
    );

    blob(&nginx);
}

/// One 1 GiB object: parallel ranges against curl, direct to nginx.
fn blob(nginx: &Nginx) {
    let env = |k: &str, d: usize| std::env::var(k).ok().map_or(d, |v| v.parse().unwrap());
    let fetch = Fetch::default()
        .with_parallel(env("PARALLEL", 10))
        .with_coalescing(32 << 10, env("PART_MIB", 10) << 20);
    let big = nginx.www.join("big");
    std::fs::create_dir_all(&big).unwrap();
    {
        use std::io::Write;
        let mut file = std::fs::File::create(big.join("blob")).unwrap();
        let chunk: Vec<u8> = (0..(8 << 20)).map(|i| (i % 251) as u8).collect();
        for _ in 0..128 {
            file.write_all(&chunk).unwrap();
        }
    }
    let blob = format!("{}/big", nginx.url());
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut into_memory = Vec::new();
    for _ in 0..5 {
        let source = akbuf::RemoteSource::open(&blob, &fetch).unwrap();
        let t = Instant::now();
        let b = source.read("blob").unwrap().unwrap();
        ours.push(t.elapsed().as_secs_f64());
        assert_eq!(b.len(), 1 << 30);
        drop(b);
        theirs.push(curl(&format!("{blob}/blob")));
        // curl into memory too (a file in /dev/shm: fresh pages, as akbuf's).
        let t = Instant::now();
        let shm = "/dev/shm/akbuf-bench-blob";
        assert!(Command::new("curl")
            .args(["-s", "-f", "-o", shm, &format!("{blob}/blob")])
            .status()
            .unwrap()
            .success());
        into_memory.push(t.elapsed().as_secs_f64());
        let _ = std::fs::remove_file(shm);
    }
    let (o, c) = (median(ours), median(theirs));
    let m = median(into_memory);
    println!(
        "1 GiB object: curl into /dev/shm {:.0} ms ({:.2} GB/s): akbuf at {:.0}% of that rate",
        m * 1e3,
        1.073741824 / m,
        100.0 * m / o
    );
    println!(
        "1 GiB object: akbuf {:.0} ms ({:.2} GB/s, {} MiB ranges, {} in flight), curl {:.0} ms ({:.2} GB/s): {:.0}% of curl's rate",
        o * 1e3,
        1.073741824 / o,
        fetch.max_request >> 20,
        fetch.parallel,
        c * 1e3,
        1.073741824 / c,
        100.0 * c / o
    );
}
