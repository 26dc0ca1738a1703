//! qwen3moe (Qwen3-30B-A3B, Qwen3-Coder-30B-A3B): qwen3 attention with per-head q/k
//! norms, routed experts with softmax top-k renormalized to sum to one.

use super::layers::{pre_norm_decoder, Batch, Routing};
use super::manifest::{attn_specs, moe_specs, QkNorm, Spec};
use super::weights::ModelWeights;
use super::HParams;
use crate::backend::{Backend, RopeMode};

pub fn layer_specs(hp: &HParams) -> Vec<Spec> {
    let mut s = attn_specs(hp, false, QkNorm::PerHead);
    s.extend(moe_specs(hp, false));
    s
}

pub fn forward<B: Backend>(
    batch: &mut Batch<B>,
    hp: &HParams,
    w: &ModelWeights<B::Weight>,
    tokens: &[u32],
) -> B::Tensor {
    pre_norm_decoder(batch, hp, w, tokens, RopeMode::Neox, Routing { norm_topk: true })
}
