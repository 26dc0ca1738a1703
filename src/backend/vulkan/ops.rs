//! The backend ops as kernel dispatches: push-constant structs mirrored from the
//! kernels, workgroup grids, and the splitting of large operands across bindings.

use vulkano::buffer::Subbuffer;

use super::failure::stale_input;
use super::kv::VkKv;
use super::pipelines::{Push, WG, WG_ELEMS};
use super::queue::{context, device_buffer, host_buffer};
use super::weights::VkWeight;
use super::{VkIds, VkTensor, VulkanBackend};
use crate::backend::{AttnParams, KvType, RopeMode, RopeParams};
use crate::error::Result;
use crate::quant::{self, GgmlType};

/// Activation rows of one `mul_mat` workgroup (`NT` in mul_mat.comp).
const TILE_ROWS: usize = 8;

macro_rules! push_struct {
    ($name:ident { $($field:ident : $ty:ty),* $(,)? } = $size:expr) => {
        #[derive(Clone, Copy)]
        #[repr(C)]
        pub struct $name { $(pub $field: $ty),* }
        const _: () = assert!(size_of::<$name>() == $size);
        // SAFETY: only u32/f32 fields, so no padding.
        unsafe impl Push for $name {}
    };
}

push_struct!(
    MulMatPush {
        k: u32,
        m_rows: u32,
        row0: u32,
        m: u32,
        n: u32,
        x_off: u32,
        y_off: u32,
        row_bytes: u32,
        expert0: u32
    } = 36
);
push_struct!(RoundPush { n_blocks: u32, n_elems: u32 } = 8);
push_struct!(GetRowsPush { k: u32, row_bytes: u32, n: u32 } = 12);
push_struct!(RmsNormPush { chunk: u32, n_chunks: u32, eps: f32, l2: u32 } = 16);
push_struct!(BinaryPush { op: u32, n: u32, n_cols: u32, s: f32 } = 16);
push_struct!(TopKPush { n_expert: u32, k: u32, n_rows: u32, norm: u32 } = 16);
push_struct!(TilesPush { n_rows: u32, n_expert: u32 } = 8);
push_struct!(GatherPush { n_cols: u32, n: u32 } = 8);
push_struct!(SumGroupsPush { n_cols: u32, n: u32, g: u32 } = 12);
push_struct!(
    RopePush {
        n_head: u32,
        head_dim: u32,
        n_rot: u32,
        neox: u32,
        theta_scale: f32,
        freq_scale: f32,
        n_tokens: u32,
        imrope: u32,
        s0: u32,
        s1: u32,
        s2: u32,
        s_total: u32
    } = 48
);
push_struct!(SliceColsPush { n: u32, n_cols: u32, offset: u32, width: u32, period: u32 } = 20);
push_struct!(SsmConvPush { c: u32, n: u32, d_conv: u32 } = 12);
push_struct!(DeltaNetPush { n: u32, n_head_k: u32, n_head_v: u32, d: u32 } = 16);
push_struct!(KvStorePush { width: u32, start: u32, n: u32 } = 12);
push_struct!(
    AttentionPush {
        n_head: u32,
        n_head_kv: u32,
        head_dim_k: u32,
        head_dim_v: u32,
        scale: f32,
        window: u32
    } = 24
);

/// Operation codes of binary.comp.
#[derive(Clone, Copy)]
pub enum BinaryOp {
    Add = 0,
    AddRow = 1,
    Scale = 2,
    ScaleRows = 3,
    Swiglu = 4,
    Geglu = 5,
    ScaleRowsSigmoid = 6,
    Mul = 7,
    Sigmoid = 8,
    Silu = 9,
    SoftplusMulRow = 10,
}

pub(super) fn bytes<T>(b: &Subbuffer<[T]>) -> Subbuffer<[u8]> {
    b.as_bytes().clone()
}

impl VulkanBackend {
    /// A 2-D grid of `n` workgroups within the per-dimension limit.
    pub(super) fn grid(&self, n: usize, z: usize) -> [u32; 3] {
        let max = self.gpu.max_groups[0] as usize;
        let x = n.clamp(1, max);
        [x as u32, n.div_ceil(x).max(1) as u32, z.max(1) as u32]
    }

