//! Upload bandwidth (feature `cuda`): akbuf's first touch of a buffer on a
//! device (mmap'd host bytes → one upload through the device copies cache),
//! against the card's own host-to-device bandwidth measured with cudarc in
//! the same run (pinned and pageable sources).
//!
//! ```text
//! cargo bench --features cuda --bench cuda_upload
//! ```
//!
//! On a machine without CUDA it prints why and exits successfully.

use akbuf::{Cache, Device, DeviceCache, DirSource, Metadata, Options, UploadMode};
use cudarc::driver::{CudaContext, CudaSlice, DriverError};
use std::sync::Arc;
use std::time::Instant;

const REPS: usize = 7;

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn row(what: &str, bytes: usize, secs: Vec<f64>) -> f64 {
    let (med, min, max) = median(secs);
    let gbps = |s: f64| bytes as f64 / s / 1e9;
    println!(
        "{what:<44} {:>6} MiB  {:>7.2} GB/s median  ({:.2}–{:.2})",
        bytes >> 20,
        gbps(med),
        gbps(max),
        gbps(min)
    );
    gbps(med)
}

/// A directory container holding one float64 buffer of `bytes` bytes.
fn container(dir: &std::path::Path, bytes: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let form = r#"{"class": "NumpyArray", "primitive": "float64", "form_key": "node0"}"#;
    std::fs::write(
        dir.join("metadata.json"),
        format!(r#"{{"form": {form}, "length": {}}}"#, bytes / 8),
    )?;
    let data: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("node0-data"), data)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Err(e) = akbuf::cuda_available() {
        println!("skipped: {e}");
        return Ok(());
    }
    let ctx = CudaContext::new(0)?;
    let stream = ctx.new_stream()?;
    println!("device: {}", ctx.name()?);
    let tmp = std::env::temp_dir().join(format!("akbuf-cuda-upload-{}", std::process::id()));
    for mib in [64usize, 256, 1024] {
        let bytes = mib << 20;
        // The card: pinned (not write-combined) host memory → device.
        // SAFETY: filled below before use; u8 has no invalid values.
        let mut pinned = unsafe { ctx.alloc_pinned_with_flags::<u8>(bytes, 0)? };
        pinned.as_mut_slice()?.fill(1);
        let mut dst = stream.alloc_zeros::<u8>(bytes)?;
        let mut copies = |src: &dyn Fn(&mut CudaSlice<u8>) -> Result<(), DriverError>| {
            let mut secs = Vec::new();
            for _ in 0..REPS + 1 {
                let t = Instant::now();
                src(&mut dst)?;
                stream.synchronize()?;
                secs.push(t.elapsed().as_secs_f64());
            }
            secs.remove(0);
            Ok::<_, DriverError>(secs)
        };
        let peak = copies(&|d| stream.memcpy_htod(&pinned, d))?;
        let card = row("cudarc memcpy_htod, pinned host (the card)", bytes, peak);
        let pageable = vec![1u8; bytes];
        let page = copies(&|d| stream.memcpy_htod(&pageable, d))?;
        row("cudarc memcpy_htod, pageable Vec", bytes, page);
        drop((pinned, dst, pageable));

        let dir = tmp.join(format!("f{mib}"));
        container(&dir, bytes)?;
        let meta = Metadata::read_dir(&dir)?;
        for (name, mode) in [
            (
                "akbuf first touch, direct (mmap → device)",
                UploadMode::Direct,
            ),
            (
                "akbuf first touch, staged (mmap → pinned → device)",
                UploadMode::Staged,
            ),
        ] {
            let mut secs = Vec::new();
            for _ in 0..REPS + 1 {
                // A fresh cache each time: a first touch, host pages warm.
                let cache = Arc::new(Cache::new());
                let copies = Arc::new(DeviceCache::new().with_upload_mode(mode));
                let a = meta
                    .open_with(DirSource::new(&dir), Options::default().with_cache(cache))?
                    .to_device_with(Device::Cuda(0), copies)?;
                let t = Instant::now();
                let d = a.device_values()?;
                secs.push(t.elapsed().as_secs_f64());
                assert_eq!(d.num_bytes(), bytes);
            }
            secs.remove(0);
            let got = row(name, bytes, secs);
            println!(
                "{:<44} {:>6}      {:>6.0}% of the card",
                "",
                "",
                100.0 * got / card
            );
        }
    }
    std::fs::remove_dir_all(&tmp)?;
    Ok(())
}
