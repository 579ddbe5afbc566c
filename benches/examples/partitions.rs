//! Partitioned containers: opening many partitions, and summing a field
//! partition by partition on one thread and on two.
//!
//!     cargo run --profile profiling -p akbuf-bench --example partitions -- DIR [PARTS ROWS]
//!
//! Writes into DIR (if it is not there yet) two containers:
//! `DIR/open10k` (metadata.json only: 10,000 partitions of a record
//! `{x: float64, y: var * float64}`) and `DIR/sum` (PARTS partitions of ROWS
//! rows each, default 16 x 2,000,000, about 1 GB, buffers written as awkward
//! 1 keys them: `part{i}-node{id}-{attribute}`). Then measures, each as the
//! median of its repetitions:
//!
//! - `open 10k`: `akbuf::open` of the 10,000-partition container, with
//!   the number of buffer reads (0 expected);
//! - `sum x`, `sum y`: the field's values summed over every partition with
//!   one thread, then with two threads taking alternate partitions (both
//!   warm: the files in the page cache, each run a fresh open).
use akbuf::{Array, Metadata, Observed};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const FORM: &str = r#"{"class": "RecordArray", "fields": ["x", "y"], "contents": [
    {"class": "NumpyArray", "primitive": "float64", "form_key": "node1"},
    {"class": "ListOffsetArray", "offsets": "i64", "content":
        {"class": "NumpyArray", "primitive": "float64", "form_key": "node3"}, "form_key": "node2"}],
    "form_key": "node0"}"#;

fn write_all(path: &Path, bytes: &[u8]) -> Res<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    Ok(())
}

fn as_bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: plain numbers (f64, i64) with no padding, viewed as bytes for
    // writing; the length is the slice's size in bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}

fn make(dir: &Path, parts: usize, rows: usize) -> Res<()> {
    let form = akbuf::Form::from_json(FORM)?;
    let open10k = dir.join("open10k");
    std::fs::create_dir_all(&open10k)?;
    let lengths: Vec<usize> = (0..10_000).map(|i| 1000 + i % 7).collect();
    let meta = Metadata::partitioned(form.clone(), lengths);
    write_all(&open10k.join("metadata.json"), meta.to_json().as_bytes())?;
    let sum = dir.join("sum");
    if sum.join("metadata.json").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(&sum)?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for p in 0..parts {
        let x: Vec<f64> = (0..rows).map(|_| (next() % 1000) as f64 / 8.0).collect();
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0i64);
        for _ in 0..rows {
            offsets.push(offsets.last().unwrap() + (next() % 4) as i64);
        }
        let n = *offsets.last().unwrap() as usize;
        let y: Vec<f64> = (0..n).map(|_| (next() % 1000) as f64 / 4.0).collect();
        write_all(&sum.join(format!("part{p}-node1-data")), as_bytes(&x))?;
        write_all(
            &sum.join(format!("part{p}-node2-offsets")),
            as_bytes(&offsets),
        )?;
        write_all(&sum.join(format!("part{p}-node3-data")), as_bytes(&y))?;
    }
    let meta = Metadata::partitioned(form, vec![rows; parts]);
    write_all(&sum.join("metadata.json"), meta.to_json().as_bytes())?;
    Ok(())
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn open_counted(dir: &Path, reads: &Arc<AtomicU64>) -> Res<Array> {
    let meta = Metadata::read_dir(dir)?;
    let r = Arc::clone(reads);
    let source = Observed::new(
        akbuf::DirSource::new(dir),
        move |_: &str, _: Option<usize>| {
            r.fetch_add(1, Ordering::Relaxed);
        },
    );
    Ok(meta.open(source)?)
}

/// The sum of one partition's values of `field` (x: the numbers; y: the
/// lists' contents).
fn part_sum(part: &Array, field: &str) -> akbuf::Result<f64> {
    let f = part.field(field)?;
    Ok(match field {
        "x" => f.values::<f64>()?.iter().sum(),
        _ => f.flat_values::<f64>()?.iter().sum(),
    })
}

fn sum(a: &Array, field: &str, threads: usize) -> akbuf::Result<f64> {
    let n = a.num_partitions();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> akbuf::Result<f64> {
                    let mut total = 0.0;
                    for p in (t..n).step_by(threads) {
                        total += part_sum(&a.partition(p)?, field)?;
                    }
                    Ok(total)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a summing thread panicked"))
            .sum()
    })
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("/tmp/akbuf-partitions", String::as_str));
    let parts: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let rows: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    make(&dir, parts, rows)?;

    let reads = Arc::new(AtomicU64::new(0));
    let mut t = Vec::new();
    let mut len = 0;
    for _ in 0..201 {
        let start = Instant::now();
        let a = open_counted(&dir.join("open10k"), &reads)?;
        len = a.len();
        t.push(start.elapsed().as_secs_f64());
        std::hint::black_box(a);
    }
    println!(
        "open 10k partitions: median {:.3} ms (min {:.3}), {} rows, {} buffer reads",
        median(t.clone()) * 1e3,
        t.iter().cloned().fold(f64::MAX, f64::min) * 1e3,
        len,
        reads.load(Ordering::Relaxed)
    );

    let sum_dir = dir.join("sum");
    for field in ["x", "y"] {
        let mut results = Vec::new();
        // Interleaved, so that both see the same machine.
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for rep in 0..12 {
            for threads in [1, 2] {
                let a = open_counted(&sum_dir, &reads)?;
                let start = Instant::now();
                let s = sum(&a, field, threads)?;
                let el = start.elapsed().as_secs_f64();
                if rep >= 2 {
                    if threads == 1 {
                        one.push(el)
                    } else {
                        two.push(el)
                    }
                }
                results.push(s);
            }
        }
        assert!(results
            .windows(2)
            .all(|w| w[0] == w[1] || (w[0] - w[1]).abs() < 1e-6 * w[0].abs()));
        let (m1, m2) = (median(one), median(two));
        println!(
            "sum {field} over {parts} partitions: 1 thread {:.1} ms, 2 threads {:.1} ms, {:.2}x",
            m1 * 1e3,
            m2 * 1e3,
            m1 / m2
        );
    }
    Ok(())
}
