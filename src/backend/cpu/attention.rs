//! Causal (optionally sliding-window) attention with grouped-query heads over the CPU
//! KV cache, one task per (token, head), with an online softmax. It follows the
//! reference engine's flash-attention arithmetic so results round as there: q is
//! converted to the K cache type for q·k (f16, or q8_0 blocks), and with an f16 V cache
//! the value sum is kept in f16; with f32 or q8_0 values it is kept in f32.

use half::f16;

use super::kv::{to_f16, CpuKv, KvRows};
use super::{matmul, pool, vec_f16};
use crate::backend::{AttnParams, KvType};
use crate::quant::dot::{self, activation_meta, quantize_activations, DotKernel, XMeta};
use crate::quant::{f16_bits_to_f32, GgmlType};

/// The widest value head the stack accumulator holds (checked at load).
const MAX_HEAD_DIM: usize = crate::backend::MAX_HEAD_DIM;

/// First cached position a query at `pos` may see.
pub fn first_visible(pos: usize, window: Option<usize>) -> usize {
    match window {
        Some(w) => (pos + 1).saturating_sub(w),
        None => 0,
    }
}

/// All query rows, converted to what the K cache holds.
enum Queries {
    F32(Vec<f32>),
    F16(Vec<f16>),
    /// Q8_0 blocks of each head, their scales, and the Q8_0 × Q8_0 kernel.
    Q8_0(Vec<u8>, Vec<XMeta>, DotKernel),
}

impl Queries {
    fn new(q: &[f32], ty: KvType) -> Queries {
        match ty {
            KvType::F32 => Queries::F32(q.to_vec()),
            KvType::F16 => Queries::F16(to_f16(q)),
            KvType::Q8_0 => {
                let mut bytes = Vec::with_capacity(KvType::Q8_0.row_bytes(q.len()));
                quantize_activations(GgmlType::Q8_0, q, &mut bytes);
                let kernel = dot::kernel(GgmlType::Q8_0).expect("Q8_0 has an integer dot");
                let meta = activation_meta(GgmlType::Q8_0, &bytes);
                Queries::Q8_0(bytes, meta, kernel)
            }
        }
    }
}

/// Where one head's values sit: element offset `head · d` within rows of `row` values.
#[derive(Clone, Copy)]
struct Head {
    row: usize,
    offset: usize,
    d: usize,
}

impl Head {
    fn range(&self, j: usize) -> std::ops::Range<usize> {
        let at = j * self.row + self.offset;
        at..at + self.d
    }

    /// The same range in q8_0 bytes.
    fn q8_range(&self, j: usize) -> std::ops::Range<usize> {
        let r = self.range(j);
        r.start / 32 * 34..r.end / 32 * 34
    }
}

/// `scale · q·k_j` for query head `qi` (index of its first element in all queries).
fn score(q: &Queries, qi: usize, keys: &KvRows, h: Head, j: usize) -> f32 {
    match (q, keys) {
        (Queries::F32(q), KvRows::F32(k)) => matmul::dot(&q[qi..qi + h.d], &k[h.range(j)]),
        (Queries::F16(q), KvRows::F16(k)) => vec_f16::dot(&q[qi..qi + h.d], &k[h.range(j)]),
        (Queries::Q8_0(q, meta, kernel), KvRows::Q8_0(k)) => {
            let (b0, b1) = (qi / 32, (qi + h.d) / 32);
            let qb = &q[b0 * 34..b1 * 34];
            let mut out = [0f32];
            kernel.dot_meta(&k[h.q8_range(j)], qb, qb.len(), &meta[b0..b1], &mut out);
            out[0]
        }
        _ => unreachable!("queries are converted to the K cache type"),
    }
}

/// The value sum of one query head: f16 under an f16 V cache, else f32.
enum ValueSum<'a> {
    F16(&'a mut [f16]),
    F32(&'a mut [f32]),
}

impl ValueSum<'_> {
    fn rescale(&mut self, ms: f32) {
        match self {
            ValueSum::F16(acc) => vec_f16::scale(acc, ms),
            ValueSum::F32(acc) => acc.iter_mut().for_each(|a| *a *= ms),
        }
    }

    /// `acc += vs · v_j`.
    fn add(&mut self, values: &KvRows, h: Head, j: usize, vs: f32) {
        match (self, values) {
            (ValueSum::F16(acc), KvRows::F16(v)) => vec_f16::mad(acc, &v[h.range(j)], vs),
            (ValueSum::F32(acc), KvRows::F32(v)) => {
                acc.iter_mut().zip(&v[h.range(j)]).for_each(|(a, &x)| *a += x * vs)
            }
            (ValueSum::F32(acc), KvRows::Q8_0(v)) => {
                for (blk, a) in v[h.q8_range(j)].chunks_exact(34).zip(acc.chunks_exact_mut(32)) {
                    let d = f16_bits_to_f32(u16::from_le_bytes([blk[0], blk[1]])) * vs;
                    a.iter_mut().zip(&blk[2..]).for_each(|(a, &q)| *a += q as i8 as f32 * d);
                }
            }
            _ => unreachable!("the value sum matches the V cache type"),
        }
    }

    fn write(&self, sum: f32, out: &mut [f32]) {
        match self {
            ValueSum::F16(acc) => out
                .iter_mut()
                .zip(acc.iter())
                .for_each(|(o, a)| *o = f16_bits_to_f32(a.to_bits()) / sum),
            ValueSum::F32(acc) => out.iter_mut().zip(acc.iter()).for_each(|(o, a)| *o = a / sum),
        }
    }
}

