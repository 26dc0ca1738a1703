//! Eight weight rows against many activation rows, for the K-quant formats (Q4_K, Q5_K,
//! Q6_K against Q8_K): the products of a prompt's few tokens per expert. The eight rows'
//! blocks are first interleaved in L1 — per group of four elements, the eight rows'
//! four quants side by side in one vector, per sub-block the rows' scales and offsets as
//! vectors — and then each activation row's four quants are broadcast against them, so
//! every i32 lane sums one weight row: no horizontal sums, no per-row scale unpacking,
//! and nothing to build on the activation side (their rows are read as quantized).
//! The interleaving is paid once per eight rows and block and shared by every token,
//! which is what the panel kernels (`panel.rs`) cannot do with one or two panels.
//!
//! Per block and token the sums are `dx · Σ_s (scale_s · Σ q·qx + offset_s · Σ qx)`, the
//! integer sums equal to the scalar kernel's; only the float order differs.

// Index loops on purpose, as in the panel kernels: in `target_feature` code iterator
// adaptors and closures can stay calls that lose the features.
#![allow(clippy::needless_range_loop)]

use std::arch::x86_64::*;

use super::panel::PanelBlock;
use super::{Avx2, Isa, Vnni};

/// Weight rows one call takes.
pub const ROWS: usize = 8;

/// Activation rows whose sums stay in registers together.
const TOKENS: usize = 8;

/// Blocks interleaved at a time (the rest of a longer row comes in further passes).
const STAGED_BLOCKS: usize = 8;

/// Bytes of a Q8_K activation block: `d` (f32), 256 quants, 16 sums of 16 quants (i16).
const X_BYTES: usize = 292;

/// One block of eight weight rows, interleaved.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub struct Staged {
    /// Per run of 32 elements and group of four: the eight rows' four quants.
    q: [[__m256i; 8]; 8],
    /// Per sub-block: the eight rows' scales, and offsets.
    scale: [__m256; 16],
    offset: [__m256; 16],
}

thread_local! {
    /// Each thread's interleaved blocks (24 KiB: cleared once, not once per call).
    // SAFETY: all-zero bits are valid vectors.
    static STAGED: std::cell::UnsafeCell<[Staged; STAGED_BLOCKS]> =
        const { std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }) };
}

/// Lane `j` of `out[g]` is lane `g` of `r[j]`: an 8 × 8 transpose of i32 lanes.
#[inline(always)]
unsafe fn transpose(r: &[__m256i; 8]) -> [__m256i; 8] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

/// A format whose blocks of eight rows can be interleaved (`Staged`).
pub trait Stage: PanelBlock {
    /// Interleaves block `blk` of the eight rows `row_bytes` apart at `w` into `s`.
    unsafe fn stage(w: *const u8, row_bytes: usize, blk: usize, s: &mut Staged);
}

/// The four bytes at `at` of each of the eight rows' block `blk`, lane r for row r.
#[inline(always)]
unsafe fn gather(w: *const u8, row_bytes: usize, blk: usize, bytes: usize, at: usize) -> __m256i {
    let base = (blk * bytes + at) as i32;
    let rb = row_bytes as i32;
    let idx = _mm256_setr_epi32(
        base,
        base + rb,
        base + 2 * rb,
        base + 3 * rb,
        base + 4 * rb,
        base + 5 * rb,
        base + 6 * rb,
        base + 7 * rb,
    );
    _mm256_i32gather_epi32::<1>(w.cast(), idx)
}

/// The f16 in the low (`HIGH` false) or high half of each i32 lane, as f32.
#[inline(always)]
unsafe fn f16_lanes<const HIGH: bool>(v: __m256i) -> __m256 {
    let v = if HIGH { _mm256_srli_epi32::<16>(v) } else { v };
    // The low halves of the eight lanes, packed into eight u16.
    let lo = _mm256_castsi256_si128(v);
    let hi = _mm256_extracti128_si256::<1>(v);
    let mask = _mm_set1_epi32(0xFFFF);
    _mm256_cvtph_ps(_mm_packus_epi32(_mm_and_si128(lo, mask), _mm_and_si128(hi, mask)))
}

