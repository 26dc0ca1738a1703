//! The AVX-512 VNNI panel kernel: one weight row against up to eight activation panels
//! (`dot/panel.rs`), 64 rows in all. Four of the weight row's quants are broadcast across
//! a vector and `vpdpbusd` multiplies them with the same four elements of eight
//! activation rows, so each i32 lane is one row's sum over a sub-block, ready for its
//! scales: per sub-block and panel, one conversion and two FMAs instead of a horizontal
//! sum. The integer sums equal the scalar kernel's; only the float order differs.

use std::arch::x86_64::*;
use std::ops::Range;

use super::{Block, Q8_0Vnni, Q4K, Q4_0, Q5K, Q5_0, Q6K};
use crate::quant::blocks::get_scale_min_k4;
use crate::quant::dot::panel::{Panels, MAX_PANELS, PANEL_ROWS};

/// A weight block read as `w = scale · q + offset` per sub-block, `q` unsigned bytes.
pub trait PanelBlock: Block {
    const ELEMS: usize;
    /// Elements per (scale, offset): 32, or 16 (Q6_K).
    const SUB: usize;
    /// The block's quants as runs of 32 bytes in element order, and per sub-block its
    /// (scale, offset).
    unsafe fn runs(w: *const u8, q: &mut [__m256i; 8], sm: &mut [(f32, f32); 16]);
    /// The largest quant: how many `maddubs` pair sums fit in an i16 (AVX2).
    const Q_MAX: i32;
    /// As `runs`, with each sub-block's scale as `d · iscale` (`d` returned, `iscale` an
    /// integer) and its offset apart.
    unsafe fn int_runs(w: *const u8, r: &mut IntRuns) -> f32;
}

/// A block unpacked for integer scales (`PanelBlock::int_runs`).
pub struct IntRuns {
    pub q: [__m256i; 8],
    pub iscale: [i16; 16],
    pub offset: [f32; 16],
}

impl IntRuns {
    #[inline(always)]
    pub unsafe fn new() -> IntRuns {
        IntRuns { q: [_mm256_setzero_si256(); 8], iscale: [0; 16], offset: [0.0; 16] }
    }
}

/// The 32-element formats: one run, their `Unsigned` scale and offset.
macro_rules! one_run {
    ($($t:ty: $max:expr),*) => {$(
        impl PanelBlock for $t {
            const ELEMS: usize = 32;
            const SUB: usize = 32;
            const Q_MAX: i32 = $max;
            #[inline(always)]
            unsafe fn runs(w: *const u8, q: &mut [__m256i; 8], sm: &mut [(f32, f32); 16]) {
                let u = Self::unpack(w);
                q[0] = u.q;
                sm[0] = (u.d, u.m);
            }
            #[inline(always)]
            unsafe fn int_runs(w: *const u8, r: &mut IntRuns) -> f32 {
                let u = Self::unpack(w);
                (r.q[0], r.iscale[0], r.offset[0]) = (u.q, 1, u.m);
                u.d
            }
        }
    )*};
}
one_run!(Q4_0: 15, Q5_0: 31, Q8_0Vnni: 255);

/// Q4_K and Q5_K: eight runs with a 6-bit scale and min each (`d`, `dmin` at bytes 0, 2).
macro_rules! k4_runs {
    ($($t:ty: $max:expr),*) => {$(
        impl PanelBlock for $t {
            const ELEMS: usize = 256;
            const SUB: usize = 32;
            const Q_MAX: i32 = $max;
            #[inline(always)]
            unsafe fn runs(w: *const u8, q: &mut [__m256i; 8], sm: &mut [(f32, f32); 16]) {
                *q = Self::unpack(w).q;
                let (d, dmin) = (f16_at(w), f16_at(w.add(2)));
                let scales: &[u8; 12] = &*w.add(4).cast();
                for (j, s) in sm.iter_mut().take(8).enumerate() {
                    let (sc, m) = get_scale_min_k4(j, scales);
                    *s = (d * sc as f32, -dmin * m as f32);
                }
            }
            #[inline(always)]
            unsafe fn int_runs(w: *const u8, r: &mut IntRuns) -> f32 {
                r.q = Self::unpack(w).q;
                let (d, dmin) = (f16_at(w), f16_at(w.add(2)));
                let scales: &[u8; 12] = &*w.add(4).cast();
                for j in 0..8 {
                    let (sc, m) = get_scale_min_k4(j, scales);
                    (r.iscale[j], r.offset[j]) = (sc as i16, -dmin * m as f32);
                }
                d
            }
        }
    )*};
}
k4_runs!(Q4K: 15, Q5K: 31);

impl PanelBlock for Q6K {
    const ELEMS: usize = 256;
    const SUB: usize = 16;
    const Q_MAX: i32 = 63;
    /// Quants 0..64 with an offset of 32, an i8 scale per 16 (bytes 192..208, d at 208).
    #[inline(always)]
    unsafe fn runs(w: *const u8, q: &mut [__m256i; 8], sm: &mut [(f32, f32); 16]) {
        *q = Self::unpack(w).q;
        let d = f16_at(w.add(208));
        for (i, s) in sm.iter_mut().enumerate() {
            let sc = d * *w.add(192 + i) as i8 as f32;
            *s = (sc, -32.0 * sc);
        }
    }

    #[inline(always)]
    unsafe fn int_runs(w: *const u8, r: &mut IntRuns) -> f32 {
        r.q = Self::unpack(w).q;
        let d = f16_at(w.add(208));
        for i in 0..16 {
            let sc = *w.add(192 + i) as i8;
            (r.iscale[i], r.offset[i]) = (sc as i16, -32.0 * d * sc as f32);
        }
        d
    }
}

