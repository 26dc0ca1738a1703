//! x86-64 integer dot kernels: one weight row against up to [`super::MAX_COLS`] activation
//! rows at a time, so each weight block is loaded and unpacked once per group of
//! activation rows. Two instruction sets share the code: AVX2 (+FMA, F16C), and
//! AVX-512 VNNI (`vpdpbusd` on 256-bit vectors, AVX-512VL), which sums four u8·i8
//! products per lane in one instruction where AVX2 needs `maddubs` + `madd`. Both give
//! the same integer sums, so the two paths agree exactly — except for Q8_0, whose VNNI
//! kernel biases the weights to unsigned bytes (`Q8_0Vnni`, no sign trick per row) and
//! adds the same exact sums in another float order.
//!
//! The per-type unpacking is in `blocks.rs` ([`Block`]); this file holds the loop over
//! blocks and columns, and the safe entry points that check lengths and the CPU.

/// A panel kernel's row function for each count of panels, 1..=8 (`panel::Rows`).
macro_rules! panel_rows {
    ($row:ident::<$b:ident>) => {
        [
            $row::<$b, 1>,
            $row::<$b, 2>,
            $row::<$b, 3>,
            $row::<$b, 4>,
            $row::<$b, 5>,
            $row::<$b, 6>,
            $row::<$b, 7>,
            $row::<$b, 8>,
        ]
    };
}

mod activations;
mod blocks;
mod grouped;
pub mod panel;
pub mod panel_avx2;
pub mod rows8;

use std::arch::x86_64::*;

pub use activations::{quantize_block32, quantize_block_q8_k};
pub use blocks::{Q8_0Vnni, Q4K, Q4_0, Q4_1, Q5K, Q5_0, Q6K, Q8_0};

use super::XMeta;

/// The integer multiply-accumulate the two instruction sets do differently.
pub trait Isa {
    /// `acc + Σ u·s` over each group of four bytes (u unsigned, s signed), per i32 lane.
    /// With AVX2 the pair sums pass through i16: callers keep |u·s + u·s| < 2¹⁵.
    unsafe fn dot_u8i8(acc: __m256i, u: __m256i, s: __m256i) -> __m256i;
    /// `acc + a₀·b₀ + a₁·b₁` over each pair of i16 words, per i32 lane.
    unsafe fn dot_i16(acc: __m256i, a: __m256i, b: __m256i) -> __m256i;
}

pub struct Avx2;
pub struct Vnni;

impl Isa for Avx2 {
    #[inline(always)]
    unsafe fn dot_u8i8(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        let pairs = _mm256_maddubs_epi16(u, s);
        _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }

    #[inline(always)]
    unsafe fn dot_i16(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
    }
}

impl Isa for Vnni {
    #[inline(always)]
    unsafe fn dot_u8i8(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
        _mm256_dpbusd_epi32(acc, u, s)
    }

    #[inline(always)]
    unsafe fn dot_i16(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        _mm256_dpwssd_epi32(acc, a, b)
    }
}

/// The running sum of one (weight row, activation row) pair: eight f32 lanes and a
/// scalar term (Q4_1's mins), summed at the end.
#[derive(Clone, Copy)]
pub struct Acc(__m256, f32);

impl Acc {
    #[inline(always)]
    pub unsafe fn zero() -> Acc {
        Acc(_mm256_setzero_ps(), 0.0)
    }

    /// `acc += scale · lanes`.
    #[inline(always)]
    pub unsafe fn fma(&mut self, scale: f32, lanes: __m256) {
        self.0 = _mm256_fmadd_ps(_mm256_set1_ps(scale), lanes, self.0);
    }

    /// `acc += scales · lanes`, lane by lane.
    #[inline(always)]
    pub unsafe fn fma_lanes(&mut self, scales: __m256, lanes: __m256) {
        self.0 = _mm256_fmadd_ps(scales, lanes, self.0);
    }

    /// `acc += v` (the scalar term).
    #[inline(always)]
    pub fn add(&mut self, v: f32) {
        self.1 += v;
    }

    #[inline(always)]
    pub unsafe fn sum(self) -> f32 {
        let v = self.0;
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s))) + self.1
    }
}

