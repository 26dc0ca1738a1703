//! Activation quantization for dot products with quantized weights, rounding as the
//! reference engine rounds at run time.

use crate::quant::GgmlType;

/// Quantizes activations to Q8_0 or Q8_1 the way the reference engine does at run time
/// on x86 (scale `127 / max|x|`, round half to even) — its reference quantizer rounds
/// ties away from zero, which would flip a few values by one step.
pub fn quantize_activations(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) {
    debug_assert!(matches!(ty, GgmlType::Q8_0 | GgmlType::Q8_1) && x.len() % 32 == 0);
    for block in x.chunks_exact(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let q: Vec<i8> = block.iter().map(|&v| (v * id).round_ties_even() as i8).collect();
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        if ty == GgmlType::Q8_1 {
            let sum: i32 = q.iter().map(|&v| v as i32).sum();
            out.extend_from_slice(&half::f16::from_f32(d * sum as f32).to_le_bytes());
        }
        out.extend(q.iter().map(|&v| v as u8));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
