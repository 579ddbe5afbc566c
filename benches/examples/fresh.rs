//! One workload, once, in this (fresh) process: what a CLI user pays for the
//! first open. Prints the seconds from just before the open to the end.
//!
//!     fresh DATA_DIR W1|W2|W4|W5|W5limit
//!
//! `benches/fresh.sh DATA_DIR` runs it against awkward's (benches/fresh_peer.py)
//! in alternating fresh processes; `benches/cold.sh DATA_DIR` runs W5 (open
//! `big` and sum its 1 GiB) against the same sum over a bare memory map,
//! with the page cache dropped before each.
use std::time::Instant;

mod common;

fn main() -> Result<(), akbuf::Error> {
    let args: Vec<String> = std::env::args().collect();
    let (data, which) = (&args[1], args[2].as_str());
    // AKBUF_FRESH_FAULTS=1: also the page faults the workload took (read
    // from /proc before and after the timed region, outside it).
    let faults_before = std::env::var_os("AKBUF_FRESH_FAULTS").map(|_| minor_faults());
    // W1, W2, W4: the array outlives the timed region, as awkward's does in
    // fresh_peer.py (a Python global, freed at exit): each side times the
    // same work. (W5 and its limit both drop their maps inside.)
    let kept: Option<akbuf::Array>;
    let t = Instant::now();
    let check = match which {
        "W1" => {
            let e = akbuf::open(format!("{data}/events"))?;
            let n = e.len() as f64;
            kept = Some(e);
            n
        }
        "W2" => {
            let e = akbuf::open(format!("{data}/events"))?;
            let pt = e.field("jets")?.field("pt")?;
            let sum = pt.flat_values::<f32>()?.iter().map(|&x| f64::from(x)).sum();
            kept = Some(e);
            sum
        }
        "W4" => {
            let w = akbuf::open(format!("{data}/wide"))?;
            let sum = w.field("f1000")?.values::<f64>()?.iter().sum();
            kept = Some(w);
            sum
        }
        "W5" => {
            kept = None;
            let b = akbuf::open(format!("{data}/big"))?;
            common::sum(&b.values::<f64>()?)
        }
        "W5limit" => {
            kept = None;
            let file = std::fs::File::open(format!("{data}/big/node0-data")).unwrap();
            // SAFETY: the benchmark's input file is not modified while mapped.
            let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
            // SAFETY: f64 is valid for every bit pattern and a mapping is
            // page-aligned (checked).
            let (head, body, _) = unsafe { map.align_to::<f64>() };
            assert!(head.is_empty());
            common::sum(body)
        }
        other => panic!("unknown workload {other}"),
    };
    let secs = t.elapsed().as_secs_f64();
    drop(kept);
    if let Some(before) = faults_before {
        eprintln!("minor page faults: {}", minor_faults() - before);
    }
    if std::env::var_os("AKBUF_FRESH_AGAIN").is_some() {
        let t = Instant::now();
        let again = akbuf::open(format!("{data}/events"))?.len();
        eprintln!("again: {:.9} {again}", t.elapsed().as_secs_f64());
    }
    println!("{secs:.9} {check}");
    Ok(())
}

/// The process's minor page faults so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count from after its ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .nth(7)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0)
}