/// One weight block format and how it meets one activation block.
pub trait Block {
    /// Bytes of a weight block and of the activation block it pairs with.
    const W_BYTES: usize;
    const X_BYTES: usize;
    /// A weight block unpacked into registers, reused for every activation row.
    type Unpacked: Copy;
    unsafe fn unpack(w: *const u8) -> Self::Unpacked;
    /// `acc += w · x` for the activation block at `x`, whose scale (and sum) `m` holds.
    unsafe fn dot<I: Isa>(w: &Self::Unpacked, x: *const u8, m: XMeta, acc: &mut Acc);
    /// Whether `grouped.rs` takes the format: 32-quant blocks whose dot is one integer
    /// sum times the two scales (plus, with `HAS_MIN`, min × the activation sum).
    const GROUPED: bool = false;
    const HAS_MIN: bool = false;
    /// The integer sum of one unpacked block with the activation block at `x`, as
    /// eight i32 lanes (only called when `GROUPED`).
    unsafe fn int_sum<I: Isa>(_w: &Self::Unpacked, _x: *const u8) -> __m256i {
        unreachable!("only grouped formats have a bare integer sum")
    }
    /// The weight block's scale and min (only called when `GROUPED`).
    fn scale_min(_w: &Self::Unpacked) -> (f32, f32) {
        unreachable!("only grouped formats")
    }
}

/// One call's operands: `nb` weight blocks at `w`; activation rows `stride` bytes apart
/// at `x`, with their block scales at `meta` (`nb` per row).
#[derive(Clone, Copy)]
pub struct Operands {
    pub w: *const u8,
    pub x: *const u8,
    pub stride: usize,
    pub meta: *const XMeta,
    pub nb: usize,
}

