//! How each weight block format is unpacked into NEON registers, and how an unpacked
//! block meets one activation block — the same integer sums as `scalar.rs`.
//!
//! Every weight quant is unpacked to a signed byte with its offset already taken away
//! (Q4_0's 8, Q5_0's 16, Q6_K's 32), since `vmull_s8` multiplies signed by signed
//! exactly. Only the Q4_K/Q5_K mins and Q4_1's min stay separate terms, as in ggml.

use std::arch::aarch64::*;

use super::{dot16, Acc, Block};
use crate::quant::blocks::get_scale_min_k4;
use crate::quant::f16_bits_to_f32;

/// The f16 at `p` as f32.
#[inline(always)]
unsafe fn f16_at(p: *const u8) -> f32 {
    f16_bits_to_f32(p.cast::<u16>().read_unaligned())
}

#[inline(always)]
unsafe fn f32_at(p: *const u8) -> f32 {
    p.cast::<f32>().read_unaligned()
}

#[inline(always)]
unsafe fn load16(p: *const u8) -> int8x16_t {
    vld1q_s8(p.cast())
}

/// Eight little-endian i16 at `p` (loaded as bytes: `p` need not be 2-aligned).
#[inline(always)]
unsafe fn load_i16x8(p: *const u8) -> int16x8_t {
    vreinterpretq_s16_u8(vld1q_u8(p))
}

