//! The 32-quant formats (Q4_0, Q5_0, Q8_0 against Q8_0; Q4_1 against Q8_1) eight
//! blocks at a time: the eight blocks' integer sums are folded into one vector, lane b
//! for block b, so the scales (weight × activation, eight of each) cost one multiply
//! and one FMA per eight blocks instead of a scalar product, a broadcast and an FMA per
//! block. Q4_1's min term (m × the activation block sum) goes the same way.

use std::arch::x86_64::*;

use super::{Acc, Block, Isa, Operands, XMeta};

/// Blocks per group.
const GROUP: usize = 8;

/// How far ahead of the group in hand its weight bytes are prefetched.
const PREFETCH_AHEAD: usize = 1024;

/// Lane b of the result is the sum of the eight i32 lanes of `s[b]`.
#[inline(always)]
unsafe fn reduce8(s: [__m256i; GROUP]) -> __m256i {
    let t0 = _mm256_hadd_epi32(s[0], s[1]);
    let t1 = _mm256_hadd_epi32(s[2], s[3]);
    let t2 = _mm256_hadd_epi32(s[4], s[5]);
    let t3 = _mm256_hadd_epi32(s[6], s[7]);
    // Per 128-bit half: the partial sums of blocks 0..4 (u0) and 4..8 (u1).
    let (u0, u1) = (_mm256_hadd_epi32(t0, t1), _mm256_hadd_epi32(t2, t3));
    let low = _mm256_permute2x128_si256(u0, u1, 0x20);
    let high = _mm256_permute2x128_si256(u0, u1, 0x31);
    _mm256_add_epi32(low, high)
}

/// The activation scales `d` and sums `s` of eight consecutive blocks (from
/// interleaved `XMeta`), each as eight lanes.
#[inline(always)]
unsafe fn meta8(m: *const XMeta) -> (__m256, __m256) {
    let p = m.cast::<f32>();
    let (lo, hi) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
    // [d0 d1 d4 d5 | d2 d3 d6 d7] (and the same of s), then the middle pairs swapped.
    let d = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
    let s = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
    (swap_middle_pairs(d), swap_middle_pairs(s))
}

/// The 64-bit pairs of `v` in the order 0, 2, 1, 3.
#[inline(always)]
unsafe fn swap_middle_pairs(v: __m256) -> __m256 {
    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
}

/// `out[c] = w · x_c` for `C` activation rows: whole groups of eight blocks, then the
/// remaining blocks one at a time.
#[inline(always)]
pub unsafe fn tile<B: Block, I: Isa, const C: usize>(o: Operands, out: &mut [f32]) {
    let mut acc = [Acc::zero(); C];
    let groups = o.nb / GROUP;
    for g in 0..groups {
        let i0 = g * GROUP;
        let ahead = o.w.add(i0 * B::W_BYTES + PREFETCH_AHEAD);
        for line in 0..(GROUP * B::W_BYTES).div_ceil(64) {
            _mm_prefetch::<_MM_HINT_T0>(ahead.add(64 * line).cast());
        }
        // Plain loops, not closures: a closure would not inherit the target features,
        // and every intrinsic in it would become a call.
        let mut u = [B::unpack(o.w); GROUP];
        let (mut dws, mut mws) = ([0f32; GROUP], [0f32; GROUP]);
        for b in 0..GROUP {
            u[b] = B::unpack(o.w.add((i0 + b) * B::W_BYTES));
            (dws[b], mws[b]) = B::scale_min(&u[b]);
        }
        let (dw, mw) = (_mm256_loadu_ps(dws.as_ptr()), _mm256_loadu_ps(mws.as_ptr()));
        for (c, a) in acc.iter_mut().enumerate() {
            let x = o.x.add(c * o.stride + i0 * B::X_BYTES);
            let mut sums = [_mm256_setzero_si256(); GROUP];
            for (b, sum) in sums.iter_mut().enumerate() {
                *sum = B::int_sum::<I>(&u[b], x.add(b * B::X_BYTES));
            }
            let (dx, sx) = meta8(o.meta.add(c * o.nb + i0));
            a.fma_lanes(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(reduce8(sums)));
            if B::HAS_MIN {
                a.fma_lanes(mw, sx);
            }
        }
    }
    for i in groups * GROUP..o.nb {
        let u = B::unpack(o.w.add(i * B::W_BYTES));
        for (c, a) in acc.iter_mut().enumerate() {
            let m = *o.meta.add(c * o.nb + i);
            B::dot::<I>(&u, o.x.add(c * o.stride + i * B::X_BYTES), m, a);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = a.sum();
    }
}
