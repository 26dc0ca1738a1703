//! Random-weight hybrid models (qwen35, qwen35moe) written with hearth's GGUF writer:
//! tiny ones for the parity tests, whose reference figures come from llama.cpp
//! (`tests/golden/hybrid.json`), and ones at the real per-layer shape with fewer
//! layers for `hearth bench`. Self-contained, so that `examples/synth.rs` can include it.

use hearth::gguf::{Array, GgufWriter, Value};
use hearth::quant::{self, GgmlType};

/// Shape and tensor types of a random hybrid model.
#[derive(Debug, Clone)]
pub struct Hybrid {
    pub arch: &'static str,
    /// Trunk layers; every `attn_interval`-th is attention, the others gated DeltaNet.
    pub n_layer: usize,
    pub attn_interval: usize,
    /// Multi-token-prediction blocks after the trunk (`nextn_predict_layers`).
    pub n_nextn: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Rotated dimensions of each head, and the rope's sections.
    pub n_rot: usize,
    pub sections: [u32; 4],
    pub rope_base: f32,
    /// Spread of the output projection (larger: more decisive logits).
    pub output_gain: f32,
    pub d_state: usize,
    pub n_group: usize,
    pub n_v_heads: usize,
    pub d_conv: usize,
    /// Dense feed-forward rows (qwen35).
    pub n_ff: usize,
    pub n_expert: usize,
    pub n_expert_used: usize,
    pub n_ff_exp: usize,
    pub n_ff_shexp: usize,
    /// Extra vocabulary rows past the byte-level tokens (real models have ~248k).
    pub n_vocab_pad: usize,
    /// Every projection matrix; `ty_down` for the feed-forward's down projections.
    pub ty: GgmlType,
    pub ty_down: GgmlType,
    pub ty_embd: GgmlType,
    pub seed: u64,
}

impl Hybrid {
    /// A sub-MB qwen35moe (three DeltaNet layers, one attention layer and an MTP block
    /// hearth must load past) or, with `dense`, qwen35 (DeltaNet and attention in turn).
    pub fn tiny(dense: bool) -> Hybrid {
        Hybrid {
            arch: if dense { "qwen35" } else { "qwen35moe" },
            n_layer: 4,
            attn_interval: if dense { 2 } else { 4 },
            n_nextn: usize::from(!dense),
            n_embd: 64,
            n_head: 4,
            n_head_kv: 2,
            head_dim: 32,
            n_rot: 16,
            // Sector 0 of each 2 is claimed by no section: the even pairs (the first, the
            // fastest turning, among them) stay unrotated.
            sections: [0, 1, 1, 0],
            rope_base: 10_000.0,
            output_gain: 3.0,
            d_state: 16,
            n_group: 2,
            n_v_heads: 4,
            d_conv: 4,
            n_ff: 96,
            n_expert: if dense { 0 } else { 8 },
            n_expert_used: if dense { 0 } else { 2 },
            n_ff_exp: 32,
            n_ff_shexp: if dense { 0 } else { 32 },
            n_vocab_pad: 0,
            ty: GgmlType::Q8_0,
            ty_down: GgmlType::Q8_0,
            ty_embd: GgmlType::F16,
            seed: if dense { 35 } else { 3535 },
        }
    }

    /// Qwen3.5-35B-A3B's per-layer shape (Q4_K weights, Q6_K down projections) with
    /// `n_layer` layers, one in four attention.
    #[allow(dead_code)] // used by examples/synth.rs
    pub fn qwen35moe_35b_a3b(n_layer: usize) -> Hybrid {
        Hybrid {
            arch: "qwen35moe",
            n_layer,
            attn_interval: 4,
            n_nextn: 0,
            n_embd: 2048,
            n_head: 16,
            n_head_kv: 2,
            head_dim: 256,
            n_rot: 64,
            sections: [11, 11, 10, 0],
            rope_base: 10_000_000.0,
            output_gain: 1.0,
            d_state: 128,
            n_group: 16,
            n_v_heads: 32,
            d_conv: 4,
            n_ff: 0,
            n_expert: 256,
            n_expert_used: 8,
            n_ff_exp: 512,
            n_ff_shexp: 512,
            n_vocab_pad: 248_320 - BYTE_VOCAB,
            ty: GgmlType::Q4_K,
            ty_down: GgmlType::Q6_K,
            ty_embd: GgmlType::Q4_K,
            seed: 35,
        }
    }

