//! Activation panels for prompt-sized products: eight quantized activation rows
//! interleaved four quants at a time, so that one 32-byte vector holds the same four
//! elements of eight rows. A kernel then broadcasts four of a weight row's quants
//! against it (`vpdpbusd`) and each lane sums one activation row: no horizontal sums per
//! block, which is what bounds the one-row-at-a-time kernels (see `x86/panel.rs`).
//!
//! Each weight type is read as `w = scale · q + offset` per sub-block of `sub` elements
//! (`q` unsigned), so a panel also carries, per sub-block and row, the activation scale
//! `dx` and `sx = dx · Σ qx` (for the offset term).

use super::Level;
use crate::quant::{f16_le_at, GgmlType};

/// Activation rows per panel.
pub const PANEL_ROWS: usize = 8;

/// The most panels one kernel call takes.
pub const MAX_PANELS: usize = 8;

/// The panels of `n` activation rows of `k` values (the last padded with zero rows).
pub struct Panels {
    /// Per panel: `k / 4` groups of eight rows × four quants.
    q: Vec<u8>,
    /// Per panel and sub-block: eight `dx`, then eight `sx`.
    meta: Vec<f32>,
    pub n: usize,
    k: usize,
    sub: usize,
}

impl Panels {
    pub fn n_panels(&self) -> usize {
        self.n.div_ceil(PANEL_ROWS)
    }

    fn q_bytes(&self) -> usize {
        self.k * PANEL_ROWS
    }

    fn meta_len(&self) -> usize {
        self.k / self.sub * 2 * PANEL_ROWS
    }

    /// Panels `p0..p0 + n` as (quants, bytes per panel, meta, floats per panel).
    pub(crate) fn range(&self, p0: usize, n: usize) -> (&[u8], usize, &[f32], usize) {
        let (qb, ml) = (self.q_bytes(), self.meta_len());
        (&self.q[p0 * qb..(p0 + n) * qb], qb, &self.meta[p0 * ml..(p0 + n) * ml], ml)
    }

    /// Values per activation row, and per scale sub-block.
    pub(crate) fn k_sub(&self) -> (usize, usize) {
        (self.k, self.sub)
    }

    /// Panels of the rows `xq` (`n` rows of `xb` bytes, quantized to `x_ty`: Q8_0 or
    /// Q8_K) for weights whose scales cover `sub` elements (16 or 32).
    pub fn build(x_ty: GgmlType, xq: &[u8], xb: usize, k: usize, sub: usize) -> Panels {
        let n = xq.len() / xb;
        let mut p = Panels { q: Vec::new(), meta: Vec::new(), n, k, sub };
        let np = p.n_panels();
        p.q = vec![0u8; np * p.q_bytes()];
        p.meta = vec![0f32; np * p.meta_len()];
        for r in 0..n {
            let (pi, lane) = (r / PANEL_ROWS, r % PANEL_ROWS);
            let row = &xq[r * xb..(r + 1) * xb];
            let (qb, ml) = (p.q_bytes(), p.meta_len());
            let q = &mut p.q[pi * qb..(pi + 1) * qb];
            let meta = &mut p.meta[pi * ml..(pi + 1) * ml];
            match x_ty {
                GgmlType::Q8_K => fill_q8_k(row, k, sub, lane, q, meta),
                _ => fill_q8_0(row, k, sub, lane, q, meta),
            }
        }
        p
    }
}

/// Row `lane`'s quants `quants` (element `e0` on) into the panel's groups.
fn interleave(quants: &[u8], e0: usize, lane: usize, q: &mut [u8]) {
    for (g, four) in quants.chunks_exact(4).enumerate() {
        let at = ((e0 / 4 + g) * PANEL_ROWS + lane) * 4;
        q[at..at + 4].copy_from_slice(four);
    }
}

fn fill_q8_0(row: &[u8], k: usize, sub: usize, lane: usize, q: &mut [u8], meta: &mut [f32]) {
    debug_assert_eq!(sub, 32);
    for b in 0..k / 32 {
        let blk = &row[b * 34..(b + 1) * 34];
        interleave(&blk[2..], b * 32, lane, q);
        let dx = f16_le_at(blk, 0);
        let sum: i32 = blk[2..].iter().map(|&v| v as i8 as i32).sum();
        meta[b * 16 + lane] = dx;
        meta[b * 16 + 8 + lane] = dx * sum as f32;
    }
}