    /// Records a dispatch of `kernel`; refuses a stand-in (see `failure.rs`) among the
    /// bindings, so a failed op's output never reaches a kernel.
    pub(super) fn run(
        &self,
        kernel: &str,
        buffers: &[Subbuffer<[u8]>],
        push: &impl Push,
        groups: [u32; 3],
    ) -> Result<()> {
        if buffers.iter().any(|b| self.failure.is_stand_in(b)) {
            return Err(context(stale_input(), format!("kernel {kernel}")));
        }
        let pipeline = self.pipelines.get(kernel)?;
        (self.queue.dispatch(&self.gpu, &pipeline, buffers, push.block(), groups))
            .map_err(|e| context(e, format!("kernel {kernel}")))
    }

    pub(super) fn alloc(&self, n_rows: usize, n_cols: usize) -> Result<VkTensor> {
        let buf = device_buffer::<f32>(&self.gpu, n_rows.saturating_mul(n_cols))
            .map_err(|e| context(e, format!("activations ({n_rows}, {n_cols}) f32")))?;
        Ok(VkTensor { buf, n_rows, n_cols })
    }

    pub(super) fn upload<T: vulkano::buffer::BufferContents + Copy + Default>(
        &self,
        data: &[T],
    ) -> Result<Subbuffer<[T]>> {
        host_buffer(&self.gpu, data)
    }

    /// A binding of elements `start..start + len` of `b`: the range starts at an aligned
    /// offset at or below `start`; returns it and `start`'s index within it.
    fn window(&self, b: &Subbuffer<[f32]>, start: usize, len: usize) -> (Subbuffer<[u8]>, u32) {
        let align = (self.gpu.offset_align as usize).max(4);
        let byte = start * 4;
        let lo = byte / align * align;
        let hi = (byte + len * 4).min(b.size() as usize).max(lo + 4);
        (b.as_bytes().clone().slice(lo as u64..hi as u64), ((byte - lo) / 4) as u32)
    }

    pub(super) fn binary(
        &self,
        op: BinaryOp,
        a: &VkTensor,
        b: &Subbuffer<[f32]>,
        s: f32,
    ) -> Result<VkTensor> {
        let y = self.alloc(a.n_rows, a.n_cols)?;
        let n = a.n_rows * a.n_cols;
        let push = BinaryPush { op: op as u32, n: n as u32, n_cols: a.n_cols as u32, s };
        let groups = n.div_ceil(WG_ELEMS).clamp(1, self.gpu.max_groups[0] as usize);
        self.run(
            "binary",
            &[bytes(&a.buf), bytes(b), bytes(&y.buf)],
            &push,
            [groups as u32, 1, 1],
        )?;
        Ok(y)
    }

    pub(super) fn gather(&self, x: &VkTensor, rows: &[u32]) -> Result<VkTensor> {
        let y = self.alloc(rows.len(), x.n_cols)?;
        if rows.is_empty() {
            return Ok(y);
        }
        let ids = self.upload(rows)?;
        let push = GatherPush { n_cols: x.n_cols as u32, n: rows.len() as u32 };
        let groups = self.grid(rows.len(), 1);
        self.run("gather_rows", &[bytes(&x.buf), bytes(&ids), bytes(&y.buf)], &push, groups)?;
        Ok(y)
    }

    pub(super) fn sum_groups_op(&self, x: &VkTensor, g: usize) -> Result<VkTensor> {
        let y = self.alloc(x.n_rows / g, x.n_cols)?;
        let n = y.n_rows * y.n_cols;
        let push = SumGroupsPush { n_cols: x.n_cols as u32, n: n as u32, g: g as u32 };
        let groups = n.div_ceil(WG_ELEMS).clamp(1, self.gpu.max_groups[0] as usize);
        self.run("sum_groups", &[bytes(&x.buf), bytes(&y.buf)], &push, [groups as u32, 1, 1])?;
        Ok(y)
    }

