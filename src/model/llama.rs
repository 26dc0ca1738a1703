//! llama — also Mistral, and Mixtral-style MoE when `expert_count` is set: pre-norm
//! decoder, rotary embeddings on adjacent pairs, SwiGLU, renormalized top-k routing;
//! tied embeddings when `output.weight` is absent.

use super::layers::{pre_norm_decoder, Batch, Routing};
use super::manifest::{attn_specs, ffn_specs, moe_specs, QkNorm, Spec};
use super::weights::ModelWeights;
use super::HParams;
use crate::backend::{Backend, RopeMode};

pub fn layer_specs(hp: &HParams) -> Vec<Spec> {
    let mut s = attn_specs(hp, false, QkNorm::None);
    s.extend(if hp.is_moe() { moe_specs(hp, false) } else { ffn_specs(hp) });
    s
}

pub fn forward<B: Backend>(
    batch: &mut Batch<B>,
    hp: &HParams,
    w: &ModelWeights<B::Weight>,
    tokens: &[u32],
) -> B::Tensor {
    pre_norm_decoder(batch, hp, w, tokens, RopeMode::Normal, Routing { norm_topk: true })
}
