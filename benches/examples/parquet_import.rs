//! Reading Parquet and Arrow IPC into a container (feature `parquet`),
//! against awkward:
//!
//!     cargo run --profile profiling -p akbuf-bench --features parquet --example parquet_import -- DIR [FILE.parquet]
//!
//! DIR is a directory container (the 2,000,000-event `events`). FILE
//! (default DIR.ak.parquet) is written once by `ak.to_parquet` (through
//! benches/parquet_import_peer.py); DIR.akbuf.arrow once by akbuf's
//! `write_arrow_ipc`. One run, medians of 3, page cache warm:
//! - akbuf: `open(FILE)` + `write_dir(.., one_piece)` (what `akbuf copy
//!   FILE OUT/` does), the same for the Arrow IPC file;
//! - awkward 2.14: `ak.from_parquet` (resp. `ak.from_arrow` of the mapped
//!   IPC file) + `ak.to_buffers`, each buffer written to a file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// akbuf's copy of `file` into a fresh folder under `tmp`, in seconds.
fn ours(file: &Path, tmp: &Path) -> f64 {
    let mut times = Vec::new();
    for i in 0..3 {
        let out = tmp.join(format!("ours{i}"));
        let t = Instant::now();
        let array = akbuf::open(file).unwrap();
        let opts = akbuf::WriteOptions::default().with_one_piece(true);
        akbuf::write_dir(&array, &out, &opts).unwrap();
        times.push(t.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&out).unwrap();
    }
    median(times)
}

/// The peer script's medians, in seconds: without and with fsync.
fn theirs(file: &Path, tmp: &Path, dir: &Path) -> (f64, f64) {
    let out = Command::new(".venv/bin/python")
        .args(["benches/parquet_import_peer.py"])
        .arg(file)
        .arg(tmp)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut t = text.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    (t.next().unwrap(), t.next().unwrap())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("/tmp/akdata/events", String::as_str));
    let parquet = args
        .get(2)
        .map_or_else(|| dir.with_extension("ak.parquet"), PathBuf::from);
    let ipc = dir.with_extension("akbuf.arrow");
    if !ipc.exists() {
        let events = akbuf::open(&dir).unwrap();
        akbuf::write_arrow_ipc(&events, &ipc, &Default::default()).unwrap();
    }
    let tmp = std::env::temp_dir().join(format!("akbuf-import-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    // The peer first: it writes the Parquet file if it is missing.
    let t_pq = theirs(&parquet, &tmp, &dir);
    let o_pq = ours(&parquet, &tmp);
    let t_ipc = theirs(&ipc, &tmp, &dir);
    let o_ipc = ours(&ipc, &tmp);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    println!("| input | akbuf `copy FILE OUT/` (synced) | awkward from_* + to_buffers, files written | the same, files synced | speed vs awkward (unsynced, synced) |");
    println!("|---|---:|---:|---:|---:|");
    for (file, o, (t, ts)) in [(&parquet, o_pq, t_pq), (&ipc, o_ipc, t_ipc)] {
        println!(
            "| {} ({} bytes) | {:.0} ms | {:.0} ms | {:.0} ms | {:.2}x, {:.2}x |",
            file.display(),
            size(file),
            o * 1e3,
            t * 1e3,
            ts * 1e3,
            t / o,
            ts / o
        );
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
