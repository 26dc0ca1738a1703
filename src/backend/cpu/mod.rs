//! The CPU backend: weights read in place from the memory map, activations as f32
//! matrices, work split across the threads of `pool`.

mod attention;
mod delta;
pub mod expert;
pub mod kv;
pub mod matmul;
pub mod ops;
pub mod pool;
mod vec_f16;

use std::ops::Range;
use std::sync::Arc;

use self::kv::CpuKv;
use self::matmul::QRows;
use super::{AttnParams, Backend, DeltaParams, KvShape, RopeParams};
use crate::error::{Error, Result};
use crate::gguf::{GgufFile, TensorInfo};
use crate::quant::{self, GgmlType};

/// Activations: `(n_rows, n_cols)` f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuTensor {
    pub data: Vec<f32>,
    pub n_rows: usize,
    pub n_cols: usize,
}

/// A weight: matrices stay in the memory map; vectors (norms, biases) are converted to
/// f32 once at load.
pub enum CpuWeight {
    Mapped { file: Arc<GgufFile>, info: TensorInfo },
    Vector { data: Vec<f32>, dims: Vec<u64> },
}

impl CpuWeight {
    fn rows(&self) -> QRows<'_> {
        match self {
            CpuWeight::Mapped { file, info } => QRows {
                bytes: file.tensor_data(info),
                ty: info.ty,
                k: info.dims[0] as usize,
                n_rows: info.n_rows() as usize,
            },
            CpuWeight::Vector { data, .. } => {
                QRows { bytes: bytemuck_f32(data), ty: GgmlType::F32, k: data.len(), n_rows: 1 }
            }
        }
    }

    /// Bytes of the weight in host memory (mapped or converted).
    pub fn host_bytes(&self) -> u64 {
        match self {
            CpuWeight::Mapped { info, .. } => info.n_bytes,
            CpuWeight::Vector { data, .. } => 4 * data.len() as u64,
        }
    }

    /// Every value as f32 (small weights only: a conv's taps): read in place when the
    /// weight is f32 already, else dequantized.
    fn values(&self) -> std::borrow::Cow<'_, [f32]> {
        let rows = self.rows();
        if rows.ty == GgmlType::F32 {
            // SAFETY: any 4 bytes are a valid f32; `align_to` leaves misaligned bytes out.
            let (head, vals, _) = unsafe { rows.bytes.align_to::<f32>() };
            if head.is_empty() {
                return std::borrow::Cow::Borrowed(vals);
            }
        }
        let mut out = vec![0f32; rows.k * rows.n_rows];
        quant::dequantize(rows.ty, rows.bytes, &mut out).expect("a loaded weight dequantizes");
        std::borrow::Cow::Owned(out)
    }

    fn vector(&self) -> &[f32] {
        match self {
            CpuWeight::Vector { data, .. } => data,
            CpuWeight::Mapped { info, .. } => panic!("tensor {} used as a vector", info.name),
        }
    }
}

/// Views f32s as their little-endian bytes (hearth targets little-endian machines).
fn bytemuck_f32(data: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8; the length is exact.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), data.len() * 4) }
}

/// The CPU backend. Threads come from the process-wide pool (see `set_threads`).
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuBackend;

/// Sizes the global thread pool once; later calls keep the first size.
pub fn set_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::usage("-t/--threads must be at least 1"));
    }
    pool::init(n);
    Ok(())
}

impl CpuBackend {
    fn t(&self, data: Vec<f32>, n_rows: usize, n_cols: usize) -> CpuTensor {
        debug_assert_eq!(data.len(), n_rows * n_cols);
        CpuTensor { data, n_rows, n_cols }
    }
}

