//! The scalar reference (de)quantizers: plain loops that follow ggml's `dequantize_row_*`
//! and `quantize_row_*_ref` bit for bit, kept forever as the oracle for faster kernels.
//!
//! Entry points take raw little-endian bytes ([`dequantize`], [`quantize`],
//! [`vec_dot_reference`]); per-block work goes through [`DequantizeBlock`] and
//! [`QuantizeBlock`]. Which type has which kernel is one table, [`KERNELS`].

mod float;
mod iquants;
mod kquantize;
mod kquants;
mod legacy;
mod search;

#[cfg(test)]
mod tests;

use super::blocks::*;
use super::error::QuantError;
use super::types::GgmlType;

/// A block format with a scalar dequantizer.
pub trait DequantizeBlock: Block {
    /// Writes the block's `Self::ELEMS` values into `y[..Self::ELEMS]`.
    fn dequantize(&self, y: &mut [f32]);
}

/// A block format with a scalar reference quantizer.
pub trait QuantizeBlock: Block {
    /// Encodes `x[..Self::ELEMS]` as ggml's `quantize_row_*_ref` does.
    fn quantize(x: &[f32]) -> Self;
}

/// Dequantizes whole blocks: `src` holds `dst.len() / B::ELEMS` blocks.
fn dequantize_blocks<B: DequantizeBlock>(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(B::BYTES).zip(dst.chunks_exact_mut(B::ELEMS)) {
        B::read(b).dequantize(y);
    }
}

/// Quantizes whole blocks of `src`, appending their bytes to `dst`.
fn quantize_blocks<B: QuantizeBlock>(src: &[f32], dst: &mut Vec<u8>) {
    for x in src.chunks_exact(B::ELEMS) {
        let at = dst.len();
        dst.resize(at + B::BYTES, 0);
        B::quantize(x).write(&mut dst[at..]);
    }
}

type DequantizeFn = fn(&[u8], &mut [f32]);
type QuantizeFn = fn(&[f32], &mut Vec<u8>);

/// The reference kernels of one type. Lengths are checked by the callers.
struct Kernels {
    ty: GgmlType,
    to_f32: DequantizeFn,
    from_f32: Option<QuantizeFn>,
}

const fn both(ty: GgmlType, to_f32: DequantizeFn, from_f32: QuantizeFn) -> Kernels {
    Kernels { ty, to_f32, from_f32: Some(from_f32) }
}

const fn deq(ty: GgmlType, to_f32: DequantizeFn) -> Kernels {
    Kernels { ty, to_f32, from_f32: None }
}

/// Every type with a reference dequantizer, and its quantizer where there is one. The test
/// `kernel_table_matches_dequantizable_flags` keeps it in step with `TYPE_TABLE`.
const KERNELS: &[Kernels] = {
    use GgmlType::*;
    &[
        both(F32, float::f32_to_f32, float::f32_from_f32),
        both(F16, float::f16_to_f32, float::f16_from_f32),
        both(BF16, float::bf16_to_f32, float::bf16_from_f32),
        both(Q4_0, dequantize_blocks::<BlockQ4_0>, quantize_blocks::<BlockQ4_0>),
        both(Q4_1, dequantize_blocks::<BlockQ4_1>, quantize_blocks::<BlockQ4_1>),
        both(Q5_0, dequantize_blocks::<BlockQ5_0>, quantize_blocks::<BlockQ5_0>),
        both(Q5_1, dequantize_blocks::<BlockQ5_1>, quantize_blocks::<BlockQ5_1>),
        both(Q8_0, dequantize_blocks::<BlockQ8_0>, quantize_blocks::<BlockQ8_0>),
        both(Q8_1, dequantize_blocks::<BlockQ8_1>, quantize_blocks::<BlockQ8_1>),
        both(Q2_K, dequantize_blocks::<BlockQ2K>, quantize_blocks::<BlockQ2K>),
        both(Q3_K, dequantize_blocks::<BlockQ3K>, quantize_blocks::<BlockQ3K>),
        both(Q4_K, dequantize_blocks::<BlockQ4K>, quantize_blocks::<BlockQ4K>),
        both(Q5_K, dequantize_blocks::<BlockQ5K>, quantize_blocks::<BlockQ5K>),
        both(Q6_K, dequantize_blocks::<BlockQ6K>, quantize_blocks::<BlockQ6K>),
        both(Q8_K, dequantize_blocks::<BlockQ8K>, quantize_blocks::<BlockQ8K>),
        deq(IQ4_NL, dequantize_blocks::<BlockIQ4NL>),
        deq(IQ4_XS, dequantize_blocks::<BlockIQ4XS>),
        both(MXFP4, dequantize_blocks::<BlockMXFP4>, quantize_blocks::<BlockMXFP4>),
    ]
};

