//! The check a device passes before a model runs on it: the matrix kernel of every weight
//! type the model uses (on rows of its own tensors) and the other kernels of a forward
//! pass, each against the CPU backend on a small batch. A kernel that disagrees is named.

use std::sync::Arc;

use super::VulkanBackend;
use crate::backend::cpu::CpuBackend;
use crate::backend::{AttnParams, Backend, KvShape, KvType, RopeMode, RopeParams, StateShape};
use crate::error::{Error, Result};
use crate::gguf::{GgufFile, GgufWriter, TensorInfo};

/// Rows of each weight type multiplied, and activation rows.
const ROWS: u64 = 48;
const TOKENS: usize = 5;
/// Far above rounding differences (~1e-10 for products, ~1e-6 for f16 sums), far below
/// a wrong kernel (~1).
const MAX_NMSE: f64 = 1e-4;

/// A deterministic sequence in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Normalized mean squared error; infinite for a length mismatch or a non-finite value.
pub(super) fn nmse(got: &[f32], want: &[f32]) -> f64 {
    let err: f64 = got.iter().zip(want).map(|(&a, &b)| (a as f64 - b as f64).powi(2)).sum();
    let norm: f64 = want.iter().map(|&b| (b as f64).powi(2)).sum();
    if got.len() != want.len() || !err.is_finite() {
        return f64::INFINITY;
    }
    err / norm.max(1e-30)
}

fn check(kernel: &str, got: &[f32], want: &[f32]) -> Result<()> {
    let e = nmse(got, want);
    if e < MAX_NMSE {
        return Ok(());
    }
    Err(Error::failed(format!(
        "vulkan self-test: kernel {kernel} disagrees with the CPU (nmse {e:.1e})"
    )))
}

/// The first `ROWS` rows of `info` as a one-tensor file in memory.
fn sample(file: &GgufFile, info: &TensorInfo) -> Result<Arc<GgufFile>> {
    let rows = ROWS.min(info.n_rows());
    let bytes = file.tensor_data(info)[..(rows * info.row_bytes()) as usize].to_vec();
    let mut w = GgufWriter::new();
    w.add_tensor("w", &[info.dims[0], rows], info.ty, bytes)?;
    Ok(Arc::new(GgufFile::from_bytes("self-test.gguf", w.to_bytes()?)?))
}

/// Runs the self-test for a model in `file`.
pub fn run(vk: &VulkanBackend, file: &GgufFile) -> Result<()> {
    let mut seen = Vec::new();
    for info in file.tensors().iter().filter(|t| t.dims.len() >= 2) {
        if seen.contains(&info.ty) {
            continue;
        }
        seen.push(info.ty);
        let f = sample(file, info)?;
        let t = &f.tensors()[0];
        let (wv, wc) = (vk.load_weight(&f, t)?, CpuBackend.load_weight(&f, t)?);
        let k = t.dims[0] as usize;
        let x = values(TOKENS * k, 1);
        let got = vk.to_host(&vk.matmul(&wv, &vk.tensor(x.clone(), TOKENS, k)))?;
        let want = CpuBackend.matmul(&wc, &CpuBackend.tensor(x, TOKENS, k)).data;
        check(&format!("mul_mat_{}", info.ty.name().to_lowercase()), &got, &want)?;
    }
    ops(vk)
}

/// rms_norm, rope, SwiGLU, cache store and attention on random data.
fn ops(vk: &VulkanBackend) -> Result<()> {
    let cpu = CpuBackend;
    let (n, heads, d) = (TOKENS, 4, 64);
    let c = heads * d;
    let x = values(n * c, 2);
    let (xv, xc) = (vk.tensor(x.clone(), n, c), cpu.tensor(x, n, c));
    let mut w = GgufWriter::new();
    w.add_f32("norm", &[d as u64], &values(d, 3))?;
    let f = Arc::new(GgufFile::from_bytes("self-test.gguf", w.to_bytes()?)?);
    let t = &f.tensors()[0];
    let (nv, nc) = (vk.load_weight(&f, t)?, cpu.load_weight(&f, t)?);
    check(
        "rms_norm",
        &vk.to_host(&vk.rms_norm(&xv, &nv, 1e-6))?,
        &cpu.rms_norm(&xc, &nc, 1e-6).data,
    )?;
    check("binary", &vk.to_host(&vk.swiglu(&xv, &xv))?, &cpu.swiglu(&xc, &xc).data)?;
    let positions: Vec<u32> = (0..n as u32).collect();
    let rope = RopeParams {
        mode: RopeMode::Neox,
        n_head: heads,
        head_dim: d,
        n_rot: d,
        freq_base: 10000.0,
        freq_scale: 1.0,
    };
    let (qv, qc) = (vk.rope(&xv, &positions, &rope), cpu.rope(&xc, &positions, &rope));
    check("rope", &vk.to_host(&qv)?, &qc.data)?;
    let shape = KvShape {
        n_layer: 1,
        n_ctx: 16,
        n_embd_k: c / 2,
        n_embd_v: c / 2,
        type_k: KvType::F16,
        type_v: KvType::F16,
        state: StateShape::NONE,
    };
    let kv_rows = values(n * c / 2, 4);
    let (mut kvv, mut kvc) = (vk.new_kv(shape)?, cpu.new_kv(shape)?);
    let (kr, kc) = (vk.tensor(kv_rows.clone(), n, c / 2), cpu.tensor(kv_rows, n, c / 2));
    vk.kv_store(&mut kvv, 0, 0, &kr, &kr);
    cpu.kv_store(&mut kvc, 0, 0, &kc, &kc);
    let p = AttnParams {
        n_head: heads,
        n_head_kv: heads / 2,
        head_dim_k: d,
        head_dim_v: d,
        scale: 0.125,
        window: None,
    };
    let got = vk.to_host(&vk.attention(&qv, &kvv, 0, &positions, &p))?;
    check("attention_f16_f16", &got, &cpu.attention(&qc, &kvc, 0, &positions, &p).data)
}
