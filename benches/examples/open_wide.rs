//! Opens a container and sums one float64 field, N times (a profiling aid;
//! FIELD `-`: only opens).
//!
//!     cargo run --profile profiling --example open_wide -- DIR FIELD [N]
fn main() -> Result<(), akbuf::Error> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, field) = (&args[1], &args[2]);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut total = 0.0;
    let t = std::time::Instant::now();
    for _ in 0..n {
        let a = akbuf::open(dir)?;
        if field == "-" {
            total += a.len() as f64;
            continue;
        }
        total += a.field(field)?.values::<f64>()?.iter().sum::<f64>();
    }
    eprintln!("{n} opens: {:?} each, sum {total}", t.elapsed() / n as u32);
    Ok(())
}