/// `(v >> shift) & mask` per i32 lane.
#[inline(always)]
unsafe fn field(v: __m256i, shift: i32, mask: i32) -> __m256i {
    _mm256_and_si256(_mm256_srl_epi32(v, _mm_cvtsi32_si128(shift)), _mm256_set1_epi32(mask))
}

/// The 32 bytes at `at` of each of the eight rows `row_bytes` apart at `w`, transposed
/// (`transpose`): vector g holds bytes 4g..4g + 4 of every row.
#[inline(always)]
unsafe fn rows32(w: *const u8, row_bytes: usize, at: usize) -> [__m256i; 8] {
    let mut r = [_mm256_setzero_si256(); ROWS];
    for (i, v) in r.iter_mut().enumerate() {
        *v = _mm256_loadu_si256(w.add(i * row_bytes + at).cast());
    }
    transpose(&r)
}

/// The Q4_K/Q5_K head of block `blk` of the eight rows (`bytes` per block): d, dmin
/// (f16) at 0, then twelve bytes of 6-bit scales and mins, unpacked into `s`.
#[inline(always)]
unsafe fn k4_scales(w: *const u8, row_bytes: usize, blk: usize, bytes: usize, s: &mut Staged) {
    let head = gather(w, row_bytes, blk, bytes, 0);
    let (d, dmin) = (f16_lanes::<false>(head), f16_lanes::<true>(head));
    let a = gather(w, row_bytes, blk, bytes, 4);
    let b = gather(w, row_bytes, blk, bytes, 8);
    let c = gather(w, row_bytes, blk, bytes, 12);
    let minus = |v: __m256i| _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), v));
    for j in 0..4 {
        let sh = 8 * j as i32;
        let (sc, m) = (field(a, sh, 63), field(b, sh, 63));
        let sc_hi = _mm256_or_si256(field(c, sh, 0x0F), field(a, sh + 2, 0x30));
        let m_hi = _mm256_or_si256(field(c, sh + 4, 0x0F), field(b, sh + 2, 0x30));
        s.scale[j] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc));
        s.offset[j] = _mm256_mul_ps(dmin, minus(m));
        s.scale[j + 4] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc_hi));
        s.offset[j + 4] = _mm256_mul_ps(dmin, minus(m_hi));
    }
}

/// The nibbles of the 128 bytes at `q` of the eight rows: per 32 bytes, the low nibbles
/// run 2p and the high ones run 2p + 1.
#[inline(always)]
unsafe fn k4_nibbles(q: *const u8, row_bytes: usize, s: &mut Staged) {
    let nib = _mm256_set1_epi8(0x0F);
    for p in 0..4 {
        let t = rows32(q, row_bytes, 32 * p);
        for g in 0..8 {
            s.q[2 * p][g] = _mm256_and_si256(t[g], nib);
            s.q[2 * p + 1][g] = _mm256_and_si256(_mm256_srli_epi16::<4>(t[g]), nib);
        }
    }
}

impl Stage for super::Q4K {
    /// The head (`k4_scales`), then 128 bytes of nibbles.
    #[inline(always)]
    unsafe fn stage(w: *const u8, row_bytes: usize, blk: usize, s: &mut Staged) {
        k4_scales(w, row_bytes, blk, 144, s);
        k4_nibbles(w.add(blk * 144 + 16), row_bytes, s);
    }
}

