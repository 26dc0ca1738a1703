//! An independent reference forward pass for the integration tests, written from the math
//! of each architecture: f64 activations and accumulation, no KV cache (the whole sequence
//! at once), reading the GGUF file directly. It shares only the GGUF reader and the
//! reference (de)quantizers with the engine, never `hearth::model` or the backend. With
//! `Numerics::Ggml` it also rounds where ggml rounds, so that it can be compared tightly
//! with an engine that does; `Numerics::Exact` is the plain math.

use hearth::gguf::GgufFile;
use hearth::quant::{self, GgmlType};
use rayon::prelude::*;

/// How q and k are normalized before the rotary embeddings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum QkNorm {
    None,
    /// One `head_dim` weight applied to every head (qwen3, qwen3moe, gemma3).
    PerHead,
    /// One weight over the whole q (or k) row (olmoe).
    Whole,
}

/// One architecture rule of the reference deliberately changed, to show that the
/// comparison can tell the right rule from a plausible wrong one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mutation {
    /// Renormalize the top-k weights where the architecture does not, and vice versa.
    NormTopk,
    /// Rotate adjacent pairs instead of NeoX halves, and vice versa.
    RopeMode,
    /// Skip the q/k norms.
    NoQkNorm,
    /// Add the shared expert ungated (no sigmoid gate).
    NoSharedGate,
    /// gemma3: attend globally on the sliding-window layers.
    NoWindow,
    /// gemma3: the file's rotary base on the sliding-window layers too.
    GlobalRopeBase,
}

/// What differs between the architectures.
#[derive(Debug, Clone, Copy)]
struct Rules {
    /// Rotary pairs (i, i + n_rot/2) instead of (2i, 2i+1).
    neox: bool,
    qk_norm: QkNorm,
    /// Renormalize the top-k router probabilities to sum to 1.
    norm_topk: bool,
    /// gemma3: scaled embeddings, post-norms, GELU, sliding-window layers.
    gemma: bool,
    shared_gate: bool,
    window: bool,
    swa_rope_base: bool,
}

fn rules(arch: &str) -> Rules {
    let r = |neox, qk_norm, norm_topk| Rules {
        neox,
        qk_norm,
        norm_topk,
        gemma: false,
        shared_gate: true,
        window: true,
        swa_rope_base: true,
    };
    match arch {
        "llama" => r(false, QkNorm::None, true),
        "qwen2" => r(true, QkNorm::None, false),
        "qwen2moe" => r(true, QkNorm::None, false),
        "qwen3" => r(true, QkNorm::PerHead, false),
        "qwen3moe" => r(true, QkNorm::PerHead, true),
        "olmoe" => r(true, QkNorm::Whole, false),
        "gemma3" => Rules { gemma: true, ..r(true, QkNorm::PerHead, false) },
        other => panic!("reference: unknown architecture {other}"),
    }
}

/// Where the reference rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Numerics {
    /// Exact math: f64 everywhere after dequantizing the weights.
    Exact,
    /// Rounded where ggml's CPU backend rounds (and hearth's with it): each matmul's
    /// activations through the type ggml pairs with the weight type (`vec_dot_type`:
    /// Q8_0, Q8_1, Q8_K or F16), Q4_1/Q5_1 blocks' `m · Σx` through Q8_1's f16 block sum,
    /// K and V stored as f16, q rounded to f16 for q·k, and the attention's value sum
    /// kept in f16 (flash attention). The arithmetic in between stays f64.
    Ggml,
}

/// The activation type ggml pairs with weights of type `w` (F32: no rounding).
fn vec_dot_type(w: GgmlType) -> GgmlType {
    use GgmlType::*;
    match w {
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | MXFP4 => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS => Q8_K,
        F16 => F16,
        BF16 => BF16,
        _ => F32,
    }
}

/// A row rounded through Q8_0 or Q8_1 as ggml's CPU backend does at run time on x86
/// (`quantize_row_q8_0/1`, not the `_ref` ones): per 32 values, `q = round_half_even(x ·
/// 127 / max|x|)`, value `q · f16(max|x| / 127)`.
fn round_q8_runtime(row: &[f32]) -> Vec<f64> {
    q8_runtime(row).0
}

