//! The backend chosen at run time (`--backend`): one type over the CPU and Vulkan
//! backends, so that models, sessions and modes are built once for either.

use std::ops::Range;
use std::sync::Arc;

use super::cpu::{kv::CpuKv, CpuBackend, CpuTensor, CpuWeight};
#[cfg(feature = "vulkan")]
use super::vulkan::{VkIds, VkKv, VkTensor, VkWeight, VulkanBackend};
use super::{AttnParams, Backend, DeltaParams, KvShape, RopeParams};
use crate::error::Result;
use crate::gguf::{GgufFile, TensorInfo};

// One per process, so the size of the Vulkan variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum AnyBackend {
    Cpu(CpuBackend),
    #[cfg(feature = "vulkan")]
    Vulkan(VulkanBackend),
}

pub enum AnyTensor {
    Cpu(CpuTensor),
    #[cfg(feature = "vulkan")]
    Vulkan(VkTensor),
}

pub enum AnyWeight {
    Cpu(CpuWeight),
    #[cfg(feature = "vulkan")]
    Vulkan(VkWeight),
}

pub enum AnyKv {
    Cpu(CpuKv),
    #[cfg(feature = "vulkan")]
    Vulkan(VkKv),
}

pub enum AnyIds {
    Cpu(Vec<u32>),
    #[cfg(feature = "vulkan")]
    Vulkan(VkIds),
}

/// One backend's view of the `Any*` values: a model holds values of its own backend
/// only, so the other variants cannot occur.
trait Side: Backend {
    fn t(x: &AnyTensor) -> &Self::Tensor;
    fn wrap(t: Self::Tensor) -> AnyTensor;
    fn w(x: &AnyWeight) -> &Self::Weight;
    fn wrap_w(w: Self::Weight) -> AnyWeight;
    fn kv(x: &AnyKv) -> &Self::Kv;
    fn kv_mut(x: &mut AnyKv) -> &mut Self::Kv;
    fn wrap_kv(k: Self::Kv) -> AnyKv;
    fn pick_ids(x: &AnyIds) -> &Self::Ids;
    fn wrap_ids(i: Self::Ids) -> AnyIds;
}

macro_rules! side {
    ($backend:ty, $variant:ident) => {
        impl Side for $backend {
            fn t(x: &AnyTensor) -> &Self::Tensor {
                match x {
                    AnyTensor::$variant(t) => t,
                    #[allow(unreachable_patterns)]
                    _ => unreachable!("a tensor of another backend"),
                }
            }
            fn wrap(t: Self::Tensor) -> AnyTensor {
                AnyTensor::$variant(t)
            }
            fn w(x: &AnyWeight) -> &Self::Weight {
                match x {
                    AnyWeight::$variant(w) => w,
                    #[allow(unreachable_patterns)]
                    _ => unreachable!("a weight of another backend"),
                }
            }
            fn wrap_w(w: Self::Weight) -> AnyWeight {
                AnyWeight::$variant(w)
            }
            fn kv(x: &AnyKv) -> &Self::Kv {
                match x {
                    AnyKv::$variant(k) => k,
                    #[allow(unreachable_patterns)]
                    _ => unreachable!("a KV cache of another backend"),
                }
            }
            fn kv_mut(x: &mut AnyKv) -> &mut Self::Kv {
                match x {
                    AnyKv::$variant(k) => k,
                    #[allow(unreachable_patterns)]
                    _ => unreachable!("a KV cache of another backend"),
                }
            }
            fn wrap_kv(k: Self::Kv) -> AnyKv {
                AnyKv::$variant(k)
            }
            fn pick_ids(x: &AnyIds) -> &Self::Ids {
                match x {
                    AnyIds::$variant(i) => i,
                    #[allow(unreachable_patterns)]
                    _ => unreachable!("expert ids of another backend"),
                }
            }
            fn wrap_ids(i: Self::Ids) -> AnyIds {
                AnyIds::$variant(i)
            }
        }
    };
}

side!(CpuBackend, Cpu);
#[cfg(feature = "vulkan")]
side!(VulkanBackend, Vulkan);

/// Runs `$body` with `$b` the inner backend and `$S` its type.
macro_rules! each {
    ($self:expr, |$b:ident, $S:ident| $body:expr) => {
        match $self {
            AnyBackend::Cpu($b) => {
                #[allow(dead_code)]
                type $S = CpuBackend;
                $body
            }
            #[cfg(feature = "vulkan")]
            AnyBackend::Vulkan($b) => {
                #[allow(dead_code)]
                type $S = VulkanBackend;
                $body
            }
        }
    };
}

