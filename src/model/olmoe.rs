//! olmoe (OLMoE-1B-7B): RMS norm over the whole q and k rows, NeoX-style rotary
//! embeddings, 64 experts with softmax top-k routing, not renormalized.

use super::decoder::{FfnKind, PreNormDecoder};
use super::layers::Routing;
use super::manifest::QkNorm;
use crate::backend::RopeMode;

pub const DECODER: PreNormDecoder = PreNormDecoder {
    qkv_bias: false,
    qk_norm: QkNorm::Whole,
    ffn: FfnKind::Moe { shared: false },
    rope: RopeMode::Neox,
    routing: Routing { norm_topk: false },
    ..PreNormDecoder::BASE
};
