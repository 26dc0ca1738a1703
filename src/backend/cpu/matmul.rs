//! Quantized weight × f32 activation products on the CPU, rows split across the pool's
//! threads.
//! Weight types with an integer dot (`quant::dot`) meet activations quantized once per
//! call; the others are dequantized row by row into a per-task scratch row.

use super::pool::{self, SendPtr};
use crate::quant::dot::panel::{self, PanelKernel, Panels, MAX_PANELS, PANEL_ROWS};
use crate::quant::dot::rows8::{self, Rows8Fn};
use crate::quant::dot::{activation_meta, activation_type, DotKernel, XMeta, MAX_COLS};
use crate::quant::{self, GgmlType};

/// Weight rows handed to one task at a time.
const ROWS_PER_TASK: usize = 16;

/// Activation rows a task runs through all its weight rows before the next ones.
const TOKENS_PER_CHUNK: usize = 64;

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

/// Rows per task when `n_groups` matrices of `m` rows share one job: a few tasks per
/// thread in all, each a contiguous run of rows (threads reading neighbouring runs in
/// turn defeat the hardware prefetchers).
pub fn rows_per_task(m: usize, n_groups: usize) -> usize {
    let tasks = (pool::pool().n_threads() * 4).div_ceil(n_groups.max(1));
    m.div_ceil(tasks).next_multiple_of(ROWS_PER_TASK)
}

