//! The pre-norm decoder shared by llama, qwen2/3, their MoE forms, olmoe and the hybrid
//! qwen35/qwen35moe — x += mix(norm(x)); x += ffn(norm(x)), the mixer an attention or a
//! gated DeltaNet per layer — described by a few settings per architecture instead of a
//! copy of the forward pass per architecture.

use super::layers::{attention, attn_params, delta_net, ffn, rope_params, Act, Batch, Routing};
use super::manifest::{attn_specs, delta_net_specs, ffn_specs, moe_specs, QkNorm, Spec};
use super::weights::{Mixer, ModelWeights};
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
    /// The rotary embedding; an `Imrope` takes its sections from the file.
    pub rope: RopeMode,
    pub routing: Routing,
    /// The attention output is gated by sigmoid of a second half of the query
    /// projection (qwen35).
    pub gated_attn: bool,
    /// Name of the norm before the feed-forward.
    pub ffn_norm: &'static str,
    /// Layers the file's `ssm.*` marks recurrent are gated DeltaNet layers (qwen35),
    /// and the file must have that shape.
    pub recurrent: bool,
}

impl PreNormDecoder {
    /// The settings of the plain decoders (llama, qwen2, qwen3 and their MoE forms).
    pub const BASE: PreNormDecoder = PreNormDecoder {
        qkv_bias: false,
        qk_norm: QkNorm::None,
        ffn: FfnKind::Dense,
        rope: RopeMode::Normal,
        routing: Routing { norm_topk: false },
        gated_attn: false,
        ffn_norm: "ffn_norm.weight",
        recurrent: false,
    };

    /// The tensors of layer `il`: attention or, where `hp` marks the layer recurrent,
    /// a gated DeltaNet; then the feed-forward.
    pub fn layer_specs(&self, hp: &HParams, il: usize) -> Vec<Spec> {
        let mut s = match &hp.ssm {
            Some(ssm) if self.recurrent && hp.is_recurrent(il) => delta_net_specs(hp, ssm),
            _ => attn_specs(hp, self.qkv_bias, self.qk_norm, self.gated_attn),
        };
        let f = match self.ffn {
            FfnKind::Moe { shared } => moe_specs(hp, shared),
            FfnKind::DenseOrMoe if hp.is_moe() => moe_specs(hp, false),
            FfnKind::Dense | FfnKind::DenseOrMoe => ffn_specs(hp),
        };
        let norm = self.ffn_norm;
        s.extend(f.into_iter().map(|spec| match spec.name {
            "ffn_norm.weight" => Spec { name: norm, ..spec },
            _ => spec,
        }));
        s
    }

    /// Whether the architecture needs `expert_count` set.
    pub fn requires_experts(&self) -> bool {
        matches!(self.ffn, FfnKind::Moe { .. })
    }

    /// The rotary embedding of this file (an `Imrope` with the file's sections).
    fn rope_mode(&self, hp: &HParams) -> RopeMode {
        match self.rope {
            RopeMode::Imrope(_) => RopeMode::Imrope(hp.rope_sections.unwrap_or_default()),
            mode => mode,
        }
    }

    pub fn forward<B: Backend>(
        &self,
        batch: &mut Batch<B>,
        hp: &HParams,
        w: &ModelWeights<B::Weight>,
        tokens: &[u32],
    ) -> B::Tensor {
        let b = batch.b;
        let rope = rope_params(hp, self.rope_mode(hp), hp.rope_freq_base);
        let attn = attn_params(hp, 1.0 / (hp.head_dim_k as f32).sqrt(), None);
        let mut x = b.get_rows(&w.token_embd, tokens);
        for (il, l) in w.layers.iter().enumerate() {
            let h = b.rms_norm(&x, &l.attn_norm, hp.rms_eps);
            let a = match (&l.mixer, &hp.ssm) {
                (Mixer::DeltaNet(d), Some(ssm)) => delta_net(batch, hp, ssm, d, &h, il),
                (Mixer::DeltaNet(_), None) => unreachable!("DeltaNet weights without ssm.*"),
                (Mixer::Attention(a), _) => {
                    attention(batch, hp, a, &h, il, rope, &attn, self.gated_attn)
                }
            };
            x = b.add(&x, &a);
            let h = b.rms_norm(&x, &l.ffn_norm, hp.rms_eps);
            let f = ffn(b, hp, &l.ffn, &h, Act::Silu, self.routing);
            x = b.add(&x, &f);
            batch.layer_out(il, &x);
        }
        x
    }
}
