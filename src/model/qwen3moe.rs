//! qwen3moe (Qwen3-30B-A3B, Qwen3-Coder-30B-A3B): qwen3 attention with per-head q/k
//! norms, routed experts with softmax top-k renormalized to sum to one.

use super::decoder::{FfnKind, PreNormDecoder};
use super::layers::Routing;
use super::manifest::QkNorm;
use crate::backend::RopeMode;

pub const DECODER: PreNormDecoder = PreNormDecoder {
    qkv_bias: false,
    qk_norm: QkNorm::PerHead,
    ffn: FfnKind::Moe { shared: false },
    rope: RopeMode::Neox,
    routing: Routing { norm_topk: true },
    ..PreNormDecoder::BASE
};
