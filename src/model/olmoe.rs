//! olmoe (OLMoE-1B-7B): RMS norm over the whole q and k rows, NeoX-style rotary
//! embeddings, 64 experts with softmax top-k routing, not renormalized.

use super::layers::{pre_norm_decoder, Batch, Routing};
use super::manifest::{attn_specs, moe_specs, QkNorm, Spec};
use super::weights::ModelWeights;
use super::HParams;
use crate::backend::{Backend, RopeMode};

pub fn layer_specs(hp: &HParams) -> Vec<Spec> {
    let mut s = attn_specs(hp, false, QkNorm::Whole);
    s.extend(moe_specs(hp, false));
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
