//! gemma3: embeddings scaled by √n_embd; per-head q/k norms; norms after attention and
//! after the feed-forward as well as before; GELU-gated feed-forward; five of every six
//! layers attend within a sliding window (with their own rotary base of 10 000), the
//! sixth attends globally.

use super::layers::{attention, attn_params, ffn, post_norm, rope_params, Act, Batch, Routing};
use super::manifest::{attn_specs, ffn_specs, req, QkNorm, Spec};
use super::weights::ModelWeights;
use super::HParams;
use crate::backend::{Backend, RopeMode};

/// Every sixth layer is global; the others use the sliding window.
const SWA_PATTERN: usize = 6;
/// Rotary base of the sliding-window layers.
const ROPE_FREQ_BASE_SWA: f32 = 10_000.0;

pub fn layer_specs(hp: &HParams) -> Vec<Spec> {
    let mut s = attn_specs(hp, false, QkNorm::PerHead, false);
    s.push(req("post_attention_norm.weight", &[hp.n_embd]));
    s.extend(ffn_specs(hp));
    s.push(req("post_ffw_norm.weight", &[hp.n_embd]));
    s
}

fn is_swa(il: usize) -> bool {
    il % SWA_PATTERN < SWA_PATTERN - 1
}

/// 1/√head_dim, except the 27B model (62 layers), which scales by 1/√(n_embd/n_head).
fn attention_scale(hp: &HParams) -> f32 {
    let d = if hp.n_layer == 62 { hp.n_embd / hp.n_head } else { hp.head_dim_k };
    1.0 / (d as f32).sqrt()
}

pub fn forward<B: Backend>(
    batch: &mut Batch<B>,
    hp: &HParams,
    w: &ModelWeights<B::Weight>,
    tokens: &[u32],
) -> B::Tensor {
    let b = batch.b;
    let scale = attention_scale(hp);
    let mut x = b.scale(&b.get_rows(&w.token_embd, tokens), (hp.n_embd as f32).sqrt());
    for (il, l) in w.layers.iter().enumerate() {
        let (rope, attn) = if is_swa(il) {
            (
                rope_params(hp, RopeMode::Neox, ROPE_FREQ_BASE_SWA),
                attn_params(hp, scale, hp.sliding_window),
            )
        } else {
            (rope_params(hp, RopeMode::Neox, hp.rope_freq_base), attn_params(hp, scale, None))
        };
        let h = b.rms_norm(&x, &l.attn_norm, hp.rms_eps);
        let a = attention(batch, hp, l.attention(), &h, il, rope, &attn, false);
        let a = post_norm(b, a, &l.post_attn_norm, hp.rms_eps);
        x = b.add(&x, &a);
        let h = b.rms_norm(&x, &l.ffn_norm, hp.rms_eps);
        let f = ffn(b, hp, &l.ffn, &h, Act::Gelu, Routing { norm_topk: false });
        let f = post_norm(b, f, &l.post_ffw_norm, hp.rms_eps);
        x = b.add(&x, &f);
        batch.layer_out(il, &x);
    }
    x
}
