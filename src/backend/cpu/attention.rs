//! Causal (optionally sliding-window) attention with grouped-query heads over the f16
//! CPU KV cache, one task per (token, head). It follows the reference engine's
//! flash-attention arithmetic so results round as there: q is rounded to f16 for the
//! q·k dot, and the value sum is kept in f16 under an online softmax.

use half::f16;

use super::kv::CpuKv;
use super::pool;
use super::vec_f16;
use crate::backend::AttnParams;
use crate::quant::f16_bits_to_f32;

/// The widest value head the stack accumulator holds (checked at load: `MAX_HEAD_DIM`).
const MAX_HEAD_DIM: usize = crate::backend::MAX_HEAD_DIM;

/// First cached position a query at `pos` may see.
pub fn first_visible(pos: usize, window: Option<usize>) -> usize {
    match window {
        Some(w) => (pos + 1).saturating_sub(w),
        None => 0,
    }
}

/// One query head over keys/values `lo..=pos` of one KV head: online softmax, value
/// sum in f16 (`acc`, zeroed by the caller), then normalized into `out`.
#[allow(clippy::too_many_arguments)]
fn attend_one(
    q: &[f16],
    keys: &[f16],
    values: &[f16],
    row: (usize, usize),
    head: (usize, usize),
    span: (usize, usize),
    scale: f32,
    acc: &mut [f16],
    out: &mut [f32],
) {
    let ((row_k, row_v), (hk, dk), (lo, pos)) = (row, head, span);
    let dv = out.len();
    let (mut sum, mut max) = (0f32, f32::NEG_INFINITY);
    for j in lo..=pos {
        let s = vec_f16::dot(q, &keys[j * row_k + hk * dk..][..dk]) * scale;
        let (mut ms, mut vs) = (1f32, 1f32);
        if s > max {
            ms = (max - s).exp();
            max = s;
            vec_f16::scale(acc, ms);
        } else {
            vs = (s - max).exp();
        }
        vec_f16::mad(acc, &values[j * row_v + hk * dv..][..dv], vs);
        sum = sum * ms + vs;
    }
    out.iter_mut().zip(acc.iter()).for_each(|(o, &a)| *o = f16_bits_to_f32(a.to_bits()) / sum);
}

/// q `(n, n_head · head_dim_k)` at `positions` → `(n, n_head · head_dim_v)`.
pub fn attention(q: &[f32], kv: &CpuKv, il: usize, positions: &[u32], p: &AttnParams) -> Vec<f32> {
    let (dk, dv) = (p.head_dim_k, p.head_dim_v);
    let group = p.n_head / p.n_head_kv;
    let rows = (kv.shape.n_embd_k, kv.shape.n_embd_v);
    let qh = super::kv::to_f16(q);
    let mut out = vec![0f32; positions.len() * p.n_head * dv];
    pool::for_chunks(&mut out, dv, |idx, o| {
        let (t, h) = (idx / p.n_head, idx % p.n_head);
        let pos = positions[t] as usize;
        let span = (first_visible(pos, p.window), pos);
        let mut acc = [f16::ZERO; MAX_HEAD_DIM];
        let q = &qh[(t * p.n_head + h) * dk..][..dk];
        let (keys, values) = (&kv.k[il], &kv.v[il]);
        attend_one(q, keys, values, rows, (h / group, dk), span, p.scale, &mut acc[..dv], o);
    });
    out
}
