//! The weights of a transformer, one struct for every architecture: tensors an
//! architecture lacks are `None`, and the blocks of `layers.rs` skip them.

use super::manifest::Tensors;

/// The feed-forward part of a layer: dense, or a mixture of experts.
pub enum Ffn<W> {
    Dense {
        gate: W, // (n_embd, n_ff)
        up: W,   // (n_embd, n_ff)
        down: W, // (n_ff, n_embd)
    },
    Moe {
        router: W,    // (n_embd, n_expert)
        gate_exps: W, // (n_embd, n_ff_exp, n_expert)
        up_exps: W,   // (n_embd, n_ff_exp, n_expert)
        down_exps: W, // (n_ff_exp, n_embd, n_expert)
        shared: Option<SharedExpert<W>>,
    },
}

/// An always-active expert beside the routed ones (qwen2moe).
pub struct SharedExpert<W> {
    pub gate_inp: Option<W>, // (n_embd) — sigmoid gate on the shared output
    pub gate: W,             // (n_embd, n_ff_shexp)
    pub up: W,               // (n_embd, n_ff_shexp)
    pub down: W,             // (n_ff_shexp, n_embd)
}

pub struct LayerWeights<W> {
    pub attn_norm: W,              // (n_embd)
    pub wq: W,                     // (n_embd, n_head · head_dim_k)
    pub wk: W,                     // (n_embd, n_head_kv · head_dim_k)
    pub wv: W,                     // (n_embd, n_head_kv · head_dim_v)
    pub wo: W,                     // (n_head · head_dim_v, n_embd)
    pub bq: Option<W>,             // (n_head · head_dim_k)
    pub bk: Option<W>,             // (n_head_kv · head_dim_k)
    pub bv: Option<W>,             // (n_head_kv · head_dim_v)
    pub q_norm: Option<W>,         // (head_dim_k) per head, or (n_head · head_dim_k) whole
    pub k_norm: Option<W>,         // (head_dim_k) per head, or (n_head_kv · head_dim_k) whole
    pub post_attn_norm: Option<W>, // (n_embd)
    pub ffn_norm: W,               // (n_embd)
    pub ffn: Ffn<W>,
    pub post_ffw_norm: Option<W>, // (n_embd)
}

pub struct ModelWeights<W> {
    pub token_embd: W,     // (n_embd, n_vocab)
    pub output_norm: W,    // (n_embd)
    pub output: Option<W>, // (n_embd, n_vocab); None: tied to token_embd
    pub layers: Vec<LayerWeights<W>>,
}

impl<W> LayerWeights<W> {
    /// Builds a layer from tensors loaded by the architecture's manifest.
    pub fn from_tensors(mut t: Tensors<W>) -> LayerWeights<W> {
        let ffn = match t.get("ffn_gate_inp.weight") {
            Some(router) => Ffn::Moe {
                router,
                gate_exps: t.take("ffn_gate_exps.weight"),
                up_exps: t.take("ffn_up_exps.weight"),
                down_exps: t.take("ffn_down_exps.weight"),
                shared: t.get("ffn_up_shexp.weight").map(|up| SharedExpert {
                    gate_inp: t.get("ffn_gate_inp_shexp.weight"),
                    gate: t.take("ffn_gate_shexp.weight"),
                    up,
                    down: t.take("ffn_down_shexp.weight"),
                }),
            },
            None => Ffn::Dense {
                gate: t.take("ffn_gate.weight"),
                up: t.take("ffn_up.weight"),
                down: t.take("ffn_down.weight"),
            },
        };
        LayerWeights {
            attn_norm: t.take("attn_norm.weight"),
            wq: t.take("attn_q.weight"),
            wk: t.take("attn_k.weight"),
            wv: t.take("attn_v.weight"),
            wo: t.take("attn_output.weight"),
            bq: t.get("attn_q.bias"),
            bk: t.get("attn_k.bias"),
            bv: t.get("attn_v.bias"),
            q_norm: t.get("attn_q_norm.weight"),
            k_norm: t.get("attn_k_norm.weight"),
            post_attn_norm: t.get("post_attention_norm.weight"),
            ffn_norm: t.take("ffn_norm.weight"),
            ffn,
            post_ffw_norm: t.get("post_ffw_norm.weight"),
        }
    }
}
