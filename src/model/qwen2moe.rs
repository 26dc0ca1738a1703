//! qwen2moe: qwen2 attention (q/k/v biases) with routed experts — softmax top-k, not
//! renormalized — plus a shared expert scaled by a sigmoid gate.

use super::decoder::{FfnKind, PreNormDecoder};
use super::layers::Routing;
use super::manifest::QkNorm;
use crate::backend::RopeMode;

pub const DECODER: PreNormDecoder = PreNormDecoder {
    qkv_bias: true,
    qk_norm: QkNorm::None,
    ffn: FfnKind::Moe { shared: true },
    rope: RopeMode::Neox,
    routing: Routing { norm_topk: false },
    ..PreNormDecoder::BASE
};