/// `round_q8_runtime`, and each block's `s = f16(max|x| / 127 · Σq)` (stored by Q8_1).
fn q8_runtime(row: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let (mut out, mut sums) = (Vec::with_capacity(row.len()), Vec::new());
    for block in row.chunks(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let q: Vec<f32> = block.iter().map(|&v| (v * id).round_ties_even()).collect();
        let dh = half::f16::from_f32(d).to_f64();
        out.extend(q.iter().map(|&q| q as f64 * dh));
        sums.push(half::f16::from_f32(d * q.iter().sum::<f32>()).to_f64());
    }
    (out, sums)
}

/// `x · Wᵀ` for Q4_1/Q5_1 weights as ggml computes it: activations as Q8_1 blocks, and
/// each block's `m_w · Σx` taken as `m_w · s`, with the block's f16 sum `s`.
fn q8_1_matmul(w: MatRef, x: &[f64]) -> Vec<f64> {
    let (k, nb, bb) = (w.k, w.k / 32, w.ty.block_bytes());
    let (m, n) = (w.w.len() / k, x.len() / k);
    // Activations rounded through Q8_1; per block, (stored s) − (sum of the values).
    let (mut xr, mut corr) = (Vec::with_capacity(x.len()), Vec::with_capacity(n * nb));
    for row in x.chunks(k) {
        let (vals, sums) = q8_runtime(&row.iter().map(|&v| v as f32).collect::<Vec<_>>());
        corr.extend(vals.chunks(32).zip(&sums).map(|(b, s)| s - b.iter().sum::<f64>()));
        xr.extend(vals);
    }
    let mut y = matmul(w.w, k, &xr);
    for r in 0..m {
        // The weight blocks' f16 `m` (bytes 2..4 of Q4_1 and Q5_1 blocks).
        let mins: Vec<f64> = w.raw[r * nb * bb..(r + 1) * nb * bb]
            .chunks(bb)
            .map(|b| half::f16::from_le_bytes([b[2], b[3]]).to_f64())
            .collect();
        for t in 0..n {
            let c: f64 = mins.iter().zip(&corr[t * nb..(t + 1) * nb]).map(|(a, b)| a * b).sum();
            y[t * m + r] += c;
        }
    }
    y
}

/// Each row of `k` values of `x` rounded through `ty` (quantized and dequantized).
fn round_rows(x: &[f64], k: usize, ty: GgmlType) -> Vec<f64> {
    if ty == GgmlType::F32 {
        return x.to_vec();
    }
    x.chunks(k)
        .flat_map(|row| {
            let row: Vec<f32> = row.iter().map(|&v| v as f32).collect();
            if matches!(ty, GgmlType::Q8_0 | GgmlType::Q8_1) {
                return round_q8_runtime(&row);
            }
            let mut q = Vec::new();
            quant::quantize(ty, &row, &mut q).unwrap();
            quant::dequantize_row_to_vec(ty, &q).unwrap().into_iter().map(|v| v as f64).collect()
        })
        .collect()
}

fn round_f16(x: &mut [f64]) {
    x.iter_mut().for_each(|v| *v = half::f16::from_f64(*v).to_f64());
}

/// The result of a reference forward pass.
pub struct RefOut {
    /// `(n_tokens, n_vocab)`.
    pub logits: Vec<f32>,
    pub n_vocab: usize,
    /// Selected experts, `[layer][token]`, best first (empty for dense models).
    pub routes: Vec<Vec<Vec<u32>>>,
    /// Smallest gap between the k-th and (k+1)-th router probability over all tokens
    /// and layers (infinite when every expert is used or the model is dense).
    pub min_route_margin: f64,
}

pub struct RefModel<'a> {
    f: &'a GgufFile,
    numerics: Numerics,
    rules: Rules,
    n_embd: usize,
    n_layer: usize,
    n_head: usize,
    n_head_kv: usize,
    hd_k: usize,
    hd_v: usize,
    n_rot: usize,
    rope_base: f64,
    eps: f64,
    window: Option<usize>,
    n_expert: usize,
    n_expert_used: usize,
}

/// A dequantized matrix of rows of `k` values, with the bytes and type it was stored as.
struct Mat<'f> {
    w: Vec<f32>,
    raw: &'f [u8],
    k: usize,
    ty: GgmlType,
}

