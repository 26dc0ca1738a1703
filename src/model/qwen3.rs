//! qwen3: the llama decoder with a per-head RMS norm on q and k before the NeoX-style
//! rotary embeddings, and no biases.

use super::layers::{pre_norm_decoder, Batch, Routing};
use super::manifest::{attn_specs, ffn_specs, QkNorm, Spec};
use super::weights::ModelWeights;
use super::HParams;
use crate::backend::{Backend, RopeMode};

pub fn layer_specs(hp: &HParams) -> Vec<Spec> {
    let mut s = attn_specs(hp, false, QkNorm::PerHead);
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
