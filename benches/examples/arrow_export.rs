//! Arrow export against arrow-rs reading an Arrow IPC file, and Parquet
//! writing against awkward (feature `parquet`):
//!
//!     cargo run --profile profiling -p akbuf-bench --features parquet --example arrow_export -- DIR [REPS]
//!
//! DIR is a directory container with `jets` (a list of records of float32).
//! One run, medians of REPS (default 7), page cache warm:
//! - akbuf: open DIR, `jets` as a RecordBatch (`to_arrow_field`), sum of
//!   `jets.pt` through the arrow arrays; the same without the sum;
//! - arrow-rs: `FileReader` over DIR.arrow (written once by akbuf with
//!   `write_arrow_ipc`, the same table), projection to `jets`, the same sum;
//! - `write_parquet` of DIR beside `ak.to_parquet` (benches/parquet_peer.py):
//!   time and size.

mod common;

use akbuf::ToArrowOptions;
use arrow_array::{cast::AsArray, types::Float32Type, RecordBatch};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The sum of `jets.pt` in a batch whose one column is `jets`.
fn sum_pt(batch: &RecordBatch) -> f64 {
    let jets = batch.column(0);
    let list = jets.as_list::<i64>();
    let records = list.values().as_struct();
    let pt = records
        .column_by_name("pt")
        .unwrap()
        .as_primitive::<Float32Type>();
    // The rows the lists cover (a sliced child would start later).
    let offsets = list.value_offsets();
    let (a, b) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
    common::sum(&pt.values()[a..b])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("/tmp/akdata/events", String::as_str));
    let reps: usize = args.get(2).map_or(7, |s| s.parse().unwrap());
    let options = ToArrowOptions::default();
    let ipc = dir.with_extension("akbuf.arrow");
    if !ipc.exists() {
        let events = akbuf::open(&dir).unwrap();
        akbuf::write_arrow_ipc(&events, &ipc, &options).unwrap();
    }
    let mut ours = Vec::new();
    let mut ours_sum = Vec::new();
    let mut theirs = Vec::new();
    let (mut s1, mut s2) = (0.0, 0.0);
    for _ in 0..reps {
        let t = Instant::now();
        let events = akbuf::open(&dir).unwrap();
        let (field, jets) = events
            .field("jets")
            .unwrap()
            .to_arrow_field("jets", &options)
            .unwrap();
        let schema = Arc::new(arrow_schema_of(field));
        let batch = RecordBatch::try_new(schema, vec![jets]).unwrap();
        ours.push(t.elapsed().as_secs_f64());
        s1 = sum_pt(&batch);
        ours_sum.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let file = std::fs::File::open(&ipc).unwrap();
        let probe =
            arrow_ipc::reader::FileReader::try_new(file.try_clone().unwrap(), None).unwrap();
        let index = probe.schema().index_of("jets").unwrap();
        let reader = arrow_ipc::reader::FileReader::try_new(file, Some(vec![index])).unwrap();
        s2 = 0.0;
        for b in reader {
            s2 += sum_pt(&b.unwrap());
        }
        theirs.push(t.elapsed().as_secs_f64());
    }
    assert!((s1 - s2).abs() <= 1e-6 * s1.abs().max(1.0), "{s1} != {s2}");
    println!(
        "jets of {} as a RecordBatch, {reps} runs, medians:",
        dir.display()
    );
    println!(
        "  akbuf open + to_arrow_field (zero copy)        {:9.3} ms",
        median(ours) * 1e3
    );
    println!(
        "  akbuf open + to_arrow_field + sum of jets.pt   {:9.3} ms",
        median(ours_sum.clone()) * 1e3
    );
    println!(
        "  arrow-rs FileReader (projection) + same sum    {:9.3} ms",
        median(theirs.clone()) * 1e3
    );
    println!("  ratio {:.1}x", median(theirs) / median(ours_sum));

    // Parquet: akbuf's write_parquet beside ak.to_parquet of the same data.
    let tmp = std::env::temp_dir().join(format!("akbuf-bench-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut times = Vec::new();
    let mut size = 0;
    for i in 0..3 {
        let out = tmp.join(format!("ours{i}.parquet"));
        let events = akbuf::open(&dir).unwrap();
        let t = Instant::now();
        akbuf::write_parquet(&events, &out, &options).unwrap();
        times.push(t.elapsed().as_secs_f64());
        size = std::fs::metadata(&out).unwrap().len();
        std::fs::remove_file(&out).unwrap();
    }
    let peer = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python"))
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/parquet_peer.py"),
            dir.to_str().unwrap(),
            tmp.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        peer.status.success(),
        "{}",
        String::from_utf8_lossy(&peer.stderr)
    );
    let line = String::from_utf8_lossy(&peer.stdout);
    let mut it = line.split_whitespace();
    let (peer_s, peer_size): (f64, u64) = (
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
    );
    println!("Parquet of {} (zstd):", dir.display());
    println!(
        "  akbuf write_parquet  {:8.0} ms  {:>11} bytes",
        median(times.clone()) * 1e3,
        size
    );
    println!(
        "  ak.to_parquet        {:8.0} ms  {:>11} bytes",
        peer_s * 1e3,
        peer_size
    );
    println!(
        "  ratio {:.2}x time, {:.3}x size",
        peer_s / median(times),
        size as f64 / peer_size as f64
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

fn arrow_schema_of(field: arrow_schema::FieldRef) -> arrow_schema::Schema {
    arrow_schema::Schema::new(vec![field])
}
