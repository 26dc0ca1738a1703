//! The `#[repr(C)]` block layouts of the quantized formats, field for field as ggml's
//! `ggml-common.h`, with their size asserts, the lookup tables they index, and byte I/O.
//!
//! Blocks are read from and written to little-endian byte slices field by field (see
//! [`Block::read`]), so a block may sit at any offset of an mmap'd file: nothing here casts
//! an unaligned pointer. `f16` fields hold IEEE half bits (`half::f16`).

use std::mem::size_of;

use half::f16;

use super::types::GgmlType;

/// Elements per super-block of the K-quants (and IQ4_XS).
pub const QK_K: usize = 256;
/// Bytes of the packed 6-bit scales and mins of Q4_K / Q5_K.
pub const K_SCALE_SIZE: usize = 12;
pub const QK4_0: usize = 32;
pub const QK4_1: usize = 32;
pub const QK5_0: usize = 32;
pub const QK5_1: usize = 32;
pub const QK8_0: usize = 32;
pub const QK8_1: usize = 32;
pub const QK4_NL: usize = 32;
pub const QK_MXFP4: usize = 32;

/// The 16 non-linear levels of IQ4_NL and IQ4_XS (ggml's `kvalues_iq4nl`).
pub const KVALUES_IQ4NL: [i8; 16] =
    [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// The FP4 (E2M1) levels of MXFP4, doubled to stay integral (ggml's `kvalues_mxfp4`); the
/// block scale is halved to match (see [`e8m0_to_f32_half`]).
pub const KVALUES_MXFP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Half of the E8M0 scale `2^(e - 127)`, i.e. `2^(e - 128)` as an f32 (subnormal for
/// `e < 2`), as ggml's `GGML_E8M0_TO_FP32_HALF`.
pub fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { (e as u32 - 1) << 23 };
    f32::from_bits(bits)
}

/// A block format: its type, its size, and field-by-field little-endian byte I/O.
pub trait Block: Sized + Copy {
    const TYPE: GgmlType;
    /// Elements encoded by one block.
    const ELEMS: usize;
    /// Bytes of one block (`size_of::<Self>()`, no padding).
    const BYTES: usize;

    /// Parses one block from the first `BYTES` bytes of `bytes`.
    ///
    /// # Panics
    /// When `bytes` is shorter than `BYTES` (callers split their input with
    /// `chunks_exact(Self::BYTES)`).
    fn read(bytes: &[u8]) -> Self;

    /// Writes the block into the first `BYTES` bytes of `out`.
    ///
    /// # Panics
    /// When `out` is shorter than `BYTES`.
    fn write(&self, out: &mut [u8]);
}

/// A field type of a block, read and written little-endian.
trait Field: Sized {
    const SIZE: usize;
    fn get(b: &[u8]) -> Self;
    fn put(&self, b: &mut [u8]);
}

impl Field for u8 {
    const SIZE: usize = 1;
    fn get(b: &[u8]) -> Self {
        b[0]
    }
    fn put(&self, b: &mut [u8]) {
        b[0] = *self;
    }
}

impl Field for u16 {
    const SIZE: usize = 2;
    fn get(b: &[u8]) -> Self {
        u16::from_le_bytes([b[0], b[1]])
    }
    fn put(&self, b: &mut [u8]) {
        b[..2].copy_from_slice(&self.to_le_bytes());
    }
}

impl Field for f16 {
    const SIZE: usize = 2;
    fn get(b: &[u8]) -> Self {
        f16::from_bits(u16::get(b))
    }
    fn put(&self, b: &mut [u8]) {
        self.to_bits().put(b);
    }
}

impl Field for f32 {
    const SIZE: usize = 4;
    fn get(b: &[u8]) -> Self {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn put(&self, b: &mut [u8]) {
        b[..4].copy_from_slice(&self.to_le_bytes());
    }
}

impl<const N: usize> Field for [u8; N] {
    const SIZE: usize = N;
    fn get(b: &[u8]) -> Self {
        let mut a = [0u8; N];
        a.copy_from_slice(&b[..N]);
        a
    }
    fn put(&self, b: &mut [u8]) {
        b[..N].copy_from_slice(self);
    }
}

impl<const N: usize> Field for [i8; N] {
    const SIZE: usize = N;
    fn get(b: &[u8]) -> Self {
        std::array::from_fn(|i| b[i] as i8)
    }
    fn put(&self, b: &mut [u8]) {
        for (o, v) in b[..N].iter_mut().zip(self) {
            *o = *v as u8;
        }
    }
}

impl<const N: usize> Field for [i16; N] {
    const SIZE: usize = 2 * N;
    fn get(b: &[u8]) -> Self {
        std::array::from_fn(|i| i16::from_le_bytes([b[2 * i], b[2 * i + 1]]))
    }
    fn put(&self, b: &mut [u8]) {
        for (o, v) in b[..2 * N].chunks_exact_mut(2).zip(self) {
            o.copy_from_slice(&v.to_le_bytes());
        }
    }
}

/// Reads the next field at `*at` and moves past it.
fn get_field<T: Field>(b: &[u8], at: &mut usize) -> T {
    let v = T::get(&b[*at..]);
    *at += T::SIZE;
    v
}

/// Writes a field at `*at` and moves past it.
fn put_field<T: Field>(v: &T, b: &mut [u8], at: &mut usize) {
    v.put(&mut b[*at..]);
    *at += T::SIZE;
}

/// Implements [`Block`] for a struct whose fields are listed in declaration order. Struct
/// expressions evaluate their fields in the order written, so `read` walks the bytes in
/// layout order. The size asserts next to each struct plus the round-trip test in this
/// file check that the fields cover the whole block with no padding.
macro_rules! impl_block {
    ($name:ident, $ty:ident, $elems:expr, [$($field:ident),+]) => {
        impl Block for $name {
            const TYPE: GgmlType = GgmlType::$ty;
            const ELEMS: usize = $elems;
            const BYTES: usize = size_of::<$name>();

            fn read(bytes: &[u8]) -> Self {
                let b = &bytes[..Self::BYTES];
                let mut at = 0;
                let block = $name { $($field: get_field(b, &mut at)),+ };
                debug_assert_eq!(at, Self::BYTES);
                block
            }

            fn write(&self, out: &mut [u8]) {
                let b = &mut out[..Self::BYTES];
                let mut at = 0;
                $(put_field(&self.$field, b, &mut at);)+
                debug_assert_eq!(at, Self::BYTES);
            }
        }
    };
}

// ---- legacy formats: 32 elements, one scale (and min) ----

/// Q4_0: `x = d * (q - 8)`, 4-bit q. Element `j` in the low nibble of `qs[j]`, element
/// `j + 16` in the high nibble.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ4_0 {
    pub d: f16,
    pub qs: [u8; QK4_0 / 2],
}
const _: () = assert!(size_of::<BlockQ4_0>() == 18);
impl_block!(BlockQ4_0, Q4_0, QK4_0, [d, qs]);

/// Q4_1: `x = d * q + m`, 4-bit q, nibbles as Q4_0.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; QK4_1 / 2],
}
const _: () = assert!(size_of::<BlockQ4_1>() == 20);
impl_block!(BlockQ4_1, Q4_1, QK4_1, [d, m, qs]);

