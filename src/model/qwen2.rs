//! qwen2: the llama decoder with biases on q, k and v and NeoX-style rotary embeddings.

use super::decoder::{FfnKind, PreNormDecoder};
use super::layers::Routing;
use super::manifest::QkNorm;
use crate::backend::RopeMode;

pub const DECODER: PreNormDecoder = PreNormDecoder {
    qkv_bias: true,
    qk_norm: QkNorm::None,
    ffn: FfnKind::Dense,
    rope: RopeMode::Neox,
    routing: Routing { norm_topk: false },
    ..PreNormDecoder::BASE
};
