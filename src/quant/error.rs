//! `QuantError`: what went wrong converting between f32 and a block format, and for which type.

use super::types::GgmlType;

/// An error from the reference (de)quantizers. Each variant names the type involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    /// The type has no reference dequantizer (`TypeInfo::dequantizable` is false).
    #[error("{ty}: no reference dequantizer for this type")]
    NotDequantizable { ty: GgmlType },

    /// The type has no reference quantizer.
    #[error("{ty}: no reference quantizer for this type")]
    NotQuantizable { ty: GgmlType },

    /// An element count that is not a whole number of blocks.
    #[error("{ty}: {n_elems} elements is not a whole number of {block_elems}-element blocks")]
    PartialBlock { ty: GgmlType, n_elems: usize, block_elems: usize },

    /// A byte count that is not a whole number of blocks.
    #[error("{ty}: {n_bytes} bytes is not a whole number of {block_bytes}-byte blocks")]
    PartialBlockBytes { ty: GgmlType, n_bytes: usize, block_bytes: usize },

    /// Quantized bytes that do not hold exactly the blocks for the requested elements.
    #[error("{ty}: {n_elems} elements take {expected} bytes, but {actual} bytes were given")]
    LengthMismatch { ty: GgmlType, n_elems: usize, expected: usize, actual: usize },
}