    pub(super) fn get_rows_op(&self, w: &VkWeight, ids: &[u32]) -> Result<VkTensor> {
        let VkWeight::Matrix { ty, dims, row_bytes, chunks, name, .. } = w else {
            return Err(w.misuse("a matrix"));
        };
        let k = dims[0] as usize;
        let y = self.alloc(ids.len(), k)?;
        let kernel = format!("get_rows_{}", ty.name().to_lowercase());
        for c in chunks {
            let pairs: Vec<u32> = (ids.iter().enumerate())
                .filter(|(_, &id)| (c.first..c.first + c.count).contains(&(id as usize)))
                .flat_map(|(i, &id)| [id - c.first as u32, i as u32])
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let n = pairs.len() / 2;
            let pairs = self.upload(&pairs)?;
            let push = GetRowsPush { k: k as u32, row_bytes: *row_bytes as u32, n: n as u32 };
            let bufs = [bytes(&c.buf), bytes(&pairs), bytes(&y.buf)];
            self.run_typed(&kernel, name, &bufs, &push, self.grid(n, 1))?;
        }
        Ok(y)
    }

    /// [`Self::run`] for a kernel chosen by weight type; an error names the tensor (a
    /// type without a kernel is refused at load, so that one is a bug if reached).
    fn run_typed(
        &self,
        kernel: &str,
        tensor: &str,
        b: &[Subbuffer<[u8]>],
        p: &impl Push,
        g: [u32; 3],
    ) -> Result<()> {
        self.run(kernel, b, p, g).map_err(|e| e.with_tensor(tensor))
    }

    /// `x` rounded through the activation type the CPU pairs with weights of type `ty`
    /// (q8_0, q8_K or f16 and back), so both backends multiply the same numbers; `None`
    /// when the CPU multiplies f32 as it is.
    fn round_activations(&self, ty: GgmlType, x: &VkTensor) -> Result<Option<VkTensor>> {
        let act = quant::dot::activation_type(ty);
        let (kernel, block) = match act {
            GgmlType::Q8_0 | GgmlType::Q8_1 => ("round_acts_q8_0", 32),
            GgmlType::Q8_K => ("round_acts_q8_k", 256),
            GgmlType::F16 => ("round_acts_f16", 32),
            _ => return Ok(None),
        };
        let n = x.n_rows * x.n_cols;
        let y = self.alloc(x.n_rows, x.n_cols)?;
        let push = RoundPush { n_blocks: n.div_ceil(block) as u32, n_elems: n as u32 };
        let groups = self.grid(n.div_ceil(block).div_ceil(WG), 1);
        self.run(kernel, &[bytes(&x.buf), bytes(&y.buf)], &push, groups)?;
        Ok(Some(y))
    }

    pub(super) fn matmul_op(&self, w: &VkWeight, x: &VkTensor) -> Result<VkTensor> {
        let VkWeight::Matrix { ty, dims, row_bytes, chunks, name, .. } = w else {
            return Err(w.misuse("a matrix"));
        };
        if self.failure.is_stand_in(&x.buf) {
            return Err(stale_input());
        }
        let rounded = self.round_activations(*ty, x)?;
        let x = rounded.as_ref().unwrap_or(x);
        let (k, m, n) = (dims[0] as usize, dims[1] as usize, x.n_rows);
        assert_eq!(x.n_cols, k, "matmul {name}: activation width vs weight rows");
        let y = self.alloc(n, m)?;
        let kernel = format!("mul_mat_{}", ty.name().to_lowercase());
        let room = self.gpu.max_binding as usize - self.gpu.offset_align as usize - 4;
        let block = (room / (4 * k.max(m))).min(self.gpu.max_groups[2] as usize * TILE_ROWS);
        // Whole tiles per window where they fit; a single row at worst.
        let block = if block >= TILE_ROWS { block / TILE_ROWS * TILE_ROWS } else { block.max(1) };
        for t0 in (0..n).step_by(block) {
            let nb = block.min(n - t0);
            let (xw, x_off) = self.window(&x.buf, t0 * k, nb * k);
            let (yw, y_off) = self.window(&y.buf, t0 * m, nb * m);
            for c in chunks {
                let push = MulMatPush {
                    k: k as u32,
                    m_rows: c.count as u32,
                    row0: c.first as u32,
                    m: m as u32,
                    n: nb as u32,
                    x_off,
                    y_off,
                    row_bytes: *row_bytes as u32,
                    expert0: 0,
                };
                let groups = self.grid(c.count.div_ceil(WG), nb.div_ceil(TILE_ROWS));
                self.run_typed(
                    &kernel,
                    name,
                    &[bytes(&c.buf), xw.clone(), yw.clone()],
                    &push,
                    groups,
                )?;
            }
        }
        Ok(y)
    }

