//! Integer dot kernels against the f64 dot of the dequantized rows (scalar) and against
//! the scalar kernel (SIMD), for random weights and activations.

use super::*;
use crate::quant::{dequantize_row_to_vec, quantize};
use crate::testutil::{random_blocks, Rng};

/// The weight types with an integer dot.
const TYPES: [GgmlType; 7] = {
    use GgmlType::*;
    [Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K]
};

/// Weight rows for a test: quantized random floats, or random valid blocks.
fn weights(rng: &mut Rng, ty: GgmlType, n: usize, raw: bool) -> Vec<u8> {
    if raw {
        return random_blocks(rng, ty, n);
    }
    let mut w = Vec::new();
    quantize(ty, &rng.vec_mixed(n), &mut w).unwrap();
    w
}

/// `n` activation rows of `k` random values of mixed magnitude, quantized to `act`.
fn activation_rows(rng: &mut Rng, act: GgmlType, k: usize, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            let mut x = Vec::new();
            quantize_row(act, &rng.vec_mixed(k), &mut x);
            x
        })
        .collect()
}

fn lengths(ty: GgmlType) -> &'static [usize] {
    if ty.block_elems() == 32 {
        &[32, 32 * 7, 256 * 4]
    } else {
        &[256, 256 * 4]
    }
}

/// Each case: (type, weight bytes, activation bytes).
fn cases() -> Vec<(GgmlType, Vec<u8>, Vec<u8>)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for ty in TYPES {
        let act = int_dot_activation_type(ty).unwrap();
        for &n in lengths(ty) {
            for raw in [false, true] {
                for _ in 0..4 {
                    let w = weights(&mut rng, ty, n, raw);
                    let mut x = Vec::new();
                    quantize_row(act, &rng.vec_mixed(n), &mut x);
                    out.push((ty, w, x));
                }
            }
        }
    }
    out
}

/// `(Σ w·x in f64, Σ |w·x|)` of the dequantized rows.
fn exact(ty: GgmlType, w: &[u8], x: &[u8]) -> (f64, f64) {
    let wf = dequantize_row_to_vec(ty, w).unwrap();
    let xf = dequantize_row_to_vec(int_dot_activation_type(ty).unwrap(), x).unwrap();
    let p = wf.iter().zip(&xf).map(|(&a, &b)| a as f64 * b as f64);
    (p.clone().sum(), p.map(f64::abs).sum())
}

/// The Q4_1 × Q8_1 kernel uses the activation block sum `s = f16(d · Σq)` (with `d`
/// unrounded), while the dequantized activations are `f16(d) · q`. Each rounding to f16
/// is within 2⁻¹¹ relative (d and d·Σq are normal f16 here), so per block
/// `|s - f16(d)·Σq| ≤ 2⁻¹⁰ · |f16(d)| · |Σq|` (plus a second-order term): the kernel's
/// extra error is at most `Σ_blocks |m_w| · 2⁻¹⁰ · |f16(d) · Σq|`. Zero for other types.
fn block_sum_bound(ty: GgmlType, w: &[u8], x: &[u8]) -> f64 {
    if ty != GgmlType::Q4_1 {
        return 0.0;
    }
    let f16_at = |b: &[u8], at: usize| half::f16::from_le_bytes([b[at], b[at + 1]]).to_f64();
    w.chunks_exact(20)
        .zip(x.chunks_exact(36))
        .map(|(a, b)| {
            let sum_q: i32 = b[4..].iter().map(|&q| q as i8 as i32).sum();
            f16_at(a, 2).abs() * 1.01 * 2f64.powi(-10) * (f16_at(b, 0) * sum_q as f64).abs()
        })
        .sum()
}

#[test]
fn scalar_kernels_match_the_dequantized_dot() {
    for (ty, w, x) in cases() {
        let (want, abs) = exact(ty, &w, &x);
        let got = vec_dot_scalar(ty, &w, &x) as f64;
        let tol = 1e-5 * abs + block_sum_bound(ty, &w, &x);
        assert!(
            (got - want).abs() <= tol,
            "{} ({} weight bytes): got {got}, want {want}, tol {tol}",
            ty.name(),
            w.len()
        );
    }
}

