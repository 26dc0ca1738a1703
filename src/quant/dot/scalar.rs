//! Scalar integer dot products of quantized weight rows with quantized activation rows,
//! the arithmetic of ggml's `ggml_vec_dot_*_generic`: the oracle for the SIMD kernels.
//!
//! Per block: `d_w · d_x · Σ q_w q_x` in integers, plus the min/offset terms — for
//! Q4_1 the Q8_1 block sum `s_x`, for the K-quants the Q8_K sums of 16 (`bsums`).

use super::n_blocks;
use crate::quant::blocks::{get_scale_min_k4, Block};
use crate::quant::{
    BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1,
};

/// The pairs of (weight block, activation block) of two rows.
fn pairs<'a, W: Block + 'a, X: Block + 'a>(
    w: &'a [u8],
    x: &'a [u8],
) -> impl Iterator<Item = (W, X)> + 'a {
    n_blocks(w, x, W::BYTES, X::BYTES);
    w.chunks_exact(W::BYTES).map(W::read).zip(x.chunks_exact(X::BYTES).map(X::read))
}

/// `Σ q_w q_x` of a 32-element block whose weight quants are `q(j)`.
fn block_sum(q: impl Fn(usize) -> i32, x: &[i8]) -> i32 {
    (0..32).map(|j| q(j) * x[j] as i32).sum()
}

/// Element `j` (0..32) of a 4-bit block: low nibbles first, then high nibbles.
fn nibble(qs: &[u8], j: usize) -> i32 {
    (if j < 16 { qs[j] & 0xF } else { qs[j - 16] >> 4 }) as i32
}

/// Bit `j` of a Q5 block's `qh`, shifted to the fifth bit.
fn high_bit(qh: u32, j: usize) -> i32 {
    (((qh >> j) & 1) << 4) as i32
}

pub fn q4_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut sum = 0f32;
    for (a, b) in pairs::<BlockQ4_0, BlockQ8_0>(w, x) {
        let sumi = block_sum(|j| nibble(&a.qs, j) - 8, &b.qs);
        sum += sumi as f32 * a.d.to_f32() * b.d.to_f32();
    }
    sum
}

pub fn q4_1_q8_1(w: &[u8], x: &[u8]) -> f32 {
    let mut sum = 0f32;
    for (a, b) in pairs::<BlockQ4_1, BlockQ8_1>(w, x) {
        let sumi = block_sum(|j| nibble(&a.qs, j), &b.qs);
        sum += (a.d.to_f32() * b.d.to_f32()) * sumi as f32 + a.m.to_f32() * b.s.to_f32();
    }
    sum
}

pub fn q5_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut sum = 0f32;
    for (a, b) in pairs::<BlockQ5_0, BlockQ8_0>(w, x) {
        let qh = u32::from_le_bytes(a.qh);
        let sumi = block_sum(|j| (nibble(&a.qs, j) | high_bit(qh, j)) - 16, &b.qs);
        sum += sumi as f32 * a.d.to_f32() * b.d.to_f32();
    }
    sum
}

pub fn q8_0_q8_0(w: &[u8], x: &[u8]) -> f32 {
    let mut sum = 0f32;
    for (a, b) in pairs::<BlockQ8_0, BlockQ8_0>(w, x) {
        let sumi = block_sum(|j| a.qs[j] as i32, &b.qs);
        sum += sumi as f32 * a.d.to_f32() * b.d.to_f32();
    }
    sum
}

/// The K-quant min term `Σ_j m_j · Σ x` over the eight 32-element sub-blocks, from the
/// Q8_K sums of 16.
fn k4_mins(scales: &[u8; 12], bsums: &[i16; 16]) -> i32 {
    (0..8)
        .map(|j| {
            get_scale_min_k4(j, scales).1 as i32 * (bsums[2 * j] as i32 + bsums[2 * j + 1] as i32)
        })
        .sum()
}

/// Element `l` (0..32) of 32-element sub-block `j` (0..8) of a Q4_K/Q5_K `qs`: sub-blocks
/// `2i` and `2i + 1` are the low and high nibbles of bytes `32i..32i + 32`.
fn k4_nibble(qs: &[u8], j: usize, l: usize) -> i32 {
    ((qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0xF) as i32
}

pub fn q4_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut sum = 0f32;
    for (a, b) in pairs::<BlockQ4K, BlockQ8K>(w, x) {
        let d = b.d * a.d.to_f32();
        let dmin = b.d * a.dmin.to_f32();
        let mut sumi = 0i32;
        for j in 0..8 {
            let sc = get_scale_min_k4(j, &a.scales).0 as i32;
            let y = &b.qs[32 * j..32 * j + 32];
            sumi += sc * (0..32).map(|l| k4_nibble(&a.qs, j, l) * y[l] as i32).sum::<i32>();
        }
        sum += d * sumi as f32 - dmin * k4_mins(&a.scales, &b.bsums) as f32;
    }
    sum
}

pub fn q5_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut sum = 0f32;
    for (a, b) in pairs::<BlockQ5K, BlockQ8K>(w, x) {
        let d = b.d * a.d.to_f32();
        let dmin = b.d * a.dmin.to_f32();
        let mut sumi = 0i32;
        for j in 0..8 {
            let sc = get_scale_min_k4(j, &a.scales).0 as i32;
            let y = &b.qs[32 * j..32 * j + 32];
            // The fifth bit of element l of sub-block j is bit j of qh[l].
            let q = |l: usize| k4_nibble(&a.qs, j, l) | ((((a.qh[l] >> j) & 1) as i32) << 4);
            sumi += sc * (0..32).map(|l| q(l) * y[l] as i32).sum::<i32>();
        }
        sum += d * sumi as f32 - dmin * k4_mins(&a.scales, &b.bsums) as f32;
    }
    sum
}

/// Element `e` (0..256) of a Q6_K block, re-centred (`-32..=31`). Each half of 128
/// elements uses 64 bytes of `ql` and 32 of `qh`; its four quarters take the low nibbles
/// of `ql[0..32]`, of `ql[32..64]`, then the high nibbles, with bit pairs 0-1, 2-3, 4-5,
/// 6-7 of `qh[0..32]`.
fn q6_k_value(a: &BlockQ6K, e: usize) -> i32 {
    let (half, quarter, l) = (e / 128, (e % 128) / 32, e % 32);
    let ql = (a.ql[64 * half + 32 * (quarter % 2) + l] >> (4 * (quarter / 2))) & 0xF;
    let qh = (a.qh[32 * half + l] >> (2 * quarter)) & 3;
    (ql | (qh << 4)) as i32 - 32
}

pub fn q6_k_q8_k(w: &[u8], x: &[u8]) -> f32 {
    let mut sum = 0f32;
    for (a, b) in pairs::<BlockQ6K, BlockQ8K>(w, x) {
        let d = a.d.to_f32() * b.d;
        let mut sumi = 0i32;
        for j in 0..16 {
            let sub: i32 = (16 * j..16 * j + 16).map(|e| q6_k_value(&a, e) * b.qs[e] as i32).sum();
            sumi += a.scales[j] as i32 * sub;
        }
        sum += d * sumi as f32;
    }
    sum
}
