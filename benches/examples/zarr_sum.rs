//! Zarr v3 (feature `zarr`): open a group and sum `jets.pt`, and read a
//! 100-row slice, side by side with zarr-python 3 + awkward 2.14:
//!
//!     .venv/bin/python benches/zarr_peer.py write /tmp/akdata/events /tmp/akdata/events.zarr
//!     cargo run --profile profiling -p akbuf-bench --features zarr --example zarr_sum -- /tmp/akdata/events.zarr [REPS]
//!
//! The group holds every buffer of the 2,000,000-event sample in chunks of
//! 1 MiB, zstd level 3 (`zarr_peer.py write`). Measured, medians of REPS
//! (default 9) runs, each with a fresh cache: open + `flat_values` of
//! `jets.pt` + its sum; a 100-row slice from the middle (its `jets.pt`),
//! with the bytes of the chunk files it decodes (the chunks the cache's
//! observer hears of) and the bytes handed out. The peer (`zarr_peer.py sum`) does the same lazily.

mod common;

use akbuf::{open_with, Cache, Options};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("a Zarr group").clone();
    let reps: usize = args.get(2).map_or(9, |s| s.parse().unwrap());
    let mut sums = Vec::new();
    let mut slices = Vec::new();
    let mut total = 0.0;
    let mut read = (0, 0);
    for _ in 0..reps {
        let cache = Arc::new(Cache::new());
        let t = Instant::now();
        let events = open_with(&path, Options::default().with_cache(Arc::clone(&cache))).unwrap();
        total = common::sum(
            &events
                .field_path("jets.pt")
                .unwrap()
                .flat_values::<f32>()
                .unwrap(),
        );
        sums.push(t.elapsed().as_secs_f64());
        drop(events);

        // The chunks the slice decodes, as the cache's observer hears of them.
        let chunks = Arc::new(Mutex::new(Vec::new()));
        let heard = Arc::clone(&chunks);
        let cache = Arc::new(Cache::new().with_observer(move |e| {
            if e.key.contains('/') {
                heard.lock().unwrap().push(e.key.to_string());
            }
        }));
        let t = Instant::now();
        let events = open_with(&path, Options::default().with_cache(Arc::clone(&cache))).unwrap();
        let middle = events.len() / 2;
        let piece = events.slice(middle..middle + 100).unwrap();
        let pt = piece
            .field_path("jets.pt")
            .unwrap()
            .flat_values::<f32>()
            .unwrap();
        std::hint::black_box(common::sum(&pt));
        slices.push(t.elapsed().as_secs_f64());
        let stored: u64 = chunks
            .lock()
            .unwrap()
            .iter()
            .map(|k| std::fs::metadata(Path::new(&path).join(k)).map_or(0, |m| m.len()))
            .sum();
        read = (stored, cache.stats().bytes_read);
    }
    let peer = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python"))
        .args([
            "-W",
            "ignore",
            concat!(env!("CARGO_MANIFEST_DIR"), "/zarr_peer.py"),
            "sum",
            &path,
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
    let peer_sum = median(lines.iter().map(|l| l[0]).collect());
    let peer_slice = median(lines.iter().map(|l| l[1]).collect());
    let (s, p) = (median(sums), median(slices));
    println!(
        "{path}: {reps} runs each, medians; sum of jets.pt {total:.6e} (zarr-python: {:.6e})",
        lines[0][2]
    );
    println!("| | akbuf | zarr-python 3 + awkward 2.14 | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| open + sum jets.pt | {:.1} ms | {:.1} ms | {:.1}× |",
        s * 1e3,
        peer_sum * 1e3,
        peer_sum / s
    );
    println!(
        "| 100-row slice's jets.pt | {:.2} ms | {:.2} ms | {:.1}× |",
        p * 1e3,
        peer_slice * 1e3,
        peer_slice / p
    );
    println!(
        "slice: {} bytes of chunk files decoded, {} bytes of buffers handed out",
        read.0, read.1
    );
}