impl Stage for super::Q5K {
    /// The head (`k4_scales`), 32 bytes whose bit j of byte l is the fifth bit of
    /// element l of run j, then 128 bytes of nibbles.
    #[inline(always)]
    unsafe fn stage(w: *const u8, row_bytes: usize, blk: usize, s: &mut Staged) {
        k4_scales(w, row_bytes, blk, 176, s);
        k4_nibbles(w.add(blk * 176 + 48), row_bytes, s);
        let high = rows32(w.add(blk * 176 + 16), row_bytes, 0);
        let sixteen = _mm256_set1_epi8(0x10);
        for g in 0..8 {
            // Bit j moved to bit 4 (shifts by 16-bit lanes, the other bits masked off).
            let h = high[g];
            let at4 = [
                _mm256_slli_epi16::<4>(h),
                _mm256_slli_epi16::<3>(h),
                _mm256_slli_epi16::<2>(h),
                _mm256_slli_epi16::<1>(h),
                h,
                _mm256_srli_epi16::<1>(h),
                _mm256_srli_epi16::<2>(h),
                _mm256_srli_epi16::<3>(h),
            ];
            for j in 0..8 {
                s.q[j][g] = _mm256_or_si256(s.q[j][g], _mm256_and_si256(at4[j], sixteen));
            }
        }
    }
}

impl Stage for super::Q6K {
    /// 128 bytes of low nibbles, 64 of high bit pairs, sixteen i8 scales at 192, d
    /// (f16) at 208; quants 0..64 with an offset of 32.
    #[inline(always)]
    unsafe fn stage(w: *const u8, row_bytes: usize, blk: usize, s: &mut Staged) {
        // The f16 d is the high half of the four bytes at 206.
        let d = f16_lanes::<true>(gather(w, row_bytes, blk, 210, 206));
        let minus32 = _mm256_set1_ps(-32.0);
        for i in 0..4 {
            let four = gather(w, row_bytes, blk, 210, 192 + 4 * i);
            for j in 0..4 {
                let sub = 4 * i + j;
                // Byte j of each lane, sign-extended.
                let up = _mm256_sll_epi32(four, _mm_cvtsi32_si128(24 - 8 * j as i32));
                let sc = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_srai_epi32::<24>(up)));
                s.scale[sub] = sc;
                s.offset[sub] = _mm256_mul_ps(minus32, sc);
            }
        }
        let (nib, bits45) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(0x30));
        let base = w.add(blk * 210);
        for h in 0..2 {
            let a = rows32(base, row_bytes, 64 * h);
            let b = rows32(base, row_bytes, 64 * h + 32);
            let hb = rows32(base, row_bytes, 128 + 32 * h);
            for g in 0..8 {
                let (lo_a, lo_b) = (_mm256_and_si256(a[g], nib), _mm256_and_si256(b[g], nib));
                let hi_a = _mm256_and_si256(_mm256_srli_epi16::<4>(a[g]), nib);
                let hi_b = _mm256_and_si256(_mm256_srli_epi16::<4>(b[g]), nib);
                let hq = hb[g];
                let r = &mut s.q;
                r[4 * h][g] =
                    _mm256_or_si256(lo_a, _mm256_and_si256(_mm256_slli_epi16::<4>(hq), bits45));
                r[4 * h + 1][g] =
                    _mm256_or_si256(lo_b, _mm256_and_si256(_mm256_slli_epi16::<2>(hq), bits45));
                r[4 * h + 2][g] = _mm256_or_si256(hi_a, _mm256_and_si256(hq, bits45));
                r[4 * h + 3][g] =
                    _mm256_or_si256(hi_b, _mm256_and_si256(_mm256_srli_epi16::<2>(hq), bits45));
            }
        }
    }
}

/// The sums of each sub-block's activation quants (of `SUB` = 16 or 32) in the Q8_K
/// block at `x`, as f32.
#[inline(always)]
unsafe fn quant_sums<B: Stage>(x: *const u8, out: &mut [f32; 16]) {
    let bsums = _mm256_loadu_si256(x.add(260).cast());
    if B::SUB == 32 {
        // Adjacent pairs of the 16 sums, in order.
        let pairs = _mm256_madd_epi16(bsums, _mm256_set1_epi16(1));
        _mm256_storeu_ps(out.as_mut_ptr(), _mm256_cvtepi32_ps(pairs));
    } else {
        let lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(bsums));
        let hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256::<1>(bsums));
        _mm256_storeu_ps(out.as_mut_ptr(), _mm256_cvtepi32_ps(lo));
        _mm256_storeu_ps(out.as_mut_ptr().add(8), _mm256_cvtepi32_ps(hi));
    }
}

