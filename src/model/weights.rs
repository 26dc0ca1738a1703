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

/// Self-attention of a layer. With a gated attention (qwen35), `wq` yields per head the
/// query and then as many gate values.
pub struct Attention<W> {
    pub wq: W,             // (n_embd, n_head · head_dim_k), ×2 gated
    pub wk: W,             // (n_embd, n_head_kv · head_dim_k)
    pub wv: W,             // (n_embd, n_head_kv · head_dim_v)
    pub wo: W,             // (n_head · head_dim_v, n_embd)
    pub bq: Option<W>,     // (n_head · head_dim_k)
    pub bk: Option<W>,     // (n_head_kv · head_dim_k)
    pub bv: Option<W>,     // (n_head_kv · head_dim_v)
    pub q_norm: Option<W>, // (head_dim_k) per head, or (n_head · head_dim_k) whole
    pub k_norm: Option<W>, // (head_dim_k) per head, or (n_head_kv · head_dim_k) whole
}

/// A gated DeltaNet layer (linear attention with a recurrent state).
pub struct DeltaNet<W> {
    pub qkv: W,     // (n_embd, 2 · key_dim + d_inner): queries, keys, values
    pub gate: W,    // (n_embd, d_inner): z, the output gate
    pub conv1d: W,  // (d_conv, 2 · key_dim + d_inner)
    pub dt_bias: W, // (n_v_heads)
    pub a: W,       // (n_v_heads): −exp(A_log)
    pub alpha: W,   // (n_embd, n_v_heads)
    pub beta: W,    // (n_embd, n_v_heads)
    pub norm: W,    // (d_state)
    pub out: W,     // (d_inner, n_embd)
}

/// What mixes the tokens of a layer.
pub enum Mixer<W> {
    Attention(Attention<W>),
    DeltaNet(DeltaNet<W>),
}

pub struct LayerWeights<W> {
    pub attn_norm: W, // (n_embd)
    pub mixer: Mixer<W>,
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
    /// The layer's attention (every layer of the architectures without DeltaNet layers,
    /// whose manifests require it).
    pub fn attention(&self) -> &Attention<W> {
        match &self.mixer {
            Mixer::Attention(a) => a,
            Mixer::DeltaNet(_) => panic!("manifest lists attention for this layer"),
        }
    }

    /// Builds a layer from tensors loaded by the architecture's manifest; the norm before
    /// the feed-forward is `ffn_norm` (qwen35 names it `post_attention_norm`).
    pub fn from_tensors(mut t: Tensors<W>, ffn_norm: &str) -> LayerWeights<W> {
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
        let ffn_norm = t.take(ffn_norm);
        let mixer = match t.get("ssm_conv1d.weight") {
            Some(conv1d) => Mixer::DeltaNet(DeltaNet {
                qkv: t.take("attn_qkv.weight"),
                gate: t.take("attn_gate.weight"),
                conv1d,
                dt_bias: t.take("ssm_dt.bias"),
                a: t.take("ssm_a"),
                alpha: t.take("ssm_alpha.weight"),
                beta: t.take("ssm_beta.weight"),
                norm: t.take("ssm_norm.weight"),
                out: t.take("ssm_out.weight"),
            }),
            None => Mixer::Attention(Attention {
                wq: t.take("attn_q.weight"),
                wk: t.take("attn_k.weight"),
                wv: t.take("attn_v.weight"),
                wo: t.take("attn_output.weight"),
                bq: t.get("attn_q.bias"),
                bk: t.get("attn_k.bias"),
                bv: t.get("attn_v.bias"),
                q_norm: t.get("attn_q_norm.weight"),
                k_norm: t.get("attn_k_norm.weight"),
            }),
        };
        LayerWeights {
            attn_norm: t.take("attn_norm.weight"),
            mixer,
            post_attn_norm: t.get("post_attention_norm.weight"),
            ffn_norm,
            ffn,
            post_ffw_norm: t.get("post_ffw_norm.weight"),
        }
    }
}
