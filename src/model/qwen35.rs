//! qwen35 (Qwen3.5 dense): a hybrid of gated DeltaNet layers (three in four) and gated
//! attention (per-head q/k norms, an output gate from the query projection, interleaved
//! multi-section rope over part of each head); dense SwiGLU feed-forward after a norm the
//! file calls `post_attention_norm`.

use super::decoder::{FfnKind, PreNormDecoder};
use super::layers::Routing;
use super::manifest::QkNorm;
use crate::backend::RopeMode;

pub const DECODER: PreNormDecoder = PreNormDecoder {
    qkv_bias: false,
    qk_norm: QkNorm::PerHead,
    ffn: FfnKind::Dense,
    rope: RopeMode::Imrope([0; 4]),
    routing: Routing { norm_topk: true },
    gated_attn: true,
    ffn_norm: "post_attention_norm.weight",
    recurrent: true,
};