/// `out[t·8 + r] += w_r · x_t` over the staged blocks (block `blk0` on of the rows) for
/// `T` activation rows `xb` bytes apart at `x`.
#[inline(always)]
unsafe fn tokens<B: Stage, I: Isa, const T: usize>(
    staged: &[Staged],
    blk0: usize,
    x: *const u8,
    xb: usize,
    out: *mut f32,
    next: Next,
) {
    let mut total = [_mm256_setzero_ps(); T];
    for t in 0..T {
        total[t] = _mm256_loadu_ps(out.add(t * ROWS));
    }
    let subs = B::ELEMS / B::SUB;
    let groups = B::SUB / 4;
    for (i, st) in staged.iter().enumerate() {
        next.prefetch::<B>(blk0 + i);
        let xblk = |t: usize| x.add(t * xb + (blk0 + i) * X_BYTES);
        let mut sums = [[0f32; 16]; T];
        for t in 0..T {
            quant_sums::<B>(xblk(t), &mut sums[t]);
        }
        let mut acc = [_mm256_setzero_ps(); T];
        for sub in 0..subs {
            let (run, g0) = (sub * B::SUB / 32, sub * B::SUB % 32 / 4);
            let wq = &st.q[run];
            let (scale, offset) = (st.scale[sub], st.offset[sub]);
            for t in 0..T {
                let xq = xblk(t).add(4 + sub * B::SUB);
                let mut isum = _mm256_setzero_si256();
                for g in 0..groups {
                    let four = _mm256_set1_epi32(xq.add(4 * g).cast::<i32>().read_unaligned());
                    isum = I::dot_u8i8(isum, wq[g0 + g], four);
                }
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[t]);
                acc[t] = _mm256_fmadd_ps(offset, _mm256_set1_ps(sums[t][sub]), acc[t]);
            }
        }
        for t in 0..T {
            let dx = _mm256_set1_ps(xblk(t).cast::<f32>().read_unaligned());
            total[t] = _mm256_fmadd_ps(acc[t], dx, total[t]);
        }
    }
    for t in 0..T {
        _mm256_storeu_ps(out.add(t * ROWS), total[t]);
    }
}

/// The next eight rows, whose blocks are asked for from memory as the same blocks of
/// these rows meet the first tokens (a burst of requests at once would stall the core).
#[derive(Clone, Copy)]
struct Next {
    w: *const u8,
    row_bytes: usize,
}

impl Next {
    const NONE: Next = Next { w: std::ptr::null(), row_bytes: 0 };

    #[inline(always)]
    unsafe fn prefetch<B: Stage>(self, blk: usize) {
        if self.w.is_null() {
            return;
        }
        for r in 0..ROWS {
            super::prefetch(self.w.add(r * self.row_bytes + blk * B::W_BYTES), B::W_BYTES);
        }
    }
}

