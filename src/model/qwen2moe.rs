//! qwen2moe: qwen2 attention (q/k/v biases) with routed experts — softmax top-k, not
//! renormalized — plus a shared expert scaled by a sigmoid gate.

use super::layers::{pre_norm_decoder, Batch, Routing};
use super::manifest::{attn_specs, moe_specs, QkNorm, Spec};
use super::weights::ModelWeights;
use super::HParams;
use crate::backend::{Backend, RopeMode};

pub fn layer_specs(hp: &HParams) -> Vec<Spec> {
    let mut s = attn_specs(hp, true, QkNorm::None);
    s.extend(moe_specs(hp, true));
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
