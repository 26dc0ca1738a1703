//! How each weight block format is unpacked into AVX2 registers, and how an unpacked
//! block meets one activation block — the same integer sums as `scalar.rs`.
//!
//! Q8_0 weights (signed) use `|w| · sign(w)·x`: exact unless an activation is -128
//! under a negative weight, and run-time Q8_0 activations stay within ±127. Q4_0 and
//! Q5_0 keep their quants unsigned and take the offset off as a min, as Q4_1 does. K-quant weights stay unsigned (≤ 63): pairs of products stay below
//! 2·63·128 < 2¹⁵ even with Q8_K's -128, and the sub-block scales ride on `madd`.

use std::arch::x86_64::*;

use super::{Acc, Block, Isa, XMeta};

/// The f16 at `p` as f32, by F16C.
#[inline(always)]
unsafe fn f16_at(p: *const u8) -> f32 {
    let bits = p.cast::<u16>().read_unaligned();
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

#[inline(always)]
unsafe fn load32(p: *const u8) -> __m256i {
    _mm256_loadu_si256(p.cast())
}

/// The 32 nibbles of the 16 bytes at `p`: low nibbles in bytes 0..16, high in 16..32.
#[inline(always)]
unsafe fn nibbles32(p: *const u8) -> __m256i {
    let lo = _mm_loadu_si128(p.cast());
    let both = _mm256_set_m128i(_mm_srli_epi16(lo, 4), lo);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// Byte `j` is 0xFF where bit `j` of the little-endian u32 at `p` is set.
#[inline(always)]
unsafe fn bits32(p: *const u8) -> __m256i {
    let v = p.cast::<u32>().read_unaligned() as i32;
    let shuffle =
        _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0);
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(v), shuffle);
    let others = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
    _mm256_cmpeq_epi8(_mm256_or_si256(bytes, others), _mm256_set1_epi64x(-1))
}

/// A block of 32 signed weight quants with its scale, against Q8_0 activations.
#[derive(Clone, Copy)]
pub struct Signed {
    q: __m256i,
    abs: __m256i,
    d: f32,
}

impl Signed {
    #[inline(always)]
    unsafe fn new(q: __m256i, d: f32) -> Signed {
        Signed { q, abs: _mm256_sign_epi8(q, q), d }
    }

    /// `Σ w·x` of the Q8_0 block at `x`, as eight i32 lanes.
    #[inline(always)]
    unsafe fn int_sum<I: Isa>(&self, x: *const u8) -> __m256i {
        let s = _mm256_sign_epi8(load32(x.add(2)), self.q);
        I::dot_u8i8(_mm256_setzero_si256(), self.abs, s)
    }

    #[inline(always)]
    unsafe fn dot_q8_0<I: Isa>(&self, x: *const u8, m: XMeta, acc: &mut Acc) {
        acc.fma(self.d * m.d, _mm256_cvtepi32_ps(self.int_sum::<I>(x)));
    }
}

/// The `Block` items the signed formats share: all but their size and unpacking.
macro_rules! signed_against_q8_0 {
    () => {
        const X_BYTES: usize = 34;
        type Unpacked = Signed;
        const GROUPED: bool = true;

        #[inline(always)]
        unsafe fn int_sum<I: Isa>(w: &Signed, x: *const u8) -> __m256i {
            w.int_sum::<I>(x)
        }

        fn scale_min(w: &Signed) -> (f32, f32) {
            (w.d, 0.0)
        }

        #[inline(always)]
        unsafe fn dot<I: Isa>(w: &Signed, x: *const u8, m: XMeta, acc: &mut Acc) {
            w.dot_q8_0::<I>(x, m, acc)
        }
    };
}

/// A block of 32 unsigned weight quants with scale `d` and min `m` (Q4_1's own; the
/// offset of Q4_0 and Q5_0 as `-8·d`, `-16·d`): `Σ w·x = d·Σ q·x + m·Σ x`, with the
/// activation block's `Σ x` (times its scale) from its `XMeta`. Unsigned quants below
/// 32 meet the signed activations directly, with no sign trick per activation row.
#[derive(Clone, Copy)]
pub struct Unsigned {
    pub(super) q: __m256i,
    pub(super) d: f32,
    pub(super) m: f32,
}

