//! Reference quantizers of the K-quants (ggml's `quantize_row_q*_K_ref`, no importance
//! matrix): find per-sub-block scales (and mins) with the searches of `search.rs`,
//! quantize those to 4, 6 or 8 bits against one f16 super-scale, then requantize every
//! element against the scale it will really be decoded with.

use half::f16;

use super::search::{
    make_q3_quants, make_qkx2_quants, make_qx_quants, nearest_int, Qkx2, GROUP_MAX_EPS,
};
use super::QuantizeBlock;
use crate::quant::blocks::*;

/// Packs 2-bit quants (`0..=3`): element 128n + 32j + l goes to bits 2j of qs[32n + l].
fn pack_2bit(l: &[u8; QK_K]) -> [u8; QK_K / 4] {
    let mut qs = [0u8; QK_K / 4];
    for n in 0..2 {
        for i in 0..32 {
            let at = 128 * n + i;
            qs[32 * n + i] = l[at] | (l[at + 32] << 2) | (l[at + 64] << 4) | (l[at + 96] << 6);
        }
    }
    qs
}

/// Weights of Q4_K/Q5_K sub-block fits: `rms(x) + |x_i|`.
fn qkx2_weights(x: &[f32]) -> [f32; 32] {
    let sum_x2: f32 = x.iter().fold(0.0, |s, v| s + v * v);
    let av_x = (sum_x2 / 32.0).sqrt();
    std::array::from_fn(|i| av_x + x[i].abs())
}

impl QuantizeBlock for BlockQ2K {
    fn quantize(x: &[f32]) -> Self {
        const Q4SCALE: f32 = 15.0;
        let p = Qkx2 { nmax: 3, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };
        let mut l = [0u8; QK_K];
        let mut scales = [0f32; 16];
        let mut mins = [0f32; 16];
        for j in 0..16 {
            let xs = &x[16 * j..16 * j + 16];
            let weights: [f32; 16] = std::array::from_fn(|i| xs[i].abs());
            (scales[j], mins[j]) = make_qkx2_quants(&p, xs, &weights, &mut l[16 * j..16 * j + 16]);
        }
        let max_scale = scales.iter().fold(0f32, |m, &s| if s > m { s } else { m });
        let max_min = mins.iter().fold(0f32, |m, &s| if s > m { s } else { m });

        let mut sc = [0u8; 16];
        let mut d = f16::ZERO;
        if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for (sc, &s) in sc.iter_mut().zip(&scales) {
                *sc = nearest_int(iscale * s) as u8;
            }
            d = f16::from_f32(max_scale / Q4SCALE);
        }
        let mut dmin = f16::ZERO;
        if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for (sc, &m) in sc.iter_mut().zip(&mins) {
                *sc |= (nearest_int(iscale * m) << 4) as u8;
            }
            dmin = f16::from_f32(max_min / Q4SCALE);
        }
        for (j, &s) in sc.iter().enumerate() {
            let dl = d.to_f32() * (s & 0xF) as f32;
            if dl == 0.0 {
                continue;
            }
            let ml = dmin.to_f32() * (s >> 4) as f32;
            for i in 16 * j..16 * j + 16 {
                l[i] = nearest_int((x[i] + ml) / dl).clamp(0, 3) as u8;
            }
        }
        BlockQ2K { scales: sc, qs: pack_2bit(&l), d, dmin }
    }
}

impl QuantizeBlock for BlockQ3K {
    fn quantize(x: &[f32]) -> Self {
        let mut l = [0i8; QK_K];
        let mut scales = [0f32; 16];
        let (mut amax, mut max_scale) = (0f32, 0f32);
        for j in 0..16 {
            scales[j] = make_q3_quants(4, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
            if scales[j].abs() > amax {
                amax = scales[j].abs();
                max_scale = scales[j];
            }
        }

        let mut packed = [0u8; 12];
        let mut d = f16::ZERO;
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (j, &s) in scales.iter().enumerate() {
                // ggml stores nearest_int into an int8_t before clamping.
                let q = (nearest_int(iscale * s) as i8).clamp(-32, 31) + 32;
                let q = q as u8;
                if j < 8 {
                    packed[j] = q & 0xF;
                } else {
                    packed[j - 8] |= (q & 0xF) << 4;
                }
                packed[8 + j % 4] |= (q >> 4) << (2 * (j / 4));
            }
            d = f16::from_f32(1.0 / iscale);
        }
        let block = BlockQ3K { hmask: [0; 32], qs: [0; 64], scales: packed, d };
        for (j, &sc) in block.scales_i8().iter().enumerate() {
            let dl = d.to_f32() * sc as f32;
            if dl == 0.0 {
                continue;
            }
            for i in 16 * j..16 * j + 16 {
                l[i] = (nearest_int(x[i] / dl).clamp(-4, 3) + 4) as i8;
            }
        }

        // The third bit of element i goes to bit i / 32 of hmask[i % 32].
        let mut hmask = [0u8; QK_K / 8];
        let mut low = [0u8; QK_K];
        for i in 0..QK_K {
            let mut q = l[i] as u8;
            if q > 3 {
                hmask[i % 32] |= 1 << (i / 32);
                q -= 4;
            }
            low[i] = q;
        }
        BlockQ3K { hmask, qs: pack_2bit(&low), ..block }
    }
}