/// `x` rounded through the activation type of weights `w` (quantized and back).
fn round_activations(w: GgmlType, x: &[f32], k: usize) -> Option<Vec<f32>> {
    let ty = activation_type(w);
    if ty == GgmlType::F32 || !k.is_multiple_of(ty.block_elems()) {
        return None;
    }
    let mut out = vec![0f32; x.len()];
    pool::for_chunks(&mut out, k, |r, o| {
        let mut q = Vec::with_capacity(k / ty.block_elems() * ty.block_bytes());
        quant::dot::quantize_row(ty, &x[r * k..(r + 1) * k], &mut q);
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
    let m = w.n_rows;
    let mut out = vec![0f32; n * m];
    let dst = SendPtr::new(&mut out);
    let per = rows_per_task(m, 1);
    pool::run(m.div_ceil(per), |task| {
        let mut scratch = vec![0f32; k];
        for r in task * per..((task + 1) * per).min(m) {
            w.dequantize_row(r, &mut scratch);
            for t in 0..n {
                // SAFETY: (t, r) is in bounds and row r belongs to this task alone.
                unsafe { dst.write(t * m + r, dot(&scratch, &x[t * k..(t + 1) * k])) };
            }
        }
    });
    out
}

/// `x · Wᵀ` through the integer dot `dot`: each activation row is quantized once to
/// `activation_type(w.ty)`, then tasks owning runs of weight rows meet all of them.
fn matmul_int(w: QRows, dot: DotKernel, x: &[f32], n: usize) -> Vec<f32> {
    let (k, ty) = (w.k, activation_type(w.ty));
    debug_assert_eq!(x.len(), n * k);
    let xb = k / ty.block_elems() * ty.block_bytes();
    let xq = quantize_rows(ty, x, k, xb);
    let prepared = Prepared::new(w, w.n_rows, &xq, xb, n);
    let m = w.n_rows;
    let mut out = vec![0f32; n * m];
    let dst = SendPtr::new(&mut out);
    let per = rows_per_task(m, 1);
    pool::run(m.div_ceil(per), |task| {
        let rows = task * per..((task + 1) * per).min(m);
        rows_by_tokens(w, dot, rows, prepared.activations(&xq, xb), |t, r, v| {
            // SAFETY: (t, r) is in bounds and row r belongs to this task alone.
            unsafe { dst.write(t * m + r, v) }
        });
    });
    out
}

/// Quantized activation rows: `xb` bytes each, and what the kernel chosen for them
/// reads besides (`Prepared`).
#[derive(Clone, Copy)]
pub struct Activations<'a> {
    pub xq: &'a [u8],
    pub xb: usize,
    meta: &'a [XMeta],
    panels: Option<&'a PanelSet>,
    rows8: Option<Rows8Fn>,
}

/// How a product's activation rows meet the weights, chosen once per product: eight
/// weight rows at a time (`rows8`, K-quants from four rows on), panels (many rows), or
/// one weight row at a time with the rows' block scales (`meta`).
pub struct Prepared {
    meta: Vec<XMeta>,
    panels: Option<PanelSet>,
    rows8: Option<Rows8Fn>,
}

impl Prepared {
    /// For weights `w` in matrices of `m` rows and the activation rows `xq` (`xb`
    /// bytes each), out of a batch of `batch` tokens (an expert meets some of them).
    pub fn new(w: QRows, m: usize, xq: &[u8], xb: usize, batch: usize) -> Prepared {
        let n = xq.len() / xb;
        let rows8 = rows8::rows8_kernel(w.ty).filter(|_| {
            batch >= ROWS8_MIN_BATCH && n >= ROWS8_MIN_TOKENS && m.is_multiple_of(rows8::ROWS)
        });
        let panels = if rows8.is_some() { None } else { PanelSet::new(w, xq, xb) };
        let meta = match (&panels, rows8) {
            (None, None) => activation_meta(activation_type(w.ty), xq),
            _ => Vec::new(),
        };
        Prepared { meta, panels, rows8 }
    }

    pub fn activations<'a>(&'a self, xq: &'a [u8], xb: usize) -> Activations<'a> {
        Activations { xq, xb, meta: &self.meta, panels: self.panels.as_ref(), rows8: self.rows8 }
    }
}

/// Activation rows from which the eight-row kernel takes a product: below, its
/// interleaving costs more than the one-row kernels' horizontal sums.
const ROWS8_MIN_TOKENS: usize = 4;

/// Batches from which the eight-row kernel is used at all: smaller ones (single tokens,
/// drafts being verified) go through the one-row kernels, which sum each token's
/// products in the same order whatever the batch, so that a verified draft gives the
/// tokens plain decoding gives.
const ROWS8_MIN_BATCH: usize = 16;

/// Activation panels with the kernel they were built for.
pub struct PanelSet {
    kernel: PanelKernel,
    panels: Panels,
}

impl PanelSet {
    /// The panels of `xq` (rows of `xb` bytes) for weights `w`, when `w`'s type has a
    /// panel kernel at the running level and there are enough rows for it to pay.
    fn new(w: QRows, xq: &[u8], xb: usize) -> Option<PanelSet> {
        let kernel = panel::panel_kernel(w.ty)?;
        (xq.len() / xb >= kernel.min_rows)
            .then(|| PanelSet { kernel, panels: kernel.panels(xq, xb, w.k) })
    }
}

/// Bytes of panels one pass over a task's weight rows takes: the slice (8 panels × 256
/// values × 8 rows, or one panel × 2048 values) stays in L1 across the rows, and with
/// few panels each weight row is read in long runs, which the prefetchers follow.
const PANEL_SLICE_BYTES: usize = 16 << 10;

/// `rows_by_tokens` through panels: each weight row meets up to 64 activation rows per
/// call, a slice of `PANEL_SLICE_BYTES` at a time, the sums kept in `acc`.
fn rows_by_panels(
    w: QRows,
    rows: std::ops::Range<usize>,
    p: &PanelSet,
    mut emit: impl FnMut(usize, usize, f32),
) {
    let (n, np) = (p.panels.n, p.panels.n_panels());
    let width = MAX_PANELS * PANEL_ROWS;
    let nb = w.k / p.kernel.block_elems;
    let mut acc = vec![0f32; rows.len() * width];
    for p0 in (0..np).step_by(MAX_PANELS) {
        let calls = (np - p0).min(MAX_PANELS);
        let values = PANEL_SLICE_BYTES / (calls * PANEL_ROWS);
        let step = (values / p.kernel.block_elems).max(1);
        acc.fill(0.0);
        for b0 in (0..nb).step_by(step) {
            let blocks = b0..(b0 + step).min(nb);
            for (i, r) in rows.clone().enumerate() {
                let out = &mut acc[i * width..(i + 1) * width];
                if r + 1 < rows.end {
                    let bb = w.row_bytes() / nb;
                    quant::dot::prefetch(&w.row(r + 1)[blocks.start * bb..blocks.end * bb]);
                }
                (p.kernel.f)(w.row(r), &p.panels, p0, calls, blocks.clone(), out);
            }
        }
        let t0 = p0 * PANEL_ROWS;
        let cols = (n - t0).min(calls * PANEL_ROWS);
        // Token by token, so that consecutive writes go to neighbouring outputs.
        for j in 0..cols {
            rows.clone().enumerate().for_each(|(i, r)| emit(t0 + j, r, acc[i * width + j]));
        }
    }
}

/// `emit(t, r, w_r · x_t)` for weight rows `rows` and every activation row `t` of `x`,
/// `MAX_COLS` activation rows per kernel call. Tokens go in chunks of
/// `TOKENS_PER_CHUNK` so a chunk's activations stay in cache across rows.
pub fn rows_by_tokens(
    w: QRows,
    dot: DotKernel,
    rows: std::ops::Range<usize>,
    x: Activations,
    mut emit: impl FnMut(usize, usize, f32),
) {
    let (xq, xb) = (x.xq, x.xb);
    let n = xq.len() / xb;
    let nb = x.meta.len() / n.max(1);
    let rb = w.row_bytes();
    if n == 1 {
        return one_token(w, dot, rows, x, emit);
    }
    if let Some(f) = x.rows8 {
        return rows_by_eight(w, f, rows, x, emit);
    }
    if let Some(p) = x.panels {
        return rows_by_panels(w, rows, p, emit);
    }
    let mut buf = [0f32; MAX_COLS];
    for t_chunk in (0..n).step_by(TOKENS_PER_CHUNK) {
        let t_end = (t_chunk + TOKENS_PER_CHUNK).min(n);
        for r in rows.clone() {
            let wr = &w.bytes[r * rb..(r + 1) * rb];
            if t_chunk == 0 && r + 1 < rows.end {
                quant::dot::prefetch(&w.bytes[(r + 1) * rb..(r + 2) * rb]);
            }
            for t0 in (t_chunk..t_end).step_by(MAX_COLS) {
                let cols = &mut buf[..(t_end - t0).min(MAX_COLS)];
                dot.dot_meta(wr, &xq[t0 * xb..], xb, &x.meta[t0 * nb..], cols);
                cols.iter().enumerate().for_each(|(i, &v)| emit(t0 + i, r, v));
            }
        }
    }
}

/// `rows_by_tokens` through the eight-row kernel: every activation row at once, eight
/// weight rows a call (`rows` starts and ends on multiples of eight).
fn rows_by_eight(
    w: QRows,
    f: Rows8Fn,
    rows: std::ops::Range<usize>,
    x: Activations,
    mut emit: impl FnMut(usize, usize, f32),
) {
    let n = x.xq.len() / x.xb;
    let rb = w.row_bytes();
    let mut out = vec![0f32; n * rows8::ROWS];
    for r0 in rows.clone().step_by(rows8::ROWS) {
        // With the next eight rows, which the kernel asks for from memory meanwhile.
        let end = (r0 + 2 * rows8::ROWS).min(rows.end);
        f(&w.bytes[r0 * rb..end * rb], rb, x.xq, x.xb, &mut out);
        for (t, v) in out.chunks_exact(rows8::ROWS).enumerate() {
            v.iter().enumerate().for_each(|(i, &v)| emit(t, r0 + i, v));
        }
    }
}

/// Weight rows handed to one single-token kernel call.
const ROWS_PER_CALL: usize = 64;

/// `rows_by_tokens` for one activation row: many weight rows per kernel call.
fn one_token(
    w: QRows,
    dot: DotKernel,
    rows: std::ops::Range<usize>,
    x: Activations,
    mut emit: impl FnMut(usize, usize, f32),
) {
    let rb = w.row_bytes();
    let mut buf = [0f32; ROWS_PER_CALL];
    for r0 in rows.clone().step_by(ROWS_PER_CALL) {
        let out = &mut buf[..(rows.end - r0).min(ROWS_PER_CALL)];
        dot.dot_rows(&w.bytes[r0 * rb..(r0 + out.len()) * rb], rb, x.xq, x.meta, out);
        out.iter().enumerate().for_each(|(i, &v)| emit(0, r0 + i, v));
    }
}

/// The `n` rows of `x` (`k` values each) quantized to `ty`, `xb` bytes per row.
pub fn quantize_rows(ty: GgmlType, x: &[f32], k: usize, xb: usize) -> Vec<u8> {
    let mut xq = vec![0u8; x.len() / k * xb];
    pool::for_chunks(&mut xq, xb, |r, q| {
        let mut buf = Vec::with_capacity(xb);
        quant::dot::quantize_row(ty, &x[r * k..(r + 1) * k], &mut buf);
        q.copy_from_slice(&buf);
    });
    xq
}

/// Rows `ids` of W, dequantized: `(ids.len(), k)`.
pub fn get_rows(w: QRows, ids: &[u32]) -> Vec<f32> {
    let mut out = vec![0f32; ids.len() * w.k];
    pool::for_chunks(&mut out, w.k, |i, o| w.dequantize_row(ids[i] as usize, o));
    out
}
