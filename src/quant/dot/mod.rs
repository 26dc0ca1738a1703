//! Quantized dot products: activation rows quantized as the reference engine quantizes
//! them at run time, and integer dot products of weight rows with those rows — a scalar
//! oracle plus SIMD kernels chosen at run time.
//!
//! Which weight type has a kernel is one table, [`KERNELS`]; [`vec_dot`] picks the
//! fastest path the CPU supports (AVX2+FMA on x86-64, else scalar), detected once.

mod scalar;

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(test)]
mod tests;

use crate::quant::GgmlType;

/// A dot product of one weight row with one quantized activation row (same length).
pub type VecDotFn = fn(&[u8], &[u8]) -> f32;

/// The kernels of one weight type (its activations: [`activation_type`]).
struct Kernel {
    ty: GgmlType,
    scalar: VecDotFn,
    #[cfg(target_arch = "x86_64")]
    avx2: VecDotFn,
}

macro_rules! kernel {
    ($ty:ident, $f:ident) => {
        Kernel {
            ty: GgmlType::$ty,
            scalar: scalar::$f,
            #[cfg(target_arch = "x86_64")]
            avx2: avx2::$f,
        }
    };
}

/// Every weight type with an integer dot product.
const KERNELS: &[Kernel] = &[
    kernel!(Q4_0, q4_0_q8_0),
    kernel!(Q4_1, q4_1_q8_1),
    kernel!(Q5_0, q5_0_q8_0),
    kernel!(Q8_0, q8_0_q8_0),
    kernel!(Q4_K, q4_k_q8_k),
    kernel!(Q5_K, q5_k_q8_k),
    kernel!(Q6_K, q6_k_q8_k),
];

fn find(ty: GgmlType) -> Option<&'static Kernel> {
    KERNELS.iter().find(|k| k.ty == ty)
}

/// Whether weights of type `ty` have an integer dot product ([`vec_dot`]).
pub fn has_int_dot(ty: GgmlType) -> bool {
    find(ty).is_some()
}

/// Whether the AVX2 kernels may run on this CPU (detected once).
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_available() -> bool {
    use std::sync::OnceLock;
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    })
}

/// The fastest dot kernel for weights of type `ty` on this CPU, or `None` when the type
/// has none. Resolve it once per matmul rather than once per row.
pub fn kernel(ty: GgmlType) -> Option<VecDotFn> {
    let k = find(ty)?;
    #[cfg(target_arch = "x86_64")]
    if avx2_available() {
        return Some(k.avx2);
    }
    Some(k.scalar)
}

/// `w_row · x_row`: `w_row` holds whole blocks of `w_ty`, `x_row` the same number of
/// elements quantized to `activation_type(w_ty)` (see [`quantize_row`]).
///
/// # Panics
/// When `w_ty` has no integer dot ([`has_int_dot`]) or the lengths disagree.
pub fn vec_dot(w_ty: GgmlType, w_row: &[u8], x_row: &[u8]) -> f32 {
    let f = kernel(w_ty).unwrap_or_else(|| panic!("no integer dot for {}", w_ty.name()));
    f(w_row, x_row)
}

/// [`vec_dot`] through the scalar kernel, whatever the CPU: the oracle.
pub fn vec_dot_scalar(w_ty: GgmlType, w_row: &[u8], x_row: &[u8]) -> f32 {
    let k = find(w_ty).unwrap_or_else(|| panic!("no integer dot for {}", w_ty.name()));
    (k.scalar)(w_row, x_row)
}

/// [`vec_dot`] through the AVX2 kernel, or `None` when the CPU (or target) lacks it.
pub fn vec_dot_avx2(w_ty: GgmlType, w_row: &[u8], x_row: &[u8]) -> Option<f32> {
    let k = find(w_ty).unwrap_or_else(|| panic!("no integer dot for {}", w_ty.name()));
    #[cfg(target_arch = "x86_64")]
    if avx2_available() {
        return Some((k.avx2)(w_row, x_row));
    }
    let _ = (k, w_row, x_row);
    None
}

/// The number of blocks of a weight row of `w_bytes`-byte blocks, checking that the
/// activation row holds as many `x_bytes`-byte blocks.
fn n_blocks(w: &[u8], x: &[u8], w_bytes: usize, x_bytes: usize) -> usize {
    let nb = w.len() / w_bytes;
    assert!(
        w.len() == nb * w_bytes && x.len() == nb * x_bytes,
        "dot of {} weight bytes (blocks of {w_bytes}) with {} activation bytes (blocks of {x_bytes})",
        w.len(),
        x.len()
    );
    nb
}

/// The activation type weights of type `w` pair with in [`vec_dot`], or `None`.
pub fn int_dot_activation_type(w: GgmlType) -> Option<GgmlType> {
    find(w).map(|_| activation_type(w))
}

/// The type activations are quantized to before they meet weights of type `w` — the
/// reference engine's pairing (`vec_dot_type`), so results round as it rounds.
pub fn activation_type(w: GgmlType) -> GgmlType {
    use GgmlType::*;
    match w {
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | MXFP4 => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS => Q8_K,
        F16 => F16,
        BF16 => BF16,
        _ => F32,
    }
}

/// Quantizes one activation row to `ty` (Q8_0, Q8_1 or Q8_K) as the reference engine does
/// at run time, appending the block bytes to `out`.
pub fn quantize_row(ty: GgmlType, row: &[f32], out: &mut Vec<u8>) {
    match ty {
        GgmlType::Q8_0 | GgmlType::Q8_1 => quantize_activations(ty, row, out),
        _ => crate::quant::quantize(ty, row, out).expect("activation types are quantizable"),
    }
}

/// Quantizes activations to Q8_0 or Q8_1 the way the reference engine does at run time
/// on x86 (scale `127 / max|x|`, round half to even) — its reference quantizer rounds
/// ties away from zero, which would flip a few values by one step.
pub fn quantize_activations(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) {
    debug_assert!(matches!(ty, GgmlType::Q8_0 | GgmlType::Q8_1) && x.len() % 32 == 0);
    for block in x.chunks_exact(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let q: [i8; 32] = std::array::from_fn(|i| (block[i] * id).round_ties_even() as i8);
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        if ty == GgmlType::Q8_1 {
            let sum: i32 = q.iter().map(|&v| v as i32).sum();
            out.extend_from_slice(&half::f16::from_f32(d * sum as f32).to_le_bytes());
        }
        out.extend(q.iter().map(|&v| v as u8));
    }
}