/// The 32 nibbles of the 16 bytes at `p`: low nibbles first, then high nibbles.
#[inline(always)]
unsafe fn nibbles32(p: *const u8) -> [uint8x16_t; 2] {
    let bytes = vld1q_u8(p);
    [vandq_u8(bytes, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(bytes)]
}

/// Byte `j` (0..32) is 0xFF where bit `j` of the little-endian u32 at `p` is set.
#[inline(always)]
unsafe fn bits32(p: *const u8) -> [uint8x16_t; 2] {
    let b: [u8; 4] = p.cast::<[u8; 4]>().read_unaligned();
    // Byte j holds source byte j / 8; testing it against 1 << (j % 8) picks bit j.
    let select = vcombine_u8(vcreate_u8(0x8040_2010_0804_0201), vcreate_u8(0x8040_2010_0804_0201));
    let spread = |lo: u8, hi: u8| vcombine_u8(vdup_n_u8(lo), vdup_n_u8(hi));
    [vtstq_u8(spread(b[0], b[1]), select), vtstq_u8(spread(b[2], b[3]), select)]
}

/// A block of 32 signed weight quants with its scale, against Q8_0 activations.
#[derive(Clone, Copy)]
pub struct Signed {
    q: [int8x16_t; 2],
    d: f32,
}

impl Signed {
    #[inline(always)]
    unsafe fn dot_q8_0(&self, x: *const u8, acc: &mut Acc) {
        let sum = dot16(vdupq_n_s32(0), self.q[0], load16(x.add(2)));
        let sum = dot16(sum, self.q[1], load16(x.add(18)));
        acc.fma(self.d * f16_at(x), sum);
    }
}

/// The `Block` items the signed formats share: all but their size and unpacking.
macro_rules! signed_against_q8_0 {
    () => {
        const X_BYTES: usize = 34;
        type Unpacked = Signed;

        #[inline(always)]
        unsafe fn dot(w: &Signed, x: *const u8, acc: &mut Acc) {
            w.dot_q8_0(x, acc)
        }
    };
}

pub struct Q4_0;
pub struct Q5_0;
pub struct Q8_0;
pub struct Q4_1;
pub struct Q4K;
pub struct Q5K;
pub struct Q6K;

impl Block for Q4_0 {
    const W_BYTES: usize = 18;
    signed_against_q8_0!();

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Signed {
        let q = nibbles32(w.add(2)).map(|n| vsubq_s8(vreinterpretq_s8_u8(n), vdupq_n_s8(8)));
        Signed { q, d: f16_at(w) }
    }
}

impl Block for Q5_0 {
    const W_BYTES: usize = 22;
    signed_against_q8_0!();

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Signed {
        let [lo, hi] = nibbles32(w.add(6));
        let [set_lo, set_hi] = bits32(w.add(2));
        // q - 16: a clear fifth bit leaves q | 0xF0, i.e. q - 16 as a signed byte; a set
        // one leaves the nibble.
        let minus16 = |n, set| vreinterpretq_s8_u8(vorrq_u8(n, vbicq_u8(vdupq_n_u8(0xF0), set)));
        Signed { q: [minus16(lo, set_lo), minus16(hi, set_hi)], d: f16_at(w) }
    }
}

impl Block for Q8_0 {
    const W_BYTES: usize = 34;
    signed_against_q8_0!();

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Signed {
        Signed { q: [load16(w.add(2)), load16(w.add(18))], d: f16_at(w) }
    }
}

/// A Q4_1 block: quants 0..16, scale and min; against Q8_1 (whose block sum carries the
/// min term).
#[derive(Clone, Copy)]
pub struct Unsigned {
    q: [int8x16_t; 2],
    d: f32,
    m: f32,
}

impl Block for Q4_1 {
    const W_BYTES: usize = 20;
    const X_BYTES: usize = 36;
    type Unpacked = Unsigned;

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Unsigned {
        let q = nibbles32(w.add(4)).map(|n| vreinterpretq_s8_u8(n));
        Unsigned { q, d: f16_at(w), m: f16_at(w.add(2)) }
    }

    #[inline(always)]
    unsafe fn dot(w: &Unsigned, x: *const u8, acc: &mut Acc) {
        let sum = dot16(vdupq_n_s32(0), w.q[0], load16(x.add(4)));
        let sum = dot16(sum, w.q[1], load16(x.add(20)));
        acc.fma(w.d * f16_at(x), sum);
        acc.add(w.m * f16_at(x.add(2)));
    }
}

/// A Q4_K/Q5_K/Q6_K super-block: sixteen runs of 16 signed quants, each with its scale,
/// and — for Q4_K/Q5_K — the min weights of the 16 Q8_K sums of 16 (`bsums`).
#[derive(Clone, Copy)]
pub struct Super {
    q: [int8x16_t; 16],
    scales: [i32; 16],
    /// i16 weights of the Q8_K `bsums`, or `None` for Q6_K (its offset is in `q`).
    mins: Option<[int16x8_t; 2]>,
    /// Multiplies `Σ scale · q · x`, and `Σ mins · bsums`.
    d: f32,
    dmin: f32,
}

impl Super {
    #[inline(always)]
    unsafe fn dot(&self, x: *const u8, acc: &mut Acc) {
        let y = x.add(4);
        let mut sum = vdupq_n_s32(0);
        for (r, (&q, &sc)) in self.q.iter().zip(&self.scales).enumerate() {
            // Per lane: four products of at most 32·128, times a scale below 128: far
            // inside i32 even summed over the sixteen runs.
            let run = dot16(vdupq_n_s32(0), q, load16(y.add(16 * r)));
            sum = vmlaq_n_s32(sum, run, sc);
        }
        let yd = f32_at(x);
        acc.fma(yd * self.d, sum);
        if let Some([m0, m1]) = self.mins {
            let (b0, b1) = (load_i16x8(x.add(260)), load_i16x8(x.add(276)));
            let m = vmlal_high_s16(vmull_s16(vget_low_s16(b0), vget_low_s16(m0)), b0, m0);
            let m = vmlal_high_s16(vmlal_s16(m, vget_low_s16(b1), vget_low_s16(m1)), b1, m1);
            acc.fma(yd * self.dmin, m);
        }
    }
}

/// Scales (per run of 16) and mins (per Q8_K sum of 16) of a Q4_K/Q5_K block, packed
/// 6-bit in `w[4..16]`: each 32-element sub-block's pair covers two of each.
#[inline(always)]
unsafe fn k4_scales(w: *const u8) -> ([i32; 16], [int16x8_t; 2]) {
    let packed: &[u8; 12] = &*w.add(4).cast::<[u8; 12]>();
    let mut scales = [0i32; 16];
    let mut mins = [0i16; 16];
    for j in 0..8 {
        let (d, m) = get_scale_min_k4(j, packed);
        scales[2 * j..2 * j + 2].fill(d as i32);
        mins[2 * j..2 * j + 2].fill(m as i16);
    }
    (scales, [vld1q_s16(mins.as_ptr()), vld1q_s16(mins.as_ptr().add(8))])
}

/// The quants of a Q4_K/Q5_K block: sub-blocks `2i` and `2i + 1` are the low and high
/// nibbles of `qs[32i..32i + 32]`; `high(r)` gives bit 4 of each quant of run `r`.
#[inline(always)]
unsafe fn k4_quants(qs: *const u8, high: impl Fn(usize) -> uint8x16_t) -> [int8x16_t; 16] {
    let m4 = vdupq_n_u8(0x0F);
    let mut q = [vdupq_n_s8(0); 16];
    for i in 0..4 {
        for h in 0..2 {
            let bytes = vld1q_u8(qs.add(32 * i + 16 * h));
            // Runs of 16: sub-block 2i is runs 4i, 4i + 1; sub-block 2i + 1 is 4i + 2, 4i + 3.
            let (lo, hi) = (4 * i + h, 4 * i + 2 + h);
            q[lo] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(bytes, m4), high(lo)));
            q[hi] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8::<4>(bytes), high(hi)));
        }
    }
    q
}