#[test]
fn the_block_sum_term_is_what_separates_q4_1_from_the_dequantized_dot() {
    // With s recomputed from the dequantized activations the Q4_1 kernel is as tight as
    // the others: the f16 block sum is the only extra rounding.
    let mut rng = Rng(7);
    let ty = GgmlType::Q4_1;
    let w = weights(&mut rng, ty, 256, false);
    let mut x = Vec::new();
    quantize_row(GgmlType::Q8_1, &rng.vec_mixed(256), &mut x);
    let (want, abs) = exact(ty, &w, &x);
    let got = vec_dot_scalar(ty, &w, &x) as f64;
    let s_err: f64 = w
        .chunks_exact(20)
        .zip(x.chunks_exact(36))
        .map(|(a, b)| {
            let f = |at: usize, c: &[u8]| half::f16::from_le_bytes([c[at], c[at + 1]]).to_f64();
            let sum_q: i32 = b[4..].iter().map(|&q| q as i8 as i32).sum();
            f(2, a) * (f(2, b) - f(0, b) * sum_q as f64)
        })
        .sum();
    assert!((got - s_err - want).abs() <= 1e-5 * abs, "{got} - {s_err} vs {want}");
}

/// Every SIMD level this CPU has, each checked against the scalar kernel, one row and
/// one to `MAX_COLS` rows at a time.
#[test]
fn simd_kernels_match_scalar() {
    let levels: Vec<Level> =
        Level::ALL.into_iter().filter(|&l| l != Level::Scalar && l.supported()).collect();
    if levels.is_empty() {
        eprintln!("no SIMD level on this CPU: only the scalar kernels were tested");
    }
    for level in levels {
        for (ty, w, x) in cases() {
            let want = vec_dot_scalar(ty, &w, &x) as f64;
            let got = vec_dot_at(ty, level, &w, &x).unwrap() as f64;
            let tol = 1e-6 * exact(ty, &w, &x).1;
            assert!(
                (got - want).abs() <= tol,
                "{} {} ({} weight bytes): {got}, scalar {want}, tol {tol}",
                level.name(),
                ty.name(),
                w.len()
            );
        }
        check_columns(level);
    }
}

/// One weight row against 1..=MAX_COLS activation rows in one call equals one row at a
/// time, bit for bit, at `level` (rows padded apart by a stride longer than a row).
fn check_columns(level: Level) {
    let mut rng = Rng(11);
    for ty in TYPES {
        let act = int_dot_activation_type(ty).unwrap();
        let n = 512;
        let w = weights(&mut rng, ty, n, false);
        let rows = activation_rows(&mut rng, act, n, MAX_COLS);
        let stride = rows[0].len() + 7;
        let mut x = vec![0u8; stride * MAX_COLS];
        for (c, r) in rows.iter().enumerate() {
            x[c * stride..c * stride + r.len()].copy_from_slice(r);
        }
        let k = kernel_at(ty, level).unwrap();
        for cols in 1..=MAX_COLS {
            let mut out = vec![0f32; cols];
            k.dot(&w, &x, stride, &mut out);
            for (c, &got) in out.iter().enumerate() {
                let one = vec_dot_at(ty, level, &w, &rows[c]).unwrap();
                assert_eq!(got, one, "{} {} cols={cols} c={c}", level.name(), ty.name());
            }
        }
    }
}

#[test]
fn levels_are_ordered_and_named() {
    assert!(Level::ALL.windows(2).all(|p| p[0] < p[1]) && Level::ALL[0] == Level::Scalar);
    for l in Level::ALL {
        assert_eq!(Level::parse(l.name()), Some(l));
        assert_eq!(kernel_at(GgmlType::Q4_0, l).is_some(), l.supported(), "{}", l.name());
    }
    assert!(level() <= detected_level() && level().supported());
    assert!(Level::Scalar.supported() && detected_level().supported());
}

/// Each target has its own SIMD level, and never another architecture's.
#[test]
fn levels_belong_to_their_architecture() {
    let neon = Level::Neon.supported();
    let x86 = Level::Avx2.supported() || Level::Avx512Vnni.supported();
    assert_eq!(neon, cfg!(target_arch = "aarch64"));
    assert!(!x86 || cfg!(target_arch = "x86_64"));
}