/// Where a forward pass ran (`run -v`, `bench --json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Placement {
    pub backend: &'static str,
    /// The Vulkan device's name; none on the CPU backend.
    pub device: Option<String>,
    /// Bytes of weights resident on the device and in host memory.
    pub weight_bytes_device: u64,
    pub weight_bytes_host: u64,
    /// Kernel dispatches run on the device, and ops run on the CPU (on the CPU backend:
    /// every op, not counted).
    pub device_ops: u64,
    pub host_ops: Option<u64>,
}

impl AnyBackend {
    #[cfg(feature = "vulkan")]
    pub fn vulkan(&self) -> Option<&VulkanBackend> {
        match self {
            AnyBackend::Vulkan(b) => Some(b),
            AnyBackend::Cpu(_) => None,
        }
    }

    /// Where the weights went at load and the work so far.
    pub fn placement(&self) -> Placement {
        let base = Placement {
            backend: self.name(),
            device: None,
            weight_bytes_device: 0,
            weight_bytes_host: 0,
            device_ops: 0,
            host_ops: None,
        };
        match self {
            AnyBackend::Cpu(_) => base,
            #[cfg(feature = "vulkan")]
            AnyBackend::Vulkan(b) => Placement {
                device: Some(b.device().name.clone()),
                weight_bytes_device: b.loaded_bytes().0,
                weight_bytes_host: b.loaded_bytes().1,
                device_ops: b.dispatches(),
                host_ops: Some(b.host_ops()),
                ..base
            },
        }
    }
}

impl Backend for AnyBackend {
    type Tensor = AnyTensor;
    type Weight = AnyWeight;
    type Kv = AnyKv;
    type Ids = AnyIds;

