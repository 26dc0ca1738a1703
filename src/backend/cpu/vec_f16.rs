//! f16 vector arithmetic for attention over the f16 KV cache: dot products, and scaling
//! and multiply-add into f16 accumulators. Rounded as the reference engine's F16C path
//! rounds: f32 arithmetic with fused multiply-add, each stored result rounded to f16.
//! AVX2+FMA+F16C where the CPU has them, else a scalar loop doing the same operations.

use half::f16;

use crate::quant::f16_bits_to_f32;

/// Whether the F16C path runs (the CPU has it and `HEARTH_CPU_KERNELS` allows it).
#[cfg(target_arch = "x86_64")]
fn simd() -> bool {
    crate::quant::dot::level() >= crate::quant::dot::Level::Avx2
}

fn h(x: f16) -> f32 {
    f16_bits_to_f32(x.to_bits())
}

/// `Σ a·b`, summed in f32.
pub fn dot(a: &[f16], b: &[f16]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { avx2::dot(a, b) };
    }
    dot_scalar(a, b)
}

/// `acc = f16(acc · s)`.
pub fn scale(acc: &mut [f16], s: f32) {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: as in `dot`.
        return unsafe { avx2::scale(acc, s) };
    }
    scale_scalar(acc, s)
}

/// `acc = f16(v · s + acc)`, fused.
pub fn mad(acc: &mut [f16], v: &[f16], s: f32) {
    debug_assert_eq!(acc.len(), v.len());
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: as in `dot`.
        return unsafe { avx2::mad(acc, v, s) };
    }
    mad_scalar(acc, v, s)
}

/// `out[i] = q · rows[i·stride..][..q.len()]`: the dots of `q` with `out.len()` rows
/// `stride` values apart, each as [`dot`] computes it.
pub fn dots(q: &[f16], rows: &[f16], stride: usize, out: &mut [f32]) {
    let d = q.len();
    assert!(out.is_empty() || (out.len() - 1) * stride + d <= rows.len(), "rows out of range");
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: as in `dot`; the assert bounds every row.
        return unsafe { avx2::dots(q, rows, stride, out) };
    }
    for (i, o) in out.iter_mut().enumerate() {
        *o = dot_scalar(q, &rows[i * stride..i * stride + d]);
    }
}

/// For each row `i` of `rows` (`stride` values apart) and `(ms, vs) = steps[i]` in
/// order: `acc = f16(acc · ms)` unless `ms` is 1, then `acc = f16(row_i · vs + acc)` —
/// the same roundings as [`scale`] and [`mad`] one row at a time.
pub fn mads(acc: &mut [f16], rows: &[f16], stride: usize, steps: &[(f32, f32)]) {
    let d = acc.len();
    assert!(steps.is_empty() || (steps.len() - 1) * stride + d <= rows.len(), "rows out of range");
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: as in `dot`; the assert bounds every row.
        return unsafe { avx2::mads(acc, rows, stride, steps) };
    }
    for (i, &(ms, vs)) in steps.iter().enumerate() {
        if ms != 1.0 {
            scale_scalar(acc, ms);
        }
        mad_scalar(acc, &rows[i * stride..i * stride + d], vs);
    }
}

pub fn dot_scalar(a: &[f16], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(&x, &y)| h(x) * h(y)).sum()
}

pub fn scale_scalar(acc: &mut [f16], s: f32) {
    acc.iter_mut().for_each(|a| *a = f16::from_f32_const(h(*a) * s));
}

