//! aarch64 integer dot kernels: one weight row against up to [`super::MAX_COLS`] activation
//! rows at a time, so each weight block is loaded and unpacked once per group of
//! activation rows. Baseline NEON only (no `dotprod`): `vmull_s8` widens i8·i8 products
//! to i16 — exact, as |-128 · -128| < 2¹⁵ — and `vpadalq_s16` adds them pairwise into
//! i32 lanes, so every integer sum equals the scalar kernel's.
//!
//! The per-type unpacking is in `blocks.rs` ([`Block`]); this file holds the loop over
//! blocks and columns, and the safe entry point that checks lengths.

mod blocks;

use std::arch::aarch64::*;

pub use blocks::{Q4K, Q4_0, Q4_1, Q5K, Q5_0, Q6K, Q8_0};

use super::XMeta;

/// `acc + Σ a·b` over 16 signed bytes, four products per i32 lane.
#[inline(always)]
unsafe fn dot16(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    let hi = vmull_high_s8(a, b);
    vpadalq_s16(vpadalq_s16(acc, lo), hi)
}

/// The running sum of one (weight row, activation row) pair: four f32 lanes and a
/// scalar term (Q4_1's mins), summed at the end.
#[derive(Clone, Copy)]
pub struct Acc(float32x4_t, f32);

impl Acc {
    #[inline(always)]
    unsafe fn zero() -> Acc {
        Acc(vdupq_n_f32(0.0), 0.0)
    }

    /// `acc += scale · lanes`, the integer lanes converted to f32.
    #[inline(always)]
    pub unsafe fn fma(&mut self, scale: f32, lanes: int32x4_t) {
        self.0 = vfmaq_n_f32(self.0, vcvtq_f32_s32(lanes), scale);
    }

    /// `acc += v` (the scalar term).
    #[inline(always)]
    pub fn add(&mut self, v: f32) {
        self.1 += v;
    }

    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        vaddvq_f32(self.0) + self.1
    }
}

/// One weight block format and how it meets one activation block.
pub trait Block {
    /// Bytes of a weight block and of the activation block it pairs with.
    const W_BYTES: usize;
    const X_BYTES: usize;
    /// A weight block unpacked into registers, reused for every activation row.
    type Unpacked: Copy;
    unsafe fn unpack(w: *const u8) -> Self::Unpacked;
    /// `acc += w · x` for the activation block at `x`.
    unsafe fn dot(w: &Self::Unpacked, x: *const u8, acc: &mut Acc);
}

/// `out[c] = w · x_c` for `C` activation rows `stride` bytes apart, `nb` blocks each.
#[inline(always)]
unsafe fn tile<B: Block, const C: usize>(
    w: *const u8,
    x: *const u8,
    stride: usize,
    nb: usize,
    out: &mut [f32],
) {
    let mut acc = [Acc::zero(); C];
    for i in 0..nb {
        let u = B::unpack(w.add(i * B::W_BYTES));
        for (c, a) in acc.iter_mut().enumerate() {
            B::dot(&u, x.add(c * stride + i * B::X_BYTES), a);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = a.sum();
    }
}

/// Rows one [`tile`] takes at most: NEON's 32 registers hold four rows' accumulators
/// beside an unpacked block.
const TILE_COLS: usize = 4;

/// [`tile`] over `out.len()` (1..=[`super::MAX_COLS`]) rows, [`TILE_COLS`] at a time: a
/// constant count lets the accumulators live in registers.
unsafe fn tiles<B: Block>(w: *const u8, x: *const u8, stride: usize, nb: usize, out: &mut [f32]) {
    for (i, part) in out.chunks_mut(TILE_COLS).enumerate() {
        let x = x.add(i * TILE_COLS * stride);
        match part.len() {
            1 => tile::<B, 1>(w, x, stride, nb, part),
            2 => tile::<B, 2>(w, x, stride, nb, part),
            3 => tile::<B, 3>(w, x, stride, nb, part),
            _ => tile::<B, 4>(w, x, stride, nb, part),
        }
    }
}

/// Checks a call's lengths; returns the number of blocks per row.
fn check<B: Block>(w: &[u8], x: &[u8], stride: usize, n_cols: usize) -> usize {
    super::check_call(w, x, stride, n_cols, B::W_BYTES, B::X_BYTES)
}

/// `out[c] = w · x[c·stride..]` with NEON. Panics when the lengths disagree.
/// The activation scales are read from the blocks here, so `_meta` goes unused.
pub fn dot_neon<B: Block>(w: &[u8], x: &[u8], stride: usize, _meta: &[XMeta], out: &mut [f32]) {
    let nb = check::<B>(w, x, stride, out.len());
    // SAFETY: NEON is baseline on aarch64; `check` bounds every block read.
    unsafe { tiles::<B>(w.as_ptr(), x.as_ptr(), stride, nb, out) }
}