fn fill_q8_k(row: &[u8], k: usize, sub: usize, lane: usize, q: &mut [u8], meta: &mut [f32]) {
    let per = 256 / sub;
    for b in 0..k / 256 {
        let blk = &row[b * 292..(b + 1) * 292];
        interleave(&blk[4..260], b * 256, lane, q);
        let dx = f32::from_le_bytes([blk[0], blk[1], blk[2], blk[3]]);
        let bsum = |i: usize| i16::from_le_bytes([blk[260 + 2 * i], blk[261 + 2 * i]]) as i32;
        for s in 0..per {
            let sum: i32 = (0..sub / 16).map(|h| bsum(s * sub / 16 + h)).sum();
            let at = (b * per + s) * 16;
            meta[at + lane] = dx;
            meta[at + 8 + lane] = dx * sum as f32;
        }
    }
}

/// `out[c·8 + l] += w · (row l of panel p0 + c)` over the weight blocks in the range, for
/// `n_panels` (1..=[`MAX_PANELS`]) panels; `w` is one weight row of `k` values.
pub type PanelFn = fn(&[u8], &Panels, usize, usize, std::ops::Range<usize>, &mut [f32]);

/// A weight type's panel kernel and the sub-block its panels are built for.
#[derive(Clone, Copy)]
pub struct PanelKernel {
    pub f: PanelFn,
    pub sub: usize,
    pub x_ty: GgmlType,
    /// Elements per weight block.
    pub block_elems: usize,
    /// Activation rows from which the panels pay off.
    pub min_rows: usize,
}

impl PanelKernel {
    pub fn panels(&self, xq: &[u8], xb: usize, k: usize) -> Panels {
        Panels::build(self.x_ty, xq, xb, k, self.sub)
    }
}

/// The panel kernel of weights of type `ty`, when the running level has one for it
/// (AVX-512 VNNI, or AVX2). Q4_1 has none: its one-row kernel already meets Q8_1's
/// stored sums; nor has Q8_0 with AVX2, whose `maddubs` cannot take its quants unsigned.
pub fn panel_kernel(ty: GgmlType) -> Option<PanelKernel> {
    panel_kernel_at(ty, super::level())
}

pub fn panel_kernel_at(ty: GgmlType, level: Level) -> Option<PanelKernel> {
    if !level.supported() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86::{self as x, panel::panels as vnni, panel_avx2::panels as avx2};
        use GgmlType::*;
        let (f, sub): (PanelFn, usize) = match (level, ty) {
            (Level::Avx512Vnni, Q4_0) => (vnni::<x::Q4_0>, 32),
            (Level::Avx512Vnni, Q5_0) => (vnni::<x::Q5_0>, 32),
            (Level::Avx512Vnni, Q8_0) => (vnni::<x::Q8_0Vnni>, 32),
            (Level::Avx512Vnni, Q4_K) => (vnni::<x::Q4K>, 32),
            (Level::Avx512Vnni, Q5_K) => (vnni::<x::Q5K>, 32),
            (Level::Avx512Vnni, Q6_K) => (vnni::<x::Q6K>, 16),
            (Level::Avx2, Q4_0) => (avx2::<x::Q4_0>, 32),
            (Level::Avx2, Q5_0) => (avx2::<x::Q5_0>, 32),
            (Level::Avx2, Q4_K) => (avx2::<x::Q4K>, 32),
            (Level::Avx2, Q5_K) => (avx2::<x::Q5K>, 32),
            (Level::Avx2, Q6_K) => (avx2::<x::Q6K>, 16),
            _ => return None,
        };
        let min_rows = if level == Level::Avx2 { MIN_ROWS_AVX2 } else { MIN_ROWS_VNNI };
        Some(PanelKernel {
            f,
            sub,
            x_ty: super::activation_type(ty),
            block_elems: ty.block_elems(),
            min_rows,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Activation rows from which panels beat the one-row kernels (fewer go one at a time).
/// With VNNI the one-row kernels are fast and panels pay from two full ones; with AVX2,
/// whose one-row kernels spend a `madd` per `maddubs`, from half of one.
const MIN_ROWS_VNNI: usize = 16;
const MIN_ROWS_AVX2: usize = 4;
