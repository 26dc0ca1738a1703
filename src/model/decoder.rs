//! The pre-norm decoder shared by llama, qwen2/3, their MoE forms and olmoe —
//! x += attn(norm(x)); x += ffn(norm(x)) — described by a few settings per
//! architecture instead of a copy of the forward pass per architecture.

use super::layers::{attention, attn_params, ffn, rope_params, Act, Batch, Routing};
use super::manifest::{attn_specs, ffn_specs, moe_specs, QkNorm, Spec};
use super::weights::ModelWeights;
use super::HParams;
use crate::backend::{Backend, RopeMode};

/// What the feed-forward of every layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfnKind {
    Dense,
    /// Routed experts; `shared` adds a gated shared expert.
    Moe {
        shared: bool,
    },
    /// Dense, or routed experts when the file sets `expert_count` (llama/Mixtral).
    DenseOrMoe,
}

/// Everything that tells one pre-norm decoder architecture from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreNormDecoder {
    /// Biases on q, k and v.
    pub qkv_bias: bool,
    pub qk_norm: QkNorm,
    pub ffn: FfnKind,
    pub rope: RopeMode,
    pub routing: Routing,
}

impl PreNormDecoder {
    /// The tensors of one layer.
    pub fn layer_specs(&self, hp: &HParams) -> Vec<Spec> {
        let mut s = attn_specs(hp, self.qkv_bias, self.qk_norm);
        s.extend(match self.ffn {
            FfnKind::Moe { shared } => moe_specs(hp, shared),
            FfnKind::DenseOrMoe if hp.is_moe() => moe_specs(hp, false),
            FfnKind::Dense | FfnKind::DenseOrMoe => ffn_specs(hp),
        });
        s
    }

    /// Whether the architecture needs `expert_count` set.
    pub fn requires_experts(&self) -> bool {
        matches!(self.ffn, FfnKind::Moe { .. })
    }

    pub fn forward<B: Backend>(
        &self,
        batch: &mut Batch<B>,
        hp: &HParams,
        w: &ModelWeights<B::Weight>,
        tokens: &[u32],
    ) -> B::Tensor {
        let b = batch.b;
        let rope = rope_params(hp, self.rope, hp.rope_freq_base);
        let attn = attn_params(hp, 1.0 / (hp.head_dim_k as f32).sqrt(), None);
        let mut x = b.get_rows(&w.token_embd, tokens);
        for (il, l) in w.layers.iter().enumerate() {
            let h = b.rms_norm(&x, &l.attn_norm, hp.rms_eps);
            let a = attention(batch, hp, l, &h, il, rope, &attn);
            x = b.add(&x, &a);
            let h = b.rms_norm(&x, &l.ffn_norm, hp.rms_eps);
            let f = ffn(b, hp, &l.ffn, &h, Act::Silu, self.routing);
            x = b.add(&x, &f);
            batch.layer_out(il, &x);
        }
        x
    }
}