    fn name(&self) -> &'static str {
        each!(self, |b, S| b.name())
    }

    fn load_weight(&self, file: &Arc<GgufFile>, info: &TensorInfo) -> Result<AnyWeight> {
        each!(self, |b, S| b.load_weight(file, info).map(S::wrap_w))
    }

    fn weight_dims<'a>(&self, w: &'a AnyWeight) -> &'a [u64] {
        each!(self, |b, S| b.weight_dims(S::w(w)))
    }

    fn tensor(&self, data: Vec<f32>, n_rows: usize, n_cols: usize) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.tensor(data, n_rows, n_cols)))
    }

    fn to_host(&self, t: &AnyTensor) -> Result<Vec<f32>> {
        each!(self, |b, S| b.to_host(S::t(t)))
    }

    fn shape(&self, t: &AnyTensor) -> (usize, usize) {
        each!(self, |b, S| b.shape(S::t(t)))
    }

    fn select_rows(&self, t: &AnyTensor, rows: &[usize]) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.select_rows(S::t(t), rows)))
    }

    fn get_rows(&self, w: &AnyWeight, ids: &[u32]) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.get_rows(S::w(w), ids)))
    }

    fn matmul(&self, w: &AnyWeight, x: &AnyTensor) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.matmul(S::w(w), S::t(x))))
    }

    fn ids(&self, ids: &[u32]) -> AnyIds {
        each!(self, |b, S| S::wrap_ids(b.ids(ids)))
    }

    fn ids_to_host(&self, ids: &AnyIds) -> Result<Vec<u32>> {
        each!(self, |b, S| b.ids_to_host(S::pick_ids(ids)))
    }

    fn top_k_experts(&self, logits: &AnyTensor, k: usize, norm: bool) -> (AnyIds, AnyTensor) {
        each!(self, |b, S| {
            let (ids, w) = b.top_k_experts(S::t(logits), k, norm);
            (S::wrap_ids(ids), S::wrap(w))
        })
    }

    fn mul_mat_id(&self, w: &AnyWeight, x: &AnyTensor, ids: &AnyIds) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.mul_mat_id(S::w(w), S::t(x), S::pick_ids(ids))))
    }

    fn mul_mat_id_pair(
        &self,
        w: [&AnyWeight; 2],
        x: &AnyTensor,
        ids: &AnyIds,
        slots: usize,
    ) -> [AnyTensor; 2] {
        each!(self, |b, S| {
            b.mul_mat_id_pair(w.map(S::w), S::t(x), S::pick_ids(ids), slots).map(S::wrap)
        })
    }

    fn rms_norm(&self, x: &AnyTensor, w: &AnyWeight, eps: f32) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.rms_norm(S::t(x), S::w(w), eps)))
    }

    fn add(&self, a: &AnyTensor, c: &AnyTensor) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.add(S::t(a), S::t(c))))
    }

    fn add_row(&self, x: &AnyTensor, bias: &AnyWeight) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.add_row(S::t(x), S::w(bias))))
    }

    fn scale(&self, x: &AnyTensor, s: f32) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.scale(S::t(x), s)))
    }

    fn scale_rows(&self, x: &AnyTensor, s: &[f32]) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.scale_rows(S::t(x), s)))
    }

    fn scale_rows_by(&self, x: &AnyTensor, s: &AnyTensor, sigmoid: bool) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.scale_rows_by(S::t(x), S::t(s), sigmoid)))
    }

    fn sum_groups(&self, x: &AnyTensor, g: usize) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.sum_groups(S::t(x), g)))
    }

    fn repeat_rows(&self, x: &AnyTensor, g: usize) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.repeat_rows(S::t(x), g)))
    }

    fn swiglu(&self, gate: &AnyTensor, up: &AnyTensor) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.swiglu(S::t(gate), S::t(up))))
    }

    fn geglu(&self, gate: &AnyTensor, up: &AnyTensor) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.geglu(S::t(gate), S::t(up))))
    }

    fn rope(&self, x: &AnyTensor, positions: &[u32], p: &RopeParams) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.rope(S::t(x), positions, p)))
    }

    fn new_kv(&self, shape: KvShape) -> Result<AnyKv> {
        each!(self, |b, S| b.new_kv(shape).map(S::wrap_kv))
    }

    fn kv_store(&self, kv: &mut AnyKv, il: usize, start: usize, k: &AnyTensor, v: &AnyTensor) {
        each!(self, |b, S| b.kv_store(S::kv_mut(kv), il, start, S::t(k), S::t(v)))
    }

    fn attention(
        &self,
        q: &AnyTensor,
        kv: &AnyKv,
        il: usize,
        positions: &[u32],
        p: &AttnParams,
    ) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.attention(S::t(q), S::kv(kv), il, positions, p)))
    }

    fn kv_export(&self, kv: &AnyKv, rows: Range<usize>) -> Result<Vec<u8>> {
        each!(self, |b, S| b.kv_export(S::kv(kv), rows))
    }

    fn kv_import(&self, kv: &mut AnyKv, rows: Range<usize>, bytes: &[u8]) -> Result<()> {
        each!(self, |b, S| b.kv_import(S::kv_mut(kv), rows, bytes))
    }

    fn mul(&self, a: &AnyTensor, c: &AnyTensor) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.mul(S::t(a), S::t(c))))
    }

    fn sigmoid(&self, x: &AnyTensor) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.sigmoid(S::t(x))))
    }

    fn silu(&self, x: &AnyTensor) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.silu(S::t(x))))
    }

    fn l2_norm(&self, x: &AnyTensor, n: usize, eps: f32) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.l2_norm(S::t(x), n, eps)))
    }

    fn slice_cols(&self, x: &AnyTensor, offset: usize, width: usize, period: usize) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.slice_cols(S::t(x), offset, width, period)))
    }

    fn gdn_decay(&self, alpha: &AnyTensor, dt_bias: &AnyWeight, a: &AnyWeight) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.gdn_decay(S::t(alpha), S::w(dt_bias), S::w(a))))
    }

    fn ssm_conv(&self, kv: &mut AnyKv, il: usize, x: &AnyTensor, w: &AnyWeight) -> AnyTensor {
        each!(self, |b, S| S::wrap(b.ssm_conv(S::kv_mut(kv), il, S::t(x), S::w(w))))
    }

    fn gated_delta_net(
        &self,
        kv: &mut AnyKv,
        il: usize,
        q: &AnyTensor,
        k: &AnyTensor,
        v: &AnyTensor,
        g: &AnyTensor,
        beta: &AnyTensor,
        p: &DeltaParams,
    ) -> AnyTensor {
        each!(self, |b, S| {
            let (q, k, v, g, beta) = (S::t(q), S::t(k), S::t(v), S::t(g), S::t(beta));
            S::wrap(b.gated_delta_net(S::kv_mut(kv), il, q, k, v, g, beta, p))
        })
    }

    fn state_clear(&self, kv: &mut AnyKv) {
        each!(self, |b, S| b.state_clear(S::kv_mut(kv)))
    }

    fn state_export(&self, kv: &AnyKv) -> Result<Vec<u8>> {
        each!(self, |b, S| b.state_export(S::kv(kv)))
    }

    fn state_import(&self, kv: &mut AnyKv, bytes: &[u8]) -> Result<()> {
        each!(self, |b, S| b.state_import(S::kv_mut(kv), bytes))
    }
}
