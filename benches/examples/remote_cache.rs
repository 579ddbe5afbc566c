//! Huge data read again and again from a server (feature `remote`): a
//! fresh process opens a container over HTTP and sums `jets.pt`, side by
//! side with curl and awkward 2.14 over fsspec, through one nginx with a
//! fixed delay added per request:
//!
//!     cargo run --profile profiling -p akbuf-bench --features remote --example remote_cache -- DIR [DELAY_MS] [REPS]
//!
//! DIR is a directory container with `jets.pt` (the 2,000,000-event
//! `/tmp/akdata/events` of `benches/data/generate.py`, or the sample
//! `data/events`). nginx serves a copy; a proxy in this process holds every
//! request DELAY_MS (default 20) before passing it on. Each akbuf run is a
//! process of its own (this binary with `--child`): open, (prefetch,) sum.
//! Rows, medians of REPS (default 9) runs each, in alternation:
//! - curl: one process fetching metadata.json, the jets offsets and
//!   `jets.pt`'s data one after the other (three sequential GETs);
//! - awkward 2.14 + fsspec (`benches/remote_peer.py`): lazy `from_buffers`,
//!   a fresh filesystem per run;
//! - akbuf, no disk tier: without and with `prefetch`;
//! - akbuf, a cold disk tier (emptied before each run): the cost of keeping;
//! - akbuf, a warm disk tier (a second process): without and with
//!   `prefetch`.
//!
//! Times are inside each process (open to sum), as the peers report
//! theirs; curl's is its whole process. Requests are counted in nginx's log.
//! `PHASES=1` prints each akbuf run's open, read and sum times; `--store
//! URL` alone times making the store behind URL (no request).

mod common;
#[path = "../../tests/common/servers.rs"]
mod servers;

use akbuf::{open_with, Cache, DiskCache, Options};
use servers::{serve_copy, Nginx, Proxy};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The child: open URL, (prefetch,) sum `jets.pt`; prints `seconds sum`.
fn child(url: &str, prefetch: bool, tier: Option<&str>) {
    let t = Instant::now();
    let mut cache = Cache::new();
    if let Some(dir) = tier {
        cache = cache.with_disk(DiskCache::new(dir));
    }
    let events = open_with(url, Options::default().with_cache(Arc::new(cache))).unwrap();
    if prefetch {
        events.prefetch(&["jets.pt"]).unwrap();
    }
    let opened = t.elapsed();
    let pt = events.field_path("jets.pt").unwrap();
    let values = pt.flat_values::<f32>().unwrap();
    let read = t.elapsed();
    let total = common::sum(&values);
    if std::env::var("PHASES").is_ok() {
        eprintln!(
            "open {opened:?}, read {:?}, sum {:?}",
            read - opened,
            t.elapsed() - read
        );
    }
    println!("{:.6} {total:.6e}", t.elapsed().as_secs_f64());
}

