//! Weights on the device: matrices as raw block bytes split into bindings of whole rows
//! (whole experts for 3-D expert tensors) that fit the driver's binding limit; vectors
//! (norms, biases) as f32.

use std::sync::Arc;

use vulkano::buffer::Subbuffer;

use super::device::Gpu;
use super::queue::{device_buffer, host_buffer, Queue};
use crate::backend::cpu::{CpuBackend, CpuWeight};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::gguf::{GgufFile, TensorInfo};
use crate::quant::{self, GgmlType};

/// Bytes uploaded per staging copy.
const STAGING_BYTES: usize = 64 << 20;

/// A run of whole units (rows of a matrix, or matrices of an expert tensor) in one buffer.
pub struct Chunk {
    /// Raw bytes as 32-bit words (the last word zero-padded).
    pub buf: Subbuffer<[u32]>,
    /// First unit held.
    pub first: usize,
    /// Units held.
    pub count: usize,
}

pub enum VkWeight {
    Matrix {
        name: String,
        ty: GgmlType,
        dims: Vec<u64>,
        /// Bytes of one row (`dims[0]` values).
        row_bytes: usize,
        /// Rows per unit: 1 for a matrix, `dims[1]` for an expert tensor.
        unit_rows: usize,
        chunks: Vec<Chunk>,
    },
    Vector {
        data: Subbuffer<[f32]>,
        dims: Vec<u64>,
    },
    /// Kept in host memory, its ops run on the CPU (`--cpu-moe`, `--n-cpu-moe`).
    Host(CpuWeight),
}

impl VkWeight {
    pub fn dims(&self) -> &[u64] {
        match self {
            VkWeight::Matrix { dims, .. } | VkWeight::Vector { dims, .. } => dims,
            VkWeight::Host(w) => CpuBackend.weight_dims(w),
        }
    }

    /// Bytes resident on the device.
    pub fn bytes(&self) -> u64 {
        match self {
            VkWeight::Matrix { chunks, .. } => chunks.iter().map(|c| c.buf.size()).sum(),
            VkWeight::Vector { data, .. } => data.size(),
            VkWeight::Host(_) => 0,
        }
    }

    /// A vector as a matrix of one f32 row (the same buffer), for a product with it.
    pub fn as_one_row(&self) -> Option<VkWeight> {
        let VkWeight::Vector { data, dims } = self else { return None };
        let k = *dims.first()? as usize;
        (dims.len() == 1).then(|| VkWeight::Matrix {
            name: "a vector weight".to_string(),
            ty: GgmlType::F32,
            dims: vec![k as u64, 1],
            row_bytes: 4 * k,
            unit_rows: 1,
            chunks: vec![Chunk { buf: data.clone().reinterpret(), first: 0, count: 1 }],
        })
    }

    /// Its tensor's name, where it keeps one.
    pub fn name(&self) -> Option<&str> {
        match self {
            VkWeight::Matrix { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The error for an op given this weight where `wanted` belongs (never for a model
    /// that loaded: its manifest fixes the shape of every weight).
    pub fn misuse(&self, wanted: &str) -> Error {
        let what = match self {
            VkWeight::Matrix { .. } => "a matrix",
            VkWeight::Vector { .. } => "a vector",
            VkWeight::Host(_) => "a weight kept in host memory",
        };
        self.context(Error::failed(format!("{what} weight where {wanted} is wanted")))
    }

    /// `e` naming this weight's tensor, where it keeps its name.
    pub fn context(&self, e: Error) -> Error {
        match self.name() {
            Some(name) => e.with_tensor(name),
            None => e,
        }
    }

    /// Bytes kept in host memory.
    pub fn host_bytes(&self) -> u64 {
        match self {
            VkWeight::Host(w) => w.host_bytes(),
            _ => 0,
        }
    }
}

/// The layer of an expert tensor (`blk.N.ffn_{gate,up,down}_exps.weight`).
pub fn expert_layer(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("blk.")?;
    let (il, tail) = rest.split_once('.')?;
    let expert = ["ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"];
    expert.contains(&tail).then(|| il.parse().ok()).flatten()
}

pub fn load(gpu: &Gpu, queue: &Queue, file: &Arc<GgufFile>, info: &TensorInfo) -> Result<VkWeight> {
    let bytes = file.tensor_data(info);
    if info.dims.len() == 1 {
        let mut data = vec![0f32; info.n_elems as usize];
        quant::dequantize(info.ty, bytes, &mut data)
            .map_err(|e| Error::bad_input(e.to_string()).with_tensor(&info.name))?;
        let data = host_buffer(gpu, &data)?;
        return Ok(VkWeight::Vector { data, dims: info.dims.clone() });
    }
    let row_bytes = info.row_bytes() as usize;
    let unit_rows = if info.dims.len() >= 3 { info.dims[1] as usize } else { 1 };
    let unit_bytes = row_bytes * unit_rows;
    let n_units = info.n_rows() as usize / unit_rows;
    let per_chunk = (gpu.max_binding as usize / unit_bytes).min(n_units);
    if per_chunk == 0 {
        return Err(Error::unsupported(format!(
            "vulkan: one {} of {unit_bytes} bytes exceeds the device's binding limit of {} bytes",
            if unit_rows == 1 { "row" } else { "expert" },
            gpu.max_binding
        ))
        .with_tensor(&info.name));
    }
    let mut chunks = Vec::new();
    for first in (0..n_units).step_by(per_chunk) {
        let count = per_chunk.min(n_units - first);
        let src = &bytes[first * unit_bytes..(first + count) * unit_bytes];
        let buf = upload(gpu, queue, src).map_err(|e| e.with_tensor(&info.name))?;
        chunks.push(Chunk { buf, first, count });
    }
    Ok(VkWeight::Matrix {
        name: info.name.clone(),
        ty: info.ty,
        dims: info.dims.clone(),
        row_bytes,
        unit_rows,
        chunks,
    })
}

/// Copies `src` into a new device-local buffer through host staging buffers.
fn upload(gpu: &Gpu, queue: &Queue, src: &[u8]) -> Result<Subbuffer<[u32]>> {
    let words = src.len().div_ceil(4);
    let dst = device_buffer::<u32>(gpu, words)?;
    for (i, part) in src.chunks(STAGING_BYTES).enumerate() {
        let mut padded = part.to_vec();
        padded.resize(part.len().div_ceil(4) * 4, 0);
        let staging = host_buffer::<u8>(gpu, &padded)?;
        let off = (i * STAGING_BYTES) as u64;
        let target = dst.as_bytes().clone().slice(off..off + padded.len() as u64);
        queue.copy(staging, target);
        queue.flush(gpu)?;
    }
    Ok(dst)
}
