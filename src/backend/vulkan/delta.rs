//! The gated DeltaNet ops as kernel dispatches: L2 norm, column slices, the decay, the
//! causal conv1d and the delta rule, the last two on the recurrent state the cache holds
//! for each recurrent layer (`kv.rs`).

use super::kv::VkKv;
use super::ops::{bytes, BinaryOp, DeltaNetPush, RmsNormPush, SliceColsPush, SsmConvPush};
use super::pipelines::{WG, WG_ELEMS};
use super::weights::VkWeight;
use super::{VkTensor, VulkanBackend};
use crate::backend::DeltaParams;
use crate::error::{Error, Result};
use crate::quant::GgmlType;

impl VulkanBackend {
    pub(super) fn l2_norm_op(&self, x: &VkTensor, chunk: usize, eps: f32) -> Result<VkTensor> {
        let n_chunks = x.n_rows * x.n_cols / chunk.max(1);
        let y = self.alloc(x.n_rows, x.n_cols)?;
        let push = RmsNormPush { chunk: chunk as u32, n_chunks: n_chunks as u32, eps, l2: 1 };
        // The weight binding is not read in the L2 mode: x stands in for it.
        let bufs = [bytes(&x.buf), bytes(&x.buf), bytes(&y.buf)];
        self.run("rms_norm", &bufs, &push, self.grid(n_chunks, 1))?;
        Ok(y)
    }

    pub(super) fn slice_cols_op(
        &self,
        x: &VkTensor,
        offset: usize,
        width: usize,
        period: usize,
    ) -> Result<VkTensor> {
        if period == 0 || offset + width > period || !x.n_cols.is_multiple_of(period) {
            return Err(Error::bad_input(format!(
                "slice_cols: columns {offset}..{} of each {period} of {}",
                offset + width,
                x.n_cols
            )));
        }
        let y = self.alloc(x.n_rows, x.n_cols / period * width)?;
        let n = y.n_rows * y.n_cols;
        let push = SliceColsPush {
            n: n as u32,
            n_cols: x.n_cols as u32,
            offset: offset as u32,
            width: width as u32,
            period: period as u32,
        };
        let groups = n.div_ceil(WG_ELEMS).clamp(1, self.gpu.max_groups[0] as usize);
        self.run("slice_cols", &[bytes(&x.buf), bytes(&y.buf)], &push, [groups as u32, 1, 1])?;
        Ok(y)
    }

    /// softplus(alpha + dt_bias) · a, per column: a bias add, then the decay op.
    pub(super) fn gdn_decay_op(
        &self,
        alpha: &VkTensor,
        dt_bias: &VkWeight,
        a: &VkWeight,
    ) -> Result<VkTensor> {
        let (VkWeight::Vector { data: dt, .. }, VkWeight::Vector { data: a, .. }) = (dt_bias, a)
        else {
            return Err(dt_bias.misuse("two vectors"));
        };
        let biased = self.binary(BinaryOp::AddRow, alpha, dt, 0.0)?;
        self.binary(BinaryOp::SoftplusMulRow, &biased, a, 0.0)
    }

    pub(super) fn ssm_conv_op(
        &self,
        kv: &VkKv,
        il: usize,
        x: &VkTensor,
        w: &VkWeight,
    ) -> Result<VkTensor> {
        let taps = f32_matrix(w)?;
        let d_conv = w.dims()[0] as usize;
        let c = x.n_cols;
        if !kv.shape.state.is_recurrent(il) || kv.shape.state.conv != (d_conv - 1) * c {
            return Err(Error::bad_input(format!(
                "ssm_conv: layer {il} holds no conv state of {} channels × {} taps",
                c, d_conv
            )));
        }
        let y = self.alloc(x.n_rows, c)?;
        let push = SsmConvPush { c: c as u32, n: x.n_rows as u32, d_conv: d_conv as u32 };
        let bufs = [bytes(&x.buf), bytes(taps), bytes(&kv.conv[il]), bytes(&y.buf)];
        self.run("ssm_conv", &bufs, &push, self.grid(c.div_ceil(WG), 1))?;
        Ok(y)
    }

    /// The delta rule on `[q, k, v, g, beta]`.
    pub(super) fn delta_net_op(
        &self,
        kv: &VkKv,
        il: usize,
        x: [&VkTensor; 5],
        p: &DeltaParams,
    ) -> Result<VkTensor> {
        let (d, hv) = (p.head_dim, p.n_head_v);
        if !kv.shape.state.is_recurrent(il) || kv.shape.state.ssm != hv * d * d {
            return Err(Error::bad_input(format!(
                "gated_delta_net: layer {il} holds no state of {hv} heads of {d} × {d}"
            )));
        }
        let n = x[0].n_rows;
        let y = self.alloc(n, hv * d)?;
        let push = DeltaNetPush {
            n: n as u32,
            n_head_k: p.n_head_k as u32,
            n_head_v: hv as u32,
            d: d as u32,
        };
        let mut bufs: Vec<_> = x.iter().map(|t| bytes(&t.buf)).collect();
        bufs.extend([bytes(&kv.ssm[il]), bytes(&y.buf)]);
        self.run("delta_net", &bufs, &push, self.grid((hv * d).div_ceil(WG), 1))?;
        Ok(y)
    }
}

/// The f32 values of a small matrix held whole in one binding (the conv taps).
fn f32_matrix(w: &VkWeight) -> Result<&vulkano::buffer::Subbuffer<[u32]>> {
    match w {
        VkWeight::Matrix { ty: GgmlType::F32, chunks, .. } if chunks.len() == 1 => {
            Ok(&chunks[0].buf)
        }
        _ => Err(w.misuse("an f32 matrix in one binding")),
    }
}