impl Backend for CpuBackend {
    type Tensor = CpuTensor;
    type Weight = CpuWeight;
    type Kv = CpuKv;
    type Ids = Vec<u32>;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn load_weight(&self, file: &Arc<GgufFile>, info: &TensorInfo) -> Result<CpuWeight> {
        if !info.ty.info().dequantizable {
            return Err(Error::unsupported(format!("tensor type {} is not supported", info.ty))
                .with_tensor(&info.name)
                .with_file(file.path()));
        }
        if info.dims.len() > 1 {
            return Ok(CpuWeight::Mapped { file: Arc::clone(file), info: info.clone() });
        }
        let mut data = vec![0f32; info.n_elems as usize];
        quant::dequantize(info.ty, file.tensor_data(info), &mut data)
            .map_err(|e| Error::bad_input(e.to_string()).with_tensor(&info.name))?;
        Ok(CpuWeight::Vector { data, dims: info.dims.clone() })
    }

    fn weight_dims<'a>(&self, w: &'a CpuWeight) -> &'a [u64] {
        match w {
            CpuWeight::Mapped { info, .. } => &info.dims,
            CpuWeight::Vector { dims, .. } => dims,
        }
    }

    fn tensor(&self, data: Vec<f32>, n_rows: usize, n_cols: usize) -> CpuTensor {
        self.t(data, n_rows, n_cols)
    }

    fn to_host(&self, t: &CpuTensor) -> Result<Vec<f32>> {
        Ok(t.data.clone())
    }

    fn shape(&self, t: &CpuTensor) -> (usize, usize) {
        (t.n_rows, t.n_cols)
    }

    fn select_rows(&self, t: &CpuTensor, rows: &[usize]) -> CpuTensor {
        let c = t.n_cols;
        let data = rows.iter().flat_map(|&r| &t.data[r * c..(r + 1) * c]).copied().collect();
        self.t(data, rows.len(), c)
    }

    fn get_rows(&self, w: &CpuWeight, ids: &[u32]) -> CpuTensor {
        let rows = w.rows();
        self.t(matmul::get_rows(rows, ids), ids.len(), rows.k)
    }

    fn matmul(&self, w: &CpuWeight, x: &CpuTensor) -> CpuTensor {
        let rows = w.rows();
        assert_eq!(x.n_cols, rows.k, "matmul: activation width vs weight rows");
        self.t(matmul::matmul(rows, &x.data, x.n_rows), x.n_rows, rows.n_rows)
    }

    fn ids(&self, ids: &[u32]) -> Vec<u32> {
        ids.to_vec()
    }

    fn ids_to_host(&self, ids: &Vec<u32>) -> Result<Vec<u32>> {
        Ok(ids.clone())
    }

    fn top_k_experts(&self, logits: &CpuTensor, k: usize, norm: bool) -> (Vec<u32>, CpuTensor) {
        let (ids, weights) = ops::top_k_experts(&logits.data, logits.n_cols, k, norm);
        let n = weights.len();
        (ids, self.t(weights, n, 1))
    }

    fn mul_mat_id(&self, w: &CpuWeight, x: &CpuTensor, ids: &Vec<u32>) -> CpuTensor {
        let dims = self.weight_dims(w);
        let m = dims[1] as usize;
        let rows = w.rows();
        assert_eq!((x.n_cols, x.n_rows), (rows.k, ids.len()), "mul_mat_id shapes");
        self.t(expert::mul_mat_id(rows, m, &x.data, ids), ids.len(), m)
    }

    fn mul_mat_id_pair(
        &self,
        w: [&CpuWeight; 2],
        x: &CpuTensor,
        ids: &Vec<u32>,
        slots: usize,
    ) -> [CpuTensor; 2] {
        let m = self.weight_dims(w[0])[1] as usize;
        let rows = w.map(|w| w.rows());
        assert_eq!((x.n_cols, x.n_rows * slots), (rows[0].k, ids.len()), "mul_mat_id shapes");
        let mut outs = expert::mul_mat_ids(&rows, m, &x.data, ids, slots).into_iter();
        [(); 2].map(|_| self.t(outs.next().expect("one product per weight"), ids.len(), m))
    }

    fn rms_norm(&self, x: &CpuTensor, w: &CpuWeight, eps: f32) -> CpuTensor {
        self.t(ops::rms_norm(&x.data, w.vector(), eps), x.n_rows, x.n_cols)
    }

    fn add(&self, a: &CpuTensor, b: &CpuTensor) -> CpuTensor {
        assert_eq!((a.n_rows, a.n_cols), (b.n_rows, b.n_cols), "add shapes");
        let mut data = a.data.clone();
        pool::for_chunks(&mut data, ops::ELEMS_PER_TASK, |i, o| {
            let b = &b.data[i * ops::ELEMS_PER_TASK..];
            o.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        });
        self.t(data, a.n_rows, a.n_cols)
    }

    fn add_row(&self, x: &CpuTensor, bias: &CpuWeight) -> CpuTensor {
        let b = bias.vector();
        let mut data = x.data.clone();
        data.chunks_mut(x.n_cols).for_each(|row| row.iter_mut().zip(b).for_each(|(v, c)| *v += c));
        self.t(data, x.n_rows, x.n_cols)
    }

    fn scale(&self, x: &CpuTensor, s: f32) -> CpuTensor {
        self.t(x.data.iter().map(|v| v * s).collect(), x.n_rows, x.n_cols)
    }

    fn scale_rows(&self, x: &CpuTensor, s: &[f32]) -> CpuTensor {
        let mut data = x.data.clone();
        data.chunks_mut(x.n_cols).zip(s).for_each(|(row, &f)| row.iter_mut().for_each(|v| *v *= f));
        self.t(data, x.n_rows, x.n_cols)
    }

    fn scale_rows_by(&self, x: &CpuTensor, s: &CpuTensor, sigmoid: bool) -> CpuTensor {
        let f = |v: f32| if sigmoid { ops::sigmoid(v) } else { v };
        let s: Vec<f32> = s.data.iter().map(|&v| f(v)).collect();
        self.scale_rows(x, &s)
    }

    fn sum_groups(&self, x: &CpuTensor, g: usize) -> CpuTensor {
        let c = x.n_cols;
        let mut data = vec![0f32; x.n_rows / g * c];
        for (r, row) in x.data.chunks(c).enumerate() {
            data[r / g * c..][..c].iter_mut().zip(row).for_each(|(o, v)| *o += v);
        }
        self.t(data, x.n_rows / g, c)
    }

    fn repeat_rows(&self, x: &CpuTensor, g: usize) -> CpuTensor {
        let mut data = Vec::with_capacity(x.data.len() * g);
        for row in x.data.chunks(x.n_cols) {
            (0..g).for_each(|_| data.extend_from_slice(row));
        }
        self.t(data, x.n_rows * g, x.n_cols)
    }

    fn swiglu(&self, gate: &CpuTensor, up: &CpuTensor) -> CpuTensor {
        self.t(ops::gated(&gate.data, &up.data, ops::silu), gate.n_rows, gate.n_cols)
    }

    fn geglu(&self, gate: &CpuTensor, up: &CpuTensor) -> CpuTensor {
        self.t(ops::gated(&gate.data, &up.data, ops::gelu_f16_table), gate.n_rows, gate.n_cols)
    }

    fn rope(&self, x: &CpuTensor, positions: &[u32], p: &RopeParams) -> CpuTensor {
        self.t(ops::rope(&x.data, positions, p), x.n_rows, x.n_cols)
    }

    fn new_kv(&self, shape: KvShape) -> Result<CpuKv> {
        Ok(CpuKv::new(shape))
    }

    fn kv_store(&self, kv: &mut CpuKv, il: usize, start: usize, k: &CpuTensor, v: &CpuTensor) {
        kv.store(il, start, &k.data, &v.data);
    }

    fn attention(
        &self,
        q: &CpuTensor,
        kv: &CpuKv,
        il: usize,
        positions: &[u32],
        p: &AttnParams,
    ) -> CpuTensor {
        let data = attention::attention(&q.data, kv, il, positions, p);
        self.t(data, q.n_rows, p.n_head * p.head_dim_v)
    }

    fn kv_export(&self, kv: &CpuKv, rows: Range<usize>) -> Result<Vec<u8>> {
        Ok(kv.export(rows))
    }

    fn kv_import(&self, kv: &mut CpuKv, rows: Range<usize>, bytes: &[u8]) -> Result<()> {
        kv.import(rows, bytes)
    }

    fn mul(&self, a: &CpuTensor, b: &CpuTensor) -> CpuTensor {
        assert_eq!((a.n_rows, a.n_cols), (b.n_rows, b.n_cols), "mul shapes");
        self.t(a.data.iter().zip(&b.data).map(|(x, y)| x * y).collect(), a.n_rows, a.n_cols)
    }

    fn sigmoid(&self, x: &CpuTensor) -> CpuTensor {
        self.t(x.data.iter().map(|&v| ops::sigmoid(v)).collect(), x.n_rows, x.n_cols)
    }

    fn silu(&self, x: &CpuTensor) -> CpuTensor {
        self.t(x.data.iter().map(|&v| ops::silu(v)).collect(), x.n_rows, x.n_cols)
    }

    fn l2_norm(&self, x: &CpuTensor, n: usize, eps: f32) -> CpuTensor {
        self.t(ops::l2_norm(&x.data, n, eps), x.n_rows, x.n_cols)
    }

    fn slice_cols(&self, x: &CpuTensor, offset: usize, width: usize, period: usize) -> CpuTensor {
        let data: Vec<f32> = x
            .data
            .chunks(period)
            .flat_map(|block| &block[offset..offset + width])
            .copied()
            .collect();
        let n_cols = x.n_cols / period * width;
        self.t(data, x.n_rows, n_cols)
    }

    fn gdn_decay(&self, alpha: &CpuTensor, dt_bias: &CpuWeight, a: &CpuWeight) -> CpuTensor {
        let (dt, a) = (dt_bias.vector(), a.vector());
        let data = alpha
            .data
            .chunks(alpha.n_cols)
            .flat_map(|row| {
                row.iter().zip(dt).zip(a).map(|((&x, &b), &s)| ops::softplus(x + b) * s)
            })
            .collect();
        self.t(data, alpha.n_rows, alpha.n_cols)
    }

    fn ssm_conv(&self, kv: &mut CpuKv, il: usize, x: &CpuTensor, w: &CpuWeight) -> CpuTensor {
        let taps = w.values();
        let d_conv = self.weight_dims(w)[0] as usize;
        let out = delta::ssm_conv(&mut kv.conv[il], &x.data, &taps, x.n_cols, d_conv);
        self.t(out, x.n_rows, x.n_cols)
    }

    fn gated_delta_net(
        &self,
        kv: &mut CpuKv,
        il: usize,
        q: &CpuTensor,
        k: &CpuTensor,
        v: &CpuTensor,
        g: &CpuTensor,
        beta: &CpuTensor,
        p: &DeltaParams,
    ) -> CpuTensor {
        let x =
            delta::DeltaInputs { q: &q.data, k: &k.data, v: &v.data, g: &g.data, beta: &beta.data };
        let out = delta::gated_delta_net(&mut kv.ssm[il], &x, p);
        self.t(out, q.n_rows, p.n_head_v * p.head_dim)
    }

    fn state_clear(&self, kv: &mut CpuKv) {
        kv.state_clear();
    }

    fn state_export(&self, kv: &CpuKv) -> Result<Vec<u8>> {
        Ok(kv.state_export())
    }

    fn state_import(&self, kv: &mut CpuKv, bytes: &[u8]) -> Result<()> {
        kv.state_import(bytes)
    }
}

#[cfg(test)]
mod tests;
