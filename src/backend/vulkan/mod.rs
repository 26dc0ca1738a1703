//! The Vulkan compute backend: weights and KV cache resident on the device, every op a
//! kernel of `kernels/` recorded into one command buffer that is submitted when the
//! host reads a result back; a failure inside an op is reported there too (`failure.rs`).

mod delta;
mod device;
mod failure;
mod kv;
mod ops;
mod pipelines;
mod queue;
mod selftest;
mod weights;

#[cfg(test)]
mod tests;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use vulkano::buffer::Subbuffer;

use self::device::Gpu;
pub use self::device::{list as list_devices, DeviceInfo};
use self::failure::{stale_input, Failure};
pub use self::kv::VkKv;
use self::ops::BinaryOp;
use self::pipelines::Pipelines;
use self::queue::{detail, readback_buffer, Queue};
pub use self::weights::VkWeight;
use super::cpu::{CpuBackend, CpuWeight};
use super::{AttnParams, Backend, DeltaParams, KvShape, RopeParams};
use crate::error::{Error, Result};
use crate::gguf::{GgufFile, TensorInfo};

/// Activations on the device: `(n_rows, n_cols)` f32, row-major.
pub struct VkTensor {
    buf: Subbuffer<[f32]>,
    n_rows: usize,
    n_cols: usize,
}

/// Expert ids on the device, one per (token, slot).
pub struct VkIds {
    buf: Subbuffer<[u32]>,
    n: usize,
}

pub struct VulkanBackend {
    gpu: Gpu,
    pipelines: Pipelines,
    queue: Queue,
    /// The first failure inside an op since the last read-back (see `failure.rs`).
    failure: Failure,
    /// The experts of layers below this stay on the CPU (0: none; `usize::MAX`: all).
    n_cpu_moe: usize,
    /// Expert products computed on the CPU so far.
    host_ops: AtomicU64,
    /// Bytes of weights loaded onto the device and kept in host memory.
    device_bytes: AtomicU64,
    host_bytes: AtomicU64,
    /// Bytes of the whole model, for the upload progress line (0: no progress line).
    progress_total: u64,
}

impl VulkanBackend {
    /// Opens device `index` (see [`list_devices`]), or the best one.
    pub fn new(index: Option<usize>) -> Result<VulkanBackend> {
        let gpu = Gpu::open(index)?;
        let pipelines = Pipelines::new(Arc::clone(&gpu.device));
        Ok(VulkanBackend {
            failure: Failure::new(&gpu)?,
            gpu,
            pipelines,
            queue: Queue::default(),
            n_cpu_moe: 0,
            host_ops: Default::default(),
            device_bytes: Default::default(),
            host_bytes: Default::default(),
            progress_total: 0,
        })
    }

    /// Keeps the expert tensors of layers `0..n` in host memory and runs their products
    /// on the CPU (`--n-cpu-moe N`; `usize::MAX` for `--cpu-moe`).
    pub fn with_cpu_moe(mut self, n: usize) -> VulkanBackend {
        self.n_cpu_moe = n;
        self
    }

    /// Shows a progress line on stderr (a terminal only) while weights of `total` bytes
    /// in all are uploaded.
    pub fn with_progress(mut self, total: u64) -> VulkanBackend {
        use std::io::IsTerminal;
        self.progress_total = if std::io::stderr().is_terminal() { total } else { 0 };
        self
    }

    fn report_progress(&self) {
        if self.progress_total == 0 {
            return;
        }
        let (d, h) = self.loaded_bytes();
        let done = (d + h).min(self.progress_total);
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let end = if done == self.progress_total { "\r\x1b[2K" } else { "" };
        eprint!(
            "\rhearth: uploading weights to {}: {:3.0}% ({:.0}/{:.0} MiB){end}",
            self.gpu.info.name,
            100.0 * done as f64 / self.progress_total as f64,
            mib(done),
            mib(self.progress_total)
        );
    }

    /// Checks the kernels a model in `file` needs against the CPU on a small batch; an
    /// error names the first kernel that disagrees.
    pub fn self_test(&self, file: &GgufFile) -> Result<()> {
        selftest::run(self, file)
    }

    /// Expert products run on the CPU so far.
    pub fn host_ops(&self) -> u64 {
        self.host_ops.load(Relaxed)
    }