    pub fn is_moe(&self) -> bool {
        self.n_expert > 0
    }

    pub fn n_vocab(&self) -> usize {
        BYTE_VOCAB + self.n_vocab_pad
    }

    fn is_recurrent(&self, il: usize) -> bool {
        !(il + 1).is_multiple_of(self.attn_interval)
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, a: f32) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let u = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * u - 1.0) * a
    }

    fn vec(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(a)).collect()
    }
}

struct Writer {
    w: GgufWriter,
    rng: Rng,
}

impl Writer {
    /// A matrix `[k, m, e…]` of `ty`, values uniform in ±gain·√(3/k).
    fn mat(&mut self, name: &str, dims: &[usize], ty: GgmlType, gain: f32) {
        let n: usize = dims.iter().product();
        let v = self.rng.vec(n, (3.0 / dims[0] as f32).sqrt() * gain);
        let mut bytes = Vec::new();
        quant::quantize(ty, &v, &mut bytes).unwrap_or_else(|e| panic!("quantize {ty}: {e}"));
        let dims: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        self.w.add_tensor(name, &dims, ty, bytes).unwrap();
    }

    fn f32s(&mut self, name: &str, dims: &[usize], v: &[f32]) {
        let dims: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        self.w.add_f32(name, &dims, v).unwrap();
    }

    /// A norm weight around 1.
    fn norm(&mut self, name: &str, n: usize) {
        let v: Vec<f32> = (0..n).map(|_| 1.0 + self.rng.uniform(0.3)).collect();
        self.f32s(name, &[n], &v);
    }
}

/// The model `h` as a GGUF writer.
pub fn build(h: &Hybrid) -> GgufWriter {
    let mut w = Writer {
        w: GgufWriter::new(),
        rng: Rng(h.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).max(1)),
    };
    metadata(&mut w.w, h);
    byte_vocab(&mut w.w, h.n_vocab_pad);
    let e = h.n_embd;
    // Embeddings uniform in ±1.
    w.mat("token_embd.weight", &[e, h.n_vocab()], h.ty_embd, (e as f32 / 3.0).sqrt());
    w.norm("output_norm.weight", e);
    w.mat("output.weight", &[e, h.n_vocab()], h.ty, h.output_gain);
    for il in 0..h.n_layer + h.n_nextn {
        let p = |s: &str| format!("blk.{il}.{s}");
        w.norm(&p("attn_norm.weight"), e);
        if il < h.n_layer && h.is_recurrent(il) {
            delta_net(&mut w, h, &p);
        } else {
            attention(&mut w, h, &p);
        }
        w.norm(&p("post_attention_norm.weight"), e);
        ffn(&mut w, h, &p);
        if il >= h.n_layer {
            // The MTP block's own tensors (hearth loads past them).
            w.mat(&p("nextn.eh_proj.weight"), &[2 * e, e], h.ty, 1.0);
            w.norm(&p("nextn.enorm.weight"), e);
            w.norm(&p("nextn.hnorm.weight"), e);
            w.norm(&p("nextn.shared_head_norm.weight"), e);
        }
    }
    w.w
}

