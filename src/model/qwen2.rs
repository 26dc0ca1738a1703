//! qwen2: the llama decoder with biases on q, k and v and NeoX-style rotary embeddings.

use super::layers::{pre_norm_decoder, Batch, Routing};
use super::manifest::{attn_specs, ffn_specs, QkNorm, Spec};
use super::weights::ModelWeights;
use super::HParams;
use crate::backend::{Backend, RopeMode};

pub fn layer_specs(hp: &HParams) -> Vec<Spec> {
    let mut s = attn_specs(hp, true, QkNorm::None);
    s.extend(ffn_specs(hp));
    s
}

pub fn forward<B: Backend>(
    batch: &mut Batch<B>,
    hp: &HParams,
    w: &ModelWeights<B::Weight>,
    tokens: &[u32],
) -> B::Tensor {
    pre_norm_decoder(batch, hp, w, tokens, RopeMode::Neox, Routing { norm_topk: false })
}