/// Q5_0: `x = d * (q - 16)`, 5-bit q: low 4 bits as Q4_0, bit 4 of element `j` is bit `j`
/// of the little-endian u32 `qh`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; QK5_0 / 2],
}
const _: () = assert!(size_of::<BlockQ5_0>() == 22);
impl_block!(BlockQ5_0, Q5_0, QK5_0, [d, qh, qs]);

/// Q5_1: `x = d * q + m`, 5-bit q packed as Q5_0.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ5_1 {
    pub d: f16,
    pub m: f16,
    pub qh: [u8; 4],
    pub qs: [u8; QK5_1 / 2],
}
const _: () = assert!(size_of::<BlockQ5_1>() == 24);
impl_block!(BlockQ5_1, Q5_1, QK5_1, [d, m, qh, qs]);

/// Q8_0: `x = d * q`, 8-bit signed q.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ8_0 {
    pub d: f16,
    pub qs: [i8; QK8_0],
}
const _: () = assert!(size_of::<BlockQ8_0>() == 34);
impl_block!(BlockQ8_0, Q8_0, QK8_0, [d, qs]);

/// Q8_1: `x = d * q`, plus `s = d * sum(q)` (the activation side of Q4_1/Q5_1 dots).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ8_1 {
    pub d: f16,
    pub s: f16,
    pub qs: [i8; QK8_1],
}
const _: () = assert!(size_of::<BlockQ8_1>() == 36);
impl_block!(BlockQ8_1, Q8_1, QK8_1, [d, s, qs]);

