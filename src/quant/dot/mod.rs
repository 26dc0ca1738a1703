//! Quantized dot products: activation rows quantized as the reference engine quantizes
//! them at run time, and integer dot products of weight rows with those rows — a scalar
//! oracle plus SIMD kernels chosen at run time.
//!
//! Which weight type has a kernel is one table, [`KERNELS`]; [`kernel`] picks the
//! fastest [`Level`] the CPU supports (AVX-512 VNNI, AVX2 or NEON, else scalar), detected
//! once and lowered on request by `HEARTH_CPU_KERNELS`. SIMD kernels take up to eight
//! activation rows per call so each weight block is unpacked once per group.

pub mod panel;
pub mod rows8;
mod scalar;

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "aarch64")]
mod neon;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use crate::quant::GgmlType;

/// A dot product of one weight row with one quantized activation row (same length).
pub type VecDotFn = fn(&[u8], &[u8]) -> f32;

/// `out[c] = w · x[c·stride..]` for `out.len()` (1..=`MAX_COLS`) activation rows, whose block
/// scales are given as [`XMeta`], `nb` per row (see [`activation_meta`]).
pub type MultiDotFn = fn(&[u8], &[u8], usize, &[XMeta], &mut [f32]);

/// `out[r] = w[r·row_bytes..(r + 1)·row_bytes] · x` for `out.len()` weight rows and one
/// activation row (block scales as [`XMeta`]).
pub type RowsDotFn = fn(&[u8], usize, &[u8], &[XMeta], &mut [f32]);

/// The scale of one quantized activation block as f32 (`d`), and its block sum (`s`:
/// Q8_1's stored one, Q8_0's computed as `d · Σ q`): read once per activation row
/// instead of once per weight row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C)]
pub struct XMeta {
    pub d: f32,
    pub s: f32,
}

/// The [`XMeta`] of every block of the activation rows `x` (whole rows of type `ty`:
/// Q8_0, Q8_1 or Q8_K), in order.
pub fn activation_meta(ty: GgmlType, x: &[u8]) -> Vec<XMeta> {
    use crate::quant::f16_le_at;
    let f32_at = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    x.chunks_exact(ty.block_bytes())
        .map(|b| match ty {
            GgmlType::Q8_K => XMeta { d: f32_at(b), s: 0.0 },
            GgmlType::Q8_1 => XMeta { d: f16_le_at(b, 0), s: f16_le_at(b, 2) },
            // Q8_0: d times the sum of the quants, for kernels that keep 4- and 5-bit
            // weights unsigned and take their offset off as a min.
            _ => {
                let d = f16_le_at(b, 0);
                XMeta { d, s: d * b[2..].iter().map(|&q| q as i8 as i32).sum::<i32>() as f32 }
            }
        })
        .collect()
}

/// The most activation rows one kernel call takes.
pub const MAX_COLS: usize = 8;

/// Instruction sets the kernels come in, slowest first. Levels of another architecture
/// than the target's are never [supported](Level::supported), so the order only
/// compares a level with Scalar and with those of its own architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Scalar,
    /// aarch64 baseline NEON (Advanced SIMD).
    Neon,
    /// AVX2 + FMA + F16C.
    Avx2,
    /// AVX2 plus AVX-512 VNNI on 256-bit vectors (AVX-512F/VL).
    Avx512Vnni,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Neon => "neon",
            Level::Avx2 => "avx2",
            Level::Avx512Vnni => "avx512vnni",
        }
    }

    /// Every level, slowest first.
    pub const ALL: [Level; 4] = [Level::Scalar, Level::Neon, Level::Avx2, Level::Avx512Vnni];

    fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == s)
    }

    /// Whether kernels of this level run on this CPU: the target's own levels up to the
    /// detected one. (Neon sorts below Avx2, so `<=` alone would let it onto x86.)
    pub fn supported(self) -> bool {
        let own_arch = match self {
            Level::Scalar => true,
            Level::Neon => cfg!(target_arch = "aarch64"),
            Level::Avx2 | Level::Avx512Vnni => cfg!(target_arch = "x86_64"),
        };
        own_arch && self <= detected_level()
    }
}

/// The kernels of one weight type (its activations: [`activation_type`]).
struct Kernel {
    ty: GgmlType,
    scalar: VecDotFn,
    #[cfg(target_arch = "x86_64")]
    avx2: MultiDotFn,
    #[cfg(target_arch = "x86_64")]
    vnni: MultiDotFn,
    #[cfg(target_arch = "x86_64")]
    avx2_rows: RowsDotFn,
    #[cfg(target_arch = "x86_64")]
    vnni_rows: RowsDotFn,
    #[cfg(target_arch = "aarch64")]
    neon: MultiDotFn,
}

