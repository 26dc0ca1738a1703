//! Tensor manifests: the tensors an architecture expects, with their shapes (ggml
//! order) and whether they may be absent; loading checks every one against the file.

use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::gguf::GgufFile;

/// One expected tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Short name without the `blk.N.` prefix and `.weight`/`.bias` suffix kept, e.g.
    /// `attn_q.weight`.
    pub name: &'static str,
    pub dims: Vec<u64>,
    pub optional: bool,
}

pub fn req(name: &'static str, dims: &[usize]) -> Spec {
    Spec { name, dims: dims.iter().map(|&d| d as u64).collect(), optional: false }
}

pub fn opt(name: &'static str, dims: &[usize]) -> Spec {
    Spec { optional: true, ..req(name, dims) }
}

/// Loaded weights of one scope (the model's globals or one layer), by short name.
pub struct Tensors<W> {
    map: HashMap<&'static str, W>,
}

impl<W> Tensors<W> {
    pub fn get(&mut self, name: &str) -> Option<W> {
        self.map.remove(name)
    }

    /// A tensor the manifest marked required (loading has already checked it exists).
    pub fn take(&mut self, name: &str) -> W {
        self.map.remove(name).unwrap_or_else(|| panic!("manifest lists {name} as required"))
    }
}

/// Loads the tensors of `specs`, each named `{prefix}{spec.name}`, checking shapes.
pub fn load<B: Backend>(
    backend: &B,
    file: &Arc<GgufFile>,
    prefix: &str,
    specs: &[Spec],
) -> Result<Tensors<B::Weight>> {
    let mut map = HashMap::new();
    for spec in specs {
        let full = format!("{prefix}{}", spec.name);
        let Some(info) = file.tensor(&full) else {
            if spec.optional {
                continue;
            }
            return Err(Error::bad_input(format!(
                "required tensor is missing (expected shape {:?})",
                spec.dims
            ))
            .with_tensor(full)
            .with_file(file.path()));
        };
        if info.dims != spec.dims {
            return Err(Error::bad_input(format!(
                "expected shape {:?}, found {:?}",
                spec.dims, info.dims
            ))
            .with_tensor(full)
            .with_file(file.path()));
        }
        map.insert(spec.name, backend.load_weight(file, info)?);
    }
    Ok(Tensors { map })
}

/// Refuses a file holding tensors the manifest does not take (a llama file carrying
/// `attn_q.bias`, say): ignoring them would compute another model than the file's.
/// `layers` holds each trunk layer's specs; the `n_nextn` blocks after them (the
/// multi-token-prediction layers hearth does not run) may hold anything.
pub fn check_leftovers(
    file: &GgufFile,
    arch: &str,
    globals: &[Spec],
    layers: &[Vec<Spec>],
    n_nextn: usize,
) -> Result<()> {
    let mut known: std::collections::HashSet<String> =
        globals.iter().map(|s| s.name.to_string()).collect();
    for (il, specs) in layers.iter().enumerate() {
        known.extend(specs.iter().map(|s| format!("blk.{il}.{}", s.name)));
    }
    let skipped: Vec<String> =
        (layers.len()..layers.len() + n_nextn).map(|il| format!("blk.{il}.")).collect();
    let left: Vec<&str> = file
        .tensors()
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| !known.contains(*n) && !skipped.iter().any(|p| n.starts_with(p.as_str())))
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = left.iter().take(4).copied().collect();
    let more = if left.len() > 4 { format!(" and {} more", left.len() - 4) } else { String::new() };
    let noun = if left.len() == 1 { "tensor" } else { "tensors" };
    Err(Error::bad_input(format!(
        "{} {noun} that the {arch} architecture does not use ({}{more}); running without \
         them would compute another model than this file's",
        left.len(),
        shown.join(", ")
    ))
    .with_file(file.path()))
}

/// How an attention block normalizes q and k (if at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkNorm {
    None,
    /// One `head_dim` weight shared by every head (qwen3, gemma3).
    PerHead,
    /// One weight over the whole q or k row (olmoe).
    Whole,
}

