//! AVX2+FMA integer dot products, the same sums as `scalar.rs` (32 products at a time
//! with `maddubs`/`madd`), blocks read from unaligned byte slices, block scales
//! converted by F16C.
//!
//! Each kernel is an `unsafe` `#[target_feature]` function behind a safe wrapper that
//! checks the CPU (cached, see `avx2_available`) and the row lengths first.
//!
//! `maddubs` multiplies unsigned by signed bytes and saturates pairs to i16. Signed
//! weights go through `sign` (|w| · sign(w)·x), exact unless an activation is -128 under
//! a negative weight; the Q8_0/Q8_1 activations of `quantize_activations` stay within
//! ±127. The K-quant kernels keep the weight quants unsigned (≤ 63), so Q8_K's -128 is
//! fine there: pairs stay below 2·63·128 < 2¹⁵.

use std::arch::x86_64::*;

use super::{avx2_available, n_blocks};
use crate::quant::blocks::get_scale_min_k4;

/// The safe entry point of an AVX2 kernel: checks the CPU, then runs it.
macro_rules! safe {
    ($name:ident, $inner:ident) => {
        pub fn $name(w: &[u8], x: &[u8]) -> f32 {
            assert!(avx2_available(), "AVX2 kernel called on a CPU without AVX2+FMA");
            // SAFETY: the CPU has the features `$inner` is compiled for.
            unsafe { $inner(w, x) }
        }
    };
}

safe!(q4_0_q8_0, q4_0_q8_0_avx2);
safe!(q4_1_q8_1, q4_1_q8_1_avx2);
safe!(q5_0_q8_0, q5_0_q8_0_avx2);
safe!(q8_0_q8_0, q8_0_q8_0_avx2);
safe!(q4_k_q8_k, q4_k_q8_k_avx2);
safe!(q5_k_q8_k, q5_k_q8_k_avx2);
safe!(q6_k_q8_k, q6_k_q8_k_avx2);

/// The f16 at `b[at..at + 2]` as f32, by the F16C instruction.
#[inline]
#[target_feature(enable = "f16c")]
unsafe fn f16_at(b: &[u8], at: usize) -> f32 {
    let bits = u16::from_le_bytes([b[at], b[at + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

fn f32_at(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The 16 Q8_K sums of 16 of an activation block (bytes 260..292).
fn bsums(b: &[u8]) -> [i32; 16] {
    std::array::from_fn(|j| i16::from_le_bytes([b[260 + 2 * j], b[261 + 2 * j]]) as i32)
}

/// 32 bytes of `b` from `at`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load32(b: &[u8], at: usize) -> __m256i {
    let s = &b[at..at + 32];
    _mm256_loadu_si256(s.as_ptr() as *const __m256i)
}

/// The 32 nibbles of 16 bytes from `at`: low nibbles in bytes 0..16, high in 16..32.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles32(b: &[u8], at: usize) -> __m256i {
    let s = &b[at..at + 16];
    let lo = _mm_loadu_si128(s.as_ptr() as *const __m128i);
    let both = _mm256_set_m128i(_mm_srli_epi16(lo, 4), lo);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// Byte `j` is 0xFF where bit `j` of the little-endian u32 at `b[at..]` is set.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bits32(b: &[u8], at: usize) -> __m256i {
    let v = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as i32;
    let shuffle =
        _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0);
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(v), shuffle);
    let others = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
    _mm256_cmpeq_epi8(_mm256_or_si256(bytes, others), _mm256_set1_epi64x(-1))
}

/// Pairwise sums of i16 lanes into 8 f32s.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sum_i16_pairs(v: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_madd_epi16(v, _mm256_set1_epi16(1)))
}

