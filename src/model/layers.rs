//! The blocks every architecture is built from — attention, feed-forward, mixture of
//! experts with its router, output head — as sequences of backend ops. No architecture
//! names appear here: what differs is passed in as settings or absent tensors.

use super::hparams::Ssm;
use super::weights::{Attention, DeltaNet, Ffn, ModelWeights, SharedExpert};
use super::HParams;
use crate::backend::{AttnParams, Backend, DeltaParams, RopeMode, RopeParams};

/// The tokens of one forward call: their positions and the cache they extend.
/// What is shown each layer's output: its index and the hidden state.
pub type LayerTap<'a, T> = dyn FnMut(usize, &T) + 'a;

pub struct Batch<'a, B: Backend> {
    pub b: &'a B,
    pub kv: &'a mut B::Kv,
    /// Position of each token; consecutive, starting at `start`.
    pub positions: &'a [u32],
    pub start: usize,
    /// Shown each layer's output `(n_tokens, n_embd)`, when set: for comparing backends
    /// layer by layer.
    pub tap: Option<&'a mut LayerTap<'a, B::Tensor>>,
}

impl<B: Backend> Batch<'_, B> {
    /// Hands layer `il`'s output to the tap, if there is one.
    pub fn layer_out(&mut self, il: usize, x: &B::Tensor) {
        if let Some(tap) = self.tap.as_mut() {
            tap(il, x);
        }
    }
}

/// How a MoE layer turns router logits into expert weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routing {
    /// Renormalize the top-k softmax weights to sum to 1 (mixtral, qwen3moe).
    pub norm_topk: bool,
}

/// Gated activation of the feed-forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Silu,
    Gelu,
}

pub fn rope_params(hp: &HParams, mode: RopeMode, freq_base: f32) -> RopeParams {
    RopeParams {
        mode,
        n_head: 0, // set per use: q and k differ
        head_dim: hp.head_dim_k,
        n_rot: hp.n_rot,
        freq_base,
        freq_scale: hp.rope_freq_scale,
    }
}

pub fn attn_params(hp: &HParams, scale: f32, window: Option<usize>) -> AttnParams {
    AttnParams {
        n_head: hp.n_head,
        n_head_kv: hp.n_head_kv,
        head_dim_k: hp.head_dim_k,
        head_dim_v: hp.head_dim_v,
        scale,
        window,
    }
}

/// Self-attention of normed input `h`: projections (+ biases), q/k norms, rotary
/// embeddings, cache write, attention, output projection. A `gated` attention's query
/// projection yields per head the query and a gate; the attention output is multiplied
/// by sigmoid(gate) before the output projection.
#[allow(clippy::too_many_arguments)]
pub fn attention<B: Backend>(
    batch: &mut Batch<B>,
    hp: &HParams,
    l: &Attention<B::Weight>,
    h: &B::Tensor,
    il: usize,
    rope: RopeParams,
    attn: &AttnParams,
    gated: bool,
) -> B::Tensor {
    let b = batch.b;
    let with_bias = |t: B::Tensor, bias: &Option<B::Weight>| match bias {
        Some(bias) => b.add_row(&t, bias),
        None => t,
    };
    let d = hp.head_dim_k;
    let (mut q, gate) = match with_bias(b.matmul(&l.wq, h), &l.bq) {
        qg if gated => (b.slice_cols(&qg, 0, d, 2 * d), Some(b.slice_cols(&qg, d, d, 2 * d))),
        q => (q, None),
    };
    let mut k = with_bias(b.matmul(&l.wk, h), &l.bk);
    let v = with_bias(b.matmul(&l.wv, h), &l.bv);
    if let Some(w) = &l.q_norm {
        q = b.rms_norm(&q, w, hp.rms_eps);
    }
    if let Some(w) = &l.k_norm {
        k = b.rms_norm(&k, w, hp.rms_eps);
    }
    let q = b.rope(&q, batch.positions, &RopeParams { n_head: hp.n_head, ..rope });
    let k = b.rope(&k, batch.positions, &RopeParams { n_head: hp.n_head_kv, ..rope });
    b.kv_store(batch.kv, il, batch.start, &k, &v);
    let out = b.attention(&q, batch.kv, il, batch.positions, attn);
    let out = match gate {
        Some(g) => b.mul(&out, &b.sigmoid(&g)),
        None => out,
    };
    b.matmul(&l.wo, &out)
}