    /// Bytes of the weights loaded so far: (on the device, in host memory).
    pub fn loaded_bytes(&self) -> (u64, u64) {
        (self.device_bytes.load(Relaxed), self.host_bytes.load(Relaxed))
    }

    /// The layers whose experts must stay on the CPU for `file` to fit in `budget`
    /// bytes of device memory, experts of the last layers placed on the device first;
    /// `None` if even the tensors other than experts do not fit.
    pub fn experts_to_host(file: &GgufFile, budget: u64) -> Option<usize> {
        let mut shared = 0u64;
        let mut per_layer: Vec<u64> = Vec::new();
        for t in file.tensors() {
            match weights::expert_layer(&t.name) {
                Some(il) => {
                    per_layer.resize(per_layer.len().max(il + 1), 0);
                    per_layer[il] += t.n_bytes;
                }
                None => shared += t.n_bytes,
            }
        }
        let mut used = shared;
        if used > budget {
            return None;
        }
        for (il, bytes) in per_layer.iter().enumerate().rev() {
            if used + bytes > budget {
                return Some(il + 1);
            }
            used += bytes;
        }
        Some(0)
    }

    pub fn device(&self) -> &DeviceInfo {
        &self.gpu.info
    }

    /// Kernel dispatches submitted so far.
    pub fn dispatches(&self) -> u64 {
        self.queue.dispatched()
    }

    /// Bytes a weight holds on the device.
    pub fn weight_bytes(w: &VkWeight) -> u64 {
        w.bytes()
    }

    /// Reads `len` bytes at `offset` of each `(buffer, offset, len)` in order, after the
    /// work pending.
    fn read_ranges(&self, ranges: &[(&Subbuffer<[u32]>, u64, u64)]) -> Result<Vec<u8>> {
        if ranges.iter().any(|r| self.failure.is_stand_in(r.0)) {
            return Err(stale_input());
        }
        let total: u64 = ranges.iter().map(|r| r.2).sum();
        let out = readback_buffer::<u8>(&self.gpu, total as usize)?;
        let mut at = 0;
        for &(buf, off, len) in ranges.iter().filter(|r| r.2 > 0) {
            let src = buf.as_bytes().clone().slice(off..off + len);
            self.queue.copy(src, out.clone().slice(at..at + len));
            at += len;
        }
        self.queue.flush(&self.gpu)?;
        let data = out.read().map_err(|e| Error::failed(format!("mapping: {}", detail(&e))))?;
        Ok(data[..total as usize].to_vec())
    }

    fn read_f32(&self, t: &VkTensor) -> Result<Vec<f32>> {
        let n = (t.n_rows * t.n_cols) as u64;
        let bytes = self.read_ranges(&[(&t.buf.clone().reinterpret(), 0, 4 * n)])?;
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    fn read_ids(&self, ids: &VkIds) -> Result<Vec<u32>> {
        let bytes = self.read_ranges(&[(&ids.buf, 0, 4 * ids.n as u64)])?;
        Ok(bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    fn upload_tensor(&self, data: &[f32], n_rows: usize, n_cols: usize) -> Result<VkTensor> {
        debug_assert_eq!(data.len(), n_rows * n_cols);
        Ok(VkTensor { buf: self.upload(data)?, n_rows, n_cols })
    }

    /// An expert product of a weight kept in host memory, run on the CPU.
    fn host_mul_mat_id(&self, w: &CpuWeight, x: &VkTensor, ids: &VkIds) -> Result<VkTensor> {
        self.host_ops.fetch_add(1, Relaxed);
        let xh = CpuBackend.tensor(self.read_f32(x)?, x.n_rows, x.n_cols);
        let y = CpuBackend.mul_mat_id(w, &xh, &self.read_ids(ids)?);
        self.upload_tensor(&y.data, y.n_rows, y.n_cols)
    }

    /// A gather of rows `rows` of `x`.
    fn gather_op(&self, name: &str, x: &VkTensor, rows: &[u32]) -> VkTensor {
        self.op(name, (rows.len(), x.n_cols), || self.gather(x, rows))
    }
}

impl Backend for VulkanBackend {
    type Tensor = VkTensor;
    type Weight = VkWeight;
    type Kv = VkKv;
    type Ids = VkIds;

    fn name(&self) -> &'static str {
        "vulkan"
    }

    fn load_weight(&self, file: &Arc<GgufFile>, info: &TensorInfo) -> Result<VkWeight> {
        if weights::expert_layer(&info.name).is_some_and(|il| il < self.n_cpu_moe) {
            let w = CpuBackend.load_weight(file, info)?;
            self.host_bytes.fetch_add(w.host_bytes(), Relaxed);
            self.report_progress();
            return Ok(VkWeight::Host(w));
        }
        let kernel = format!("mul_mat_{}", info.ty.name().to_lowercase());
        if info.dims.len() > 1 && !Pipelines::has(&kernel) {
            return Err(Error::unsupported(format!(
                "tensor type {} has no Vulkan kernel",
                info.ty
            ))
            .with_tensor(&info.name)
            .with_file(file.path()));
        }
        let w = weights::load(&self.gpu, &self.queue, file, info)?;
        self.device_bytes.fetch_add(info.n_bytes, Relaxed);
        self.report_progress();
        Ok(w)
    }

    fn weight_dims<'a>(&self, w: &'a VkWeight) -> &'a [u64] {
        w.dims()
    }

