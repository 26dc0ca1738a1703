//! The 4-bit lookup-table formats: IQ4_NL and IQ4_XS (non-linear levels
//! [`KVALUES_IQ4NL`]) and MXFP4 (FP4 E2M1 levels with a power-of-two E8M0 scale).
//! Dequantizers as ggml's `dequantize_row_iq4_nl/iq4_xs/mxfp4`; MXFP4 also quantizes
//! (`quantize_row_mxfp4_ref`).

use super::{DequantizeBlock, QuantizeBlock};
use crate::quant::blocks::*;

impl DequantizeBlock for BlockIQ4NL {
    fn dequantize(&self, y: &mut [f32]) {
        let d = self.d.to_f32();
        for (j, &q) in self.qs.iter().enumerate() {
            y[j] = d * KVALUES_IQ4NL[(q & 0xF) as usize] as f32;
            y[j + 16] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
        }
    }
}

impl DequantizeBlock for BlockIQ4XS {
    fn dequantize(&self, y: &mut [f32]) {
        let d = self.d.to_f32();
        // Sub-block ib: 16 bytes of qs, low nibbles first, as one IQ4_NL block.
        for (ib, qs) in self.qs.chunks_exact(16).enumerate() {
            let dl = d * self.scale(ib) as f32;
            let y = &mut y[32 * ib..32 * ib + 32];
            for (j, &q) in qs.iter().enumerate() {
                y[j] = dl * KVALUES_IQ4NL[(q & 0xF) as usize] as f32;
                y[j + 16] = dl * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
            }
        }
    }
}

impl DequantizeBlock for BlockMXFP4 {
    fn dequantize(&self, y: &mut [f32]) {
        let d = e8m0_to_f32_half(self.e);
        for (j, &q) in self.qs.iter().enumerate() {
            y[j] = KVALUES_MXFP4[(q & 0xF) as usize] as f32 * d;
            y[j + 16] = KVALUES_MXFP4[(q >> 4) as usize] as f32 * d;
        }
    }
}

/// The MXFP4 level nearest to `x` at half-scale `d` (the first one on ties).
fn best_index_mxfp4(x: f32, d: f32) -> u8 {
    let mut best = 0;
    let mut best_err = (KVALUES_MXFP4[0] as f32 * d - x).abs();
    for (i, &k) in KVALUES_MXFP4.iter().enumerate().skip(1) {
        let err = (k as f32 * d - x).abs();
        if err < best_err {
            best = i as u8;
            best_err = err;
        }
    }
    best
}

impl QuantizeBlock for BlockMXFP4 {
    fn quantize(x: &[f32]) -> Self {
        let x = &x[..QK_MXFP4];
        let amax = x.iter().fold(0f32, |a, v| if a < v.abs() { v.abs() } else { a });
        // The exponent puts amax in the top binade of the FP4 range (levels up to 6 = 1.5 * 4).
        // `as u8` saturates where ggml's cast would be undefined (|x| below 2^-125).
        let e = if amax > 0.0 { (amax.log2().floor() - 2.0 + 127.0) as u8 } else { 0 };
        let d = e8m0_to_f32_half(e);
        let qs = std::array::from_fn(|j| {
            best_index_mxfp4(x[j], d) | (best_index_mxfp4(x[j + 16], d) << 4)
        });
        BlockMXFP4 { e, qs }
    }
}
