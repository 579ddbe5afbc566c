//! The performance workloads of BENCHMARKS.md (issue #7), akbuf against
//! arrow-rs and against the memory-bandwidth limit, in one process.
//!
//! ```text
//! .venv/bin/python benches/data/generate.py DATA_DIR      # events, wide, big, events.arrow
//! cargo run --profile profiling --example workloads -- DATA_DIR      # table + BENCHMARKS.json
//! cargo run --profile profiling --example workloads -- DATA_DIR --w2-peak
//! .venv/bin/python benches/workloads_peer.py DATA_DIR     # awkward and pyarrow, merged in
//! ```
//!
//! - W1: open `events` lazily.
//! - W2: open `events` and sum `jets.pt`.
//! - W3: `jets.pt`'s values again on the open array (no read, no copy).
//! - W4: open `wide` (2,000 fields) and sum one field.
//! - W5: open `big` (one 1 GiB float64 buffer) and sum all of it.
//!
//! Peers in the same run: arrow-rs on W1–W3 (`arrow-ipc`'s `FileDecoder` over
//! a memory map of `events.arrow`, zero copy, projected to the `jets`
//! column), and the limit on W2 and W5: `memmap2` of the same files and the
//! same sum. Each figure is the median, min and max of several repetitions
//! after a warm-up (warm page cache); `--w2-peak` runs W2 once and prints the
//! process's peak resident memory.

use akbuf::{open, Array};
use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array as _, RecordBatch};
use arrow_buffer::Buffer as ArrowBuffer;
use arrow_ipc::convert::fb_to_schema;
use arrow_ipc::reader::{read_footer_length, FileDecoder};
use arrow_ipc::root_as_footer;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

mod common;

use common::sum;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
    bytes: u64,
}

/// Runs `f` `warm` times unmeasured, then `reps` times; `f` returns the
/// bytes it read from its source. `per` > 1 times batches of `per` calls
/// and reports seconds per call (for sub-microsecond work).
fn measure(warm: usize, reps: usize, per: usize, mut f: impl FnMut() -> Res<u64>) -> Res<Stat> {
    for _ in 0..warm {
        f()?;
    }
    let mut t = Vec::with_capacity(reps);
    let mut bytes = 0;
    for _ in 0..reps {
        let start = Instant::now();
        for _ in 0..per {
            bytes = f()?;
        }
        t.push(start.elapsed().as_secs_f64() / per as f64);
    }
    t.sort_by(f64::total_cmp);
    Ok(Stat {
        median: t[t.len() / 2],
        min: t[0],
        max: t[t.len() - 1],
        bytes,
    })
}

fn field(a: &Array, path: &str) -> akbuf::Result<Array> {
    path.split('.').try_fold(a.clone(), |a, name| a.field(name))
}

/// The bytes a source read for this array so far (each array opened with
/// `open` has its own cache).
fn read_bytes(a: &Array) -> u64 {
    a.cache().stats().bytes_read
}

/// An `events.arrow` opened lazily: mapped, footer and schema decoded, no batch.
struct ArrowFile {
    buffer: ArrowBuffer,
    decoder: FileDecoder,
    blocks: Vec<arrow_ipc::Block>,
}

fn arrow_open(path: &Path, column: &str, skip_validation: bool) -> Res<ArrowFile> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the benchmark's input file is not modified while mapped.
    let mmap = unsafe { memmap2::Mmap::map(&file)? };
    let buffer = ArrowBuffer::from(bytes::Bytes::from_owner(mmap));
    let trailer = buffer.len() - 10;
    let footer_len = read_footer_length(buffer[trailer..].try_into()?)?;
    let footer = root_as_footer(&buffer[trailer - footer_len..trailer])
        .map_err(|e| format!("footer: {e}"))?;
    let schema = fb_to_schema(footer.schema().ok_or("no schema")?);
    let index = schema.index_of(column)?;
    let mut decoder =
        FileDecoder::new(Arc::new(schema), footer.version()).with_projection(vec![index]);
    if skip_validation {
        // SAFETY: the file was written by pyarrow from valid arrays, and the
        // benchmark does not modify it; this is arrow-rs's documented fast
        // path for trusted input, measured beside the validating default.
        decoder = unsafe { decoder.with_skip_validation(true) };
    }
    let blocks = footer
        .recordBatches()
        .map(|b| b.iter().copied().collect())
        .unwrap_or_default();
    Ok(ArrowFile {
        buffer,
        decoder,
        blocks,
    })
}