/// The whole product: rows of `nb` blocks, `n` activation rows.
#[inline(always)]
unsafe fn rows8<B: Stage, I: Isa>(o: Call) {
    let (nb, n, xb) = (o.nb, o.n, o.xb);
    // SAFETY: the buffer is this thread's, and this function does not call itself.
    let staged = unsafe { &mut *STAGED.with(|s| s.get()) };
    for b0 in (0..nb).step_by(STAGED_BLOCKS) {
        let st = &mut staged[..(nb - b0).min(STAGED_BLOCKS)];
        for (i, s) in st.iter_mut().enumerate() {
            B::stage(o.w, o.row_bytes, b0 + i, s);
        }
        let mut next = o.next;
        let mut t0 = 0;
        while t0 + TOKENS <= n {
            let (x, out) = (o.x.add(t0 * xb), o.out.add(t0 * ROWS));
            tokens::<B, I, TOKENS>(st, b0, x, xb, out, next);
            (t0, next) = (t0 + TOKENS, Next::NONE);
        }
        let (x, out) = (o.x.add(t0 * xb), o.out.add(t0 * ROWS));
        match n - t0 {
            0 => {}
            1 => tokens::<B, I, 1>(st, b0, x, xb, out, next),
            2 => tokens::<B, I, 2>(st, b0, x, xb, out, next),
            3 => tokens::<B, I, 3>(st, b0, x, xb, out, next),
            4 => tokens::<B, I, 4>(st, b0, x, xb, out, next),
            5 => tokens::<B, I, 5>(st, b0, x, xb, out, next),
            6 => tokens::<B, I, 6>(st, b0, x, xb, out, next),
            _ => tokens::<B, I, 7>(st, b0, x, xb, out, next),
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows8_avx2_impl<B: Stage>(o: Call) {
    rows8::<B, Avx2>(o)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn rows8_vnni_impl<B: Stage>(o: Call) {
    rows8::<B, Vnni>(o)
}

/// A checked call's operands.
struct Call {
    w: *const u8,
    next: Next,
    row_bytes: usize,
    nb: usize,
    x: *const u8,
    xb: usize,
    n: usize,
    out: *mut f32,
}

/// Checks the lengths: eight weight rows of `row_bytes` (or sixteen, the last eight
/// only asked for ahead), whole Q8_K activation rows of `xb` bytes with as many blocks,
/// and eight outputs per activation row.
fn check<B: Stage>(w: &[u8], row_bytes: usize, x: &[u8], xb: usize, out: &mut [f32]) -> Call {
    assert_eq!(B::ELEMS, 256, "rows8 takes the 256-element formats");
    let nb = row_bytes / B::W_BYTES;
    assert!(nb > 0 && row_bytes == nb * B::W_BYTES, "weight rows of whole blocks");
    let groups = w.len() / (ROWS * row_bytes);
    assert!(w.len() == groups * ROWS * row_bytes && (1..=2).contains(&groups), "weight rows");
    // The block heads are gathered at i32 offsets from the first row.
    assert!(ROWS * row_bytes <= i32::MAX as usize, "rows of {row_bytes} bytes");
    assert!(xb == nb * X_BYTES && x.len().is_multiple_of(xb), "activation rows of {nb} blocks");
    let n = x.len() / xb;
    assert_eq!(out.len(), n * ROWS, "eight outputs per activation row");
    let next = match groups {
        2 => Next { w: w[ROWS * row_bytes..].as_ptr(), row_bytes },
        _ => Next::NONE,
    };
    Call { w: w.as_ptr(), next, row_bytes, nb, x: x.as_ptr(), xb, n, out: out.as_mut_ptr() }
}

/// `out[t·8 + r] = w_r · x_t` for the eight weight rows `row_bytes` apart in `w` (eight
/// more after them are asked for from memory) and the Q8_K activation rows of `xb`
/// bytes in `x`, with AVX2. Panics on a CPU without AVX2, or when the lengths disagree.
pub fn rows8_avx2<B: Stage>(w: &[u8], row_bytes: usize, x: &[u8], xb: usize, out: &mut [f32]) {
    out.fill(0.0);
    let o = check::<B>(w, row_bytes, x, xb, out);
    assert!(super::super::avx2_available(), "AVX2 kernel called on a CPU without it");
    // SAFETY: the CPU has the features; `check` bounds every read and write.
    unsafe { rows8_avx2_impl::<B>(o) }
}

/// As [`rows8_avx2`] with AVX-512 VNNI.
pub fn rows8_vnni<B: Stage>(w: &[u8], row_bytes: usize, x: &[u8], xb: usize, out: &mut [f32]) {
    out.fill(0.0);
    let o = check::<B>(w, row_bytes, x, xb, out);
    assert!(super::super::vnni_available(), "VNNI kernel called on a CPU without it");
    // SAFETY: as in `rows8_avx2`.
    unsafe { rows8_vnni_impl::<B>(o) }
}