/// Scales and mins of the 8 sub-blocks of a Q4_K/Q5_K block, quantized to 6 bits against
/// the f16 super-scales `d` and `dmin`; then every element requantized to `0..=nmax`.
struct K4Scales {
    d: f16,
    dmin: f16,
    scales: [u8; K_SCALE_SIZE],
    l: [u8; QK_K],
}

fn quantize_k4(x: &[f32], p: &Qkx2) -> K4Scales {
    let mut l = [0u8; QK_K];
    let mut scales = [0f32; 8];
    let mut mins = [0f32; 8];
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let weights = qkx2_weights(xs);
        (scales[j], mins[j]) = make_qkx2_quants(p, xs, &weights, &mut l[32 * j..32 * j + 32]);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    // ggml stores nearest_int into a uint8_t, then takes MIN(63, ..).
    let ls = scales.map(|s| (nearest_int(inv_scale * s) as u8).min(63));
    let lm = mins.map(|m| (nearest_int(inv_min * m) as u8).min(63));
    let packed = pack_scale_min_k4(&ls, &lm);
    let d = f16::from_f32(max_scale / 63.0);
    let dmin = f16::from_f32(max_min / 63.0);

    for j in 0..8 {
        let (sc, m) = get_scale_min_k4(j, &packed);
        let dl = d.to_f32() * sc as f32;
        if dl == 0.0 {
            continue;
        }
        let dm = dmin.to_f32() * m as f32;
        for i in 32 * j..32 * j + 32 {
            l[i] = nearest_int((x[i] + dm) / dl).clamp(0, p.nmax) as u8;
        }
    }
    K4Scales { d, dmin, scales: packed, l }
}

impl QuantizeBlock for BlockQ4K {
    fn quantize(x: &[f32]) -> Self {
        let p = Qkx2 { nmax: 15, rmin: -1.0, rdelta: 0.1, nstep: 20, use_mad: false };
        let k = quantize_k4(&x[..QK_K], &p);
        let mut qs = [0u8; QK_K / 2];
        for (c, q) in qs.chunks_exact_mut(32).enumerate() {
            for (i, q) in q.iter_mut().enumerate() {
                *q = k.l[64 * c + i] | (k.l[64 * c + 32 + i] << 4);
            }
        }
        BlockQ4K { d: k.d, dmin: k.dmin, scales: k.scales, qs }
    }
}

impl QuantizeBlock for BlockQ5K {
    fn quantize(x: &[f32]) -> Self {
        let p = Qkx2 { nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: false };
        let k = quantize_k4(&x[..QK_K], &p);
        let mut qs = [0u8; QK_K / 2];
        let mut qh = [0u8; QK_K / 8];
        for (c, q) in qs.chunks_exact_mut(32).enumerate() {
            for (i, q) in q.iter_mut().enumerate() {
                let (l0, l1) = (k.l[64 * c + i], k.l[64 * c + 32 + i]);
                qh[i] |= ((l0 >> 4) << (2 * c)) | ((l1 >> 4) << (2 * c + 1));
                *q = (l0 & 0xF) | ((l1 & 0xF) << 4);
            }
        }
        BlockQ5K { d: k.d, dmin: k.dmin, scales: k.scales, qh, qs }
    }
}

impl QuantizeBlock for BlockQ6K {
    fn quantize(x: &[f32]) -> Self {
        let mut l = [0u8; QK_K];
        let mut scales = [0f32; 16];
        let (mut max_abs_scale, mut max_scale) = (0f32, 0f32);
        for j in 0..16 {
            scales[j] = make_qx_quants(32, &x[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
            if scales[j].abs() > max_abs_scale {
                max_abs_scale = scales[j].abs();
                max_scale = scales[j];
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            return BlockQ6K { ql: [0; 128], qh: [0; 64], scales: [0; 16], d: f16::ZERO };
        }

        let iscale = -128.0 / max_scale;
        let d = f16::from_f32(1.0 / iscale);
        let sc = scales.map(|s| nearest_int(iscale * s).min(127) as i8);
        for (j, &s) in sc.iter().enumerate() {
            let dl = d.to_f32() * s as f32;
            if dl == 0.0 {
                continue;
            }
            for i in 16 * j..16 * j + 16 {
                l[i] = (nearest_int(x[i] / dl).clamp(-32, 31) + 32) as u8;
            }
        }

        // Half n, lane i: elements 128n + i + 32k (k = 0..4) share ql and qh bytes.
        let mut ql = [0u8; QK_K / 2];
        let mut qh = [0u8; QK_K / 4];
        for n in 0..2 {
            for i in 0..32 {
                let q: [u8; 4] = std::array::from_fn(|k| l[128 * n + i + 32 * k]);
                ql[64 * n + i] = (q[0] & 0xF) | ((q[2] & 0xF) << 4);
                ql[64 * n + 32 + i] = (q[1] & 0xF) | ((q[3] & 0xF) << 4);
                qh[32 * n + i] =
                    (q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6);
            }
        }
        BlockQ6K { ql, qh, scales: sc, d }
    }
}

impl QuantizeBlock for BlockQ8K {
    fn quantize(x: &[f32]) -> Self {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in &x[..QK_K] {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            return BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; QK_K / 16] };
        }
        let iscale = -127.0 / max;
        let qs: [i8; QK_K] = std::array::from_fn(|j| nearest_int(iscale * x[j]).min(127) as i8);
        let bsums =
            std::array::from_fn(|j| qs[16 * j..16 * j + 16].iter().map(|&q| q as i16).sum());
        BlockQ8K { d: 1.0 / iscale, qs, bsums }
    }
}