#[test]
fn vec_dot_uses_a_kernel_for_each_listed_type() {
    let mut rng = Rng(3);
    for ty in TYPES {
        assert!(has_int_dot(ty), "{}", ty.name());
        let w = weights(&mut rng, ty, 256, false);
        let mut x = Vec::new();
        quantize_row(int_dot_activation_type(ty).unwrap(), &rng.vec_mixed(256), &mut x);
        let (want, abs) = exact(ty, &w, &x);
        let got = vec_dot(ty, &w, &x) as f64;
        assert!((got - want).abs() <= 1e-5 * abs + block_sum_bound(ty, &w, &x));
    }
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q2_K, GgmlType::Q8_K, GgmlType::IQ4_NL] {
        assert!(!has_int_dot(ty), "{}", ty.name());
    }
}

#[test]
#[should_panic(expected = "activation bytes")]
fn mismatched_rows_are_refused() {
    let w = vec![0u8; 2 * 18];
    let x = vec![0u8; 34];
    vec_dot(GgmlType::Q4_0, &w, &x);
}

#[test]
fn activations_round_half_to_even_with_scale_127_over_max() {
    let mut x = vec![0f32; 32];
    x[0] = 127.0;
    x[1] = 2.5;
    x[2] = -3.5;
    let mut out = Vec::new();
    quantize_activations(GgmlType::Q8_1, &x, &mut out);
    assert_eq!(out.len(), 36);
    assert_eq!(half::f16::from_le_bytes([out[0], out[1]]).to_f32(), 1.0);
    assert_eq!(&out[4..7], &[127u8, 2, (-4i8) as u8]);
    assert_eq!(half::f16::from_le_bytes([out[2], out[3]]).to_f32(), 125.0);
}

#[test]
fn simd_activation_quantization_matches_the_scalar_one() {
    if !Level::Avx2.supported() {
        return eprintln!("no AVX2: the scalar quantizer is the only one");
    }
    let mut rng = crate::testutil::Rng(41);
    for round in 0..200 {
        let mut block: [f32; 32] = std::array::from_fn(|_| rng.f32() * 3.0);
        if round % 3 == 0 {
            // max|x| = 127: the scale is 1 and the halves are ties.
            block = std::array::from_fn(|i| (i as f32 - 16.0) * 2.5 + 0.5);
            block[0] = 127.0;
        }
        if round == 1 {
            block = [0.0; 32];
        }
        assert_eq!(quantize_block32_simd(&block), quantize_block32(&block), "{block:?}");
    }
}

#[test]
fn round_half_even_matches_the_standard_rounding() {
    let mut v = -140.0f32;
    while v <= 140.0 {
        assert_eq!(round_half_even(v), v.round_ties_even(), "{v}");
        v += 0.125;
    }
    for v in [0.5f32, 1.5, 2.5, -0.5, -2.5, 126.49999, 127.0, 1e-30] {
        assert_eq!(round_half_even(v), v.round_ties_even(), "{v}");
    }
}

/// Many weight rows against one activation row in one call equal one row at a time,
/// bit for bit, at every supported level.
#[test]
fn row_runs_match_one_row_at_a_time() {
    let mut rng = Rng(77);
    for level in Level::ALL.into_iter().filter(|l| l.supported()) {
        for ty in TYPES {
            let k = 256 * 2;
            let n_rows = 5;
            let w = weights(&mut rng, ty, k * n_rows, false);
            let xty = activation_type(ty);
            let mut x = Vec::new();
            quantize_row(xty, &rng.vec_mixed(k), &mut x);
            let meta = activation_meta(xty, &x);
            let kern = kernel_at(ty, level).unwrap();
            let rb = w.len() / n_rows;
            let mut got = vec![0f32; n_rows];
            kern.dot_rows(&w, rb, &x, &meta, &mut got);
            for (r, &g) in got.iter().enumerate() {
                let mut one = [0f32];
                kern.dot_meta(&w[r * rb..(r + 1) * rb], &x, x.len(), &meta, &mut one);
                assert_eq!(g.to_bits(), one[0].to_bits(), "{} {} row {r}", level.name(), ty.name());
            }
        }
    }
}