impl Block for Q4K {
    const W_BYTES: usize = 144;
    const X_BYTES: usize = 292;
    type Unpacked = Super;

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Super {
        let (scales, mins) = k4_scales(w);
        let q = k4_quants(w.add(16), |_| vdupq_n_u8(0));
        Super { q, scales, mins: Some(mins), d: f16_at(w), dmin: -f16_at(w.add(2)) }
    }

    #[inline(always)]
    unsafe fn dot(w: &Super, x: *const u8, acc: &mut Acc) {
        w.dot(x, acc)
    }
}

impl Block for Q5K {
    const W_BYTES: usize = 176;
    const X_BYTES: usize = 292;
    type Unpacked = Super;

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Super {
        let (scales, mins) = k4_scales(w);
        // Bit j of qh[l] is the fifth bit of element l of sub-block j (runs 2j, 2j + 1,
        // whose element l is qh[l] and qh[16 + l]).
        let qh = [vld1q_u8(w.add(16)), vld1q_u8(w.add(32))];
        let high = |r: usize| {
            let bit = vdupq_n_u8(1 << (r / 2));
            vandq_u8(vtstq_u8(qh[r % 2], bit), vdupq_n_u8(0x10))
        };
        let q = k4_quants(w.add(48), high);
        Super { q, scales, mins: Some(mins), d: f16_at(w), dmin: -f16_at(w.add(2)) }
    }

    #[inline(always)]
    unsafe fn dot(w: &Super, x: *const u8, acc: &mut Acc) {
        w.dot(x, acc)
    }
}

/// Bits `2k..2k + 2` of each byte of `qh`, moved to bits 4..6 (constant shifts only).
#[inline(always)]
unsafe fn q6_high(qh: uint8x16_t, k: usize) -> uint8x16_t {
    let moved = match k {
        0 => vshlq_n_u8::<4>(qh),
        1 => vshlq_n_u8::<2>(qh),
        2 => qh,
        _ => vshrq_n_u8::<2>(qh),
    };
    vandq_u8(moved, vdupq_n_u8(0x30))
}

impl Block for Q6K {
    const W_BYTES: usize = 210;
    const X_BYTES: usize = 292;
    type Unpacked = Super;

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Super {
        let m4 = vdupq_n_u8(0x0F);
        let mut q = [vdupq_n_s8(0); 16];
        // Each half of 128 elements uses 64 bytes of `ql` and 32 of `qh`; its four
        // quarters take the low nibbles of ql[0..32], of ql[32..64], then the high
        // nibbles, with bit pairs 0-1, 2-3, 4-5, 6-7 of qh[0..32].
        for half in 0..2 {
            for l in 0..2 {
                let ql0 = vld1q_u8(w.add(64 * half + 16 * l));
                let ql1 = vld1q_u8(w.add(64 * half + 32 + 16 * l));
                let qh = vld1q_u8(w.add(128 + 32 * half + 16 * l));
                let nibbles = [
                    vandq_u8(ql0, m4),
                    vandq_u8(ql1, m4),
                    vshrq_n_u8::<4>(ql0),
                    vshrq_n_u8::<4>(ql1),
                ];
                for (k, n) in nibbles.into_iter().enumerate() {
                    let v = vreinterpretq_s8_u8(vorrq_u8(n, q6_high(qh, k)));
                    q[8 * half + 2 * k + l] = vsubq_s8(v, vdupq_n_s8(32));
                }
            }
        }
        let sc = w.add(192);
        let scales = std::array::from_fn(|j| *sc.add(j) as i8 as i32);
        Super { q, scales, mins: None, d: f16_at(w.add(208)), dmin: 0.0 }
    }

    #[inline(always)]
    unsafe fn dot(w: &Super, x: *const u8, acc: &mut Acc) {
        w.dot(x, acc)
    }
}