// ---- K-quants: 256-element super-blocks of 16- or 32-element sub-blocks ----

/// Q2_K: 16 sub-blocks of 16; `x = d * (sc & 15) * q - dmin * (sc >> 4)`, 2-bit q.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ2K {
    /// Per sub-block: scale in the low nibble, min in the high nibble.
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: f16,
    pub dmin: f16,
}
const _: () = assert!(size_of::<BlockQ2K>() == 84);
impl_block!(BlockQ2K, Q2_K, QK_K, [scales, qs, d, dmin]);

/// Q3_K: 16 sub-blocks of 16; `x = d * (sc - 32) * (q - 4 * !hbit)`, 2 low bits in `qs`,
/// the third in `hmask`, 6-bit scales packed in 12 bytes (see [`BlockQ3K::scales_i8`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: f16,
}
const _: () = assert!(size_of::<BlockQ3K>() == 110);
impl_block!(BlockQ3K, Q3_K, QK_K, [hmask, qs, scales, d]);

impl BlockQ3K {
    /// The 16 sub-block scales, unpacked and re-centred (`-32..=31`).
    pub fn scales_i8(&self) -> [i8; 16] {
        let s = &self.scales;
        std::array::from_fn(|j| {
            let low = if j < 8 { s[j] & 0xF } else { s[j - 8] >> 4 };
            let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            (low | (high << 4)) as i8 - 32
        })
    }
}

/// Q4_K: 8 sub-blocks of 32; `x = d * sc * q - dmin * m`, 4-bit q, 6-bit sc/m packed in
/// `scales` (see [`get_scale_min_k4`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ4K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; K_SCALE_SIZE],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(size_of::<BlockQ4K>() == 144);
impl_block!(BlockQ4K, Q4_K, QK_K, [d, dmin, scales, qs]);

/// Q5_K: as Q4_K with a fifth bit per element in `qh`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ5K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; K_SCALE_SIZE],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(size_of::<BlockQ5K>() == 176);
impl_block!(BlockQ5K, Q5_K, QK_K, [d, dmin, scales, qh, qs]);

/// Q6_K: 16 sub-blocks of 16; `x = d * sc * (q - 32)`, 4 low bits in `ql`, 2 high in `qh`,
/// signed 8-bit scales.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: f16,
}
const _: () = assert!(size_of::<BlockQ6K>() == 210);
impl_block!(BlockQ6K, Q6_K, QK_K, [ql, qh, scales, d]);

/// Q8_K: `x = d * q` with an f32 scale and the sums of each 16 quants (the activation side
/// of K-quant dots).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
}
const _: () = assert!(size_of::<BlockQ8K>() == 292);
impl_block!(BlockQ8K, Q8_K, QK_K, [d, qs, bsums]);

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K/Q5_K `scales` array: bytes
/// 0..4 hold scales 0..4 (and 2 high bits of scales 4..8), bytes 4..8 mins 0..4 (and 2 high
/// bits of mins 4..8), bytes 8..12 the low nibbles of scale and min 4..8.
pub fn get_scale_min_k4(j: usize, q: &[u8; K_SCALE_SIZE]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Packs 6-bit scales and mins (each `<= 63`) into the Q4_K/Q5_K layout; the inverse of
/// [`get_scale_min_k4`].
pub fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; K_SCALE_SIZE] {
    let mut q = [0u8; K_SCALE_SIZE];
    for j in 0..8 {
        if j < 4 {
            q[j] = ls[j];
            q[j + 4] = lm[j];
        } else {
            q[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            q[j - 4] |= (ls[j] >> 4) << 6;
            q[j] |= (lm[j] >> 4) << 6;
        }
    }
    q
}

// ---- non-linear and microscaling 4-bit formats ----

/// IQ4_NL: `x = d * KVALUES_IQ4NL[q]`, 4-bit q, nibbles as Q4_0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockIQ4NL {
    pub d: f16,
    pub qs: [u8; QK4_NL / 2],
}
const _: () = assert!(size_of::<BlockIQ4NL>() == 18);
impl_block!(BlockIQ4NL, IQ4_NL, QK4_NL, [d, qs]);