macro_rules! kernel {
    ($ty:ident, $f:ident, $block:ident) => {
        kernel!($ty, $f, $block, $block)
    };
    // `$vnni`: the block the VNNI kernels take, where it differs from AVX2's.
    ($ty:ident, $f:ident, $block:ident, $vnni:ident) => {
        Kernel {
            ty: GgmlType::$ty,
            scalar: scalar::$f,
            #[cfg(target_arch = "x86_64")]
            avx2: x86::dot_avx2::<x86::$block>,
            #[cfg(target_arch = "x86_64")]
            vnni: x86::dot_vnni::<x86::$vnni>,
            #[cfg(target_arch = "x86_64")]
            avx2_rows: x86::rows_avx2::<x86::$block>,
            #[cfg(target_arch = "x86_64")]
            vnni_rows: x86::rows_vnni::<x86::$vnni>,
            #[cfg(target_arch = "aarch64")]
            neon: neon::dot_neon::<neon::$block>,
        }
    };
}

/// Every weight type with an integer dot product.
const KERNELS: &[Kernel] = &[
    kernel!(Q4_0, q4_0_q8_0, Q4_0),
    kernel!(Q4_1, q4_1_q8_1, Q4_1),
    kernel!(Q5_0, q5_0_q8_0, Q5_0),
    kernel!(Q8_0, q8_0_q8_0, Q8_0, Q8_0Vnni),
    kernel!(Q4_K, q4_k_q8_k, Q4K),
    kernel!(Q5_K, q5_k_q8_k, Q5K),
    kernel!(Q6_K, q6_k_q8_k, Q6K),
];

fn find(ty: GgmlType) -> Option<&'static Kernel> {
    KERNELS.iter().find(|k| k.ty == ty)
}

/// Whether weights of type `ty` have an integer dot product ([`vec_dot`]).
pub fn has_int_dot(ty: GgmlType) -> bool {
    find(ty).is_some()
}

/// Whether the AVX2 kernels may run on this CPU (detected once).
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_available() -> bool {
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    })
}

/// Whether the AVX-512 VNNI kernels may run on this CPU (detected once).
#[cfg(target_arch = "x86_64")]
pub(crate) fn vnni_available() -> bool {
    static VNNI: OnceLock<bool> = OnceLock::new();
    *VNNI.get_or_init(|| {
        avx2_available()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    })
}

/// The best level this CPU supports.
pub fn detected_level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if vnni_available() {
            return Level::Avx512Vnni;
        }
        if avx2_available() {
            return Level::Avx2;
        }
    }
    // NEON is part of the aarch64 baseline: nothing to detect.
    #[cfg(target_arch = "aarch64")]
    return Level::Neon;
    #[cfg(not(target_arch = "aarch64"))]
    Level::Scalar
}

/// The level the kernels run at: the detected one, or a lower one named by the
/// environment variable `HEARTH_CPU_KERNELS` (`scalar`, `neon`, `avx2`, `avx512vnni`) to
/// test or compare paths. A level the CPU lacks, or an unknown name, is refused with one
/// warning line and the detected level is used.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let best = detected_level();
        let Ok(want) = std::env::var("HEARTH_CPU_KERNELS") else { return best };
        match Level::parse(want.trim()) {
            Some(l) if l.supported() => l,
            _ => {
                let names: Vec<&str> =
                    Level::ALL.into_iter().filter(|l| l.supported()).map(Level::name).collect();
                eprintln!(
                    "hearth: HEARTH_CPU_KERNELS={want}: not one of {} (the levels this CPU \
                     supports); using {}",
                    names.join(", "),
                    best.name()
                );
                best
            }
        }
    })
}

/// The dot kernel of weights of type `ty` at `level`, or `None` when the type has no
/// integer dot or the CPU lacks the level.
pub fn kernel_at(ty: GgmlType, level: Level) -> Option<DotKernel> {
    let k = find(ty)?;
    if !level.supported() {
        return None;
    }
    let (simd, rows): (Option<MultiDotFn>, Option<RowsDotFn>) = match level {
        Level::Scalar => (None, None),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => (Some(k.avx2), Some(k.avx2_rows)),
        #[cfg(target_arch = "x86_64")]
        Level::Avx512Vnni => (Some(k.vnni), Some(k.vnni_rows)),
        #[cfg(target_arch = "aarch64")]
        Level::Neon => (Some(k.neon), None),
        // Another architecture's level: refused by `supported` above.
        _ => (None, None),
    };
    Some(DotKernel { scalar: k.scalar, simd, rows, w_ty: ty, x_ty: activation_type(ty) })
}