/// Rows of a `Mat`.
#[derive(Clone, Copy)]
struct MatRef<'m> {
    w: &'m [f32],
    raw: &'m [u8],
    k: usize,
    ty: GgmlType,
}

impl Mat<'_> {
    fn all(&self) -> MatRef<'_> {
        MatRef { w: &self.w, raw: self.raw, k: self.k, ty: self.ty }
    }

    /// Rows `r0..r0 + n`.
    fn rows(&self, r0: usize, n: usize) -> MatRef<'_> {
        let rb = self.k / self.ty.block_elems() * self.ty.block_bytes();
        MatRef {
            w: &self.w[r0 * self.k..(r0 + n) * self.k],
            raw: &self.raw[r0 * rb..(r0 + n) * rb],
            ..self.all()
        }
    }
}

impl<'a> RefModel<'a> {
    /// Reads the hyperparameters straight from the file's metadata.
    pub fn new(f: &'a GgufFile, numerics: Numerics) -> RefModel<'a> {
        let m = f.metadata();
        let arch = m.get_str("general.architecture").unwrap().to_string();
        let u = |k: &str| m.get_usize_opt(&format!("{arch}.{k}")).unwrap();
        let fl = |k: &str| m.get_f32_opt(&format!("{arch}.{k}")).unwrap();
        let n_embd = u("embedding_length").unwrap();
        let n_head = u("attention.head_count").unwrap();
        let hd_k = u("attention.key_length").unwrap_or(n_embd / n_head);
        RefModel {
            f,
            numerics,
            rules: rules(&arch),
            n_embd,
            n_layer: u("block_count").unwrap(),
            n_head,
            n_head_kv: u("attention.head_count_kv").unwrap_or(n_head),
            hd_k,
            hd_v: u("attention.value_length").unwrap_or(n_embd / n_head),
            n_rot: u("rope.dimension_count").unwrap_or(hd_k),
            rope_base: fl("rope.freq_base").unwrap_or(10000.0) as f64,
            eps: fl("attention.layer_norm_rms_epsilon").unwrap() as f64,
            window: u("attention.sliding_window"),
            n_expert: u("expert_count").unwrap_or(0),
            n_expert_used: u("expert_used_count").unwrap_or(0),
        }
    }

    /// `x · Wᵀ` for W stored as `ty`, activations rounded as the numerics say.
    fn mm(&self, w: MatRef, x: &[f64]) -> Vec<f64> {
        match self.numerics {
            Numerics::Exact => matmul(w.w, w.k, x),
            Numerics::Ggml if vec_dot_type(w.ty) == GgmlType::Q8_1 => q8_1_matmul(w, x),
            Numerics::Ggml => matmul(w.w, w.k, &round_rows(x, w.k, vec_dot_type(w.ty))),
        }
    }

    /// The same reference with one rule changed.
    pub fn mutated(mut self, m: Mutation) -> RefModel<'a> {
        let r = &mut self.rules;
        match m {
            Mutation::NormTopk => r.norm_topk = !r.norm_topk,
            Mutation::RopeMode => r.neox = !r.neox,
            Mutation::NoQkNorm => r.qk_norm = QkNorm::None,
            Mutation::NoSharedGate => r.shared_gate = false,
            Mutation::NoWindow => r.window = false,
            Mutation::GlobalRopeBase => r.swa_rope_base = false,
        }
        self
    }

    /// The feed-forward block of MoE layer `il` on normed input `h` `(n, n_embd)`:
    /// the output and the selected experts of each row.
    pub fn moe_block(&self, il: usize, h: &[f32]) -> (Vec<f32>, Vec<Vec<u32>>) {
        let h: Vec<f64> = h.iter().map(|&v| v as f64).collect();
        let (out, routes, _) = self.moe(il, &h, h.len() / self.n_embd);
        (out.iter().map(|&v| v as f32).collect(), routes)
    }

    fn has(&self, name: &str) -> bool {
        self.f.tensor(name).is_some()
    }

