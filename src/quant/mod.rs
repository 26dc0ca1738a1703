//! Quantized block formats: the type table, block layouts and the scalar reference kernels.
//!
//! This module imports nothing else of hearth's.

mod types;

pub use types::{GgmlType, TypeInfo, TYPE_TABLE};