/// `Σ x·y` of 32 signed bytes each, as 8 f32 partial sums.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mul_sum_i8(x: __m256i, y: __m256i) -> __m256 {
    sum_i16_pairs(_mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_q8_0_avx2(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for i in 0..n_blocks(w, x, 18, 34) {
        let (a, b) = (&w[18 * i..18 * i + 18], &x[34 * i..34 * i + 34]);
        let d = _mm256_set1_ps(f16_at(a, 0) * f16_at(b, 0));
        let qw = _mm256_sub_epi8(nibbles32(a, 2), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, load32(b, 2)), acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_1_q8_1_avx2(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    for i in 0..n_blocks(w, x, 20, 36) {
        let (a, b) = (&w[20 * i..20 * i + 20], &x[36 * i..36 * i + 36]);
        let d = _mm256_set1_ps(f16_at(a, 0) * f16_at(b, 0));
        mins += f16_at(a, 2) * f16_at(b, 2);
        let p = _mm256_maddubs_epi16(nibbles32(a, 4), load32(b, 4));
        acc = _mm256_fmadd_ps(d, sum_i16_pairs(p), acc);
    }
    hsum(acc) + mins
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0_q8_0_avx2(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for i in 0..n_blocks(w, x, 22, 34) {
        let (a, b) = (&w[22 * i..22 * i + 22], &x[34 * i..34 * i + 34]);
        let d = _mm256_set1_ps(f16_at(a, 0) * f16_at(b, 0));
        // q - 16: a clear fifth bit leaves q | 0xF0, i.e. q - 16 as a signed byte.
        let high = _mm256_andnot_si256(bits32(a, 2), _mm256_set1_epi8(0xF0u8 as i8));
        let qw = _mm256_or_si256(nibbles32(a, 6), high);
        acc = _mm256_fmadd_ps(d, mul_sum_i8(qw, load32(b, 2)), acc);
    }
    hsum(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_q8_0_avx2(w: &[u8], x: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for i in 0..n_blocks(w, x, 34, 34) {
        let (a, b) = (&w[34 * i..34 * i + 34], &x[34 * i..34 * i + 34]);
        let d = _mm256_set1_ps(f16_at(a, 0) * f16_at(b, 0));
        acc = _mm256_fmadd_ps(d, mul_sum_i8(load32(a, 2), load32(b, 2)), acc);
    }
    hsum(acc)
}

/// The eight 6-bit scales and `Σ_j m_j · Σ x` (the min term) of a Q4_K/Q5_K block whose
/// packed scales are `a[4..16]`, against Q8_K block `b`.
fn k4_scales_and_mins(a: &[u8], b: &[u8]) -> ([i16; 8], i32) {
    let packed: &[u8; 12] = a[4..16].try_into().expect("12 scale bytes");
    let s = bsums(b);
    let mut scales = [0i16; 8];
    let mut mins = 0i32;
    for (j, sc) in scales.iter_mut().enumerate() {
        let (d, m) = get_scale_min_k4(j, packed);
        *sc = d as i16;
        mins += m as i32 * (s[2 * j] + s[2 * j + 1]);
    }
    (scales, mins)
}

/// `Σ scale · Σ q·x` of two 32-element sub-blocks: unsigned quants `ql`/`qh` against the
/// activations at `b[at..]` and `b[at + 32..]`, as 8 i32 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn k_pair(ql: __m256i, qh: __m256i, b: &[u8], at: usize, sl: i16, sh: i16) -> __m256i {
    let pl = _mm256_madd_epi16(_mm256_maddubs_epi16(ql, load32(b, at)), _mm256_set1_epi16(sl));
    let ph = _mm256_madd_epi16(_mm256_maddubs_epi16(qh, load32(b, at + 32)), _mm256_set1_epi16(sh));
    _mm256_add_epi32(pl, ph)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k_q8_k_avx2(w: &[u8], x: &[u8]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    for i in 0..n_blocks(w, x, 144, 292) {
        let (a, b) = (&w[144 * i..144 * i + 144], &x[292 * i..292 * i + 292]);
        let yd = f32_at(b, 0);
        let (sc, m) = k4_scales_and_mins(a, b);
        mins += yd * f16_at(a, 2) * m as f32;
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let q = load32(a, 16 + 32 * j);
            let (ql, qh) = (_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
            sumi = _mm256_add_epi32(sumi, k_pair(ql, qh, b, 4 + 64 * j, sc[2 * j], sc[2 * j + 1]));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(yd * f16_at(a, 0)), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc) - mins
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_k_q8_k_avx2(w: &[u8], x: &[u8]) -> f32 {
    let (m4, m1) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(1));
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    for i in 0..n_blocks(w, x, 176, 292) {
        let (a, b) = (&w[176 * i..176 * i + 176], &x[292 * i..292 * i + 292]);
        let yd = f32_at(b, 0);
        let (sc, m) = k4_scales_and_mins(a, b);
        mins += yd * f16_at(a, 2) * m as f32;
        // Bit j of qh[l] is the fifth bit of element l of sub-block j: shift two per pair.
        let mut hbits = load32(a, 16);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let q = load32(a, 48 + 32 * j);
            let hl = _mm256_slli_epi16(_mm256_and_si256(hbits, m1), 4);
            let hh = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), m1), 4);
            hbits = _mm256_srli_epi16(hbits, 2);
            let ql = _mm256_or_si256(_mm256_and_si256(q, m4), hl);
            let qh = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), hh);
            sumi = _mm256_add_epi32(sumi, k_pair(ql, qh, b, 4 + 64 * j, sc[2 * j], sc[2 * j + 1]));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(yd * f16_at(a, 0)), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc) - mins
}

/// The scale vector of a 32-element run covering Q6_K sub-blocks `j` and `j + 1`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_scales(scales: &[u8], j: usize) -> __m256i {
    let (lo, hi) = (scales[j] as i8 as i16, scales[j + 1] as i8 as i16);
    _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
}

/// Bits `shift..shift + 2` of each byte of `qh`, moved to bits 4..6.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_high(qh: __m256i, shift: i32) -> __m256i {
    let bits =
        _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift)), _mm256_set1_epi8(3));
    _mm256_slli_epi16(bits, 4)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k_q8_k_avx2(w: &[u8], x: &[u8]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut offsets = 0f32;
    for i in 0..n_blocks(w, x, 210, 292) {
        let (a, b) = (&w[210 * i..210 * i + 210], &x[292 * i..292 * i + 292]);
        let scales = &a[192..208];
        let d = f16_at(a, 208) * f32_at(b, 0);
        // The quants stay unsigned (0..64): Σ (q - 32)·x = Σ q·x - 32 · Σ x, with Σ x from
        // the sums of 16.
        let s = bsums(b);
        let offset: i32 = (0..16).map(|j| scales[j] as i8 as i32 * s[j]).sum::<i32>() * 32;
        offsets += d * offset as f32;
        let mut sumi = _mm256_setzero_si256();
        for h in 0..2 {
            let (ql0, ql1) = (load32(a, 64 * h), load32(a, 64 * h + 32));
            let qh = load32(a, 128 + 32 * h);
            let q = [
                _mm256_or_si256(_mm256_and_si256(ql0, m4), q6_high(qh, 0)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), q6_high(qh, 2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), q6_high(qh, 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), q6_high(qh, 6)),
            ];
            for (k, qk) in q.into_iter().enumerate() {
                let p = _mm256_maddubs_epi16(qk, load32(b, 4 + 128 * h + 32 * k));
                let sc = q6_scales(scales, 8 * h + 2 * k);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, sc));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc) - offsets
}
