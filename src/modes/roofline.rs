//! The memory roofline of token generation: bytes of weights read per generated token,
//! and a probe of this machine's memory read bandwidth, so `hearth bench --roofline`
//! can say how close tg comes to the bound `bandwidth ÷ bytes per token`.

use std::time::Instant;

use crate::backend::cpu::pool;
use crate::gguf::GgufFile;

/// Bytes of weights one decode step reads: every tensor once, except the token
/// embedding (one row, unless it doubles as the output matrix) and the routed experts
/// (`n_used` of `n_expert`). The KV cache adds a little with context and is not counted.
pub fn bytes_per_token(file: &GgufFile, n_expert: usize, n_used: usize) -> u64 {
    let tied = file.tensor("output.weight").is_none();
    file.tensors()
        .iter()
        .map(|t| {
            if t.name == "token_embd.weight" && !tied {
                t.n_bytes / t.dims.get(1).copied().unwrap_or(1).max(1)
            } else if t.name.contains("_exps.") && n_expert > 0 {
                t.n_bytes * n_used as u64 / n_expert as u64
            } else {
                t.n_bytes
            }
        })
        .sum()
}

/// Bytes the probe reads per pass: well beyond any last-level cache.
const PROBE_BYTES: usize = 512 << 20;

/// Measured read bandwidth in bytes per second, with the pool's threads: the best of
/// `passes` full reads of a 512 MiB buffer (after one pass that faults the pages in).
pub fn read_bandwidth(passes: usize) -> f64 {
    let words = vec![1u64; PROBE_BYTES / 8];
    let chunk = (words.len() / (pool::pool().n_threads() * 8)).max(1);
    let n_tasks = words.len().div_ceil(chunk);
    let mut best = 0f64;
    for pass in 0..=passes {
        let sums: Vec<std::sync::atomic::AtomicU64> =
            (0..n_tasks).map(|_| std::sync::atomic::AtomicU64::new(0)).collect();
        let t = Instant::now();
        pool::run(n_tasks, |i| {
            let part = &words[i * chunk..((i + 1) * chunk).min(words.len())];
            sums[i].store(sum_words(part), std::sync::atomic::Ordering::Relaxed);
        });
        let secs = t.elapsed().as_secs_f64();
        let total: u64 = sums.iter().map(|s| s.load(std::sync::atomic::Ordering::Relaxed)).sum();
        assert_eq!(total, words.len() as u64, "the probe read every word");
        if pass > 0 {
            best = best.max(PROBE_BYTES as f64 / secs);
        }
    }
    best
}

/// A sum the compiler vectorizes into wide loads (eight independent lanes).
fn sum_words(words: &[u64]) -> u64 {
    let mut lanes = [0u64; 8];
    let chunks = words.chunks_exact(8);
    let tail: u64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, &w) in lanes.iter_mut().zip(c) {
            *l = l.wrapping_add(w);
        }
    }
    lanes.iter().sum::<u64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgufWriter;

    #[test]
    fn sums_every_word() {
        let w: Vec<u64> = (0..1003).collect();
        assert_eq!(sum_words(&w), (0..1003).sum::<u64>());
    }

    #[test]
    fn counts_one_embedding_row_and_the_used_share_of_experts() {
        let mut wr = GgufWriter::new();
        wr.add_f32("token_embd.weight", &[4, 10], &[0.0; 40]).unwrap();
        wr.add_f32("output.weight", &[4, 10], &[0.0; 40]).unwrap();
        wr.add_f32("blk.0.ffn_up_exps.weight", &[4, 2, 8], &[0.0; 64]).unwrap();
        let f = GgufFile::from_bytes("t.gguf", wr.to_bytes().unwrap()).unwrap();
        // One embedding row (16 B) + output (160 B) + 2 of 8 experts (256 B · 2/8).
        assert_eq!(bytes_per_token(&f, 8, 2), 16 + 160 + 64);
        // Tied: the embedding is read whole as the output matrix.
        let mut wr = GgufWriter::new();
        wr.add_f32("token_embd.weight", &[4, 10], &[0.0; 40]).unwrap();
        let f = GgufFile::from_bytes("t.gguf", wr.to_bytes().unwrap()).unwrap();
        assert_eq!(bytes_per_token(&f, 0, 0), 160);
    }
}
