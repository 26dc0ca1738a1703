//! Tensor infos: name, dimensions (ggml order, `ne[0]` first), type and data offset.

use crate::error::{Error, Result};
use crate::quant::GgmlType;

/// One tensor of a GGUF file. `dims[0]` is the innermost (row) dimension, as in ggml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    pub n_elems: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Validates dims against the type: no zero dims, no overflow, whole blocks per row.
    pub fn new(name: String, dims: Vec<u64>, ty: GgmlType, offset: u64) -> Result<TensorInfo> {
        if let Some(i) = dims.iter().position(|&d| d == 0) {
            return Err(Error::bad_input(format!("dimension {i} is zero (shape {dims:?})")));
        }
        let n_elems = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(|| {
                Error::bad_input(format!("element count of shape {dims:?} overflows"))
            })?;
        let block = ty.block_elems() as u64;
        if !dims[0].is_multiple_of(block) {
            return Err(Error::bad_input(format!(
                "row length {} is not a multiple of the {ty} block size {block}",
                dims[0]
            )));
        }
        let n_bytes = ty
            .bytes_for(n_elems)
            .ok_or_else(|| Error::bad_input(format!("byte size of shape {dims:?} overflows")))?;
        Ok(TensorInfo { name, dims, ty, offset, n_elems, n_bytes })
    }

    /// Bytes of one row (`dims[0]` elements).
    pub fn row_bytes(&self) -> u64 {
        self.dims[0] / self.ty.block_elems() as u64 * self.ty.block_bytes() as u64
    }

    /// Number of rows (product of all dims but the first).
    pub fn n_rows(&self) -> u64 {
        self.dims[1..].iter().product()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_type_table() {
        let t = TensorInfo::new("w".into(), vec![256, 3], GgmlType::Q4_K, 0).unwrap();
        assert_eq!((t.n_elems, t.n_bytes, t.row_bytes(), t.n_rows()), (768, 432, 144, 3));
    }

    #[test]
    fn zero_dims_partial_blocks_and_overflow_are_refused() {
        let e = |dims: Vec<u64>, ty| TensorInfo::new("w".into(), dims, ty, 0).unwrap_err();
        assert!(e(vec![32, 0], GgmlType::F32).to_string().contains("dimension 1 is zero"));
        assert!(e(vec![48], GgmlType::Q8_0).to_string().contains("not a multiple"));
        assert!(e(vec![1 << 40, 1 << 40], GgmlType::F32).to_string().contains("overflows"));
    }
}
