//! Causal (optionally sliding-window) attention with grouped-query heads over the f16
//! CPU KV cache, one task per (token, head). It follows the reference engine's
//! flash-attention arithmetic so results round as there: q is rounded to f16 for the
//! q·k dot, and the value sum is kept in f16 under an online softmax.

use half::f16;
use rayon::prelude::*;

use super::kv::CpuKv;
use crate::backend::AttnParams;
use crate::quant::f16_bits_to_f32;

/// First cached position a query at `pos` may see.
pub fn first_visible(pos: usize, window: Option<usize>) -> usize {
    match window {
        Some(w) => (pos + 1).saturating_sub(w),
        None => 0,
    }
}

/// f16 to f32 without the `half` crate's per-call CPU check.
fn h(x: f16) -> f32 {
    f16_bits_to_f32(x.to_bits())
}

fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(&x, &y)| h(x) * h(y)).sum()
}

/// One query head over keys/values `lo..=pos` of one KV head: online softmax, value
/// sum in f16, then normalized into `out`.
#[allow(clippy::too_many_arguments)]
fn attend_one(
    q: &[f16],
    keys: &[f16],
    values: &[f16],
    row: (usize, usize),
    head: (usize, usize),
    span: (usize, usize),
    scale: f32,
    out: &mut [f32],
) {
    let ((row_k, row_v), (hk, dk), (lo, pos)) = (row, head, span);
    let dv = out.len();
    let mut acc = vec![f16::ZERO; dv];
    let (mut sum, mut max) = (0f32, f32::NEG_INFINITY);
    for j in lo..=pos {
        let s = dot_f16(q, &keys[j * row_k + hk * dk..][..dk]) * scale;
        let (mut ms, mut vs) = (1f32, 1f32);
        if s > max {
            ms = (max - s).exp();
            max = s;
            acc.iter_mut().for_each(|a| *a = f16::from_f32(h(*a) * ms));
        } else {
            vs = (s - max).exp();
        }
        let vj = &values[j * row_v + hk * dv..][..dv];
        acc.iter_mut().zip(vj).for_each(|(a, &v)| *a = f16::from_f32(h(*a) + h(v) * vs));
        sum = sum * ms + vs;
    }
    out.iter_mut().zip(&acc).for_each(|(o, &a)| *o = h(a) / sum);
}

/// q `(n, n_head · head_dim_k)` at `positions` → `(n, n_head · head_dim_v)`.
pub fn attention(q: &[f32], kv: &CpuKv, il: usize, positions: &[u32], p: &AttnParams) -> Vec<f32> {
    let (dk, dv) = (p.head_dim_k, p.head_dim_v);
    let group = p.n_head / p.n_head_kv;
    let rows = (kv.shape.n_embd_k, kv.shape.n_embd_v);
    let mut out = vec![0f32; positions.len() * p.n_head * dv];
    out.par_chunks_mut(dv).enumerate().for_each(|(idx, o)| {
        let (t, h) = (idx / p.n_head, idx % p.n_head);
        let pos = positions[t] as usize;
        let qh: Vec<f16> =
            q[(t * p.n_head + h) * dk..][..dk].iter().map(|&x| f16::from_f32(x)).collect();
        let span = (first_visible(pos, p.window), pos);
        attend_one(&qh, &kv.k[il], &kv.v[il], rows, (h / group, dk), span, p.scale, o);
    });
    out
}