fn attention(w: &mut Writer, h: &Hybrid, p: &dyn Fn(&str) -> String) {
    let (e, d) = (h.n_embd, h.head_dim);
    w.mat(&p("attn_q.weight"), &[e, 2 * h.n_head * d], h.ty, 1.0);
    w.mat(&p("attn_k.weight"), &[e, h.n_head_kv * d], h.ty, 1.0);
    w.mat(&p("attn_v.weight"), &[e, h.n_head_kv * d], h.ty, 1.0);
    w.mat(&p("attn_output.weight"), &[h.n_head * d, e], h.ty, 1.0);
    w.norm(&p("attn_q_norm.weight"), d);
    w.norm(&p("attn_k_norm.weight"), d);
}

fn delta_net(w: &mut Writer, h: &Hybrid, p: &dyn Fn(&str) -> String) {
    let e = h.n_embd;
    let (kd, vd, hv) = (h.d_state * h.n_group, h.d_state * h.n_v_heads, h.n_v_heads);
    let conv = 2 * kd + vd;
    w.mat(&p("attn_qkv.weight"), &[e, conv], h.ty, 1.0);
    w.mat(&p("attn_gate.weight"), &[e, vd], h.ty, 1.0);
    let taps = w.rng.vec(conv * h.d_conv, 0.8);
    w.f32s(&p("ssm_conv1d.weight"), &[h.d_conv, conv], &taps);
    let dt = w.rng.vec(hv, 1.0);
    w.f32s(&p("ssm_dt.bias"), &[hv], &dt);
    // −exp(A_log), A_log in ±1: decays between e^−2.7 and e^−0.4 per unit of softplus.
    let a: Vec<f32> = (0..hv).map(|_| -w.rng.uniform(1.0).exp()).collect();
    w.f32s(&p("ssm_a"), &[hv], &a);
    w.mat(&p("ssm_beta.weight"), &[e, hv], h.ty, 1.0);
    w.mat(&p("ssm_alpha.weight"), &[e, hv], h.ty, 1.0);
    w.norm(&p("ssm_norm.weight"), h.d_state);
    w.mat(&p("ssm_out.weight"), &[vd, e], h.ty, 1.0);
}

fn ffn(w: &mut Writer, h: &Hybrid, p: &dyn Fn(&str) -> String) {
    let e = h.n_embd;
    if !h.is_moe() {
        w.mat(&p("ffn_gate.weight"), &[e, h.n_ff], h.ty, 1.0);
        w.mat(&p("ffn_up.weight"), &[e, h.n_ff], h.ty, 1.0);
        w.mat(&p("ffn_down.weight"), &[h.n_ff, e], h.ty_down, 1.0);
        return;
    }
    let (f, n, fs) = (h.n_ff_exp, h.n_expert, h.n_ff_shexp);
    w.mat(&p("ffn_gate_inp.weight"), &[e, n], GgmlType::F32, 2.0);
    w.mat(&p("ffn_gate_exps.weight"), &[e, f, n], h.ty, 1.0);
    w.mat(&p("ffn_up_exps.weight"), &[e, f, n], h.ty, 1.0);
    w.mat(&p("ffn_down_exps.weight"), &[f, e, n], h.ty_down, 1.0);
    let g = w.rng.vec(e, 3.0 * (3.0 / e as f32).sqrt());
    w.f32s(&p("ffn_gate_inp_shexp.weight"), &[e], &g);
    w.mat(&p("ffn_gate_shexp.weight"), &[e, fs], h.ty, 1.0);
    w.mat(&p("ffn_up_shexp.weight"), &[e, fs], h.ty, 1.0);
    w.mat(&p("ffn_down_shexp.weight"), &[fs, e], h.ty_down, 1.0);
}