/// IQ4_XS: 8 sub-blocks of 32 in IQ4_NL coding with 6-bit scales: low nibbles in
/// `scales_l`, high 2 bits in `scales_h` (see [`BlockIQ4XS::scale`]).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockIQ4XS {
    pub d: f16,
    pub scales_h: u16,
    pub scales_l: [u8; QK_K / 64],
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(size_of::<BlockIQ4XS>() == 136);
impl_block!(BlockIQ4XS, IQ4_XS, QK_K, [d, scales_h, scales_l, qs]);

impl BlockIQ4XS {
    /// The re-centred scale (`-32..=31`) of sub-block `ib` (0..8).
    pub fn scale(&self, ib: usize) -> i32 {
        let low = (self.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
        let high = ((self.scales_h >> (2 * ib)) & 3) as u8;
        (low | (high << 4)) as i32 - 32
    }
}

/// MXFP4: `x = 2^(e-127) * fp4(q)`, computed as `e8m0_to_f32_half(e) * KVALUES_MXFP4[q]`;
/// nibbles as Q4_0.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockMXFP4 {
    pub e: u8,
    pub qs: [u8; QK_MXFP4 / 2],
}
const _: () = assert!(size_of::<BlockMXFP4>() == 17);
impl_block!(BlockMXFP4, MXFP4, QK_MXFP4, [e, qs]);

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes (xorshift) so the round trip sees every field non-zero.
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    fn check<B: Block + PartialEq + std::fmt::Debug>() {
        let info = B::TYPE.info();
        assert_eq!(B::BYTES, info.block_bytes, "{} block bytes vs table", info.name);
        assert_eq!(B::ELEMS, info.block_elems, "{} block elems vs table", info.name);
        assert_eq!(B::BYTES, size_of::<B>());
        // Reading at an odd offset is fine, and every byte survives read + write.
        let src = bytes(B::BYTES + 1, B::BYTES as u64);
        let block = B::read(&src[1..]);
        let mut out = vec![0u8; B::BYTES];
        block.write(&mut out);
        assert_eq!(out, &src[1..], "{} round trip", info.name);
        assert_eq!(B::read(&out), block);
    }

    #[test]
    fn block_sizes_match_the_type_table_and_round_trip() {
        check::<BlockQ4_0>();
        check::<BlockQ4_1>();
        check::<BlockQ5_0>();
        check::<BlockQ5_1>();
        check::<BlockQ8_0>();
        check::<BlockQ8_1>();
        check::<BlockQ2K>();
        check::<BlockQ3K>();
        check::<BlockQ4K>();
        check::<BlockQ5K>();
        check::<BlockQ6K>();
        check::<BlockQ8K>();
        check::<BlockIQ4NL>();
        check::<BlockIQ4XS>();
        check::<BlockMXFP4>();
    }

    #[test]
    fn k4_scales_pack_and_unpack() {
        let ls = [0, 1, 17, 63, 32, 15, 48, 5];
        let lm = [63, 0, 31, 2, 16, 47, 1, 62];
        let q = pack_scale_min_k4(&ls, &lm);
        for j in 0..8 {
            assert_eq!(get_scale_min_k4(j, &q), (ls[j], lm[j]), "sub-block {j}");
        }
    }

    #[test]
    fn e8m0_half_scale() {
        assert_eq!(e8m0_to_f32_half(127), 0.5);
        assert_eq!(e8m0_to_f32_half(128), 1.0);
        assert_eq!(e8m0_to_f32_half(2), 2f32.powi(-126));
        assert_eq!(e8m0_to_f32_half(1), 2f32.powi(-127));
        assert_eq!(e8m0_to_f32_half(0), 2f32.powi(-128));
        assert_eq!(e8m0_to_f32_half(255), 2f32.powi(127));
    }
}