/// Keys handled per block by the f16 path.
const KEY_BLOCK: usize = 64;

/// One query head over f16 keys and values at positions `keys`: the same online
/// softmax and roundings as the per-key loop of `attention`, a block of keys at a time
/// (their scores in one call, then their rescales and value sums in another). Returns
/// the softmax sum and the value sum.
fn f16_head<'a>(
    q: &[f16],
    k: &[f16],
    v: &[f16],
    (hk, hv): (Head, Head),
    keys: std::ops::Range<usize>,
    scale: f32,
    acc: &'a mut [f16],
) -> (f32, &'a mut [f16]) {
    let (mut sum, mut max) = (0f32, f32::NEG_INFINITY);
    let mut scores = [0f32; KEY_BLOCK];
    let mut steps = [(1f32, 1f32); KEY_BLOCK];
    for j0 in keys.clone().step_by(KEY_BLOCK) {
        let n = (keys.end - j0).min(KEY_BLOCK);
        vec_f16::dots(q, &k[hk.range(j0).start..], hk.row, &mut scores[..n]);
        for (s, step) in scores[..n].iter().zip(&mut steps) {
            let s = s * scale;
            let (mut ms, mut vs) = (1f32, 1f32);
            if s > max {
                ms = (max - s).exp();
                max = s;
            } else {
                vs = (s - max).exp();
            }
            *step = (ms, vs);
            sum = sum * ms + vs;
        }
        vec_f16::mads(acc, &v[hv.range(j0).start..], hv.row, &steps[..n]);
    }
    (sum, acc)
}

/// q `(n, n_head · head_dim_k)` at `positions` → `(n, n_head · head_dim_v)`.
pub fn attention(q: &[f32], kv: &CpuKv, il: usize, positions: &[u32], p: &AttnParams) -> Vec<f32> {
    let (dk, dv) = (p.head_dim_k, p.head_dim_v);
    let group = p.n_head / p.n_head_kv;
    let queries = Queries::new(q, kv.shape.type_k);
    let (keys, values) = (&kv.k[il], &kv.v[il]);
    let mut out = vec![0f32; positions.len() * p.n_head * dv];
    pool::for_chunks(&mut out, dv, |idx, o| {
        let (t, h) = (idx / p.n_head, idx % p.n_head);
        let pos = positions[t] as usize;
        let hk = Head { row: kv.shape.n_embd_k, offset: h / group * dk, d: dk };
        let hv = Head { row: kv.shape.n_embd_v, offset: h / group * dv, d: dv };
        let (mut acc16, mut acc32) = ([f16::ZERO; MAX_HEAD_DIM], [0f32; MAX_HEAD_DIM]);
        let mut acc = match kv.shape.type_v {
            KvType::F16 => ValueSum::F16(&mut acc16[..dv]),
            _ => ValueSum::F32(&mut acc32[..dv]),
        };
        let first = first_visible(pos, p.window);
        let qi = (t * p.n_head + h) * dk;
        if let (Queries::F16(q), KvRows::F16(k), KvRows::F16(v)) = (&queries, keys, values) {
            let (sum, acc) = f16_head(
                &q[qi..qi + dk],
                k,
                v,
                (hk, hv),
                first..pos + 1,
                p.scale,
                &mut acc16[..dv],
            );
            return ValueSum::F16(acc).write(sum, o);
        }
        let (mut sum, mut max) = (0f32, f32::NEG_INFINITY);
        for j in first..=pos {
            let s = score(&queries, qi, keys, hk, j) * p.scale;
            let (mut ms, mut vs) = (1f32, 1f32);
            if s > max {
                ms = (max - s).exp();
                max = s;
                acc.rescale(ms);
            } else {
                vs = (s - max).exp();
            }
            acc.add(values, hv, j, vs);
            sum = sum * ms + vs;
        }
        acc.write(sum, o);
    });
    out
}
