//! Eight weight rows against many activation rows (`x86/rows8.rs`): the kernel for a
//! prompt's expert products, where each expert meets a few to a few dozen tokens.

use super::Level;
use crate::quant::GgmlType;

/// Weight rows per call.
pub const ROWS: usize = 8;

/// `out[t·8 + r] = w_r · x_t` for eight weight rows (`row_bytes` apart in the first
/// argument, which may hold eight more to ask for from memory ahead of their call) and
/// whole activation rows of `xb` bytes, of type `activation_type` of the weights; `out`
/// holds eight values per activation row.
pub type Rows8Fn = fn(&[u8], usize, &[u8], usize, &mut [f32]);

/// The eight-row kernel of weights of type `ty` at the running level, where it is the
/// one to use: with AVX-512 VNNI. With AVX2 alone the panel kernels stay, tuned on AMD
/// Zen 1 (where a `maddubs` pipe bounds them); the AVX2 eight-row kernel is measured
/// beside them (`cargo bench --bench dot`) but not yet on such a CPU.
pub fn rows8_kernel(ty: GgmlType) -> Option<Rows8Fn> {
    let level = super::level();
    rows8_kernel_at(ty, level).filter(|_| level == Level::Avx512Vnni)
}

/// The eight-row kernel of weights of type `ty` at `level`: Q4_K, Q5_K and Q6_K, with
/// AVX2 or AVX-512 VNNI.
pub fn rows8_kernel_at(ty: GgmlType, level: Level) -> Option<Rows8Fn> {
    if !level.supported() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86::{self as x, rows8::rows8_avx2 as avx2, rows8::rows8_vnni as vnni};
        use GgmlType::*;
        match (level, ty) {
            (Level::Avx512Vnni, Q4_K) => Some(vnni::<x::Q4K>),
            (Level::Avx512Vnni, Q5_K) => Some(vnni::<x::Q5K>),
            (Level::Avx512Vnni, Q6_K) => Some(vnni::<x::Q6K>),
            (Level::Avx2, Q4_K) => Some(avx2::<x::Q4K>),
            (Level::Avx2, Q5_K) => Some(avx2::<x::Q5K>),
            (Level::Avx2, Q6_K) => Some(avx2::<x::Q6K>),
            _ => None,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}
