//! Quantized block formats: the type table, block layouts and the scalar reference kernels.
//!
//! This module imports nothing else of hearth's.

pub mod blocks;
pub mod dot;
mod error;
mod f16;
pub mod reference;
mod types;

pub use blocks::{
    Block, BlockIQ4NL, BlockIQ4XS, BlockMXFP4, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1,
    BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1, QK_K,
};
pub use error::QuantError;
pub use f16::{f16_bits_to_f32, f16_le_at};
pub use reference::{
    can_quantize, dequantize, dequantize_row_to_vec, quantize, vec_dot_reference, DequantizeBlock,
    QuantizeBlock,
};
pub use types::{GgmlType, TypeInfo, TYPE_TABLE};