    fn tensor(&self, data: Vec<f32>, n_rows: usize, n_cols: usize) -> VkTensor {
        self.op("upload", (n_rows, n_cols), || self.upload_tensor(&data, n_rows, n_cols))
    }

    fn to_host(&self, t: &VkTensor) -> Result<Vec<f32>> {
        self.read_back("read-back", || self.read_f32(t))
    }

    fn shape(&self, t: &VkTensor) -> (usize, usize) {
        (t.n_rows, t.n_cols)
    }

    fn select_rows(&self, t: &VkTensor, rows: &[usize]) -> VkTensor {
        let rows: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
        self.gather_op("select_rows", t, &rows)
    }

    fn get_rows(&self, w: &VkWeight, ids: &[u32]) -> VkTensor {
        let k = w.dims()[0] as usize;
        self.op("get_rows", (ids.len(), k), || self.get_rows_op(w, ids).map_err(|e| w.context(e)))
    }

    fn matmul(&self, w: &VkWeight, x: &VkTensor) -> VkTensor {
        // A vector (the shared expert's gate) multiplies as a matrix of one row.
        let row = w.as_one_row();
        let w = row.as_ref().unwrap_or(w);
        let m = w.dims().get(1).map_or(0, |&m| m as usize);
        self.op("matmul", (x.n_rows, m), || self.matmul_op(w, x).map_err(|e| w.context(e)))
    }

    fn ids(&self, ids: &[u32]) -> VkIds {
        let upload = || Ok(VkIds { buf: self.upload(ids)?, n: ids.len() });
        self.guard("upload", upload, |f| f.ids(ids.len()))
    }

    fn ids_to_host(&self, ids: &VkIds) -> Result<Vec<u32>> {
        self.read_back("read-back", || self.read_ids(ids))
    }

    fn top_k_experts(&self, logits: &VkTensor, k: usize, norm: bool) -> (VkIds, VkTensor) {
        let n = logits.n_rows * k;
        let stand_in = |f: &Failure| (f.ids(n), f.tensor(n, 1));
        self.guard("top_k_experts", || self.top_k_op(logits, k, norm), stand_in)
    }

    fn mul_mat_id(&self, w: &VkWeight, x: &VkTensor, ids: &VkIds) -> VkTensor {
        let m = w.dims().get(1).map_or(0, |&m| m as usize);
        self.op("mul_mat_id", (ids.n, m), || match w {
            VkWeight::Host(hw) => self.host_mul_mat_id(hw, x, ids),
            _ => self.mul_mat_id_op(w, x, ids).map_err(|e| w.context(e)),
        })
    }

    fn rms_norm(&self, x: &VkTensor, w: &VkWeight, eps: f32) -> VkTensor {
        self.op("rms_norm", (x.n_rows, x.n_cols), || self.rms_norm_op(x, w, eps))
    }

    fn add(&self, a: &VkTensor, b: &VkTensor) -> VkTensor {
        assert_eq!((a.n_rows, a.n_cols), (b.n_rows, b.n_cols), "add shapes");
        self.op("add", (a.n_rows, a.n_cols), || self.binary(BinaryOp::Add, a, &b.buf, 0.0))
    }