#[inline(always)]
pub(super) unsafe fn f16_at(p: *const u8) -> f32 {
    let bits = p.cast::<u16>().read_unaligned();
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// One call's operands: weight blocks `blk0..blk1` of the row at `w`; panels `q_stride`
/// bytes and `m_stride` floats apart at `q` and `meta`.
#[derive(Clone, Copy)]
pub(super) struct Operands {
    pub w: *const u8,
    pub blk0: usize,
    pub blk1: usize,
    pub q: *const u8,
    pub q_stride: usize,
    pub meta: *const f32,
    pub m_stride: usize,
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn row<B: PanelBlock, const NP: usize>(o: Operands, out: &mut [f32]) {
    let mut acc = [_mm256_setzero_ps(); NP];
    for (c, a) in acc.iter_mut().enumerate() {
        *a = _mm256_loadu_ps(out.as_ptr().add(PANEL_ROWS * c));
    }
    let mut runs = [_mm256_setzero_si256(); 8];
    let mut sm = [(0f32, 0f32); 16];
    let subs = B::ELEMS / B::SUB;
    let groups = B::SUB / 4;
    for blk in o.blk0..o.blk1 {
        B::runs(o.w.add(blk * B::W_BYTES), &mut runs, &mut sm);
        for (s, &(scale, offset)) in sm.iter().enumerate().take(subs) {
            // Four quants of the weight row, broadcast, per group of four elements.
            let run = runs[s * B::SUB / 32];
            let g0 = (s * B::SUB % 32) / 4;
            let mut wb = [_mm256_setzero_si256(); 8];
            for (g, v) in wb.iter_mut().enumerate().take(groups) {
                *v = _mm256_permutevar8x32_epi32(run, _mm256_set1_epi32((g0 + g) as i32));
            }
            let (sw, mw) = (_mm256_set1_ps(scale), _mm256_set1_ps(offset));
            let q_at = (blk * B::ELEMS + s * B::SUB) / 4 * 32;
            let m_at = (blk * subs + s) * 2 * PANEL_ROWS;
            for (c, a) in acc.iter_mut().enumerate() {
                let xq = o.q.add(c * o.q_stride + q_at);
                let mut isum = _mm256_setzero_si256();
                for (g, &v) in wb.iter().enumerate().take(groups) {
                    isum = _mm256_dpbusd_epi32(isum, v, _mm256_loadu_si256(xq.add(32 * g).cast()));
                }
                let m = o.meta.add(c * o.m_stride + m_at);
                let (dx, sx) = (_mm256_loadu_ps(m), _mm256_loadu_ps(m.add(PANEL_ROWS)));
                *a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(sw, dx), *a);
                *a = _mm256_fmadd_ps(mw, sx, *a);
            }
        }
    }
    for (c, a) in acc.iter().enumerate() {
        _mm256_storeu_ps(out.as_mut_ptr().add(PANEL_ROWS * c), *a);
    }
}

/// `out[c·8 + l] += w · (row l of panel p0 + c)` over weight blocks `blocks` of the row
/// `w`, for `n` (1..=[`MAX_PANELS`]) panels. Panics on a CPU without AVX-512 VNNI, or
/// when the lengths disagree.
pub fn panels<B: PanelBlock>(
    w: &[u8],
    p: &Panels,
    p0: usize,
    n: usize,
    blocks: Range<usize>,
    out: &mut [f32],
) {
    let vnni = (crate::quant::dot::vnni_available(), "VNNI");
    let rows: Rows = panel_rows!(row::<B>);
    checked::<B>(Call { w, p, p0, n, blocks }, out, vnni, &rows)
}

/// A kernel's row function for each count of panels, 1..=[`MAX_PANELS`].
pub(super) type Rows = [unsafe fn(Operands, &mut [f32]); MAX_PANELS];

/// One panel call's arguments.
pub(super) struct Call<'a> {
    pub w: &'a [u8],
    pub p: &'a Panels,
    pub p0: usize,
    pub n: usize,
    pub blocks: Range<usize>,
}

/// Checks a call's lengths, and that the CPU has the kernel's features (`cpu`: whether,
/// and their name), then runs the row function for its count of panels.
pub(super) fn checked<B: PanelBlock>(c: Call, out: &mut [f32], cpu: (bool, &str), rows: &Rows) {
    let o = check::<B>(c.w, c.p, c.p0, c.n, c.blocks, out);
    assert!(cpu.0, "{} kernel called on a CPU without it", cpu.1);
    // SAFETY: the CPU has the features; `check` bounds every weight, quant and meta read
    // and every write.
    unsafe { rows[c.n - 1](o, out) }
}

/// Checks a panel call's lengths (a panel holds k / 4 groups of 32 bytes and k / sub ·
/// 16 floats); returns its operands.
pub(super) fn check<B: PanelBlock>(
    w: &[u8],
    p: &Panels,
    p0: usize,
    n: usize,
    blocks: Range<usize>,
    out: &[f32],
) -> Operands {
    let (k, sub) = p.k_sub();
    assert_eq!(sub, B::SUB, "panels built for sub-blocks of {sub}, weights have {}", B::SUB);
    let nb = k / B::ELEMS;
    assert!(k.is_multiple_of(B::ELEMS) && w.len() == nb * B::W_BYTES, "weight row");
    assert!(blocks.start <= blocks.end && blocks.end <= nb, "blocks {blocks:?} of {nb}");
    assert!((1..=MAX_PANELS).contains(&n) && p0 + n <= p.n_panels() && out.len() >= PANEL_ROWS * n);
    let (q, q_stride, meta, m_stride) = p.range(p0, n);
    Operands {
        w: w.as_ptr(),
        blk0: blocks.start,
        blk1: blocks.end,
        q: q.as_ptr(),
        q_stride,
        meta: meta.as_ptr(),
        m_stride,
    }
}
