//! Dequantizers of the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K (ggml's
//! `dequantize_row_q*_K`). Each 256-element super-block is walked in halves of 128
//! (Q2/Q3/Q6) or quarters of 64 (Q4/Q5), the order its bits are packed in.

use super::DequantizeBlock;
use crate::quant::blocks::*;

impl DequantizeBlock for BlockQ2K {
    fn dequantize(&self, y: &mut [f32]) {
        let (d, min) = (self.d.to_f32(), self.dmin.to_f32());
        // Element 128*n + 32*j + l: bits 2j..2j+2 of qs[32n + l], sub-block 8n + 2j + l/16.
        for n in 0..2 {
            let q = &self.qs[32 * n..32 * n + 32];
            for j in 0..4 {
                let shift = 2 * j;
                for half in 0..2 {
                    let sc = self.scales[8 * n + 2 * j + half];
                    let dl = d * (sc & 0xF) as f32;
                    let ml = min * (sc >> 4) as f32;
                    let at = 128 * n + 32 * j + 16 * half;
                    for l in 0..16 {
                        let v = (q[16 * half + l] >> shift) & 3;
                        y[at + l] = dl * v as f32 - ml;
                    }
                }
            }
        }
    }
}

impl DequantizeBlock for BlockQ3K {
    fn dequantize(&self, y: &mut [f32]) {
        let d_all = self.d.to_f32();
        let scales = self.scales_i8();
        // As Q2_K, plus the third bit: bit 4n + j of hmask[l]; clear means "minus 4".
        for n in 0..2 {
            let q = &self.qs[32 * n..32 * n + 32];
            for j in 0..4 {
                let shift = 2 * j;
                let m = 1u8 << (4 * n + j);
                for half in 0..2 {
                    let dl = d_all * scales[8 * n + 2 * j + half] as f32;
                    let at = 128 * n + 32 * j + 16 * half;
                    for l in 0..16 {
                        let i = 16 * half + l;
                        let low = ((q[i] >> shift) & 3) as i32;
                        let v = low - if self.hmask[i] & m != 0 { 0 } else { 4 };
                        y[at + l] = dl * v as f32;
                    }
                }
            }
        }
    }
}

impl DequantizeBlock for BlockQ4K {
    fn dequantize(&self, y: &mut [f32]) {
        let (d, min) = (self.d.to_f32(), self.dmin.to_f32());
        // Quarter k: sub-block 2k in the low nibbles of qs[32k..], 2k+1 in the high ones.
        for k in 0..4 {
            let q = &self.qs[32 * k..32 * k + 32];
            let (sc0, m0) = get_scale_min_k4(2 * k, &self.scales);
            let (sc1, m1) = get_scale_min_k4(2 * k + 1, &self.scales);
            let (d0, min0) = (d * sc0 as f32, min * m0 as f32);
            let (d1, min1) = (d * sc1 as f32, min * m1 as f32);
            for l in 0..32 {
                y[64 * k + l] = d0 * (q[l] & 0xF) as f32 - min0;
                y[64 * k + 32 + l] = d1 * (q[l] >> 4) as f32 - min1;
            }
        }
    }
}

impl DequantizeBlock for BlockQ5K {
    fn dequantize(&self, y: &mut [f32]) {
        let (d, min) = (self.d.to_f32(), self.dmin.to_f32());
        // As Q4_K, plus the fifth bit: bit 2k of qh[l] for the low nibble, 2k+1 for the high.
        for k in 0..4 {
            let q = &self.qs[32 * k..32 * k + 32];
            let (u0, u1) = (1u8 << (2 * k), 2u8 << (2 * k));
            let (sc0, m0) = get_scale_min_k4(2 * k, &self.scales);
            let (sc1, m1) = get_scale_min_k4(2 * k + 1, &self.scales);
            let (d0, min0) = (d * sc0 as f32, min * m0 as f32);
            let (d1, min1) = (d * sc1 as f32, min * m1 as f32);
            for l in 0..32 {
                let h0 = if self.qh[l] & u0 != 0 { 16 } else { 0 };
                let h1 = if self.qh[l] & u1 != 0 { 16 } else { 0 };
                y[64 * k + l] = d0 * ((q[l] & 0xF) + h0) as f32 - min0;
                y[64 * k + 32 + l] = d1 * ((q[l] >> 4) + h1) as f32 - min1;
            }
        }
    }
}

impl DequantizeBlock for BlockQ6K {
    fn dequantize(&self, y: &mut [f32]) {
        let d = self.d.to_f32();
        // Half n, lane l: four elements 32 apart share ql[64n + l], ql[64n + 32 + l] and
        // qh[32n + l]; scales[8n + l/16 + 2i] is the scale of the i-th of them.
        for n in 0..2 {
            let ql = &self.ql[64 * n..64 * n + 64];
            let qh = &self.qh[32 * n..32 * n + 32];
            let sc = &self.scales[8 * n..8 * n + 8];
            for l in 0..32 {
                let is = l / 16;
                let q = [
                    (ql[l] & 0xF) | ((qh[l] & 3) << 4),
                    (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
                    (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
                    (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
                ];
                for (i, &q) in q.iter().enumerate() {
                    let v = q as i32 - 32;
                    y[128 * n + 32 * i + l] = d * sc[is + 2 * i] as f32 * v as f32;
                }
            }
        }
    }
}

impl DequantizeBlock for BlockQ8K {
    fn dequantize(&self, y: &mut [f32]) {
        for (y, &q) in y.iter_mut().zip(&self.qs) {
            *y = self.d * q as f32;
        }
    }
}
