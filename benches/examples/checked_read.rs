//! What checking a structural buffer costs (`LazyBuffer::get_checked`, what
//! the Python bridge hands awkward) against reading it unchecked, side by
//! side: the offsets of the `jets` and `muons` lists of one container.
//!
//!     cargo run --profile profiling -p akbuf-bench --example checked_read -- DIR [RUNS]
//!
//! DIR is the events container of `benches/data/generate.py` (2,000,000
//! events: two offsets buffers of 16 MB). Each run opens the container
//! anew with a fresh cache (the page cache warm) and times, per buffer:
//! `get` (the read: a memory map), `get` and one pass over the values
//! (what a reader of the buffer pays at least once), and `get_checked`
//! (the read and the check's one pass). Each figure is the median of RUNS
//! (default 21).
use akbuf::{open_with, Cache, LazyBuffer, Options};
use std::sync::Arc;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The offsets buffers of a freshly opened container.
fn offsets(dir: &str) -> Res<Vec<LazyBuffer>> {
    let options = Options::default().with_cache(Arc::new(Cache::new()));
    let array = open_with(dir, options)?;
    Ok(array
        .lazy_buffers()
        .into_iter()
        .filter(|b| b.info().attribute == "offsets")
        .collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One pass over the values, as a reader makes it.
fn pass(bytes: &[u8]) -> i64 {
    bytes
        .chunks_exact(8)
        .map(|c| i64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
        .fold(0i64, i64::wrapping_add)
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "/tmp/akdata/events".into());
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(21);
    let probe = offsets(&dir)?;
    let bytes: usize = probe.iter().map(|b| b.get().map_or(0, |x| x.len())).sum();
    println!(
        "{} offsets buffers, {:.1} MB in all, {runs} runs",
        probe.len(),
        bytes as f64 / 1e6
    );
    let (mut read, mut read_pass, mut checked) = (Vec::new(), Vec::new(), Vec::new());
    let mut sink = 0i64;
    for _ in 0..=runs {
        let bufs = offsets(&dir)?;
        let t = Instant::now();
        for b in &bufs {
            sink ^= b.get()?.len() as i64;
        }
        read.push(t.elapsed().as_secs_f64() * 1e3);

        let bufs = offsets(&dir)?;
        let t = Instant::now();
        for b in &bufs {
            sink ^= pass(b.get()?.as_slice());
        }
        read_pass.push(t.elapsed().as_secs_f64() * 1e3);

        let bufs = offsets(&dir)?;
        let t = Instant::now();
        for b in &bufs {
            sink ^= b.get_checked()?.len() as i64;
        }
        checked.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // (the first, unmeasured run warms the page cache)
    let (r, p, c) = (
        median(read[1..].to_vec()),
        median(read_pass[1..].to_vec()),
        median(checked[1..].to_vec()),
    );
    println!("get (map only)               {r:8.3} ms");
    println!("get + one pass over values   {p:8.3} ms");
    println!("get_checked (map + check)    {c:8.3} ms");
    println!(
        "checked / get + pass: {:.2}x; the check alone {:.3} ms ({sink})",
        c / p,
        c - r
    );
    Ok(())
}