/// `out[c] = w · x_c` for `C` activation rows.
#[inline(always)]
unsafe fn tile<B: Block, I: Isa, const C: usize>(o: Operands, out: &mut [f32]) {
    let mut acc = [Acc::zero(); C];
    for i in 0..o.nb {
        let u = B::unpack(o.w.add(i * B::W_BYTES));
        for (c, a) in acc.iter_mut().enumerate() {
            let m = *o.meta.add(c * o.nb + i);
            B::dot::<I>(&u, o.x.add(c * o.stride + i * B::X_BYTES), m, a);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = a.sum();
    }
}

#[inline(always)]
unsafe fn tiles<B: Block, I: Isa>(o: Operands, out: &mut [f32]) {
    if B::GROUPED {
        return match out.len() {
            1 => grouped::tile::<B, I, 1>(o, out),
            2 => grouped::tile::<B, I, 2>(o, out),
            3 => grouped::tile::<B, I, 3>(o, out),
            4 => grouped::tile::<B, I, 4>(o, out),
            5 => grouped::tile::<B, I, 5>(o, out),
            6 => grouped::tile::<B, I, 6>(o, out),
            7 => grouped::tile::<B, I, 7>(o, out),
            _ => grouped::tile::<B, I, 8>(o, out),
        };
    }
    match out.len() {
        1 => tile::<B, I, 1>(o, out),
        2 => tile::<B, I, 2>(o, out),
        3 => tile::<B, I, 3>(o, out),
        4 => tile::<B, I, 4>(o, out),
        5 => tile::<B, I, 5>(o, out),
        6 => tile::<B, I, 6>(o, out),
        7 => tile::<B, I, 7>(o, out),
        _ => tile::<B, I, 8>(o, out),
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tiles_avx2<B: Block>(o: Operands, out: &mut [f32]) {
    tiles::<B, Avx2>(o, out)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn tiles_vnni<B: Block>(o: Operands, out: &mut [f32]) {
    tiles::<B, Vnni>(o, out)
}

/// Checks a call's lengths; returns its operands.
fn check<B: Block>(w: &[u8], x: &[u8], stride: usize, meta: &[XMeta], n_cols: usize) -> Operands {
    let nb = super::check_call(w, x, stride, n_cols, B::W_BYTES, B::X_BYTES);
    assert!(meta.len() >= n_cols * nb, "{} block scales for {n_cols} rows of {nb}", meta.len());
    Operands { w: w.as_ptr(), x: x.as_ptr(), stride, meta: meta.as_ptr(), nb }
}

/// `out[c] = w · x[c·stride..]` with AVX2, the activation blocks' scales in `meta`
/// (`nb` per row). Panics on a CPU without AVX2, or when the lengths disagree.
pub fn dot_avx2<B: Block>(w: &[u8], x: &[u8], stride: usize, meta: &[XMeta], out: &mut [f32]) {
    let o = check::<B>(w, x, stride, meta, out.len());
    assert!(super::avx2_available(), "AVX2 kernel called on a CPU without AVX2+FMA+F16C");
    // SAFETY: the CPU has the features; `check` bounds every block and scale read.
    unsafe { tiles_avx2::<B>(o, out) }
}

/// As [`dot_avx2`] with AVX-512 VNNI.
pub fn dot_vnni<B: Block>(w: &[u8], x: &[u8], stride: usize, meta: &[XMeta], out: &mut [f32]) {
    let o = check::<B>(w, x, stride, meta, out.len());
    assert!(super::vnni_available(), "VNNI kernel called on a CPU without AVX-512 VNNI");
    // SAFETY: as in `dot_avx2`.
    unsafe { tiles_vnni::<B>(o, out) }
}

/// `out[r] = w_r · x` for `out.len()` weight rows `row_bytes` apart at `w` and one
/// activation row: the single-token case, where the per-call overhead of one kernel
/// call per weight row would be a fair part of the work.
#[inline(always)]
unsafe fn rows<B: Block, I: Isa>(o: Operands, row_bytes: usize, out: &mut [f32]) {
    let n = out.len();
    let ahead = PREFETCH_AHEAD.div_ceil(row_bytes);
    for (r, v) in out.iter_mut().enumerate() {
        // The weights stream from memory once per token: ask for a row a little ahead
        // of the one being read (the hardware prefetchers alone left each core waiting
        // on memory, at two thirds of the throughput).
        if r + ahead < n {
            prefetch(o.w.add((r + ahead) * row_bytes), row_bytes);
        }
        let row = Operands { w: o.w.add(r * row_bytes), ..o };
        tiles::<B, I>(row, std::slice::from_mut(v));
    }
}

/// How far ahead of the weight row being read `rows` asks for data, in bytes (rounded
/// up to whole rows).
const PREFETCH_AHEAD: usize = 1024;

/// Asks for the cache lines of `len` bytes at `w` (a hint: it reads nothing).
#[inline(always)]
pub unsafe fn prefetch(w: *const u8, len: usize) {
    for at in (0..len).step_by(64) {
        _mm_prefetch::<_MM_HINT_T0>(w.add(at).cast());
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows_avx2_impl<B: Block>(o: Operands, row_bytes: usize, out: &mut [f32]) {
    rows::<B, Avx2>(o, row_bytes, out)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512vnni")]
unsafe fn rows_vnni_impl<B: Block>(o: Operands, row_bytes: usize, out: &mut [f32]) {
    rows::<B, Vnni>(o, row_bytes, out)
}

/// Checks a rows call's lengths; returns its operands (`w` at the first row).
fn check_rows<B: Block>(
    w: &[u8],
    row_bytes: usize,
    x: &[u8],
    meta: &[XMeta],
    n_rows: usize,
) -> Operands {
    let o = check::<B>(&w[..row_bytes.min(w.len())], x, x.len(), meta, 1);
    assert_eq!(w.len(), n_rows * row_bytes, "{n_rows} weight rows of {row_bytes} bytes");
    o
}

/// `out[r] = w[r·row_bytes..] · x` with AVX2 for one activation row (its block scales in
/// `meta`). Panics on a CPU without AVX2, or when the lengths disagree.
pub fn rows_avx2<B: Block>(w: &[u8], row_bytes: usize, x: &[u8], meta: &[XMeta], out: &mut [f32]) {
    let o = check_rows::<B>(w, row_bytes, x, meta, out.len());
    assert!(super::avx2_available(), "AVX2 kernel called on a CPU without AVX2+FMA+F16C");
    // SAFETY: the CPU has the features; `check_rows` bounds every row, block and scale.
    unsafe { rows_avx2_impl::<B>(o, row_bytes, out) }
}

/// As [`rows_avx2`] with AVX-512 VNNI.
pub fn rows_vnni<B: Block>(w: &[u8], row_bytes: usize, x: &[u8], meta: &[XMeta], out: &mut [f32]) {
    let o = check_rows::<B>(w, row_bytes, x, meta, out.len());
    assert!(super::vnni_available(), "VNNI kernel called on a CPU without AVX-512 VNNI");
    // SAFETY: as in `rows_avx2`.
    unsafe { rows_vnni_impl::<B>(o, row_bytes, out) }
}
