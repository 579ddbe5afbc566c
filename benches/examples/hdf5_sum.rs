//! Open an HDF5 group lazily and sum one field, many times: akbuf's side of
//! the HDF5 benchmark in BENCHMARKS.md (`benches/hdf5_sum.sh` runs it beside
//! awkward + h5py on the same file).
//!
//! ```text
//! cargo run --profile profiling --features hdf5 --example hdf5_sum -- FILE.h5[:GROUP] [FIELD.PATH] [REPS]
//! ```
//!
//! Each repetition opens the group afresh (file, attributes, form), takes the
//! field, materializes its flat values and sums them. Prints the median, min
//! and max seconds, the sum, and the bytes read per repetition.

use akbuf::{open_hdf5, split_hdf5_path, Array};
use std::time::Instant;

mod common;

fn field(mut a: Array, path: &str) -> akbuf::Result<Array> {
    for name in path.split('.') {
        a = a.field(name)?;
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let spec = args
        .next()
        .ok_or("usage: hdf5_sum FILE.h5[:GROUP] [FIELD.PATH] [REPS]")?;
    let path = args.next().unwrap_or_else(|| "jets.pt".to_string());
    let reps: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(20);
    let (file, group) = split_hdf5_path(&spec);

    let mut times = Vec::with_capacity(reps);
    let mut sum = 0.0;
    let mut bytes = 0;
    for rep in 0..reps + 3 {
        let start = Instant::now();
        let events = open_hdf5(file, group)?;
        let values = field(events.clone(), &path)?.flat_values::<f32>()?;
        sum = common::sum(&values);
        let elapsed = start.elapsed().as_secs_f64();
        if rep >= 3 {
            times.push(elapsed);
        }
        // Each open makes its own cache: this repetition's reads.
        bytes = events.cache().stats().bytes_read;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "akbuf      median {:.6} s  min {:.6} s  max {:.6} s  sum {sum:.6e}  bytes read {bytes}",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
    );
    Ok(())
}