    fn mat(&self, name: &str) -> Mat<'a> {
        let info = self.f.tensor(name).unwrap_or_else(|| panic!("reference: no tensor {name}"));
        let mut w = vec![0f32; info.n_elems as usize];
        quant::dequantize(info.ty, self.f.tensor_data(info), &mut w).unwrap();
        Mat { w, raw: self.f.tensor_data(info), k: info.dims[0] as usize, ty: info.ty }
    }

    fn vector(&self, name: &str) -> Vec<f64> {
        self.mat(name).w.iter().map(|&v| v as f64).collect()
    }

    fn opt_vector(&self, name: &str) -> Option<Vec<f64>> {
        self.has(name).then(|| self.vector(name))
    }

    /// Logits of every token of `tokens` (positions 0..n).
    pub fn forward(&self, tokens: &[u32]) -> RefOut {
        let (n, d) = (tokens.len(), self.n_embd);
        let embd = self.mat("token_embd.weight");
        // 1. Embedding lookup (gemma: scaled by √n_embd).
        let emb_scale = if self.rules.gemma { (d as f64).sqrt() } else { 1.0 };
        let mut x: Vec<f64> = tokens
            .iter()
            .flat_map(|&t| &embd.w[t as usize * d..(t as usize + 1) * d])
            .map(|&v| v as f64 * emb_scale)
            .collect();
        let mut routes = Vec::new();
        let mut min_margin = f64::INFINITY;
        for il in 0..self.n_layer {
            let p = |s: &str| format!("blk.{il}.{s}");
            // 2. x += attn(norm(x)) (gemma: the attention output normed again).
            let h = rms_norm(&x, &self.vector(&p("attn_norm.weight")), self.eps);
            let mut a = self.attention(il, &h, n);
            if let Some(w) = self.opt_vector(&p("post_attention_norm.weight")) {
                a = rms_norm(&a, &w, self.eps);
            }
            add(&mut x, &a);
            // 3. x += ffn(norm(x)).
            let h = rms_norm(&x, &self.vector(&p("ffn_norm.weight")), self.eps);
            let mut f = if self.has(&p("ffn_gate_inp.weight")) {
                let (f, r, margin) = self.moe(il, &h, n);
                routes.push(r);
                min_margin = min_margin.min(margin);
                f
            } else {
                self.dense_ffn(&p(""), "", &h)
            };
            if let Some(w) = self.opt_vector(&p("post_ffw_norm.weight")) {
                f = rms_norm(&f, &w, self.eps);
            }
            add(&mut x, &f);
        }
        // 4. Final norm, output head (tied to the embedding when output.weight is absent).
        let h = rms_norm(&x, &self.vector("output_norm.weight"), self.eps);
        let out = if self.has("output.weight") { self.mat("output.weight") } else { embd };
        let logits = self.mm(out.all(), &h);
        let n_vocab = logits.len() / n;
        RefOut {
            logits: logits.iter().map(|&v| v as f32).collect(),
            n_vocab,
            routes,
            min_route_margin: min_margin,
        }
    }

    /// Causal self-attention of normed `h` `(n, n_embd)` with grouped-query heads.
    fn attention(&self, il: usize, h: &[f64], n: usize) -> Vec<f64> {
        let p = |s: &str| format!("blk.{il}.{s}");
        let proj = |name: &str| {
            let w = self.mat(&p(&format!("{name}.weight")));
            let mut y = self.mm(w.all(), h);
            if let Some(b) = self.opt_vector(&p(&format!("{name}.bias"))) {
                y.chunks_mut(b.len()).for_each(|row| add(row, &b));
            }
            y
        };
        let (mut q, mut k, mut v) = (proj("attn_q"), proj("attn_k"), proj("attn_v"));
        // q/k norms: one head_dim weight for every head, or one over the whole row.
        if self.rules.qk_norm != QkNorm::None {
            let (wq, wk) =
                (self.vector(&p("attn_q_norm.weight")), self.vector(&p("attn_k_norm.weight")));
            let (nq, nk) = match self.rules.qk_norm {
                QkNorm::PerHead => (self.hd_k, self.hd_k),
                _ => (self.n_head * self.hd_k, self.n_head_kv * self.hd_k),
            };
            assert_eq!((wq.len(), wk.len()), (nq, nk), "reference: q/k norm sizes");
            q = rms_norm(&q, &wq, self.eps);
            k = rms_norm(&k, &wk, self.eps);
        }
        // gemma3: five of six layers use the window and rotary base 10 000.
        let swa = self.rules.gemma && il % 6 < 5;
        let base = if swa && self.rules.swa_rope_base { 10_000.0 } else { self.rope_base };
        let window = if swa && self.rules.window { self.window } else { None };
        let (hk, hv) = (self.hd_k, self.hd_v);
        for t in 0..n {
            self.rope(&mut q[t * self.n_head * hk..(t + 1) * self.n_head * hk], t, base);
            self.rope(&mut k[t * self.n_head_kv * hk..(t + 1) * self.n_head_kv * hk], t, base);
        }
        if self.numerics == Numerics::Ggml {
            // The cache holds f16 K and V; q meets K as f16.
            [&mut q, &mut k, &mut v].into_iter().for_each(|t| round_f16(t));
        }
        let group = self.n_head / self.n_head_kv;
        let scale = 1.0 / (hk as f64).sqrt();
        let mut out = vec![0f64; n * self.n_head * hv];
        for t in 0..n {
            for head in 0..self.n_head {
                let kvh = head / group;
                let qh = &q[(t * self.n_head + head) * hk..][..hk];
                let visible: Vec<usize> =
                    (0..=t).filter(|&j| window.is_none_or(|w| t - j < w)).collect();
                let scores: Vec<f64> = visible
                    .iter()
                    .map(|&j| dot(qh, &k[(j * self.n_head_kv + kvh) * hk..][..hk]) * scale)
                    .collect();
                let o = &mut out[(t * self.n_head + head) * hv..][..hv];
                let values = visible.iter().map(|&j| &v[(j * self.n_head_kv + kvh) * hv..][..hv]);
                match self.numerics {
                    Numerics::Exact => {
                        for (vj, &wj) in values.zip(&softmax(&scores)) {
                            o.iter_mut().zip(vj).for_each(|(a, &b)| *a += wj * b);
                        }
                    }
                    Numerics::Ggml => online_softmax_f16(&scores, values, o),
                }
            }
        }
        let wo = self.mat(&p("attn_output.weight"));
        self.mm(wo.all(), &out)
    }

    /// Rotary embedding of every head of one token's q or k row at position `pos`.
    fn rope(&self, row: &mut [f64], pos: usize, base: f64) {
        let half = self.n_rot / 2;
        for head in row.chunks_mut(self.hd_k) {
            for i in 0..half {
                let theta = pos as f64 * base.powf(-2.0 * i as f64 / self.n_rot as f64);
                let (a, b) = if self.rules.neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * theta.cos() - x1 * theta.sin();
                head[b] = x0 * theta.sin() + x1 * theta.cos();
            }
        }
    }

    fn act(&self, x: f64) -> f64 {
        if self.rules.gemma {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
        } else {
            x / (1.0 + (-x).exp())
        }
    }

    /// Gated feed-forward `down · (act(gate · h) ⊙ (up · h))` with tensors
    /// `{prefix}ffn_gate{suffix}.weight` etc.
    fn dense_ffn(&self, prefix: &str, suffix: &str, h: &[f64]) -> Vec<f64> {
        let m = |s: &str| self.mat(&format!("{prefix}ffn_{s}{suffix}.weight"));
        let (gate, up, down) = (m("gate"), m("up"), m("down"));
        let g = self.mm(gate.all(), h);
        let u = self.mm(up.all(), h);
        let a: Vec<f64> = g.iter().zip(&u).map(|(&g, &u)| self.act(g) * u).collect();
        self.mm(down.all(), &a)
    }

    /// Mixture of experts: router softmax, top-k (ties to the lower id), weights
    /// renormalized or not, weighted sum of the selected experts; plus qwen2moe's shared
    /// expert scaled by sigmoid(gate_inp_shexp · h). Returns (output, routes, margin).
    fn moe(&self, il: usize, h: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<u32>>, f64) {
        let p = |s: &str| format!("blk.{il}.{s}");
        let (ne, k) = (self.n_expert, self.n_expert_used);
        let router = self.mat(&p("ffn_gate_inp.weight"));
        let logits = self.mm(router.all(), h);
        let (gate, up, down) = (
            self.mat(&p("ffn_gate_exps.weight")),
            self.mat(&p("ffn_up_exps.weight")),
            self.mat(&p("ffn_down_exps.weight")),
        );
        let d = self.n_embd;
        let f = gate.w.len() / gate.k / ne;
        let mut out = vec![0f64; n * d];
        let mut routes = Vec::with_capacity(n);
        let mut margin = f64::INFINITY;
        for t in 0..n {
            let probs = softmax(&logits[t * ne..(t + 1) * ne]);
            let mut order: Vec<usize> = (0..ne).collect();
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
            if k < ne {
                margin = margin.min(probs[order[k - 1]] - probs[order[k]]);
            }
            let top = &order[..k];
            let sum: f64 = top.iter().map(|&e| probs[e]).sum();
            let ht = &h[t * d..(t + 1) * d];
            let o = &mut out[t * d..(t + 1) * d];
            for &e in top {
                let w = if self.rules.norm_topk { probs[e] / sum } else { probs[e] };
                let g = self.mm(gate.rows(e * f, f), ht);
                let u = self.mm(up.rows(e * f, f), ht);
                let a: Vec<f64> = g.iter().zip(&u).map(|(&g, &u)| self.act(g) * u).collect();
                let y = self.mm(down.rows(e * d, d), &a);
                o.iter_mut().zip(&y).for_each(|(o, &y)| *o += w * y);
            }
            routes.push(top.iter().map(|&e| e as u32).collect());
        }
        if self.has(&p("ffn_up_shexp.weight")) {
            let s = self.dense_ffn(&p(""), "_shexp", h);
            let g = self.vector(&p("ffn_gate_inp_shexp.weight"));
            for t in 0..n {
                let gate = match self.rules.shared_gate {
                    true => 1.0 / (1.0 + (-dot(&g, &h[t * d..(t + 1) * d])).exp()),
                    false => 1.0,
                };
                out[t * d..(t + 1) * d]
                    .iter_mut()
                    .zip(&s[t * d..(t + 1) * d])
                    .for_each(|(o, &s)| *o += gate * s);
            }
        }
        (out, routes, margin)
    }
}