impl ArrowFile {
    fn batches(&self) -> Res<Vec<RecordBatch>> {
        let mut out = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            let len = b.bodyLength() as usize + b.metaDataLength() as usize;
            let data = self.buffer.slice_with_length(b.offset() as usize, len);
            out.extend(self.decoder.read_record_batch(b, &data)?);
        }
        Ok(out)
    }
}

/// `jets.pt` of each batch (projected to `jets`), the values its lists use.
fn arrow_pt(batches: &[RecordBatch], mut each: impl FnMut(&[f32])) {
    for batch in batches {
        let jets = batch.column(0).as_list::<i64>();
        let offsets = jets.value_offsets();
        let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
        let pt = jets
            .values()
            .as_struct()
            .column_by_name("pt")
            .map(|c| c.as_primitive::<Float32Type>());
        if let Some(pt) = pt {
            each(&pt.values()[first..last]);
        }
    }
}

/// The bytes of the buffers an array refers to (its slices of the mapping).
fn data_bytes(d: &arrow_data::ArrayData) -> u64 {
    let own: usize = d.buffers().iter().map(|b| b.len()).sum::<usize>()
        + d.nulls().map_or(0, |n| n.buffer().len());
    own as u64 + d.child_data().iter().map(data_bytes).sum::<u64>()
}

/// A file mapped, as the limit reads it.
fn map(path: &Path) -> Res<memmap2::Mmap> {
    let file = std::fs::File::open(path)?;
    // SAFETY: the benchmark's input files are not modified while mapped.
    Ok(unsafe { memmap2::Mmap::map(&file)? })
}