/// The `Block` items of the unsigned formats against activation blocks of `$x_bytes`
/// whose quants start at byte `$x_quants`.
macro_rules! unsigned_against {
    ($x_bytes:expr, $x_quants:expr) => {
        const X_BYTES: usize = $x_bytes;
        type Unpacked = Unsigned;
        const GROUPED: bool = true;
        const HAS_MIN: bool = true;

        #[inline(always)]
        unsafe fn dot<I: Isa>(w: &Unsigned, x: *const u8, m: XMeta, acc: &mut Acc) {
            acc.fma(w.d * m.d, _mm256_cvtepi32_ps(Self::int_sum::<I>(w, x)));
            acc.add(w.m * m.s);
        }

        #[inline(always)]
        unsafe fn int_sum<I: Isa>(w: &Unsigned, x: *const u8) -> __m256i {
            I::dot_u8i8(_mm256_setzero_si256(), w.q, load32(x.add($x_quants)))
        }

        fn scale_min(w: &Unsigned) -> (f32, f32) {
            (w.d, w.m)
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
    unsigned_against!(34, 2);

    /// The quants stay unsigned (0..16); the offset of 8 goes as a min of -8·d.
    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Unsigned {
        let d = f16_at(w);
        Unsigned { q: nibbles32(w.add(2)), d, m: -8.0 * d }
    }
}

impl Block for Q5_0 {
    const W_BYTES: usize = 22;
    unsigned_against!(34, 2);

    /// The quants stay unsigned (0..32), the fifth bit as 16; the offset as -16·d.
    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Unsigned {
        let high = _mm256_and_si256(bits32(w.add(2)), _mm256_set1_epi8(0x10));
        let d = f16_at(w);
        Unsigned { q: _mm256_or_si256(nibbles32(w.add(6)), high), d, m: -16.0 * d }
    }
}

/// Q8_0 weights for VNNI only: the quants biased to unsigned (`q + 128`, one XOR per
/// block) and the bias taken off as a min of -128·d, so that each activation row costs
/// one `vpdpbusd` and no sign trick. With AVX2's `maddubs` the pair sums of such bytes
/// would saturate i16: the AVX2 kernel uses [`Q8_0`].
pub struct Q8_0Vnni;

impl Block for Q8_0Vnni {
    const W_BYTES: usize = 34;
    unsigned_against!(34, 2);

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Unsigned {
        let d = f16_at(w);
        let q = _mm256_xor_si256(load32(w.add(2)), _mm256_set1_epi8(0x80u8 as i8));
        Unsigned { q, d, m: -128.0 * d }
    }
}

impl Block for Q8_0 {
    const W_BYTES: usize = 34;
    signed_against_q8_0!();

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Signed {
        Signed::new(load32(w.add(2)), f16_at(w))
    }
}

impl Block for Q4_1 {
    const W_BYTES: usize = 20;
    unsigned_against!(36, 4);

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Unsigned {
        Unsigned { q: nibbles32(w.add(4)), d: f16_at(w), m: f16_at(w.add(2)) }
    }
}

/// A Q4_K/Q5_K/Q6_K super-block: eight runs of 32 unsigned quants, the scale of each
/// 16 or 32 elements as i16 lanes, and the min (or offset) weights of the sums of 16.
#[derive(Clone, Copy)]
pub struct Super {
    pub(super) q: [__m256i; 8],
    /// Per run: the i16 scale of its two halves (the same twice for K4/K5).
    scales: [__m256i; 8],
    /// i16 weights of the 16 Q8_K sums of 16 (`bsums`).
    mins: __m256i,
    /// Multiplies `Σ scale · q · x`, and `Σ mins · bsums`.
    d: f32,
    dmin: f32,
}

impl Super {
    #[inline(always)]
    unsafe fn dot<I: Isa>(&self, x: *const u8, m: XMeta, acc: &mut Acc) {
        let mut sum = _mm256_setzero_si256();
        for (r, (&q, &sc)) in self.q.iter().zip(&self.scales).enumerate() {
            let p = _mm256_maddubs_epi16(q, load32(x.add(4 + 32 * r)));
            sum = I::dot_i16(sum, p, sc);
        }
        let yd = m.d;
        acc.fma(yd * self.d, _mm256_cvtepi32_ps(sum));
        let bsums = load32(x.add(260));
        let mins = I::dot_i16(_mm256_setzero_si256(), bsums, self.mins);
        acc.fma(yd * self.dmin, _mm256_cvtepi32_ps(mins));
    }
}

/// The shuffle control that copies i16 word `i` of each 128-bit lane into every word
/// of that lane.
#[inline(always)]
unsafe fn word_control(lo: usize, hi: usize) -> __m256i {
    let word = |i: usize| (((2 * i + 1) << 8) | (2 * i)) as i16;
    _mm256_set_m128i(_mm_set1_epi16(word(hi)), _mm_set1_epi16(word(lo)))
}

/// Scales and mins of a Q4_K/Q5_K block (packed 6-bit in `w[4..16]`, see
/// `get_scale_min_k4`), unpacked with word arithmetic instead of a loop: as u32 words
/// `a, b, c` of the 12 bytes, scales 0..4 are `a & 63` bytewise, scales 4..8 the low
/// nibbles of `c` with the top two bits of `a` above them; mins likewise from `b` and
/// the high nibbles of `c`.
#[inline(always)]
unsafe fn k4_scales(w: *const u8) -> ([__m256i; 8], __m256i) {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let word = |i: usize| w.add(4 + 4 * i).cast::<u32>().read_unaligned();
    let (a, b, c) = (word(0), word(1), word(2));
    let scales_hi = (c & LOW4) | (((a >> 6) & LOW2) << 4);
    let mins_hi = ((c >> 4) & LOW4) | (((b >> 6) & LOW2) << 4);
    let packed =
        _mm_set_epi32(mins_hi as i32, (b & LOW6) as i32, scales_hi as i32, (a & LOW6) as i32);
    // Scales as eight i16 words in both lanes; each run's scale spread over a vector.
    let words = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(packed));
    let mut scales = [_mm256_setzero_si256(); 8];
    for (j, s) in scales.iter_mut().enumerate() {
        *s = _mm256_shuffle_epi8(words, word_control(j, j));
    }
    // Each min twice, for the two Q8_K sums of 16 of its run.
    let mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(packed, packed));
    (scales, mins)
}