fn kernels(ty: GgmlType) -> Option<&'static Kernels> {
    KERNELS.iter().find(|k| k.ty == ty)
}

/// Whether [`quantize`] supports `ty`.
pub fn can_quantize(ty: GgmlType) -> bool {
    kernels(ty).is_some_and(|k| k.from_f32.is_some())
}

/// Bytes of `n_elems` elements of `ty`, or `PartialBlock` when that is not whole blocks.
fn bytes_for(ty: GgmlType, n_elems: usize) -> Result<usize, QuantError> {
    let info = ty.info();
    if !n_elems.is_multiple_of(info.block_elems) {
        return Err(QuantError::PartialBlock { ty, n_elems, block_elems: info.block_elems });
    }
    Ok(n_elems / info.block_elems * info.block_bytes)
}

/// Dequantizes `src`, which must hold exactly the blocks of `dst.len()` elements of `ty`.
pub fn dequantize(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantError> {
    let k = kernels(ty).ok_or(QuantError::NotDequantizable { ty })?;
    let expected = bytes_for(ty, dst.len())?;
    if src.len() != expected {
        return Err(QuantError::LengthMismatch {
            ty,
            n_elems: dst.len(),
            expected,
            actual: src.len(),
        });
    }
    (k.to_f32)(src, dst);
    Ok(())
}

/// Dequantizes a whole row of `ty` blocks into a new vector (its length follows from
/// `src.len()`, which must be a whole number of blocks).
pub fn dequantize_row_to_vec(ty: GgmlType, src: &[u8]) -> Result<Vec<f32>, QuantError> {
    let info = ty.info();
    if !src.len().is_multiple_of(info.block_bytes) {
        return Err(QuantError::PartialBlockBytes {
            ty,
            n_bytes: src.len(),
            block_bytes: info.block_bytes,
        });
    }
    let mut dst = vec![0f32; src.len() / info.block_bytes * info.block_elems];
    dequantize(ty, src, &mut dst)?;
    Ok(dst)
}

/// Values from which `quantize` splits its work over the machine's cores.
const PARALLEL_FROM: usize = 1 << 20;

/// Quantizes `src` (a whole number of blocks of `ty`) with the reference quantizer,
/// appending the block bytes to `dst`. Large inputs are cut into runs of whole blocks
/// quantized on all cores at once (blocks are independent: the bytes are the same).
pub fn quantize(ty: GgmlType, src: &[f32], dst: &mut Vec<u8>) -> Result<(), QuantError> {
    let from_f32 = kernels(ty).and_then(|k| k.from_f32).ok_or(QuantError::NotQuantizable { ty })?;
    let n_bytes = bytes_for(ty, src.len())?;
    dst.reserve(n_bytes);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if src.len() < PARALLEL_FROM || threads == 1 {
        from_f32(src, dst);
        return Ok(());
    }
    let block = ty.info().block_elems;
    let per = src.len().div_ceil(threads).div_ceil(block) * block;
    let parts: Vec<Vec<u8>> = std::thread::scope(|s| {
        let jobs: Vec<_> = src
            .chunks(per)
            .map(|run| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    from_f32(run, &mut out);
                    out
                })
            })
            .collect();
        jobs.into_iter().map(|j| j.join().expect("a quantizer thread panicked")).collect()
    });
    parts.iter().for_each(|p| dst.extend_from_slice(p));
    Ok(())
}

/// The dot product of one quantized row with `x`: dequantize, then accumulate in f64.
/// The oracle for the SIMD dot kernels.
pub fn vec_dot_reference(ty: GgmlType, row: &[u8], x: &[f32]) -> Result<f32, QuantError> {
    let mut w = vec![0f32; x.len()];
    dequantize(ty, row, &mut w)?;
    let dot: f64 = w.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
    Ok(dot as f32)
}