/// One akbuf process: (seconds inside, sum).
fn akbuf_run(url: &str, prefetch: bool, tier: Option<&Path>) -> (f64, f64) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--child", url, if prefetch { "prefetch" } else { "lazy" }]);
    if let Some(t) = tier {
        cmd.arg(t);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var("PHASES").is_ok() {
        // PHASES=1: each run's open, read and sum times.
        let mode = if prefetch { "prefetch" } else { "lazy" };
        let err = String::from_utf8_lossy(&out.stderr);
        eprint!("{mode} tier={}: {err}", tier.is_some());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// curl: the three objects one after the other, one process.
fn curl_run(urls: &[String]) -> f64 {
    let mut args = vec!["-s".to_string(), "-f".to_string()];
    for u in urls {
        args.extend([u.clone(), "-o".into(), "/dev/null".into()]);
    }
    let t = Instant::now();
    assert!(Command::new("curl").args(&args).status().unwrap().success());
    t.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--store") {
        // How long making the store takes (no request).
        let t = Instant::now();
        let s = akbuf::RemoteSource::open(&args[2], &akbuf::Fetch::default()).unwrap();
        let made = t.elapsed();
        let _ = akbuf::Source::read_prefix(&s, "metadata.json-nothing", 1);
        println!("store {made:?}, first request {:?}", t.elapsed() - made);
        return;
    }
    if args.get(1).map(String::as_str) == Some("--child") {
        return child(
            &args[2],
            args[3] == "prefetch",
            args.get(4).map(String::as_str),
        );
    }
    let dir = PathBuf::from(args.get(1).map_or("data/events", String::as_str));
    let delay_ms: u64 = args.get(2).map_or(20, |s| s.parse().unwrap());
    let reps: usize = args.get(3).map_or(9, |s| s.parse().unwrap());
    let nginx = Nginx::start().expect("nginx");
    serve_copy(&dir, &nginx.www, "events");
    let proxy = Proxy::start(nginx.port, Duration::from_millis(delay_ms), 0);
    let url = format!("{}/events", proxy.url());
    let tiers = tempfile::tempdir().unwrap();
    let (cold, warm) = (tiers.path().join("cold"), tiers.path().join("warm"));

    // The objects a sum of jets.pt needs, from akbuf's own buffer list.
    let local = akbuf::open(&dir).unwrap();
    let pt = local.field_path("jets.pt").unwrap();
    let keys: Vec<String> = pt.buffers().into_iter().map(|b| b.key).collect();
    let needed: Vec<String> = std::iter::once("metadata.json".to_string())
        .chain(keys.iter().cloned())
        .map(|k| format!("{url}/{k}"))
        .collect();
    let expected = common::sum(&pt.flat_values::<f32>().unwrap());

    // Requests of one run of each mode, from nginx's log.
    let count = |f: &dyn Fn()| {
        let mark = nginx.mark();
        f();
        nginx.since(mark).len()
    };
    let n_lazy = count(&|| {
        let _ = akbuf_run(&url, false, None);
    });
    let n_prefetch = count(&|| {
        let _ = akbuf_run(&url, true, None);
    });
    let n_cold = count(&|| {
        let _ = akbuf_run(&url, false, Some(&warm));
    });
    // A first prefetching process too (it asks for all of the offsets,
    // where a lazy sum asks for their two ends): each warm row then follows
    // a first run of its own kind.
    let _ = akbuf_run(&url, true, Some(&warm));
    let n_warm = count(&|| {
        let _ = akbuf_run(&url, false, Some(&warm));
    });
    let n_warm_prefetch = count(&|| {
        let _ = akbuf_run(&url, true, Some(&warm));
    });
    let n_curl = count(&|| {
        let _ = curl_run(&needed);
    });

    let mut rows: Vec<(&str, Vec<f64>)> = [
        "curl, 3 sequential GETs",
        "akbuf, no disk tier",
        "akbuf, no disk tier, prefetch",
        "akbuf, cold disk tier (first run)",
        "akbuf, warm disk tier (second process)",
        "akbuf, warm disk tier, prefetch",
    ]
    .into_iter()
    .map(|n| (n, Vec::new()))
    .collect();
    for _ in 0..reps {
        rows[0].1.push(curl_run(&needed));
        let (s, sum) = akbuf_run(&url, false, None);
        assert!(
            (sum - expected).abs() <= 1e-6 * expected.abs().max(1.0),
            "{sum} {expected}"
        );
        rows[1].1.push(s);
        rows[2].1.push(akbuf_run(&url, true, None).0);
        let _ = std::fs::remove_dir_all(&cold);
        rows[3].1.push(akbuf_run(&url, false, Some(&cold)).0);
        rows[4].1.push(akbuf_run(&url, false, Some(&warm)).0);
        rows[5].1.push(akbuf_run(&url, true, Some(&warm)).0);
    }
    let peer = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python"))
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/remote_peer.py"),
            &url,
            &reps.to_string(),
            "pt",
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
    let peer_requests = lines[0][1];

    let counts = [n_curl, n_lazy, n_prefetch, n_cold, n_warm, n_warm_prefetch];
    let bytes: u64 = pt
        .buffers()
        .iter()
        .map(|b| b.stored_bytes.unwrap_or(0))
        .sum();
    println!(
        "{} events, jets.pt: {bytes} bytes in {} buffers; delay {delay_ms} ms per request; {reps} runs each, medians",
        local.len(),
        keys.len()
    );
    let curl = median(rows[0].1.clone());
    println!("| | median | requests | / curl | awkward / it |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| awkward 2.14 + fsspec | {:.1} ms | {peer_requests} | {:.2} | 1.00 |",
        peer_s * 1e3,
        peer_s / curl
    );
    for ((name, times), n) in rows.into_iter().zip(counts) {
        let m = median(times);
        println!(
            "| {name} | {:.1} ms | {n} | {:.2} | {:.1}× |",
            m * 1e3,
            m / curl,
            peer_s / m
        );
    }
}
