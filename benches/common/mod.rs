//! Helpers the kernel benchmarks share: deterministic inputs and best-of-N timing.

use std::time::Instant;

/// Deterministic values in [-1, 1): a multiplicative hash of the index.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let hash = |i: u64| (i.wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32;
    (0..n as u64).map(|i| hash(i) / (1u64 << 23) as f32 - 1.0).collect()
}

/// The best of `runs` timings of `f`, in seconds (the best run is the one least
/// disturbed on a shared machine).
pub fn best(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}