fn metadata(w: &mut GgufWriter, h: &Hybrid) {
    let a = h.arch;
    let k = |s: &str| format!("{a}.{s}");
    w.set_str("general.architecture", a);
    w.set_str("general.name", format!("random {a}"));
    w.set_u32(k("block_count"), (h.n_layer + h.n_nextn) as u32);
    if h.n_nextn > 0 {
        w.set_u32(k("nextn_predict_layers"), h.n_nextn as u32);
    }
    w.set_u32(k("context_length"), 4096);
    w.set_u32(k("embedding_length"), h.n_embd as u32);
    w.set_u32(k("attention.head_count"), h.n_head as u32);
    w.set_u32(k("attention.head_count_kv"), h.n_head_kv as u32);
    w.set_u32(k("attention.key_length"), h.head_dim as u32);
    w.set_u32(k("attention.value_length"), h.head_dim as u32);
    w.set_f32(k("attention.layer_norm_rms_epsilon"), 1e-6);
    w.set_u32(k("rope.dimension_count"), h.n_rot as u32);
    w.set_f32(k("rope.freq_base"), h.rope_base);
    w.set(
        k("rope.dimension_sections"),
        Value::Array(Array::I32(h.sections.map(|s| s as i32).to_vec())),
    );
    w.set_u32(k("full_attention_interval"), h.attn_interval as u32);
    w.set_u32(k("ssm.conv_kernel"), h.d_conv as u32);
    w.set_u32(k("ssm.state_size"), h.d_state as u32);
    w.set_u32(k("ssm.group_count"), h.n_group as u32);
    w.set_u32(k("ssm.time_step_rank"), h.n_v_heads as u32);
    w.set_u32(k("ssm.inner_size"), (h.d_state * h.n_v_heads) as u32);
    if h.is_moe() {
        w.set_u32(k("expert_count"), h.n_expert as u32);
        w.set_u32(k("expert_used_count"), h.n_expert_used as u32);
        w.set_u32(k("expert_feed_forward_length"), h.n_ff_exp as u32);
        w.set_u32(k("expert_shared_feed_forward_length"), h.n_ff_shexp as u32);
    } else {
        w.set_u32(k("feed_forward_length"), h.n_ff as u32);
    }
}

/// The 256 byte tokens, a few merges, and three control tokens.
pub const BYTE_VOCAB: usize = 256 + MERGES.len() + SPECIALS.len();
const MERGES: [(&str, &str); 6] =
    [("Ġ", "t"), ("h", "e"), ("i", "n"), ("e", "r"), ("Ġt", "he"), ("o", "n")];
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// GPT-2's printable stand-in for each byte.
fn byte_char(b: u8) -> char {
    let direct = |c: u8| (b'!'..=b'~').contains(&c) || (0xA1..=0xAC).contains(&c) || c >= 0xAE;
    if direct(b) {
        return char::from(b);
    }
    let n = (0..b).filter(|&c| !direct(c)).count() as u32;
    char::from_u32(256 + n).unwrap()
}

/// A byte-level BPE vocabulary (qwen35 pre-tokenizer), padded with `pad` unused tokens.
pub fn byte_vocab(w: &mut GgufWriter, pad: usize) {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    tokens.extend(MERGES.iter().map(|(a, b)| format!("{a}{b}")));
    tokens.extend(SPECIALS.iter().map(|s| s.to_string()));
    let mut types = vec![1i32; tokens.len()];
    types[256 + MERGES.len()..].iter_mut().for_each(|t| *t = 3);
    tokens.extend((0..pad).map(|i| format!("<|pad{i}|>")));
    types.extend(std::iter::repeat_n(5, pad));
    w.set_str("tokenizer.ggml.model", "gpt2");
    w.set_str("tokenizer.ggml.pre", "qwen35");
    w.set("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    w.set("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
    let merges: Vec<String> = MERGES.iter().map(|(a, b)| format!("{a} {b}")).collect();
    w.set("tokenizer.ggml.merges", Value::Array(Array::String(merges)));
    let eos = (256 + MERGES.len()) as u32;
    w.set_u32("tokenizer.ggml.eos_token_id", eos + 2);
    w.set_u32("tokenizer.ggml.padding_token_id", eos);
    w.set_bool("tokenizer.ggml.add_bos_token", false);
}