impl Block for Q4K {
    const W_BYTES: usize = 144;
    const X_BYTES: usize = 292;
    type Unpacked = Super;

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Super {
        let m4 = _mm256_set1_epi8(0x0F);
        let (scales, mins) = k4_scales(w);
        let mut q = [_mm256_setzero_si256(); 8];
        for j in 0..4 {
            let bytes = load32(w.add(16 + 32 * j));
            q[2 * j] = _mm256_and_si256(bytes, m4);
            q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4);
        }
        Super { q, scales, mins, d: f16_at(w), dmin: -f16_at(w.add(2)) }
    }

    #[inline(always)]
    unsafe fn dot<I: Isa>(w: &Super, x: *const u8, m: XMeta, acc: &mut Acc) {
        w.dot::<I>(x, m, acc)
    }
}

impl Block for Q5K {
    const W_BYTES: usize = 176;
    const X_BYTES: usize = 292;
    type Unpacked = Super;

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Super {
        let (m4, m1) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(1));
        let (scales, mins) = k4_scales(w);
        // Bit j of qh[l] is the fifth bit of element l of run j: two runs per shift.
        let mut hbits = load32(w.add(16));
        let mut q = [_mm256_setzero_si256(); 8];
        for j in 0..4 {
            let bytes = load32(w.add(48 + 32 * j));
            let hl = _mm256_slli_epi16(_mm256_and_si256(hbits, m1), 4);
            let hh = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 1), m1), 4);
            hbits = _mm256_srli_epi16(hbits, 2);
            q[2 * j] = _mm256_or_si256(_mm256_and_si256(bytes, m4), hl);
            q[2 * j + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4), hh);
        }
        Super { q, scales, mins, d: f16_at(w), dmin: -f16_at(w.add(2)) }
    }

    #[inline(always)]
    unsafe fn dot<I: Isa>(w: &Super, x: *const u8, m: XMeta, acc: &mut Acc) {
        w.dot::<I>(x, m, acc)
    }
}

/// Bits `shift..shift + 2` of each byte of `qh`, moved to bits 4..6.
#[inline(always)]
unsafe fn q6_high(qh: __m256i, shift: i32) -> __m256i {
    let bits =
        _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift)), _mm256_set1_epi8(3));
    _mm256_slli_epi16(bits, 4)
}

impl Block for Q6K {
    const W_BYTES: usize = 210;
    const X_BYTES: usize = 292;
    type Unpacked = Super;

    #[inline(always)]
    unsafe fn unpack(w: *const u8) -> Super {
        let m4 = _mm256_set1_epi8(0x0F);
        let sc = w.add(192);
        // The 16 i8 scales as i16 words: 0..8 in both lanes of one vector, 8..16 of another;
        // run r takes scale 2r in its low lane and 2r + 1 in its high one.
        let words = [0, 8].map(|i| {
            _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64(sc.add(i).cast())))
        });
        let mut q = [_mm256_setzero_si256(); 8];
        let mut scales = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let (ql0, ql1) = (load32(w.add(64 * h)), load32(w.add(64 * h + 32)));
            let qh = load32(w.add(128 + 32 * h));
            let runs = [
                _mm256_or_si256(_mm256_and_si256(ql0, m4), q6_high(qh, 0)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4), q6_high(qh, 2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), q6_high(qh, 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), q6_high(qh, 6)),
            ];
            for (k, run) in runs.into_iter().enumerate() {
                q[4 * h + k] = run;
                scales[4 * h + k] = _mm256_shuffle_epi8(words[h], word_control(2 * k, 2 * k + 1));
            }
        }
        // The quants stay unsigned (0..64): Σ (q - 32)·x = Σ q·x - 32 · Σ x, with Σ x from
        // the sums of 16, each weighted by its scale.
        let mins = _mm256_cvtepi8_epi16(_mm_loadu_si128(sc.cast()));
        let d = f16_at(w.add(208));
        Super { q, scales, mins, d, dmin: -32.0 * d }
    }

    #[inline(always)]
    unsafe fn dot<I: Isa>(w: &Super, x: *const u8, m: XMeta, acc: &mut Acc) {
        w.dot::<I>(x, m, acc)
    }
}
