//! Plain scalar versions of the backend ops, written straight from the math with f64
//! accumulation and no threads: the oracle the backends are tested against.

use super::{AttnParams, DeltaParams, RopeParams};
use crate::quant::{self, GgmlType};

/// Dequantizes a whole weight of `n_elems` values.
pub fn dequantize(ty: GgmlType, bytes: &[u8], n_elems: usize) -> Vec<f32> {
    let mut out = vec![0f32; n_elems];
    quant::dequantize(ty, bytes, &mut out).expect("naive: dequantizable weight");
    out
}

/// `x · Wᵀ` with W given as f32 `(m, k)`: returns `(n, m)`.
pub fn matmul(w: &[f32], m: usize, k: usize, x: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * m];
    for t in 0..n {
        for r in 0..m {
            let s: f64 = (0..k).map(|i| w[r * k + i] as f64 * x[t * k + i] as f64).sum();
            out[t * m + r] = s as f32;
        }
    }
    out
}

/// Expert matmul with W f32 `(n_expert, m, k)`: row r of x through expert `ids[r]`.
pub fn mul_mat_id(w: &[f32], m: usize, k: usize, x: &[f32], ids: &[u32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(ids.len() * m);
    for (r, &e) in ids.iter().enumerate() {
        let we = &w[e as usize * m * k..(e as usize + 1) * m * k];
        out.extend(matmul(we, m, k, &x[r * k..(r + 1) * k], 1));
    }
    out
}

pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let d = w.len();
    let mut out = Vec::with_capacity(x.len());
    for chunk in x.chunks(d) {
        let ms: f64 = chunk.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / d as f64;
        let inv = 1.0 / (ms + eps as f64).sqrt();
        out.extend(chunk.iter().zip(w).map(|(&v, &g)| (v as f64 * inv * g as f64) as f32));
    }
    out
}

pub fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| (v / s) as f32).collect()
}

pub fn silu(x: f32) -> f32 {
    let x = x as f64;
    (x / (1.0 + (-x).exp())) as f32
}

pub fn gelu_tanh(x: f32) -> f32 {
    let x = x as f64;
    let c = (2.0 / std::f64::consts::PI).sqrt();
    (0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())) as f32
}

/// Rotary embedding of one head vector at `pos`, from the definition.
pub fn rope_head(head: &[f32], pos: u32, p: &RopeParams) -> Vec<f32> {
    let mut out = head.to_vec();
    let half = p.n_rot / 2;
    for i in (0..half).filter(|&i| p.mode.rotates_pair(i)) {
        let theta = pos as f64 * p.freq_scale as f64
            / (p.freq_base as f64).powf(2.0 * i as f64 / p.n_rot as f64);
        let (a, b) = if p.mode.split_halves() { (i, i + half) } else { (2 * i, 2 * i + 1) };
        let (x0, x1) = (head[a] as f64, head[b] as f64);
        out[a] = (x0 * theta.cos() - x1 * theta.sin()) as f32;
        out[b] = (x0 * theta.sin() + x1 * theta.cos()) as f32;
    }
    out
}

/// Attention of one query row per token over keys/values `(n_kv, n_head_kv · d)` laid
/// out by position, with causal and sliding-window masks.
pub fn attention(
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    positions: &[u32],
    p: &AttnParams,
) -> Vec<f32> {
    let (dk, dv) = (p.head_dim_k, p.head_dim_v);
    let group = p.n_head / p.n_head_kv;
    let mut out = Vec::with_capacity(positions.len() * p.n_head * dv);
    for (t, &pos) in positions.iter().enumerate() {
        for h in 0..p.n_head {
            let hk = h / group;
            let qh = &q[(t * p.n_head + h) * dk..][..dk];
            let visible: Vec<usize> = (0..=pos as usize)
                .filter(|&j| p.window.is_none_or(|w| pos as usize - j < w))
                .collect();
            let scores: Vec<f32> = visible
                .iter()
                .map(|&j| {
                    let kj = &keys[(j * p.n_head_kv + hk) * dk..][..dk];
                    let s: f64 = qh.iter().zip(kj).map(|(&a, &b)| a as f64 * b as f64).sum();
                    (s * p.scale as f64) as f32
                })
                .collect();
            let w = softmax(&scores);
            for c in 0..dv {
                let s: f64 = visible
                    .iter()
                    .zip(&w)
                    .map(|(&j, &wj)| wj as f64 * values[(j * p.n_head_kv + hk) * dv + c] as f64)
                    .sum();
                out.push(s as f32);
            }
        }
    }
    out
}

#[allow(clippy::needless_range_loop)]
/// The gated delta rule from its definition, each value head's state a plain matrix
/// S[i][j] in f64; inputs `[q, k, v, g, beta]` token-major as the backend op takes them.
pub fn gated_delta_net(s: &mut [Vec<Vec<f64>>], x: [&[f32]; 5], p: &DeltaParams) -> Vec<f32> {
    let [q, k, v, g, beta] = x;
    let (d, hv, hk) = (p.head_dim, p.n_head_v, p.n_head_k);
    let n = g.len() / hv;
    let mut out = vec![0f32; n * hv * d];
    for t in 0..n {
        for (h, sh) in s.iter_mut().enumerate() {
            let at =
                |a: &[f32], heads: usize, hh: usize, i: usize| a[(t * heads + hh) * d + i] as f64;
            let decay = (g[t * hv + h] as f64).exp();
            sh.iter_mut().flatten().for_each(|m| *m *= decay);
            for j in 0..d {
                let sk: f64 = (0..d).map(|i| sh[i][j] * at(k, hk, h % hk, i)).sum();
                let dj = (at(v, hv, h, j) - sk) * beta[t * hv + h] as f64;
                (0..d).for_each(|i| sh[i][j] += at(k, hk, h % hk, i) * dj);
            }
            for j in 0..d {
                let o: f64 = (0..d).map(|i| sh[i][j] * at(q, hk, h % hk, i)).sum();
                out[(t * hv + h) * d + j] = (o / (d as f64).sqrt()) as f32;
            }
        }
    }
    out
}

/// Each chunk of `n` values over √(Σx² + eps), in f64.
pub fn l2_norm(x: &[f32], n: usize, eps: f32) -> Vec<f32> {
    x.chunks(n)
        .flat_map(|c| {
            let ss: f64 = c.iter().map(|&v| v as f64 * v as f64).sum();
            let inv = 1.0 / (ss + eps as f64).sqrt();
            c.iter().map(move |&v| (v as f64 * inv) as f32)
        })
        .collect()
}
