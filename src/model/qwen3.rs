//! qwen3: the llama decoder with a per-head RMS norm on q and k before the NeoX-style
//! rotary embeddings, and no biases.

use super::decoder::{FfnKind, PreNormDecoder};
use super::layers::Routing;
use super::manifest::QkNorm;
use crate::backend::RopeMode;

pub const DECODER: PreNormDecoder = PreNormDecoder {
    qkv_bias: false,
    qk_norm: QkNorm::PerHead,
    ffn: FfnKind::Dense,
    rope: RopeMode::Neox,
    routing: Routing { norm_topk: false },
    ..PreNormDecoder::BASE
};
