//! Quantized weight × f32 activation products on the CPU, rows split across threads.
//! Weight types with an integer dot (`quant::dot`) meet activations quantized once per
//! call; the others are dequantized row by row into a per-task scratch row.

use rayon::prelude::*;

use crate::quant::dot::activation_type;
use crate::quant::{self, GgmlType};

/// Weight rows handed to one task at a time.
const ROWS_PER_TASK: usize = 16;

/// A 2-D view of quantized rows: `n_rows` rows of `k` elements of type `ty`.
#[derive(Clone, Copy)]
pub struct QRows<'a> {
    pub bytes: &'a [u8],
    pub ty: GgmlType,
    pub k: usize,
    pub n_rows: usize,
}

impl<'a> QRows<'a> {
    pub fn row_bytes(&self) -> usize {
        self.k / self.ty.block_elems() * self.ty.block_bytes()
    }

    pub fn row(&self, r: usize) -> &'a [u8] {
        let rb = self.row_bytes();
        &self.bytes[r * rb..(r + 1) * rb]
    }

    /// Rows `start..start + n` as a view of their own.
    pub fn slice(&self, start: usize, n: usize) -> QRows<'a> {
        let rb = self.row_bytes();
        QRows { bytes: &self.bytes[start * rb..(start + n) * rb], n_rows: n, ..*self }
    }

    /// Dequantizes row `r` into `out` (`k` values). Types are checked at load time.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        quant::dequantize(self.ty, self.row(r), out).expect("weight type checked at load");
    }
}

/// Dot product of two equal-length f32 slices: AVX2+FMA when the CPU has it, else a
/// portable loop with several accumulators the compiler can vectorize.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

pub fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (j, s) in acc.iter_mut().enumerate() {
            let off = i + 8 * j;
            *s = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(off)), _mm256_loadu_ps(pb.add(off)), *s);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), acc[0]);
        i += 8;
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), s);
    lanes.iter().sum::<f32>() + dot_portable(&a[i..n], &b[i..n])
}

/// `x` rounded through the activation type of weights `w` (quantized and back).
fn round_activations(w: GgmlType, x: &[f32], k: usize) -> Option<Vec<f32>> {
    let ty = activation_type(w);
    if ty == GgmlType::F32 || k % ty.block_elems() != 0 {
        return None;
    }
    let mut out = vec![0f32; x.len()];
    out.par_chunks_mut(k).zip(x.par_chunks(k)).for_each(|(o, row)| {
        let mut q = Vec::with_capacity(k / ty.block_elems() * ty.block_bytes());
        quant::dot::quantize_row(ty, row, &mut q);
        quant::dequantize(ty, &q, o).expect("activation types are dequantizable");
    });
    Some(out)
}

/// `x · Wᵀ`: x is `(n, k)` row-major, W has `m` rows; returns `(n, m)` row-major.
/// Activations are first rounded as the reference engine rounds them (see
/// `activation_type`): quantized for the integer dot where the weight type has one,
/// else quantized and dequantized back.
pub fn matmul(w: QRows, x: &[f32], n: usize) -> Vec<f32> {
    if let Some(dot) = quant::dot::kernel(w.ty) {
        return matmul_int(w, dot, x, n);
    }
    match round_activations(w.ty, x, w.k) {
        Some(xr) => matmul_f32(w, &xr, n),
        None => matmul_f32(w, x, n),
    }
}

/// `x · Wᵀ` with the activations as given.
pub fn matmul_f32(w: QRows, x: &[f32], n: usize) -> Vec<f32> {
    let k = w.k;
    debug_assert_eq!(x.len(), n * k);
    // out_t is (m, n): each weight row yields n contiguous values.
    let mut out_t = vec![0f32; w.n_rows * n];
    out_t.par_chunks_mut(ROWS_PER_TASK * n).enumerate().for_each(|(task, chunk)| {
        let mut scratch = vec![0f32; k];
        for (i, out_row) in chunk.chunks_mut(n).enumerate() {
            w.dequantize_row(task * ROWS_PER_TASK + i, &mut scratch);
            for (t, o) in out_row.iter_mut().enumerate() {
                *o = dot(&scratch, &x[t * k..(t + 1) * k]);
            }
        }
    });
    transpose(&out_t, w.n_rows, n)
}

/// `x · Wᵀ` through the integer dot `dot`: each activation row is quantized once to
/// `activation_type(w.ty)`, then every weight row meets every quantized row.
fn matmul_int(w: QRows, dot: quant::dot::VecDotFn, x: &[f32], n: usize) -> Vec<f32> {
    let (k, ty) = (w.k, activation_type(w.ty));
    debug_assert_eq!(x.len(), n * k);
    // xq is (n, xb): the quantized activation rows.
    let xb = k / ty.block_elems() * ty.block_bytes();
    let mut xq = vec![0u8; n * xb];
    xq.par_chunks_mut(xb).zip(x.par_chunks(k)).for_each(|(q, row)| {
        let mut buf = Vec::with_capacity(xb);
        quant::dot::quantize_row(ty, row, &mut buf);
        q.copy_from_slice(&buf);
    });
    // out_t is (m, n): each weight row yields n contiguous values.
    let mut out_t = vec![0f32; w.n_rows * n];
    out_t.par_chunks_mut(ROWS_PER_TASK * n).enumerate().for_each(|(task, chunk)| {
        for (i, out_row) in chunk.chunks_mut(n).enumerate() {
            let wr = w.row(task * ROWS_PER_TASK + i);
            for (o, xr) in out_row.iter_mut().zip(xq.chunks_exact(xb)) {
                *o = dot(wr, xr);
            }
        }
    });
    transpose(&out_t, w.n_rows, n)
}

/// `(rows, cols)` → `(cols, rows)`.
pub fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    if cols == 1 || rows == 1 {
        return a.to_vec();
    }
    let mut out = vec![0f32; a.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = a[r * cols + c];
        }
    }
    out
}

/// Expert products: W holds `n_expert` matrices of `m` rows each; row r of x (`k`
/// values) goes through expert `ids[r]`. Rows are grouped by expert so each expert's
/// weights are read once per call. Returns `(ids.len(), m)`.
pub fn mul_mat_id(w: QRows, m: usize, x: &[f32], ids: &[u32]) -> Vec<f32> {
    let k = w.k;
    let mut out = vec![0f32; ids.len() * m];
    let mut experts: Vec<u32> = ids.to_vec();
    experts.sort_unstable();
    experts.dedup();
    for e in experts {
        let rows: Vec<usize> = (0..ids.len()).filter(|&r| ids[r] == e).collect();
        let xe: Vec<f32> = rows.iter().flat_map(|&r| &x[r * k..(r + 1) * k]).copied().collect();
        let ye = matmul(w.slice(e as usize * m, m), &xe, rows.len());
        for (i, &r) in rows.iter().enumerate() {
            out[r * m..(r + 1) * m].copy_from_slice(&ye[i * m..(i + 1) * m]);
        }
    }
    out
}

/// Rows `ids` of W, dequantized: `(ids.len(), k)`.
pub fn get_rows(w: QRows, ids: &[u32]) -> Vec<f32> {
    let mut out = vec![0f32; ids.len() * w.k];
    out.par_chunks_mut(w.k).zip(ids).for_each(|(o, &id)| w.dequantize_row(id as usize, o));
    out
}