    /// The router's top-k on the device: ids `(n·k)` and weights `(n·k, 1)`.
    pub(super) fn top_k_op(
        &self,
        logits: &VkTensor,
        k: usize,
        norm: bool,
    ) -> Result<(VkIds, VkTensor)> {
        let n = logits.n_rows;
        let ids = device_buffer::<u32>(&self.gpu, n * k)
            .map_err(|e| context(e, format!("expert ids ({n}, {k})")))?;
        let w = self.alloc(n * k, 1)?;
        let push = TopKPush {
            n_expert: logits.n_cols as u32,
            k: k as u32,
            n_rows: n as u32,
            norm: norm as u32,
        };
        let bufs = [bytes(&logits.buf), bytes(&ids), bytes(&w.buf)];
        self.run("topk", &bufs, &push, self.grid(n.div_ceil(WG), 1))?;
        Ok((VkIds { buf: ids, n: n * k }, w))
    }

    pub(super) fn mul_mat_id_op(
        &self,
        w: &VkWeight,
        x: &VkTensor,
        ids: &VkIds,
    ) -> Result<VkTensor> {
        let VkWeight::Matrix { ty, dims, row_bytes, chunks, name, .. } = w else {
            return Err(w.misuse("an expert matrix"));
        };
        let (k, m, n_expert) = (dims[0] as usize, dims[1] as usize, dims[2] as usize);
        assert_eq!((x.n_cols, x.n_rows), (k, ids.n), "mul_mat_id {name} shapes");
        let rounded = self.round_activations(*ty, x)?;
        let x = rounded.as_ref().unwrap_or(x);
        let y = self.alloc(ids.n, m)?;
        // At most one partial tile per expert beyond the full ones.
        let max_tiles = ids.n / TILE_ROWS + n_expert.min(ids.n);
        let tiles = device_buffer::<u32>(&self.gpu, 1 + max_tiles * (2 + TILE_ROWS))
            .map_err(|e| context(e, "expert tiles"))?;
        let push = TilesPush { n_rows: ids.n as u32, n_expert: n_expert as u32 };
        self.run("build_tiles", &[bytes(&ids.buf), bytes(&tiles)], &push, [1, 1, 1])?;
        let kernel = format!("mul_mat_id_{}", ty.name().to_lowercase());
        for c in chunks {
            let push = MulMatPush {
                k: k as u32,
                m_rows: m as u32,
                row0: 0,
                m: m as u32,
                n: c.count as u32,
                x_off: 0,
                y_off: 0,
                row_bytes: *row_bytes as u32,
                expert0: c.first as u32,
            };
            let bufs = [bytes(&c.buf), bytes(&x.buf), bytes(&y.buf), bytes(&tiles)];
            self.run_typed(&kernel, name, &bufs, &push, self.grid(m.div_ceil(WG), max_tiles))?;
        }
        Ok(y)
    }

    pub(super) fn rms_norm_op(&self, x: &VkTensor, w: &VkWeight, eps: f32) -> Result<VkTensor> {
        let VkWeight::Vector { data, .. } = w else { return Err(w.misuse("a vector")) };
        let chunk = data.len() as usize;
        let n_chunks = x.n_rows * x.n_cols / chunk;
        let y = self.alloc(x.n_rows, x.n_cols)?;
        let push = RmsNormPush { chunk: chunk as u32, n_chunks: n_chunks as u32, eps, l2: 0 };
        let bufs = [bytes(&x.buf), bytes(data), bytes(&y.buf)];
        self.run("rms_norm", &bufs, &push, self.grid(n_chunks, 1))?;
        Ok(y)
    }

