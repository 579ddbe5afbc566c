//! What the benchmark examples share.

/// Sums in f64, in sixteen independent lanes so that the loop vectorizes
/// (the same sum for every contender).
pub fn sum<T: Copy + Into<f64>>(xs: &[T]) -> f64 {
    let mut lanes = [0f64; 16];
    let mut chunks = xs.chunks_exact(16);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += x.into();
        }
    }
    lanes.iter().sum::<f64>() + chunks.remainder().iter().map(|&x| x.into()).sum::<f64>()
}