    fn add_row(&self, x: &VkTensor, bias: &VkWeight) -> VkTensor {
        self.op("add_row", (x.n_rows, x.n_cols), || {
            let VkWeight::Vector { data, .. } = bias else { return Err(bias.misuse("a vector")) };
            self.binary(BinaryOp::AddRow, x, data, 0.0)
        })
    }

    fn scale(&self, x: &VkTensor, s: f32) -> VkTensor {
        self.op("scale", (x.n_rows, x.n_cols), || self.binary(BinaryOp::Scale, x, &x.buf, s))
    }

    fn scale_rows(&self, x: &VkTensor, s: &[f32]) -> VkTensor {
        self.op("scale_rows", (x.n_rows, x.n_cols), || {
            self.binary(BinaryOp::ScaleRows, x, &self.upload(s)?, 0.0)
        })
    }

    fn scale_rows_by(&self, x: &VkTensor, s: &VkTensor, sigmoid: bool) -> VkTensor {
        let op = if sigmoid { BinaryOp::ScaleRowsSigmoid } else { BinaryOp::ScaleRows };
        self.op("scale_rows_by", (x.n_rows, x.n_cols), || self.binary(op, x, &s.buf, 0.0))
    }

    fn sum_groups(&self, x: &VkTensor, g: usize) -> VkTensor {
        self.op("sum_groups", (x.n_rows / g, x.n_cols), || self.sum_groups_op(x, g))
    }

    fn repeat_rows(&self, x: &VkTensor, g: usize) -> VkTensor {
        let rows: Vec<u32> = (0..x.n_rows * g).map(|r| (r / g) as u32).collect();
        self.gather_op("repeat_rows", x, &rows)
    }

    fn swiglu(&self, gate: &VkTensor, up: &VkTensor) -> VkTensor {
        let shape = (gate.n_rows, gate.n_cols);
        self.op("swiglu", shape, || self.binary(BinaryOp::Swiglu, gate, &up.buf, 0.0))
    }

    fn geglu(&self, gate: &VkTensor, up: &VkTensor) -> VkTensor {
        let shape = (gate.n_rows, gate.n_cols);
        self.op("geglu", shape, || self.binary(BinaryOp::Geglu, gate, &up.buf, 0.0))
    }

    fn rope(&self, x: &VkTensor, positions: &[u32], p: &RopeParams) -> VkTensor {
        self.op("rope", (x.n_rows, x.n_cols), || self.rope_op(x, positions, p))
    }

    fn new_kv(&self, shape: KvShape) -> Result<VkKv> {
        VkKv::new(&self.gpu, &self.queue, shape)
    }

    fn kv_store(&self, kv: &mut VkKv, il: usize, start: usize, k: &VkTensor, v: &VkTensor) {
        self.guard("kv_store", || self.kv_store_op(kv, il, start, k, v), |_| ());
    }

    fn attention(
        &self,
        q: &VkTensor,
        kv: &VkKv,
        il: usize,
        positions: &[u32],
        p: &AttnParams,
    ) -> VkTensor {
        let shape = (q.n_rows, p.n_head.saturating_mul(p.head_dim_v));
        self.op("attention", shape, || self.attention_op(q, kv, il, positions, p))
    }

    fn kv_export(&self, kv: &VkKv, rows: Range<usize>) -> Result<Vec<u8>> {
        let s = &kv.shape;
        let (kb, vb) =
            (s.type_k.row_bytes(s.n_embd_k) as u64, s.type_v.row_bytes(s.n_embd_v) as u64);
        let (lo, n) = (rows.start as u64, rows.len() as u64);
        let ranges: Vec<_> = (kv.layers_with_rows())
            .flat_map(|il| [(&kv.k[il], lo * kb, n * kb), (&kv.v[il], lo * vb, n * vb)])
            .collect();
        self.read_back("KV export", || self.read_ranges(&ranges))
    }

