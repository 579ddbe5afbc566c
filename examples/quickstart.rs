//! Open the sample events container lazily, print its type, sum `jets.pt`,
//! and show which buffers were read.
//!
//! ```text
//! cargo run --release --example quickstart [PATH]
//! ```

use akbuf::{DirSource, Metadata, Observed};
use std::sync::{Arc, Mutex};

fn main() -> Result<(), akbuf::Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/events").to_string());

    // Record every read the source serves.
    let reads = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&reads);
    let source = Observed::new(
        DirSource::new(&path),
        move |key: &str, bytes: Option<usize>| {
            if let Ok(mut l) = log.lock() {
                l.push((key.to_string(), bytes.unwrap_or(0)));
            }
        },
    );

    // Opening reads metadata.json only.
    let events = Metadata::read_dir(&path)?.open(source)?;
    println!("type: {}", events.type_string());

    // jets.pt is `N * var * float32`; its flat values are used in place.
    let pt = events.field("jets")?.field("pt")?;
    let values = pt.flat_values::<f32>()?;
    let sum: f64 = values.iter().map(|&x| f64::from(x)).sum();
    println!(
        "sum of jets.pt: {sum:.4} over {} jets in {} events",
        values.len(),
        pt.len()
    );

    let reads = reads.lock().map(|r| r.clone()).unwrap_or_default();
    println!(
        "buffers read: {} of {}",
        reads.len(),
        events.buffers().len()
    );
    for (key, bytes) in reads {
        println!("  {key} ({bytes} bytes)");
    }
    Ok(())
}
