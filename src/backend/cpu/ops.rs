//! Element-wise and row-wise CPU ops: RMS norm, activations, rotary embeddings, sums.

use super::pool;
use crate::backend::RopeParams;
use crate::quant::f16_bits_to_f32;

/// Rows per parallel task for row-wise ops.
const ROWS_PER_TASK: usize = 4;

/// Elements per parallel task for element-wise ops.
pub const ELEMS_PER_TASK: usize = 1 << 14;

/// RMS norm of each chunk of `w.len()` values, times `w` (squares summed in f64, the
/// scale taken in f32, as the reference engine does).
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let d = w.len();
    let mut out = x.to_vec();
    pool::for_chunks(&mut out, d * ROWS_PER_TASK, |_, rows| {
        for chunk in rows.chunks_mut(d) {
            let sum: f64 = chunk.iter().map(|&v| (v * v) as f64).sum();
            let mean = (sum / d as f64) as f32;
            let scale = 1.0 / (mean + eps).sqrt();
            for (v, &g) in chunk.iter_mut().zip(w) {
                *v = *v * scale * g;
            }
        }
    });
    out
}

pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GELU, tanh approximation (as `gelu_pytorch_tanh`).
pub fn gelu(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)).tanh())
}

/// GELU as the reference engine's CPU backend computes it: 0 at or below -10, the input
/// at or above 10, else the input rounded to f16 and looked up in a table of f16 GELU
/// values — as exact as f16 allows, and no `tanh` per element.
pub fn gelu_f16_table(x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        f16_bits_to_f32(gelu_table()[half::f16::from_f32(x).to_bits() as usize])
    }
}

/// f16 GELU of every f16 value, by bit pattern (built once, 128 KiB).
fn gelu_table() -> &'static [u16] {
    static TABLE: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX).map(|b| half::f16::from_f32(gelu(f16_bits_to_f32(b))).to_bits()).collect()
    })
}

/// `act(gate) · up`, element-wise.
pub fn gated(gate: &[f32], up: &[f32], act: fn(f32) -> f32) -> Vec<f32> {
    let mut out = vec![0f32; gate.len()];
    pool::for_chunks(&mut out, ELEMS_PER_TASK, |i, o| {
        let at = i * ELEMS_PER_TASK;
        o.iter_mut().zip(&gate[at..]).zip(&up[at..]).for_each(|((o, &g), &u)| *o = act(g) * u);
    });
    out
}

/// Rotates the first `n_rot` dims of every head of every token by its position.
pub fn rope(x: &[f32], positions: &[u32], p: &RopeParams) -> Vec<f32> {
    let row = p.n_head * p.head_dim;
    let mut out = x.to_vec();
    pool::for_chunks(&mut out, row, |t, tok| {
        let angles = rope_angles(positions[t], p);
        for head in tok.chunks_mut(p.head_dim) {
            rotate_head(head, &angles, p);
        }
    });
    out
}

/// (cos, sin) for each rotated pair at `pos`, computed in f32 the way the reference
/// engine builds its rope cache (θ multiplied by the per-pair scale step by step), so
/// angles round as they round there.
fn rope_angles(pos: u32, p: &RopeParams) -> Vec<(f32, f32)> {
    let theta_scale = p.freq_base.powf(-2.0 / p.n_rot as f32);
    let mut theta = pos as f32;
    (0..p.n_rot / 2)
        .map(|i| {
            let t = theta * p.freq_scale;
            theta *= theta_scale;
            if p.mode.rotates_pair(i) {
                (t.cos(), t.sin())
            } else {
                (1.0, 0.0)
            }
        })
        .collect()
}

fn rotate_head(head: &mut [f32], angles: &[(f32, f32)], p: &RopeParams) {
    let half = p.n_rot / 2;
    for (i, &(cos, sin)) in angles.iter().enumerate() {
        let (a, b) = if p.mode.split_halves() { (i, i + half) } else { (2 * i, 2 * i + 1) };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * cos - x1 * sin;
        head[b] = x0 * sin + x1 * cos;
    }
}

/// ln(1 + eˣ), as the reference engine computes it (x itself above 20).
pub fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        (1.0 + x.exp()).ln()
    }
}

/// Each chunk of `n` values divided by √(Σx² + eps) (the reference engine's L2 norm of
/// the DeltaNet's q and k: an RMS norm with eps/n, scaled by 1/√n).
pub fn l2_norm(x: &[f32], n: usize, eps: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for chunk in x.chunks(n) {
        let ss: f32 = chunk.iter().map(|v| v * v).sum();
        let inv = 1.0 / (ss + eps).sqrt();
        out.extend(chunk.iter().map(|v| v * inv));
    }
    out
}

/// The logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// For each row of `n_expert` router logits: softmax, the `k` most likely experts (ties
/// to the lower id), their probabilities as weights, renormalized to sum 1 if `norm`.
/// Returns (expert id, weight) per (row, slot), row-major.
pub fn top_k_experts(
    logits: &[f32],
    n_expert: usize,
    k: usize,
    norm: bool,
) -> (Vec<u32>, Vec<f32>) {
    let mut ids = Vec::with_capacity(logits.len() / n_expert * k);
    let mut weights = Vec::with_capacity(ids.capacity());
    for row in logits.chunks(n_expert) {
        let mut probs = row.to_vec();
        softmax(&mut probs);
        let mut order: Vec<usize> = (0..n_expert).collect();
        order.sort_by(|&a, &c| probs[c].total_cmp(&probs[a]).then(a.cmp(&c)));
        let top = &order[..k];
        let sum: f32 = top.iter().map(|&i| probs[i]).sum();
        for &i in top {
            ids.push(i as u32);
            weights.push(if norm { probs[i] / sum } else { probs[i] });
        }
    }
    (ids, weights)
}

/// Numerically stable softmax in place.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gelu_table_is_gelu_within_f16_rounding() {
        for i in -1300..=1300 {
            let x = i as f32 * 0.01;
            let (got, want) = (gelu_f16_table(x), gelu(x));
            // Input and output each rounded to f16: a few parts in 2¹¹ plus the slope.
            assert!((got - want).abs() <= 2e-3 * (1.0 + want.abs()), "{x}: {got} vs {want}");
        }
        assert_eq!((gelu_f16_table(-10.0), gelu_f16_table(12.5)), (0.0, 12.5));
    }
}