pub fn mad_scalar(acc: &mut [f16], v: &[f16], s: f32) {
    acc.iter_mut().zip(v).for_each(|(a, &x)| *a = f16::from_f32_const(h(x).mul_add(s, h(*a))));
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT;

    #[inline(always)]
    unsafe fn load8(s: &[f16], at: usize) -> __m256 {
        let s = &s[at..at + 8];
        _mm256_cvtph_ps(_mm_loadu_si128(s.as_ptr() as *const __m128i))
    }

    #[inline(always)]
    unsafe fn store8(s: &mut [f16], at: usize, v: __m256) {
        let s = &mut s[at..at + 8];
        _mm_storeu_si128(s.as_mut_ptr() as *mut __m128i, _mm256_cvtps_ph::<ROUND>(v));
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot(a: &[f16], b: &[f16]) -> f32 {
        dot_inline(a, b)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dots(q: &[f16], rows: &[f16], stride: usize, out: &mut [f32]) {
        match q.len() {
            64 => dots_in_registers::<8>(q, rows, stride, out),
            128 => dots_in_registers::<16>(q, rows, stride, out),
            256 => dots_in_registers::<32>(q, rows, stride, out),
            d => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = dot_inline(q, rows.get_unchecked(i * stride..i * stride + d));
                }
            }
        }
    }

    /// `dots` for a head of `8·N` values with q converted once: the same products in
    /// the same order as `dot_inline` (even runs of 8 into one sum, odd into the other).
    #[inline(always)]
    unsafe fn dots_in_registers<const N: usize>(
        q: &[f16],
        rows: &[f16],
        stride: usize,
        out: &mut [f32],
    ) {
        let qa: [__m256; N] = std::array::from_fn(|j| load8(q, 8 * j));
        for (i, o) in out.iter_mut().enumerate() {
            let k = rows.get_unchecked(i * stride..i * stride + 8 * N);
            let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            for j in (0..N).step_by(2) {
                s0 = _mm256_fmadd_ps(qa[j], load8(k, 8 * j), s0);
                s1 = _mm256_fmadd_ps(qa[j + 1], load8(k, 8 * j + 8), s1);
            }
            *o = hsum(_mm256_add_ps(s0, s1));
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn mads(acc: &mut [f16], rows: &[f16], stride: usize, steps: &[(f32, f32)]) {
        match acc.len() {
            64 => mads_in_registers::<8>(acc, rows, stride, steps),
            128 => mads_in_registers::<16>(acc, rows, stride, steps),
            256 => mads_in_registers::<32>(acc, rows, stride, steps),
            d => {
                for (i, &(ms, vs)) in steps.iter().enumerate() {
                    if ms != 1.0 {
                        scale_inline(acc, ms);
                    }
                    mad_inline(acc, rows.get_unchecked(i * stride..i * stride + d), vs);
                }
            }
        }
    }

    /// f32 rounded to f16 and back: what a store to an f16 accumulator and a load keep.
    #[inline(always)]
    unsafe fn round_f16(v: __m256) -> __m256 {
        _mm256_cvtph_ps(_mm256_cvtps_ph::<ROUND>(v))
    }

    /// `mads` for `8·N` values with the accumulator held in registers, rounded to f16
    /// after every operation as the stores of `scale`/`mad` round it.
    #[inline(always)]
    unsafe fn mads_in_registers<const N: usize>(
        acc: &mut [f16],
        rows: &[f16],
        stride: usize,
        steps: &[(f32, f32)],
    ) {
        let mut a: [__m256; N] = std::array::from_fn(|j| load8(acc, 8 * j));
        for (i, &(ms, vs)) in steps.iter().enumerate() {
            let v = rows.get_unchecked(i * stride..i * stride + 8 * N);
            if ms != 1.0 {
                let m = _mm256_set1_ps(ms);
                a.iter_mut().for_each(|x| *x = round_f16(_mm256_mul_ps(*x, m)));
            }
            let s = _mm256_set1_ps(vs);
            for (j, x) in a.iter_mut().enumerate() {
                *x = round_f16(_mm256_fmadd_ps(load8(v, 8 * j), s, *x));
            }
        }
        for (j, x) in a.into_iter().enumerate() {
            store8(acc, 8 * j, x);
        }
    }

    /// The sum of the eight lanes, in the order `dot_inline` adds them.
    #[inline(always)]
    unsafe fn hsum(s: __m256) -> f32 {
        let q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_movehdup_ps(q));
        _mm_cvtss_f32(q)
    }

    #[inline(always)]
    unsafe fn dot_inline(a: &[f16], b: &[f16]) -> f32 {
        let n = a.len().min(b.len());
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 16 <= n {
            s0 = _mm256_fmadd_ps(load8(a, i), load8(b, i), s0);
            s1 = _mm256_fmadd_ps(load8(a, i + 8), load8(b, i + 8), s1);
            i += 16;
        }
        if i + 8 <= n {
            s0 = _mm256_fmadd_ps(load8(a, i), load8(b, i), s0);
            i += 8;
        }
        hsum(_mm256_add_ps(s0, s1)) + super::dot_scalar(&a[i..n], &b[i..n])
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn scale(acc: &mut [f16], s: f32) {
        scale_inline(acc, s)
    }

    #[inline(always)]
    unsafe fn scale_inline(acc: &mut [f16], s: f32) {
        let vs = _mm256_set1_ps(s);
        let n8 = acc.len() / 8 * 8;
        for i in (0..n8).step_by(8) {
            store8(acc, i, _mm256_mul_ps(load8(acc, i), vs));
        }
        super::scale_scalar(&mut acc[n8..], s);
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn mad(acc: &mut [f16], v: &[f16], s: f32) {
        mad_inline(acc, v, s)
    }

    #[inline(always)]
    unsafe fn mad_inline(acc: &mut [f16], v: &[f16], s: f32) {
        let vs = _mm256_set1_ps(s);
        let n8 = acc.len() / 8 * 8;
        for i in (0..n8).step_by(8) {
            store8(acc, i, _mm256_fmadd_ps(load8(v, i), vs, load8(acc, i)));
        }
        super::mad_scalar(&mut acc[n8..], &v[n8..], s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    fn halves(rng: &mut Rng, n: usize) -> Vec<f16> {
        rng.vec(n).into_iter().map(|v| f16::from_f32(4.0 * v)).collect()
    }

    #[test]
    fn simd_and_scalar_agree() {
        let mut rng = Rng(7);
        for n in [1, 7, 8, 64, 100, 256] {
            let (a, b) = (halves(&mut rng, n), halves(&mut rng, n));
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| x.to_f64() * y.to_f64()).sum();
            assert!((dot(&a, &b) as f64 - exact).abs() < 1e-4 * (1.0 + exact.abs()), "n={n}");
            let (mut x, mut y) = (a.clone(), a.clone());
            mad(&mut x, &b, 0.37);
            mad_scalar(&mut y, &b, 0.37);
            assert_eq!(x, y, "mad n={n}");
            scale(&mut x, -1.9);
            scale_scalar(&mut y, -1.9);
            assert_eq!(x, y, "scale n={n}");
        }
    }

    #[test]
    fn row_runs_match_one_row_at_a_time() {
        let mut rng = Rng(9);
        for (d, stride, n) in [(64, 128, 5), (128, 256, 6), (256, 512, 4), (72, 72, 3), (7, 20, 4)]
        {
            let q = halves(&mut rng, d);
            let rows = halves(&mut rng, (n - 1) * stride + d);
            let mut got = vec![0f32; n];
            dots(&q, &rows, stride, &mut got);
            let steps: Vec<(f32, f32)> =
                (0..n).map(|i| (if i % 2 == 0 { 0.5 } else { 1.0 }, 0.1 * i as f32)).collect();
            let (mut acc, mut want_acc) = (q.clone(), q.clone());
            mads(&mut acc, &rows, stride, &steps);
            for i in 0..n {
                let row = &rows[i * stride..i * stride + d];
                assert_eq!(got[i].to_bits(), dot(&q, row).to_bits(), "dot {i}");
                if steps[i].0 != 1.0 {
                    scale(&mut want_acc, steps[i].0);
                }
                mad(&mut want_acc, row, steps[i].1);
            }
            assert_eq!(acc, want_acc);
        }
    }
}
