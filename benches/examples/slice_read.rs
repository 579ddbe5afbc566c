//! Row slices of one big container: `events[a:b].jets.pt`, its values
//! summed, with the bytes read from the source counted (`Observed`),
//! against the bytes of the whole `jets` offsets and `pt` data.
//!
//!     cargo run --profile profiling -p akbuf-bench --example slice_read -- DIR
//!
//! DIR is the events container of `benches/data/generate.py` (2,000,000
//! events). Its peer, `benches/slice_peer.py DIR`, does the same with
//! awkward 2.14 (`ak.from_buffers(...)[a:b].jets.pt`, lazy buffers). Each
//! figure is the median of 21 runs, each a fresh open (page cache warm).
use akbuf::{Array, Metadata, Observed};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn open(dir: &Path, bytes: &Arc<AtomicU64>, reads: &Arc<AtomicU64>) -> Res<Array> {
    let (b, r) = (Arc::clone(bytes), Arc::clone(reads));
    let source = Observed::new(
        akbuf::DirSource::new(dir),
        move |_: &str, n: Option<usize>| {
            b.fetch_add(n.unwrap_or(0) as u64, Ordering::Relaxed);
            r.fetch_add(1, Ordering::Relaxed);
        },
    );
    Ok(Metadata::read_dir(dir)?.open(source)?)
}

fn main() -> Res<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/akdata/events".into());
    let dir = Path::new(&dir);
    let (bytes, reads) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let probe = open(dir, &bytes, &reads)?;
    let n = probe.len();
    let pt = probe.field("jets")?.field("pt")?;
    let whole: u64 = pt.buffers().iter().filter_map(|b| b.stored_bytes).sum();
    println!(
        "{n} events; jets offsets + pt data stored: {:.1} MB",
        whole as f64 / 1e6
    );
    for (a, b) in [
        (1_000_000, 1_000_100),
        (1_000_000, 1_020_000),
        (500_000, 700_000),
        (0, n),
    ] {
        let mut t = Vec::new();
        let (mut got_bytes, mut got_reads, mut sum) = (0, 0, 0.0);
        for _ in 0..21 {
            bytes.store(0, Ordering::Relaxed);
            reads.store(0, Ordering::Relaxed);
            let start = Instant::now();
            let events = open(dir, &bytes, &reads)?;
            let pt = events.slice(a..b)?.field("jets")?.field("pt")?;
            sum = pt
                .flat_values::<f32>()?
                .iter()
                .map(|&x| f64::from(x))
                .sum::<f64>();
            t.push(start.elapsed().as_secs_f64());
            got_bytes = bytes.load(Ordering::Relaxed);
            got_reads = reads.load(Ordering::Relaxed);
        }
        t.sort_by(f64::total_cmp);
        let share = (b - a) as f64 / n as f64;
        println!(
            "rows {a}..{b} ({:.3}% of rows): {:.3} ms, {got_reads} reads, {got_bytes} bytes = {:.4}% of the stored bytes (bound: rows' share + one range per buffer), sum {sum:.1}",
            share * 100.0,
            t[t.len() / 2] * 1e3,
            got_bytes as f64 / whole as f64 * 100.0
        );
    }
    Ok(())
}