/// The panel kernels against the scalar kernel, for 1 to 4 panels and a last panel with
/// padding rows: the same integer sums, so within float rounding of each other.
#[test]
fn panel_kernels_match_scalar() {
    let mut rng = Rng(23);
    let mut checked = 0;
    for (ty, level) in TYPES.into_iter().flat_map(|t| [(t, Level::Avx2), (t, Level::Avx512Vnni)]) {
        let Some(pk) = panel::panel_kernel_at(ty, level) else { continue };
        let act = activation_type(ty);
        let k = 512;
        for raw in [false, true] {
            let w = weights(&mut rng, ty, k, raw);
            for n in [1, 8, 13, 32] {
                let rows = activation_rows(&mut rng, act, k, n);
                let xq = rows.concat();
                let panels = pk.panels(&xq, rows[0].len(), k);
                let np = panels.n_panels();
                let mut out = vec![0f32; np * panel::PANEL_ROWS];
                // In two calls over halves of the blocks: the sums accumulate.
                let nb = k / ty.block_elems();
                (pk.f)(&w, &panels, 0, np, 0..nb / 2, &mut out);
                (pk.f)(&w, &panels, 0, np, nb / 2..nb, &mut out);
                for (r, x) in rows.iter().enumerate() {
                    let want = vec_dot_scalar(ty, &w, x) as f64;
                    let tol = 1e-6 * exact(ty, &w, x).1;
                    let got = out[r] as f64;
                    assert!(
                        (got - want).abs() <= tol,
                        "{} {} n={n} row {r}: {got} vs {want}",
                        level.name(),
                        ty.name()
                    );
                }
                checked += 1;
            }
        }
    }
    if checked == 0 {
        eprintln!("no AVX2 on this CPU: the panel kernels were not run");
    }
}

/// The eight-row kernels against the scalar kernel: rows longer than one pass of staged
/// blocks, and token counts around the kernel's register tile.
#[test]
fn rows8_kernels_match_scalar() {
    let mut rng = Rng(29);
    for (ty, level) in TYPES.into_iter().flat_map(|t| [(t, Level::Avx2), (t, Level::Avx512Vnni)]) {
        let Some(f) = rows8::rows8_kernel_at(ty, level) else { continue };
        let act = activation_type(ty);
        for (k, raw) in [(512, false), (256 * 10, true)] {
            let w: Vec<Vec<u8>> = (0..rows8::ROWS).map(|_| weights(&mut rng, ty, k, raw)).collect();
            for n in [1, 7, 8, 19] {
                let xs = activation_rows(&mut rng, act, k, n);
                let mut out = vec![f32::NAN; n * rows8::ROWS];
                f(&w.concat(), w[0].len(), &xs.concat(), xs[0].len(), &mut out);
                for (t, x) in xs.iter().enumerate() {
                    for (r, wr) in w.iter().enumerate() {
                        let want = vec_dot_scalar(ty, wr, x) as f64;
                        let got = out[t * rows8::ROWS + r] as f64;
                        let tol = 1e-6 * exact(ty, wr, x).1;
                        let at =
                            format!("{} {} k={k} n={n} token {t} row {r}", level.name(), ty.name());
                        assert!((got - want).abs() <= tol, "{at}: {got} vs {want}");
                    }
                }
            }
        }
    }
}

/// The AVX2 Q8_K activation quantizer writes the scalar quantizer's bytes: random
/// blocks, a block whose largest magnitude appears with both signs (the first one sets
/// the scale's sign), ties at scale 1, and zeros.
#[test]
fn simd_q8_k_quantizer_matches_the_scalar_one() {
    #[cfg(target_arch = "x86_64")]
    {
        if !Level::Avx2.supported() {
            return eprintln!("no AVX2: the scalar quantizer is the only one");
        }
        let mut rng = crate::testutil::Rng(43);
        for round in 0..60 {
            let mut block: Vec<f32> = (0..256).map(|_| rng.f32() * 5.0 - 2.5).collect();
            match round % 4 {
                0 => (block[7], block[3]) = (4.0, -4.0),
                1 => block.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32 - 127.5),
                2 if round == 2 => block.iter_mut().for_each(|v| *v = 0.0),
                _ => {}
            }
            let mut want = Vec::new();
            crate::quant::quantize(GgmlType::Q8_K, &block, &mut want).unwrap();
            let mut got = Vec::new();
            x86::quantize_block_q8_k(block.as_slice().try_into().unwrap(), &mut got);
            assert_eq!(got, want, "round {round}");
        }
    }
}