    fn kv_import(&self, kv: &mut VkKv, rows: Range<usize>, bytes: &[u8]) -> Result<()> {
        if rows.end > kv.shape.n_ctx || bytes.len() != kv.export_len(rows.len()) {
            return Err(Error::bad_input(format!(
                "KV data of {} bytes does not hold positions {}..{} of this cache",
                bytes.len(),
                rows.start,
                rows.end
            )));
        }
        if rows.is_empty() {
            return Ok(());
        }
        let s = kv.shape;
        let (kb, vb) =
            (s.type_k.row_bytes(s.n_embd_k) as u64, s.type_v.row_bytes(s.n_embd_v) as u64);
        let (lo, n) = (rows.start as u64, rows.len() as u64);
        self.read_back("KV import", || {
            let src = self.upload(bytes)?;
            let mut at = 0;
            for il in kv.layers_with_rows() {
                for (buf, rb) in [(&kv.k[il], kb), (&kv.v[il], vb)] {
                    let dst = buf.as_bytes().clone().slice(lo * rb..(lo + n) * rb);
                    self.queue.copy(src.clone().slice(at..at + n * rb), dst);
                    at += n * rb;
                }
            }
            self.queue.flush(&self.gpu)
        })
    }

    // The gated DeltaNet of hybrid models (`delta.rs`).

    fn mul(&self, a: &VkTensor, b: &VkTensor) -> VkTensor {
        let shape = (a.n_rows, a.n_cols);
        self.op("mul", shape, || self.binary(BinaryOp::Mul, a, &b.buf, 0.0))
    }

    fn sigmoid(&self, x: &VkTensor) -> VkTensor {
        let shape = (x.n_rows, x.n_cols);
        self.op("sigmoid", shape, || self.binary(BinaryOp::Sigmoid, x, &x.buf, 0.0))
    }

    fn silu(&self, x: &VkTensor) -> VkTensor {
        let shape = (x.n_rows, x.n_cols);
        self.op("silu", shape, || self.binary(BinaryOp::Silu, x, &x.buf, 0.0))
    }

    fn l2_norm(&self, x: &VkTensor, n: usize, eps: f32) -> VkTensor {
        self.op("l2_norm", (x.n_rows, x.n_cols), || self.l2_norm_op(x, n, eps))
    }

    fn slice_cols(&self, x: &VkTensor, offset: usize, width: usize, period: usize) -> VkTensor {
        let shape = (x.n_rows, x.n_cols / period.max(1) * width);
        self.op("slice_cols", shape, || self.slice_cols_op(x, offset, width, period))
    }

    fn gdn_decay(&self, alpha: &VkTensor, dt_bias: &VkWeight, a: &VkWeight) -> VkTensor {
        self.op("gdn_decay", (alpha.n_rows, alpha.n_cols), || self.gdn_decay_op(alpha, dt_bias, a))
    }

    fn ssm_conv(&self, kv: &mut VkKv, il: usize, x: &VkTensor, w: &VkWeight) -> VkTensor {
        self.op("ssm_conv", (x.n_rows, x.n_cols), || self.ssm_conv_op(kv, il, x, w))
    }

    fn gated_delta_net(
        &self,
        kv: &mut VkKv,
        il: usize,
        q: &VkTensor,
        k: &VkTensor,
        v: &VkTensor,
        g: &VkTensor,
        beta: &VkTensor,
        p: &DeltaParams,
    ) -> VkTensor {
        self.op("gated_delta_net", (q.n_rows, p.n_head_v * p.head_dim), || {
            self.delta_net_op(kv, il, [q, k, v, g, beta], p)
        })
    }

    fn state_clear(&self, kv: &mut VkKv) {
        for b in kv.state_buffers() {
            self.queue.zero(b.clone());
        }
    }

    fn state_export(&self, kv: &VkKv) -> Result<Vec<u8>> {
        let ranges: Vec<_> = kv.state_buffers().into_iter().map(|b| (b, 0, b.size())).collect();
        self.read_back("state export", || self.read_ranges(&ranges))
    }

    fn state_import(&self, kv: &mut VkKv, bytes: &[u8]) -> Result<()> {
        let want = kv.shape.state.bytes();
        if bytes.len() != want {
            return Err(Error::bad_input(format!(
                "recurrent state of {} bytes does not fit this model's {want} bytes",
                bytes.len()
            )));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.read_back("state import", || {
            let src = self.upload(bytes)?;
            let mut at = 0;
            for b in kv.state_buffers() {
                let n = b.size();
                self.queue.copy(src.clone().slice(at..at + n), b.as_bytes().clone());
                at += n;
            }
            self.queue.flush(&self.gpu)
        })
    }
}
