//! The legacy 32-element formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1: one f16 scale (and
//! min) per block. Quantizers follow ggml's `quantize_row_*_ref`, including their
//! truncating casts and `roundf` (half away from zero).

use half::f16;

use super::{DequantizeBlock, QuantizeBlock};
use crate::quant::blocks::*;

/// The value of largest magnitude, with its sign (the first one on ties), as ggml's
/// `amax`/`max` scan.
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// `max(|x|)` as ggml's `MAX(amax, fabsf(v))` loop.
fn absmax(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |amax, v| if amax > v.abs() { amax } else { v.abs() })
}

fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 {
        1.0 / d
    } else {
        0.0
    }
}

/// Splits 32 five-bit quants into Q5 nibbles and the 32-bit high-bit mask.
fn pack_q5(q: &[u8; 32]) -> ([u8; 4], [u8; 16]) {
    let mut qh = 0u32;
    let mut qs = [0u8; 16];
    for j in 0..16 {
        qs[j] = (q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4);
        qh |= ((q[j] as u32 & 0x10) >> 4) << j;
        qh |= ((q[j + 16] as u32 & 0x10) >> 4) << (j + 16);
    }
    (qh.to_le_bytes(), qs)
}

/// The 5-bit quant of element `j` of a Q5 block.
fn q5(qh: u32, qs: &[u8; 16], j: usize) -> i32 {
    let low = if j < 16 { qs[j] & 0x0F } else { qs[j - 16] >> 4 };
    let high = ((qh >> j) & 1) as u8;
    (low | (high << 4)) as i32
}

impl DequantizeBlock for BlockQ4_0 {
    fn dequantize(&self, y: &mut [f32]) {
        let d = self.d.to_f32();
        for (j, &q) in self.qs.iter().enumerate() {
            y[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
            y[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
}

impl QuantizeBlock for BlockQ4_0 {
    fn quantize(x: &[f32]) -> Self {
        let d = signed_absmax(&x[..QK4_0]) / -8.0;
        let id = inverse(d);
        let qs = std::array::from_fn(|j| {
            let q0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
            let q1 = ((x[j + 16] * id + 8.5) as i8).min(15) as u8;
            q0 | (q1 << 4)
        });
        BlockQ4_0 { d: f16::from_f32(d), qs }
    }
}

impl DequantizeBlock for BlockQ4_1 {
    fn dequantize(&self, y: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        for (j, &q) in self.qs.iter().enumerate() {
            y[j] = (q & 0x0F) as f32 * d + m;
            y[j + 16] = (q >> 4) as f32 * d + m;
        }
    }
}

impl QuantizeBlock for BlockQ4_1 {
    fn quantize(x: &[f32]) -> Self {
        let (min, max) = min_max(&x[..QK4_1]);
        let d = (max - min) / 15.0;
        let id = inverse(d);
        let qs = std::array::from_fn(|j| {
            let q0 = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
            let q1 = (((x[j + 16] - min) * id + 0.5) as i8).min(15) as u8;
            q0 | (q1 << 4)
        });
        BlockQ4_1 { d: f16::from_f32(d), m: f16::from_f32(min), qs }
    }
}

impl DequantizeBlock for BlockQ5_0 {
    fn dequantize(&self, y: &mut [f32]) {
        let d = self.d.to_f32();
        let qh = u32::from_le_bytes(self.qh);
        for (j, y) in y[..QK5_0].iter_mut().enumerate() {
            *y = (q5(qh, &self.qs, j) - 16) as f32 * d;
        }
    }
}

impl QuantizeBlock for BlockQ5_0 {
    fn quantize(x: &[f32]) -> Self {
        let d = signed_absmax(&x[..QK5_0]) / -16.0;
        let id = inverse(d);
        let q: [u8; 32] = std::array::from_fn(|j| ((x[j] * id + 16.5) as i8).min(31) as u8);
        let (qh, qs) = pack_q5(&q);
        BlockQ5_0 { d: f16::from_f32(d), qh, qs }
    }
}

impl DequantizeBlock for BlockQ5_1 {
    fn dequantize(&self, y: &mut [f32]) {
        let (d, m) = (self.d.to_f32(), self.m.to_f32());
        let qh = u32::from_le_bytes(self.qh);
        for (j, y) in y[..QK5_1].iter_mut().enumerate() {
            *y = q5(qh, &self.qs, j) as f32 * d + m;
        }
    }
}

impl QuantizeBlock for BlockQ5_1 {
    fn quantize(x: &[f32]) -> Self {
        let (min, max) = min_max(&x[..QK5_1]);
        let d = (max - min) / 31.0;
        let id = inverse(d);
        // ggml has no clamp here: (x - min) * id stays within 0..=31.
        let q: [u8; 32] = std::array::from_fn(|j| ((x[j] - min) * id + 0.5) as u8);
        let (qh, qs) = pack_q5(&q);
        BlockQ5_1 { d: f16::from_f32(d), m: f16::from_f32(min), qh, qs }
    }
}

impl DequantizeBlock for BlockQ8_0 {
    fn dequantize(&self, y: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, &q) in y.iter_mut().zip(&self.qs) {
            *y = q as f32 * d;
        }
    }
}

/// The Q8 scale of a block and its quants (`roundf(x / d)`).
fn quantize_q8(x: &[f32]) -> (f32, [i8; 32]) {
    let d = absmax(&x[..32]) / 127.0;
    let id = inverse(d);
    (d, std::array::from_fn(|j| (x[j] * id).round() as i8))
}

impl QuantizeBlock for BlockQ8_0 {
    fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8(x);
        BlockQ8_0 { d: f16::from_f32(d), qs }
    }
}

impl DequantizeBlock for BlockQ8_1 {
    fn dequantize(&self, y: &mut [f32]) {
        let d = self.d.to_f32();
        for (y, &q) in y.iter_mut().zip(&self.qs) {
            *y = q as f32 * d;
        }
    }
}

impl QuantizeBlock for BlockQ8_1 {
    fn quantize(x: &[f32]) -> Self {
        let (d, qs) = quantize_q8(x);
        let sum: i32 = qs.iter().map(|&q| q as i32).sum();
        // `s` uses the f32 scale, not the rounded f16 one, as ggml does.
        BlockQ8_1 { d: f16::from_f32(d), s: f16::from_f32(sum as f32 * d), qs }
    }
}
