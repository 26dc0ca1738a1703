//! Run-time Q8 quantization of one 32-value activation block with AVX2: the same
//! `127 / max|x|` scale and round-half-to-even (the default MXCSR rounding of
//! `cvtps2dq`) as the scalar loop, so both give the same bytes.

use std::arch::x86_64::*;

/// `(max|x| / 127, round(x · 127 / max|x|))` of the 32 values of `block`.
pub fn quantize_block32(block: &[f32; 32]) -> (f32, [i8; 32]) {
    assert!(super::super::avx2_available(), "AVX2 quantizer on a CPU without AVX2");
    // SAFETY: the CPU has AVX2; the loads read the 32 values of `block`.
    unsafe { quantize_block32_avx2(block) }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_block32_avx2(block: &[f32; 32]) -> (f32, [i8; 32]) {
    let p = block.as_ptr();
    let v = [
        _mm256_loadu_ps(p),
        _mm256_loadu_ps(p.add(8)),
        _mm256_loadu_ps(p.add(16)),
        _mm256_loadu_ps(p.add(24)),
    ];
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let m = _mm256_max_ps(
        _mm256_max_ps(_mm256_and_ps(v[0], abs), _mm256_and_ps(v[1], abs)),
        _mm256_max_ps(_mm256_and_ps(v[2], abs), _mm256_and_ps(v[3], abs)),
    );
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
    let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
    let mut q = [_mm256_setzero_si256(); 4];
    for (q, &x) in q.iter_mut().zip(&v) {
        *q = _mm256_cvtps_epi32(_mm256_mul_ps(x, id));
    }
    // Packing works per 128-bit half: the 4-byte groups come out as 0, 2, 4, 6, 1, 3,
    // 5, 7 and are put back in order.
    let bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    let mut out = [0i8; 32];
    _mm256_storeu_si256(out.as_mut_ptr().cast(), bytes);
    (amax / 127.0, out)
}

/// One Q8_K block (256 values) as the scalar quantizer writes it — `d` (f32), 256
/// quants, 16 sums of 16 — appended to `out`: scale `-127 / max` with `max` the first
/// value of largest magnitude, round half to even, at most 127.
pub fn quantize_block_q8_k(block: &[f32; 256], out: &mut Vec<u8>) {
    assert!(super::super::avx2_available(), "AVX2 quantizer on a CPU without AVX2");
    // SAFETY: the CPU has AVX2; the loads read the 256 values of `block`.
    let (d, q) = unsafe { q8_k_avx2(block) };
    out.extend_from_slice(&d.to_le_bytes());
    out.extend(q.iter().map(|&v| v as u8));
    for sixteen in q.chunks_exact(16) {
        let sum: i16 = sixteen.iter().map(|&v| v as i16).sum();
        out.extend_from_slice(&sum.to_le_bytes());
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_k_avx2(block: &[f32; 256]) -> (f32, [i8; 256]) {
    let p = block.as_ptr();
    // The scale comes from the first value of largest magnitude, found as the scalar
    // loop finds it (NaNs never win a comparison), so both pick the same sign.
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in block {
        if v.abs() > amax {
            (amax, max) = (v.abs(), v);
        }
    }
    let mut out = [0i8; 256];
    if amax == 0.0 {
        return (0.0, out);
    }
    let iscale = -127.0 / max;
    let (id, top) = (_mm256_set1_ps(iscale), _mm256_set1_epi32(127));
    for (i, chunk) in out.chunks_exact_mut(32).enumerate() {
        let mut q = [_mm256_setzero_si256(); 4];
        for (j, q) in q.iter_mut().enumerate() {
            let x = _mm256_loadu_ps(p.add(32 * i + 8 * j));
            *q = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(x, id)), top);
        }
        let bytes =
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(chunk.as_mut_ptr().cast(), bytes);
    }
    (1.0 / iscale, out)
}
