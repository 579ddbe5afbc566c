//! Eight threads read and sum the same fields of one lazy array at once.
//! The shared cache makes it one read per key; awkward, which has no locking,
//! would read every buffer eight times.
//!
//! ```text
//! cargo run --release --example concurrent_reads [PATH]
//! ```
//!
//! The last line is `reads <R> distinct-keys <K>`, with R == K.

use akbuf::{Array, Cache, DirSource, Metadata, Options, ReadEvent};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

fn sum(array: &Array, path: &[&str]) -> Result<f64, akbuf::Error> {
    let mut a = array.clone();
    for f in path {
        a = a.field(f)?;
    }
    // Scalars are NumpyArrays, lists are ListOffsetArrays over NumpyArrays.
    Ok(match a.form().type_string().trim_start_matches("var * ") {
        "float32" => a.flat_values::<f32>()?.iter().map(|&x| f64::from(x)).sum(),
        "int8" => a.flat_values::<i8>()?.iter().map(|&x| f64::from(x)).sum(),
        "int64" => a.flat_values::<i64>()?.iter().map(|&x| x as f64).sum(),
        other => return Err(akbuf::Error::Argument(format!("cannot sum {other}"))),
    })
}

fn main() -> Result<(), akbuf::Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/events").to_string());
    let keys = Arc::new(Mutex::new(BTreeSet::new()));
    let seen = Arc::clone(&keys);
    let cache = Arc::new(Cache::new().with_observer(move |e: &ReadEvent<'_>| {
        if let Ok(mut k) = seen.lock() {
            k.insert(e.key.to_string());
        }
    }));
    let events = Metadata::read_dir(&path)?.open_with(
        DirSource::new(&path),
        Options::default().with_cache(Arc::clone(&cache)),
    )?;
    let fields: [&[&str]; 5] = [
        &["jets", "pt"],
        &["jets", "eta"],
        &["muons", "pt"],
        &["muons", "charge"],
        &["met"],
    ];

    let sums: Vec<Vec<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    fields
                        .iter()
                        .map(|f| sum(&events, f))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(akbuf::Error::Argument("a reader thread panicked".into()))
                })
            })
            .collect::<Result<_, _>>()
    })?;
    for (f, s) in fields.iter().zip(&sums[0]) {
        println!("sum of {}: {s:.4}", f.join("."));
    }
    let all_equal = sums.iter().all(|s| s == &sums[0]);
    println!("8 threads agree: {all_equal}");

    let stats = cache.stats();
    println!(
        "stats: reads {} bytes_read {} hits {} waits {} revivals {} evictions {} heap_bytes {} mapped_bytes {}",
        stats.reads, stats.bytes_read, stats.hits, stats.waits, stats.revivals, stats.evictions, stats.heap_bytes, stats.mapped_bytes
    );
    let distinct = keys.lock().map(|k| k.len()).unwrap_or(0);
    println!("reads {} distinct-keys {distinct}", stats.reads);
    Ok(())
}