    pub(super) fn rope_op(
        &self,
        x: &VkTensor,
        positions: &[u32],
        p: &RopeParams,
    ) -> Result<VkTensor> {
        let y = self.alloc(x.n_rows, x.n_cols)?;
        let pos = self.upload(positions)?;
        let sections = match p.mode {
            RopeMode::Imrope(s) => Some(s),
            _ => None,
        };
        let s = sections.unwrap_or_default();
        let push = RopePush {
            n_head: p.n_head as u32,
            head_dim: p.head_dim as u32,
            n_rot: p.n_rot as u32,
            neox: u32::from(p.mode.split_halves()),
            theta_scale: p.freq_base.powf(-2.0 / p.n_rot as f32),
            freq_scale: p.freq_scale,
            n_tokens: x.n_rows as u32,
            imrope: u32::from(sections.is_some()),
            s0: s[0],
            s1: s[1],
            s2: s[2],
            s_total: s.iter().sum(),
        };
        let pairs = x.n_rows * p.n_head * p.head_dim / 2;
        let bufs = [bytes(&x.buf), bytes(&pos), bytes(&y.buf)];
        self.run("rope", &bufs, &push, self.grid(pairs.div_ceil(WG), 1))?;
        Ok(y)
    }

    fn store_rows(
        &self,
        ty: KvType,
        cache: &Subbuffer<[u32]>,
        x: &VkTensor,
        start: usize,
    ) -> Result<()> {
        let (width, n) = (x.n_cols, x.n_rows);
        let invocations = match ty {
            KvType::F32 => n * width,
            KvType::F16 => n * width / 2,
            KvType::Q8_0 => {
                let (lo, hi) = (start * width / 32, (start + n) * width / 32);
                (hi - 1) / 2 - lo / 2 + 1
            }
        };
        let push = KvStorePush { width: width as u32, start: start as u32, n: n as u32 };
        let kernel = format!("kv_store_{}", ty.name());
        let groups = self.grid(invocations.div_ceil(WG), 1);
        self.run(&kernel, &[bytes(&x.buf), bytes(cache)], &push, groups)
    }

    pub(super) fn kv_store_op(
        &self,
        kv: &VkKv,
        il: usize,
        start: usize,
        k: &VkTensor,
        v: &VkTensor,
    ) -> Result<()> {
        if k.n_rows == 0 {
            return Ok(());
        }
        self.store_rows(kv.shape.type_k, &kv.k[il], k, start)?;
        self.store_rows(kv.shape.type_v, &kv.v[il], v, start)
    }

    pub(super) fn attention_op(
        &self,
        q: &VkTensor,
        kv: &VkKv,
        il: usize,
        positions: &[u32],
        p: &AttnParams,
    ) -> Result<VkTensor> {
        let (tk, tv) = (kv.shape.type_k, kv.shape.type_v);
        let y = self.alloc(q.n_rows, p.n_head.saturating_mul(p.head_dim_v))?;
        let pos = self.upload(positions)?;
        let push = AttentionPush {
            n_head: p.n_head as u32,
            n_head_kv: p.n_head_kv as u32,
            head_dim_k: p.head_dim_k as u32,
            head_dim_v: p.head_dim_v as u32,
            scale: p.scale,
            window: p.window.unwrap_or(0) as u32,
        };
        let kernel = format!("attention_{}_{}", tk.name(), tv.name());
        let bufs = [bytes(&q.buf), bytes(&kv.k[il]), bytes(&kv.v[il]), bytes(&pos), bytes(&y.buf)];
        self.run(&kernel, &bufs, &push, [p.n_head as u32, q.n_rows as u32, 1])?;
        Ok(y)
    }
}