/// A gated DeltaNet layer on normed input `h`: the q/k/v projection through the causal
/// conv1d and SiLU, L2-normed queries and keys, the gated delta rule on the layer's
/// recurrent state (decay from alpha, write strength sigmoid(beta)), an RMS norm of each
/// head gated by SiLU(z), and the output projection.
pub fn delta_net<B: Backend>(
    batch: &mut Batch<B>,
    hp: &HParams,
    s: &Ssm,
    l: &DeltaNet<B::Weight>,
    h: &B::Tensor,
    il: usize,
) -> B::Tensor {
    let b = batch.b;
    let (kd, c) = (s.key_dim(), s.conv_dim());
    let qkv = b.matmul(&l.qkv, h);
    let z = b.matmul(&l.gate, h);
    let beta = b.sigmoid(&b.matmul(&l.beta, h));
    let g = b.gdn_decay(&b.matmul(&l.alpha, h), &l.dt_bias, &l.a);
    let conv = b.silu(&b.ssm_conv(batch.kv, il, &qkv, &l.conv1d));
    let q = b.l2_norm(&b.slice_cols(&conv, 0, kd, c), s.d_state, hp.rms_eps);
    let k = b.l2_norm(&b.slice_cols(&conv, kd, kd, c), s.d_state, hp.rms_eps);
    let v = b.slice_cols(&conv, 2 * kd, s.d_inner, c);
    let p = DeltaParams { n_head_k: s.n_group, n_head_v: s.n_v_heads, head_dim: s.d_state };
    let o = b.gated_delta_net(batch.kv, il, &q, &k, &v, &g, &beta, &p);
    let o = b.swiglu(&z, &b.rms_norm(&o, &l.norm, hp.rms_eps));
    b.matmul(&l.out, &o)
}

fn gated<B: Backend>(b: &B, act: Act, gate: &B::Tensor, up: &B::Tensor) -> B::Tensor {
    match act {
        Act::Silu => b.swiglu(gate, up),
        Act::Gelu => b.geglu(gate, up),
    }
}

/// Feed-forward of normed input `h`: dense, or routed experts (+ shared expert).
pub fn ffn<B: Backend>(
    b: &B,
    hp: &HParams,
    ffn: &Ffn<B::Weight>,
    h: &B::Tensor,
    act: Act,
    routing: Routing,
) -> B::Tensor {
    match ffn {
        Ffn::Dense { gate, up, down } => {
            let a = gated(b, act, &b.matmul(gate, h), &b.matmul(up, h));
            b.matmul(down, &a)
        }
        Ffn::Moe { router, gate_exps, up_exps, down_exps, shared } => {
            let (ids, weights) = route(b, hp, router, h, routing);
            let k = hp.n_expert_used;
            let [gate, up] = b.mul_mat_id_pair([gate_exps, up_exps], h, &ids, k);
            let a = gated(b, act, &gate, &up);
            let y = b.scale_rows_by(&b.mul_mat_id(down_exps, &a, &ids), &weights, false);
            let moe = b.sum_groups(&y, k);
            match shared {
                Some(s) => b.add(&moe, &shared_expert(b, s, h, act)),
                None => moe,
            }
        }
    }
}

fn shared_expert<B: Backend>(
    b: &B,
    s: &SharedExpert<B::Weight>,
    h: &B::Tensor,
    act: Act,
) -> B::Tensor {
    let a = gated(b, act, &b.matmul(&s.gate, h), &b.matmul(&s.up, h));
    let out = b.matmul(&s.down, &a);
    match &s.gate_inp {
        Some(g) => b.scale_rows_by(&out, &b.matmul(g, h), true),
        None => out,
    }
}

/// The router: softmax over experts, the top `n_expert_used` per token (ties to the
/// lower id), their probabilities as weights — renormalized if `routing` says so.
/// Returns the expert ids per (token, slot), token-major, and their weights `(n·k, 1)`.
pub fn route<B: Backend>(
    b: &B,
    hp: &HParams,
    router: &B::Weight,
    h: &B::Tensor,
    routing: Routing,
) -> (B::Ids, B::Tensor) {
    b.top_k_experts(&b.matmul(router, h), hp.n_expert_used, routing.norm_topk)
}

/// Final norm and the output head, for the rows (tokens) in `rows`.
pub fn output<B: Backend>(
    b: &B,
    hp: &HParams,
    w: &ModelWeights<B::Weight>,
    x: &B::Tensor,
    rows: &[usize],
) -> B::Tensor {
    let x = b.select_rows(x, rows);
    let x = b.rms_norm(&x, &w.output_norm, hp.rms_eps);
    b.matmul(w.output.as_ref().unwrap_or(&w.token_embd), &x)
}

/// RMS norm with `w` when the layer has that norm (gemma's post-norms).
pub fn post_norm<B: Backend>(b: &B, t: B::Tensor, w: &Option<B::Weight>, eps: f32) -> B::Tensor {
    match w {
        Some(w) => b.rms_norm(&t, w, eps),
        None => t,
    }
}