/// A mapped file's bytes as numbers, in place.
fn view<T: akbuf::Native>(bytes: &[u8]) -> &[T] {
    // SAFETY: akbuf's `Native` types are plain numbers (and pairs of them),
    // valid for every bit pattern; `align_to` returns an aligned middle part,
    // which is all of a page-aligned mapping (checked).
    let (head, body, _) = unsafe { bytes.align_to::<T>() };
    assert!(head.is_empty(), "a mapping starts page-aligned");
    body
}

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(args.next().ok_or("usage: workloads DATA_DIR [--w2-peak]")?);
    let peak_only = args.next().as_deref() == Some("--w2-peak");
    let events_dir = data.join("events");
    let (wide_dir, big_dir, arrow_path) = (
        data.join("wide"),
        data.join("big"),
        data.join("events.arrow"),
    );

    // The keys of jets.pt, found once (reads nothing).
    let probe = open(&events_dir)?;
    let keys: Vec<String> = field(&probe, "jets.pt")?
        .buffers()
        .into_iter()
        .map(|b| b.key)
        .collect();
    let (offsets_key, pt_key) = (keys[0].clone(), keys[1].clone());

    if peak_only {
        let before = peak_rss_bytes();
        let a = open(&events_dir)?;
        let s = sum(&field(&a, "jets.pt")?.flat_values::<f32>()?);
        let touched = read_bytes(&a);
        let peak = peak_rss_bytes();
        println!("W2 once: sum {s:.6e}, touched buffers {touched} bytes");
        println!(
            "peak resident {peak} bytes (before W2 {before}): {:+.1} MB over the touched buffers",
            (peak as f64 - touched as f64) / 1e6
        );
        return Ok(());
    }

    let mut rows: Vec<(&str, &str, Stat)> = Vec::new();

    // W1: open lazily.
    rows.push((
        "W1",
        "akbuf",
        measure(5, 101, 1, || Ok(read_bytes(&open(&events_dir)?)))?,
    ));
    if arrow_path.exists() {
        rows.push((
            "W1",
            "arrow-rs",
            measure(5, 101, 1, || {
                black_box(arrow_open(&arrow_path, "jets", false)?);
                Ok(0)
            })?,
        ));
    }

    // W2: open + sum of jets.pt.
    let mut total = 0.0;
    rows.push((
        "W2",
        "akbuf",
        measure(3, 21, 1, || {
            let a = open(&events_dir)?;
            total = sum(&field(&a, "jets.pt")?.flat_values::<f32>()?);
            Ok(read_bytes(&a))
        })?,
    ));
    println!("W2 sum akbuf: {total:.6e}");
    if arrow_path.exists() {
        for (who, skip) in [("arrow-rs", false), ("arrow-rs, unvalidated", true)] {
            rows.push((
                "W2",
                who,
                measure(3, 21, 1, || {
                    let f = arrow_open(&arrow_path, "jets", skip)?;
                    let batches = f.batches()?;
                    let (mut s, mut bytes) = (0.0, 0u64);
                    arrow_pt(&batches, |pt| s += sum(pt));
                    for b in &batches {
                        bytes += data_bytes(&b.column(0).to_data());
                    }
                    total = s;
                    Ok(bytes)
                })?,
            ));
            println!("W2 sum {who}: {total:.6e}");
        }
    }
    rows.push((
        "W2",
        "memmap+sum (limit)",
        measure(3, 21, 1, || {
            let off = map(&events_dir.join(&offsets_key))?;
            let pt = map(&events_dir.join(&pt_key))?;
            let o = view::<i64>(&off);
            let (first, last) = (o[0] as usize, o[o.len() - 1] as usize);
            total = sum(&view::<f32>(&pt)[first..last]);
            Ok((off.len() + pt.len()) as u64)
        })?,
    ));
    println!("W2 sum limit: {total:.6e}");

    // W3: the same field again on the open array.
    let a = open(&events_dir)?;
    let pt_len = field(&a, "jets.pt")?.flat_values::<f32>()?.len();
    let before = read_bytes(&a);
    rows.push((
        "W3",
        "akbuf",
        measure(1000, 101, 1000, || {
            let v = field(&a, "jets.pt")?.flat_values::<f32>()?;
            black_box(v.len());
            Ok(read_bytes(&a) - before)
        })?,
    ));
    assert_eq!(read_bytes(&a), before, "W3 read something");
    assert!(pt_len > 0);
    if arrow_path.exists() {
        let batches = arrow_open(&arrow_path, "jets", false)?.batches()?;
        rows.push((
            "W3",
            "arrow-rs",
            measure(1000, 101, 1000, || {
                let mut n = 0;
                arrow_pt(&batches, |pt| n += pt.len());
                black_box(n);
                Ok(0)
            })?,
        ));
    }

    // W4: wide, open + sum of one field.
    rows.push((
        "W4",
        "akbuf",
        measure(3, 31, 1, || {
            let w = open(&wide_dir)?;
            black_box(sum(&w.field("f1000")?.values::<f64>()?));
            Ok(read_bytes(&w))
        })?,
    ));

    // W5: big, open + sum of everything.
    rows.push((
        "W5",
        "akbuf",
        measure(2, 9, 1, || {
            let b = open(&big_dir)?;
            total = sum(&b.values::<f64>()?);
            Ok(read_bytes(&b))
        })?,
    ));
    println!("W5 sum akbuf: {total:.6e}");
    let big_key = open(&big_dir)?.buffers()[0].key.clone();
    rows.push((
        "W5",
        "memmap+sum (limit)",
        measure(2, 9, 1, || {
            let m = map(&big_dir.join(&big_key))?;
            total = sum(view::<f64>(&m));
            Ok(m.len() as u64)
        })?,
    ));
    println!("W5 sum limit: {total:.6e}");

    println!();
    println!("machine: {}", machine());
    println!(
        "{:<4} {:<20} {:>14} {:>14} {:>14} {:>14}",
        "", "contender", "median", "min", "max", "bytes read"
    );
    let fmt = |s: f64| {
        if s < 1e-6 {
            format!("{:.1} ns", s * 1e9)
        } else if s < 1e-3 {
            format!("{:.2} µs", s * 1e6)
        } else {
            format!("{:.3} ms", s * 1e3)
        }
    };
    for (w, who, s) in &rows {
        println!(
            "{w:<4} {who:<20} {:>14} {:>14} {:>14} {:>14}",
            fmt(s.median),
            fmt(s.min),
            fmt(s.max),
            s.bytes
        );
    }

    // BENCHMARKS.json: this run's contenders replace their earlier figures;
    // the Python peers' (benches/workloads_peer.py) are kept.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.json");
    let mut doc: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    doc["rust_machine"] = serde_json::json!(machine());
    for (w, who, s) in &rows {
        doc["workloads"][*w][*who] = serde_json::json!({
            "median_s": s.median, "min_s": s.min, "max_s": s.max, "bytes_read": s.bytes,
        });
    }
    std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")?;
    println!("\nwrote {}", path.display());
    Ok(())
}