/// The dot kernel for weights of type `ty` at the running [`level`], or `None` when the
/// type has none. Resolve it once per matmul rather than once per row.
pub fn kernel(ty: GgmlType) -> Option<DotKernel> {
    kernel_at(ty, level())
}

/// A resolved dot kernel: SIMD over several activation rows, or the scalar oracle.
#[derive(Clone, Copy)]
pub struct DotKernel {
    scalar: VecDotFn,
    simd: Option<MultiDotFn>,
    rows: Option<RowsDotFn>,
    w_ty: GgmlType,
    x_ty: GgmlType,
}

impl DotKernel {
    /// `out[c] = w · x[c·stride..(c + 1)·stride]` for `out.len()` (1..=[`MAX_COLS`])
    /// activation rows of `stride` bytes, of type `activation_type` of the weights.
    pub fn dot(&self, w: &[u8], x: &[u8], stride: usize, out: &mut [f32]) {
        let mut meta = Vec::new();
        if self.simd.is_some() {
            for c in 0..out.len() {
                meta.extend(activation_meta(self.x_ty, self.x_row(w, x, stride, c)));
            }
        }
        self.dot_meta(w, x, stride, &meta, out)
    }

    /// As [`DotKernel::dot`], with the activation rows' [`XMeta`] given (`nb` per row,
    /// from [`activation_meta`]); the scalar kernel reads the blocks instead.
    pub fn dot_meta(&self, w: &[u8], x: &[u8], stride: usize, meta: &[XMeta], out: &mut [f32]) {
        match self.simd {
            Some(f) => f(w, x, stride, meta, out),
            None => {
                for (c, o) in out.iter_mut().enumerate() {
                    *o = (self.scalar)(w, self.x_row(w, x, stride, c));
                }
            }
        }
    }

    /// `out[r] = w[r·row_bytes..(r + 1)·row_bytes] · x` for `out.len()` weight rows and
    /// one activation row `x` with its [`XMeta`]: one call for many rows where the level
    /// has such a kernel, else one [`DotKernel::dot_meta`] per row.
    pub fn dot_rows(&self, w: &[u8], row_bytes: usize, x: &[u8], meta: &[XMeta], out: &mut [f32]) {
        match self.rows {
            Some(f) => f(w, row_bytes, x, meta, out),
            None => {
                for (r, o) in out.iter_mut().enumerate() {
                    let row = &w[r * row_bytes..(r + 1) * row_bytes];
                    self.dot_meta(row, x, x.len(), meta, std::slice::from_mut(o));
                }
            }
        }
    }

    /// Activation row `c` as far as `x` holds it (a short row is refused by the
    /// kernel, naming both lengths).
    fn x_row<'x>(&self, w: &[u8], x: &'x [u8], stride: usize, c: usize) -> &'x [u8] {
        let len = w.len() / self.w_ty.block_bytes() * self.x_ty.block_bytes();
        let start = (c * stride).min(x.len());
        &x[start..(start + len).min(x.len())]
    }
}

/// `w_row · x_row`: `w_row` holds whole blocks of `w_ty`, `x_row` the same number of
/// elements quantized to `activation_type(w_ty)` (see [`quantize_row`]).
///
/// # Panics
/// When `w_ty` has no integer dot ([`has_int_dot`]) or the lengths disagree.
pub fn vec_dot(w_ty: GgmlType, w_row: &[u8], x_row: &[u8]) -> f32 {
    vec_dot_at(w_ty, level(), w_row, x_row).expect("the running level is supported")
}

/// [`vec_dot`] through the scalar kernel, whatever the CPU: the oracle.
pub fn vec_dot_scalar(w_ty: GgmlType, w_row: &[u8], x_row: &[u8]) -> f32 {
    vec_dot_at(w_ty, Level::Scalar, w_row, x_row).expect("scalar kernels run anywhere")
}

/// [`vec_dot`] at `level`, or `None` when the CPU (or target) lacks it.
///
/// # Panics
/// When `w_ty` has no integer dot or the lengths disagree.
pub fn vec_dot_at(w_ty: GgmlType, level: Level, w_row: &[u8], x_row: &[u8]) -> Option<f32> {
    if !has_int_dot(w_ty) {
        panic!("no integer dot for {}", w_ty.name());
    }
    let k = kernel_at(w_ty, level)?;
    let mut out = [0f32];
    k.dot(w_row, x_row, x_row.len(), &mut out);
    Some(out[0])
}

