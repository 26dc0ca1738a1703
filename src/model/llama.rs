//! llama — also Mistral, and Mixtral-style MoE when `expert_count` is set: pre-norm
//! decoder, rotary embeddings on adjacent pairs, SwiGLU, renormalized top-k routing;
//! tied embeddings when `output.weight` is absent.

use super::decoder::{FfnKind, PreNormDecoder};
use super::layers::Routing;
use super::manifest::QkNorm;
use crate::backend::RopeMode;

pub const DECODER: PreNormDecoder = PreNormDecoder {
    qkv_bias: false,
    qk_norm: QkNorm::None,
    ffn: FfnKind::DenseOrMoe,
    rope: RopeMode::Normal,
    routing: Routing { norm_topk: true },
    ..PreNormDecoder::BASE
};
