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