/// Checks the lengths of a multi-row SIMD call (`n_cols` activation rows `stride`
/// bytes apart against one weight row, blocks of `wb` and `xb` bytes); returns the
/// number of blocks per row.
///
/// # Panics
/// When the lengths disagree or `n_cols` is not 1..=[`MAX_COLS`].
#[allow(dead_code)] // used by the SIMD modules of some targets only
fn check_call(w: &[u8], x: &[u8], stride: usize, n_cols: usize, wb: usize, xb: usize) -> usize {
    let nb = w.len() / wb;
    assert!(
        w.len() == nb * wb
            && (1..=MAX_COLS).contains(&n_cols)
            && stride >= nb * xb
            && x.len() >= (n_cols - 1) * stride + nb * xb,
        "dot of {} weight bytes (blocks of {wb}) with {n_cols} rows of {} activation bytes \
         (blocks of {xb}, {stride} apart)",
        w.len(),
        x.len(),
    );
    nb
}

/// The number of blocks of a weight row of `w_bytes`-byte blocks, checking that the
/// activation row holds as many `x_bytes`-byte blocks.
fn n_blocks(w: &[u8], x: &[u8], w_bytes: usize, x_bytes: usize) -> usize {
    let nb = w.len() / w_bytes;
    assert!(
        w.len() == nb * w_bytes && x.len() == nb * x_bytes,
        "dot of {} weight bytes (blocks of {w_bytes}) with {} activation bytes (blocks of {x_bytes})",
        w.len(),
        x.len()
    );
    nb
}

/// The activation type weights of type `w` pair with in [`vec_dot`], or `None`.
pub fn int_dot_activation_type(w: GgmlType) -> Option<GgmlType> {
    find(w).map(|_| activation_type(w))
}

/// The type activations are quantized to before they meet weights of type `w` — the
/// reference engine's pairing (`vec_dot_type`), so results round as it rounds.
pub fn activation_type(w: GgmlType) -> GgmlType {
    use GgmlType::*;
    match w {
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | MXFP4 => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS => Q8_K,
        F16 => F16,
        BF16 => BF16,
        _ => F32,
    }
}

/// Quantizes one activation row to `ty` (Q8_0, Q8_1 or Q8_K) as the reference engine does
/// at run time, appending the block bytes to `out`.
pub fn quantize_row(ty: GgmlType, row: &[f32], out: &mut Vec<u8>) {
    match ty {
        GgmlType::Q8_0 | GgmlType::Q8_1 => quantize_activations(ty, row, out),
        #[cfg(target_arch = "x86_64")]
        GgmlType::Q8_K if level() >= Level::Avx2 && row.len().is_multiple_of(256) => {
            for block in row.chunks_exact(256) {
                x86::quantize_block_q8_k(block.try_into().expect("256 values"), out);
            }
        }
        _ => crate::quant::quantize(ty, row, out).expect("activation types are quantizable"),
    }
}

/// `v` rounded to the nearest integer, ties to even, for |v| ≤ 2²²: adding and taking
/// away 1.5·2²³ leaves no fraction bits, and the FPU rounds to even. The same result as
/// `round_ties_even`, without a libm call on CPUs compiled for baseline SSE2.
#[inline]
fn round_half_even(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// Quantizes activations to Q8_0 or Q8_1 the way the reference engine does at run time
/// on x86 (scale `127 / max|x|`, round half to even) — its reference quantizer rounds
/// ties away from zero, which would flip a few values by one step.
pub fn quantize_activations(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) {
    debug_assert!(matches!(ty, GgmlType::Q8_0 | GgmlType::Q8_1) && x.len().is_multiple_of(32));
    let simd = level() >= Level::Avx2;
    for block in x.chunks_exact(32) {
        let block: &[f32; 32] = block.try_into().expect("32 values");
        let (d, q) = if simd { quantize_block32_simd(block) } else { quantize_block32(block) };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        if ty == GgmlType::Q8_1 {
            let sum: i32 = q.iter().map(|&v| v as i32).sum();
            out.extend_from_slice(&half::f16::from_f32(d * sum as f32).to_le_bytes());
        }
        out.extend(q.iter().map(|&v| v as u8));
    }
}

/// `(max|x| / 127, round_half_even(x · 127 / max|x|))` of one block: the oracle.
fn quantize_block32(block: &[f32; 32]) -> (f32, [i8; 32]) {
    let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    (amax / 127.0, std::array::from_fn(|i| round_half_even(block[i] * id) as i8))
}

/// [`quantize_block32`] with SIMD where there is a kernel for it.
fn quantize_block32_simd(block: &[f32; 32]) -> (f32, [i8; 32]) {
    #[cfg(target_arch = "x86_64")]
    return x86::quantize_block32(block);
    #[cfg(not(target_arch = "x86_64"))]
    quantize_block32(block)
}

/// Asks the CPU to bring `bytes` into cache ahead of their use (a hint: nothing is read,
/// and on targets without the instruction it does nothing).
#[inline(always)]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching reads no memory; the range is the slice's own.
    unsafe {
        x86::prefetch(bytes.as_ptr(), bytes.len())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