/// The model-wide tensors every architecture has.
pub fn global_specs(hp: &super::HParams) -> Vec<Spec> {
    vec![
        req("token_embd.weight", &[hp.n_embd, hp.n_vocab]),
        req("output_norm.weight", &[hp.n_embd]),
        opt("output.weight", &[hp.n_embd, hp.n_vocab]),
    ]
}

/// Attention tensors: norm, q/k/v/output, optional biases and q/k norms; a `gated`
/// query projection is twice as wide (a gate per query value).
pub fn attn_specs(hp: &super::HParams, bias: bool, qk_norm: QkNorm, gated: bool) -> Vec<Spec> {
    let (q_w, k_w, v_w) = (hp.n_head * hp.head_dim_k, hp.n_embd_k_gqa(), hp.n_embd_v_gqa());
    let q_out = if gated { 2 * q_w } else { q_w };
    let mut s = vec![
        req("attn_norm.weight", &[hp.n_embd]),
        req("attn_q.weight", &[hp.n_embd, q_out]),
        req("attn_k.weight", &[hp.n_embd, k_w]),
        req("attn_v.weight", &[hp.n_embd, v_w]),
        req("attn_output.weight", &[hp.n_head * hp.head_dim_v, hp.n_embd]),
    ];
    if bias {
        s.extend([
            req("attn_q.bias", &[q_w]),
            req("attn_k.bias", &[k_w]),
            req("attn_v.bias", &[v_w]),
        ]);
    }
    match qk_norm {
        QkNorm::None => {}
        QkNorm::PerHead => s.extend([
            req("attn_q_norm.weight", &[hp.head_dim_k]),
            req("attn_k_norm.weight", &[hp.head_dim_k]),
        ]),
        QkNorm::Whole => {
            s.extend([req("attn_q_norm.weight", &[q_w]), req("attn_k_norm.weight", &[k_w])])
        }
    }
    s
}

/// A gated DeltaNet layer's tensors, with its norm.
pub fn delta_net_specs(hp: &super::HParams, s: &super::hparams::Ssm) -> Vec<Spec> {
    let (e, hv) = (hp.n_embd, s.n_v_heads);
    vec![
        req("attn_norm.weight", &[e]),
        req("attn_qkv.weight", &[e, s.conv_dim()]),
        req("attn_gate.weight", &[e, s.d_inner]),
        req("ssm_conv1d.weight", &[s.d_conv, s.conv_dim()]),
        req("ssm_dt.bias", &[hv]),
        req("ssm_a", &[hv]),
        req("ssm_beta.weight", &[e, hv]),
        req("ssm_alpha.weight", &[e, hv]),
        req("ssm_norm.weight", &[s.d_state]),
        req("ssm_out.weight", &[s.d_inner, e]),
    ]
}

/// A dense SwiGLU/GeGLU feed-forward with its norm.
pub fn ffn_specs(hp: &super::HParams) -> Vec<Spec> {
    vec![
        req("ffn_norm.weight", &[hp.n_embd]),
        req("ffn_gate.weight", &[hp.n_embd, hp.n_ff]),
        req("ffn_up.weight", &[hp.n_embd, hp.n_ff]),
        req("ffn_down.weight", &[hp.n_ff, hp.n_embd]),
    ]
}

/// Routed experts with their norm and router; `shared` adds qwen2moe's shared expert.
pub fn moe_specs(hp: &super::HParams, shared: bool) -> Vec<Spec> {
    let (e, f) = (hp.n_expert, hp.n_ff_exp);
    let mut s = vec![
        req("ffn_norm.weight", &[hp.n_embd]),
        req("ffn_gate_inp.weight", &[hp.n_embd, e]),
        req("ffn_gate_exps.weight", &[hp.n_embd, f, e]),
        req("ffn_up_exps.weight", &[hp.n_embd, f, e]),
        req("ffn_down_exps.weight", &[f, hp.n_embd, e]),
    ];
    if shared {
        let fs = hp.n_ff_shexp;
        s.extend([
            req("ffn_gate_inp_shexp.weight", &[hp.n_embd]),
            req("ffn_gate_shexp.weight", &[hp.n_embd, fs]),
            req("ffn_up_shexp.weight", &[hp.n_embd, fs]),
            req("ffn_down_shexp.weight", &[fs, hp.n_embd]),
        ]);
    }
    s
}
