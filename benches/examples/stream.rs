//! Streaming a field far larger than one step: peak resident memory while
//! summing `pt` (`var * float32`) of a multi-GB container in steps of
//! `ChunkSize::Bytes(STEP)`, against the same sum over the whole field.
//!
//!     cargo run --profile profiling -p akbuf-bench --example stream -- DIR [GB] [STEP_MB]
//!
//! Writes DIR (if not there) piece by piece: a `ListOffsetArray` (int64
//! offsets) of float32, about GB gigabytes (default 3), 3 values per list
//! on average. Then, in this process, resets the peak-RSS mark
//! (`/proc/self/clear_refs`), scans in steps (default 100 MB) under
//! `Cache::with_budget(STEP)`, and prints the peak RSS (`VmHWM`) and the
//! time; then the same for the whole field at once.
use akbuf::{Cache, ChunkSize, Options};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn status(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn reset_peak() {
    // "5" resets VmHWM to the current RSS (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn make(dir: &Path, gb: f64) -> Res<()> {
    if dir.join("metadata.json").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let rows = (gb * 1e9 / 20.0) as usize; // 8 bytes of offset + 3 x 4 of pt
    let mut offsets = std::io::BufWriter::new(std::fs::File::create(dir.join("node0-offsets"))?);
    let mut data = std::io::BufWriter::new(std::fs::File::create(dir.join("node1-data"))?);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut total = 0i64;
    offsets.write_all(&total.to_le_bytes())?;
    for _ in 0..rows {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (state % 7) as i64; // 0..=6, mean 3
        for j in 0..n {
            data.write_all(&((j as f32) * 0.5 + 1.0).to_le_bytes())?;
        }
        total += n;
        offsets.write_all(&total.to_le_bytes())?;
    }
    offsets.flush()?;
    data.flush()?;
    let form = akbuf::Form::from_json(
        r#"{"class": "ListOffsetArray", "offsets": "i64", "content": {"class": "NumpyArray", "primitive": "float32", "form_key": "node1"}, "form_key": "node0"}"#,
    )?;
    std::fs::write(
        dir.join("metadata.json"),
        akbuf::Metadata::new(form, rows).to_json(),
    )?;
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).map_or("/tmp/akbuf-stream", String::as_str)).to_path_buf();
    let gb: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let step_mb: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    make(&dir, gb)?;
    let step = step_mb * 1_000_000;
    let stored: u64 = ["node0-offsets", "node1-data"]
        .iter()
        .map(|k| std::fs::metadata(dir.join(k)).map_or(0, |m| m.len()))
        .sum();

    reset_peak();
    let base = status("VmRSS:");
    let t = Instant::now();
    let cache = Arc::new(Cache::with_budget(step));
    let pt = akbuf::open_with(&dir, Options::default().with_cache(cache))?;
    let (mut sum, mut steps) = (0f64, 0);
    for chunk in pt.chunks(ChunkSize::Bytes(step))? {
        let chunk = chunk?;
        sum += chunk
            .flat_values::<f32>()?
            .iter()
            .map(|&x| f64::from(x))
            .sum::<f64>();
        steps += 1;
    }
    let (el, peak) = (t.elapsed(), status("VmHWM:"));
    println!(
        "steps of {step_mb} MB: {steps} steps over {:.2} GB, sum {sum:.0}, {:.2} s, peak RSS {:.1} MB (baseline {:.1} MB): peak - baseline = {:.2} x the step",
        stored as f64 / 1e9,
        el.as_secs_f64(),
        peak as f64 / 1e6,
        base as f64 / 1e6,
        (peak - base) as f64 / step as f64
    );

    reset_peak();
    let base = status("VmRSS:");
    let t = Instant::now();
    let whole = akbuf::open(&dir)?;
    let s: f64 = whole
        .flat_values::<f32>()?
        .iter()
        .map(|&x| f64::from(x))
        .sum();
    let (el, peak) = (t.elapsed(), status("VmHWM:"));
    println!(
        "whole field at once: sum {s:.0}, {:.2} s, peak RSS {:.1} MB (baseline {:.1} MB)",
        el.as_secs_f64(),
        peak as f64 / 1e6,
        base as f64 / 1e6
    );
    Ok(())
}
