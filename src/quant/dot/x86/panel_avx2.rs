//! The AVX2 panel kernel: one weight row against up to eight activation panels, as the
//! VNNI one (`panel.rs`) but for CPUs whose only byte product is `maddubs`, which leaves
//! i16 pair sums that a `madd` must widen. On such CPUs (AMD Zen 1 runs both on one
//! pipe) the multiplies bound the kernel, so they are spent sparingly: the pair sums of
//! several four-quant groups add up in i16 before one `madd` — as many as fit below
//! 2¹⁵ given the format's largest quant — and that `madd` multiplies by the sub-block's
//! integer scale, so the whole block sums in i32 and meets its float scales once. Per
//! 256 quants × 8 rows of Q4_K that is 64 `maddubs` and 8 `madd`, where the one-row
//! kernels spend 64 of each. The integer sums equal the scalar kernel's; only the float
//! order differs.

use std::arch::x86_64::*;
use std::ops::Range;

use super::panel::{checked, Call, IntRuns, Operands, PanelBlock, Rows};
use crate::quant::dot::panel::{Panels, PANEL_ROWS};

/// Four-quant groups whose `maddubs` pair sums (each at most 2 · `Q_MAX` · 128 in
/// magnitude, the activations being i8) add up in an i16 lane without overflow.
const fn groups_per_madd<B: PanelBlock>() -> usize {
    (i16::MAX as i32 / (2 * B::Q_MAX * 128)) as usize
}

const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}

// Index loops on purpose: iterator adaptors (`skip`, `take`) stayed calls in here.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn row<B: PanelBlock, const NP: usize>(o: Operands, out: &mut [f32]) {
    let mut acc = [_mm256_setzero_ps(); NP];
    for (c, a) in acc.iter_mut().enumerate() {
        *a = _mm256_loadu_ps(out.as_ptr().add(PANEL_ROWS * c));
    }
    let mut r = IntRuns::new();
    let mut quants = [0i32; 64];
    let subs = B::ELEMS / B::SUB;
    let groups = const { B::SUB / 4 };
    let per_madd = const { min(groups_per_madd::<B>(), B::SUB / 4) };
    for blk in o.blk0..o.blk1 {
        let d = B::int_runs(o.w.add(blk * B::W_BYTES), &mut r);
        for (i, run) in r.q.iter().enumerate().take(B::ELEMS / 32) {
            _mm256_storeu_si256(quants.as_mut_ptr().add(8 * i).cast(), *run);
        }
        let mut isum = [_mm256_setzero_si256(); NP];
        for s in 0..subs {
            // Four quants of the weight row, broadcast, per group of four elements.
            let mut wb = [_mm256_setzero_si256(); 8];
            for g in 0..groups {
                wb[g] = _mm256_set1_epi32(quants[s * groups + g]);
            }
            let sc = _mm256_set1_epi16(r.iscale[s]);
            let off = _mm256_set1_ps(r.offset[s]);
            let q_at = (blk * B::ELEMS + s * B::SUB) / 4 * 32;
            let m_at = (blk * subs + s) * 2 * PANEL_ROWS;
            // Plain index loops with bounds known at compile time: they unroll, and the
            // broadcast quants stay in registers.
            for c in 0..NP {
                let xq = o.q.add(c * o.q_stride + q_at);
                let mut sum = isum[c];
                let mut g0 = 0;
                while g0 < groups {
                    let mut pairs = _mm256_setzero_si256();
                    for g in g0..g0 + per_madd {
                        let x = _mm256_loadu_si256(xq.add(32 * g).cast());
                        pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(wb[g], x));
                    }
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, sc));
                    g0 += per_madd;
                }
                isum[c] = sum;
                let sx = _mm256_loadu_ps(o.meta.add(c * o.m_stride + m_at + PANEL_ROWS));
                acc[c] = _mm256_fmadd_ps(off, sx, acc[c]);
            }
        }
        // The activation scale is the block's (Q8_K), or the sub-block's when it is one.
        let dw = _mm256_set1_ps(d);
        for (c, (a, sum)) in acc.iter_mut().zip(isum).enumerate() {
            let dx = _mm256_loadu_ps(o.meta.add(c * o.m_stride + blk * subs * 2 * PANEL_ROWS));
            *a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, dx), *a);
        }
    }
    for (c, a) in acc.iter().enumerate() {
        _mm256_storeu_ps(out.as_mut_ptr().add(PANEL_ROWS * c), *a);
    }
}

/// As [`super::panel::panels`] with AVX2 alone. Panics on a CPU without AVX2+FMA+F16C,
/// when the lengths disagree, or for a format whose pair sums would overflow i16.
pub fn panels<B: PanelBlock>(
    w: &[u8],
    p: &Panels,
    p0: usize,
    n: usize,
    blocks: Range<usize>,
    out: &mut [f32],
) {
    assert!(groups_per_madd::<B>() >= 1, "quants up to {} overflow maddubs", B::Q_MAX);
    let avx2 = (crate::quant::dot::avx2_available(), "AVX2");
    let rows: Rows = panel_rows!(row::<B>);
    checked::<B>(Call { w, p, p0, n, blocks }, out, avx2, &rows)
}