/// ggml's flash-attention value sum: an online softmax over the keys in order, the
/// weighted value sum kept in f16, divided by the softmax sum at the end.
fn online_softmax_f16<'v>(
    scores: &[f64],
    values: impl Iterator<Item = &'v [f64]>,
    out: &mut [f64],
) {
    use half::f16;
    let mut acc = vec![f16::ZERO; out.len()];
    let (mut sum, mut max) = (0f64, f64::NEG_INFINITY);
    for (&s, vj) in scores.iter().zip(values) {
        let (mut ms, mut vs) = (1.0, 1.0);
        if s > max {
            ms = (max - s).exp();
            max = s;
            acc.iter_mut().for_each(|a| *a = f16::from_f64(a.to_f64() * ms));
        } else {
            vs = (s - max).exp();
        }
        acc.iter_mut().zip(vj).for_each(|(a, &v)| *a = f16::from_f64(a.to_f64() + v * vs));
        sum = sum * ms + vs;
    }
    out.iter_mut().zip(&acc).for_each(|(o, a)| *o = a.to_f64() / sum);
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn add(x: &mut [f64], y: &[f64]) {
    x.iter_mut().zip(y).for_each(|(a, &b)| *a += b);
}

/// RMS norm of each chunk of `w.len()` values, times `w`.
fn rms_norm(x: &[f64], w: &[f64], eps: f64) -> Vec<f64> {
    let d = w.len();
    x.chunks(d)
        .flat_map(|c| {
            let inv = 1.0 / (c.iter().map(|v| v * v).sum::<f64>() / d as f64 + eps).sqrt();
            c.iter().zip(w).map(move |(&v, &g)| v * inv * g)
        })
        .collect()
}

fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|&v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// `x · Wᵀ`: W holds rows of `k` f32 values, x rows of `k` f64 values; returns
/// `(x rows, W rows)`, each dot accumulated in f64 (rows of W split across threads).
fn matmul(w: &[f32], k: usize, x: &[f64]) -> Vec<f64> {
    let (m, n) = (w.len() / k, x.len() / k);
    let mut out_t = vec![0f64; m * n];
    out_t.par_chunks_mut(n).zip(w.par_chunks(k)).for_each(|(o, row)| {
        for (t, o) in o.iter_mut().enumerate() {
            *o = row.iter().zip(&x[t * k..(t + 1) * k]).map(|(&a, &b)| a as f64 * b).sum();
        }
    });
    let mut out = vec![0f64; n * m];
    for r in 0..m {
        for t in 0..n {
            out[t * m + r] = out_t[r * n + t];
        }
    }
    out
}
