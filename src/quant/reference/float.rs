//! F32, F16 and BF16 rows: element-wise little-endian conversions (ggml's
//! `ggml_fp16_to_fp32_row`, `ggml_fp32_to_bf16_row_ref` and friends).

use half::f16;

pub(super) fn f32_to_f32(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(4).zip(dst) {
        *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

pub(super) fn f32_from_f32(src: &[f32], dst: &mut Vec<u8>) {
    dst.extend(src.iter().flat_map(|x| x.to_le_bytes()));
}

pub(super) fn f16_to_f32(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(2).zip(dst) {
        *y = f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
    }
}

/// Round to nearest even, overflow to infinity (as `GGML_FP32_TO_FP16`).
pub(super) fn f16_from_f32(src: &[f32], dst: &mut Vec<u8>) {
    dst.extend(src.iter().flat_map(|&x| f16::from_f32(x).to_bits().to_le_bytes()));
}

/// BF16 is the high half of an f32: widening is a shift.
pub(super) fn bf16_to_f32(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(2).zip(dst) {
        *y = f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16);
    }
}

/// Round to nearest even; NaNs stay NaN with the quiet bit set (as ggml's
/// `ggml_compute_fp32_to_bf16`).
pub(super) fn bf16_from_f32(src: &[f32], dst: &mut Vec<u8>) {
    dst.extend(src.iter().flat_map(|&x| bf16_bits(x).to_le_bytes()));
}

fn bf16_bits(x: f32) -> u16 {
    let u = x.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    let rounded = u as u64 + 0x7fff + ((u >> 16) & 1) as u64;
    (rounded >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    #[test]
    fn bf16_rounding_agrees_with_half() {
        for x in [0.0f32, -0.0, 1.0, 1.0039062, 1.0117188, -3.3e38, 3.4e38, 1e-40, f32::MAX] {
            assert_eq!(bf16_bits(x), bf16::from_f32(x).to_bits(), "{x}");
        }
        assert!(f32::from_bits((bf16_bits(f32::NAN) as u32) << 16).is_nan());
    }
}
