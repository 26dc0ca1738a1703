//! Test models written with the GGUF writer: tiny random models of every architecture
//! (dense and MoE, mixed tensor types), and real dense models upcycled into MoE form by
//! slicing their feed-forward into experts without requantizing.

use hearth::gguf::{GgufFile, GgufWriter, Value};
use hearth::quant::{self, GgmlType};

/// A small deterministic generator (xorshift64*) for weights and prompts.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-a, a).
    pub fn uniform(&mut self, a: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (2.0 * u - 1.0) * a
    }

    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % n as u64) as u32
    }

    pub fn vec(&mut self, n: usize, a: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(a)).collect()
    }

    /// `n` token ids below `n_vocab`.
    pub fn tokens(&mut self, n: usize, n_vocab: usize) -> Vec<u32> {
        (0..n).map(|_| self.below(n_vocab as u32)).collect()
    }
}

/// Shape and tensor types of a tiny random model.
#[derive(Debug, Clone)]
pub struct Tiny {
    pub arch: &'static str,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// `attention.key_length` = `value_length`; `None`: n_embd / n_head, key not written.
    pub head_dim: Option<usize>,
    pub n_vocab: usize,
    /// Dense feed-forward rows (dense models).
    pub n_ff: usize,
    pub n_expert: usize,
    pub n_expert_used: usize,
    pub n_ff_exp: usize,
    /// Shared-expert rows (qwen2moe).
    pub n_ff_shexp: usize,
    pub rope_base: f32,
    pub sliding_window: Option<usize>,
    /// No `output.weight`: logits come from `token_embd`.
    pub tied: bool,
    pub ty_embd: GgmlType,
    pub ty_output: GgmlType,
    /// attn_q/k/v.
    pub ty_qkv: GgmlType,
    pub ty_attn_out: GgmlType,
    /// ffn_gate/up (dense, experts and shared expert).
    pub ty_ffn_in: GgmlType,
    /// ffn_down (dense, experts and shared expert).
    pub ty_ffn_down: GgmlType,
    pub ty_router: GgmlType,
    /// Router weights are uniform in ±gain·sqrt(3/n_embd); 0 writes a zero router.
    pub router_gain: f32,
    /// Seed of the weights (chosen for the MoE models so that no router choice of the
    /// test prompt is within 2e-3 of a tie).
    pub seed: u64,
}

impl Tiny {
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.n_embd / self.n_head)
    }

    pub fn is_moe(&self) -> bool {
        self.n_expert > 0
    }

    /// The architecture, with `llama-moe` for the Mixtral-style llama.
    pub fn name(&self) -> String {
        match (self.arch, self.is_moe()) {
            ("llama", true) => "llama-moe".to_string(),
            (arch, _) => arch.to_string(),
        }
    }
}

/// The tiny models of every architecture the engine runs.
pub fn tiny_models() -> Vec<Tiny> {
    use GgmlType::*;
    let base = Tiny {
        arch: "llama",
        n_layer: 2,
        n_embd: 64,
        n_head: 4,
        n_head_kv: 2,
        head_dim: None,
        n_vocab: 160,
        n_ff: 128,
        n_expert: 0,
        n_expert_used: 0,
        n_ff_exp: 0,
        n_ff_shexp: 0,
        rope_base: 10000.0,
        sliding_window: None,
        tied: false,
        ty_embd: Q8_0,
        ty_output: F16,
        ty_qkv: Q8_0,
        ty_attn_out: Q8_0,
        ty_ffn_in: Q8_0,
        ty_ffn_down: Q8_0,
        ty_router: F32,
        router_gain: 2.0,
        seed: 100,
    };
    vec![
        // Mixtral-style: llama with experts, renormalized top-2 of 8.
        Tiny {
            n_expert: 8,
            n_expert_used: 2,
            n_ff_exp: 96,
            ty_ffn_in: F16,
            ty_ffn_down: Q4_0,
            ty_attn_out: Q4_1,
            seed: 102,
            ..base.clone()
        },
        // qwen2moe: q/k/v biases, top-4 of 8 not renormalized, gated shared expert;
        // 256-wide expert rows allow K-quants for ffn_down_exps.
        Tiny {
            arch: "qwen2moe",
            n_vocab: 200,
            n_expert: 8,
            n_expert_used: 4,
            n_ff_exp: 256,
            n_ff_shexp: 256,
            rope_base: 1_000_000.0,
            ty_embd: Q5_0,
            ty_qkv: Q8_0,
            ty_attn_out: F16,
            ty_ffn_in: Q8_0,
            ty_ffn_down: Q4_K,
            seed: 133,
            ..base.clone()
        },
        // qwen3moe: head_dim 32 ≠ n_embd / n_head, per-head q/k norms, renormalized top-2;
        // n_embd 256 allows K-quants on the input side.
        Tiny {
            arch: "qwen3moe",
            n_embd: 256,
            head_dim: Some(32),
            n_vocab: 180,
            n_expert: 8,
            n_expert_used: 2,
            n_ff_exp: 64,
            rope_base: 1_000_000.0,
            ty_embd: Q6_K,
            ty_output: Q5_K,
            ty_qkv: Q4_K,
            ty_attn_out: Q8_0,
            ty_ffn_in: Q4_K,
            ty_ffn_down: Q8_0,
            seed: 100,
            ..base.clone()
        },
        // olmoe: no GQA, q/k norms over the whole row, top-2 of 8 not renormalized.
        Tiny {
            arch: "olmoe",
            n_head_kv: 4,
            n_vocab: 150,
            n_expert: 8,
            n_expert_used: 2,
            n_ff_exp: 64,
            ty_embd: F16,
            ty_qkv: F16,
            ty_attn_out: Q5_1,
            ty_ffn_in: Q5_0,
            ty_ffn_down: Q8_0,
            ty_router: F16,
            seed: 101,
            ..base.clone()
        },
        // Dense ones.
        Tiny {
            tied: true,
            ty_embd: Q4_1,
            ty_qkv: Q4_1,
            ty_ffn_in: Q4_1,
            seed: 104,
            ..base.clone()
        },
        Tiny { arch: "qwen2", rope_base: 1_000_000.0, ty_ffn_down: F16, seed: 105, ..base.clone() },
        Tiny {
            arch: "qwen3",
            head_dim: Some(32),
            ty_qkv: F16,
            ty_ffn_in: Q5_1,
            seed: 106,
            ..base.clone()
        },
        // gemma3: six layers so that layer 5 is global; a window of 4 positions.
        Tiny {
            arch: "gemma3",
            n_layer: 6,
            n_head_kv: 1,
            head_dim: Some(32),
            n_vocab: 170,
            rope_base: 1_000_000.0,
            sliding_window: Some(4),
            tied: true,
            ty_embd: Q8_0,
            ty_ffn_down: F16,
            seed: 107,
            ..base.clone()
        },
    ]
}

/// `values` stored as `ty` (quantized with the reference quantizer).
fn encode(ty: GgmlType, values: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    quant::quantize(ty, values, &mut out).unwrap_or_else(|e| panic!("quantize {ty}: {e}"));
    out
}

struct TinyWriter<'a> {
    w: GgufWriter,
    rng: &'a mut Rng,
}

impl TinyWriter<'_> {
    /// A matrix `[k, m, e…]` with values uniform in ±sqrt(3/k) · gain (unit variance
    /// outputs for unit inputs).
    fn mat(&mut self, name: &str, dims: &[usize], ty: GgmlType, gain: f32) {
        let n: usize = dims.iter().product();
        let a = (3.0 / dims[0] as f32).sqrt() * gain;
        let v = self.rng.vec(n, a);
        let dims: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        self.w.add_tensor(name, &dims, ty, encode(ty, &v)).unwrap();
    }

    /// A norm weight around 1.
    fn norm(&mut self, name: &str, n: usize) {
        let v: Vec<f32> = (0..n).map(|_| 1.0 + self.rng.uniform(0.3)).collect();
        self.w.add_f32(name, &[n as u64], &v).unwrap();
    }

    fn bias(&mut self, name: &str, n: usize) {
        let v = self.rng.vec(n, 0.5);
        self.w.add_f32(name, &[n as u64], &v).unwrap();
    }
}

/// Writes a random model of shape `t`.
pub fn build_tiny(t: &Tiny) -> GgufWriter {
    let mut rng = Rng::new(t.seed);
    let mut tw = TinyWriter { w: GgufWriter::new(), rng: &mut rng };
    write_metadata(&mut tw.w, t);
    let (e, hd) = (t.n_embd, t.head_dim());
    let (q_w, kv_w) = (t.n_head * hd, t.n_head_kv * hd);
    let embd: Vec<f32> = tw.rng.vec(e * t.n_vocab, 1.0);
    tw.w.add_tensor(
        "token_embd.weight",
        &[e as u64, t.n_vocab as u64],
        t.ty_embd,
        encode(t.ty_embd, &embd),
    )
    .unwrap();
    tw.norm("output_norm.weight", e);
    if !t.tied {
        tw.mat("output.weight", &[e, t.n_vocab], t.ty_output, 1.0);
    }
    let (qwen2ish, gemma) = (t.arch.starts_with("qwen2"), t.arch == "gemma3");
    for il in 0..t.n_layer {
        let p = |s: &str| format!("blk.{il}.{s}");
        tw.norm(&p("attn_norm.weight"), e);
        tw.mat(&p("attn_q.weight"), &[e, q_w], t.ty_qkv, 1.0);
        tw.mat(&p("attn_k.weight"), &[e, kv_w], t.ty_qkv, 1.0);
        tw.mat(&p("attn_v.weight"), &[e, kv_w], t.ty_qkv, 1.0);
        tw.mat(&p("attn_output.weight"), &[q_w, e], t.ty_attn_out, 1.0);
        if qwen2ish {
            tw.bias(&p("attn_q.bias"), q_w);
            tw.bias(&p("attn_k.bias"), kv_w);
            tw.bias(&p("attn_v.bias"), kv_w);
        }
        match t.arch {
            "qwen3" | "qwen3moe" | "gemma3" => {
                tw.norm(&p("attn_q_norm.weight"), hd);
                tw.norm(&p("attn_k_norm.weight"), hd);
            }
            "olmoe" => {
                tw.norm(&p("attn_q_norm.weight"), q_w);
                tw.norm(&p("attn_k_norm.weight"), kv_w);
            }
            _ => {}
        }
        if gemma {
            tw.norm(&p("post_attention_norm.weight"), e);
            tw.norm(&p("post_ffw_norm.weight"), e);
        }
        tw.norm(&p("ffn_norm.weight"), e);
        if t.is_moe() {
            let (f, n) = (t.n_ff_exp, t.n_expert);
            // Router logits spread by a unit or two (gain 0: all zero, every expert tied).
            tw.mat(&p("ffn_gate_inp.weight"), &[e, n], t.ty_router, t.router_gain);
            tw.mat(&p("ffn_gate_exps.weight"), &[e, f, n], t.ty_ffn_in, 1.0);
            tw.mat(&p("ffn_up_exps.weight"), &[e, f, n], t.ty_ffn_in, 1.0);
            tw.mat(&p("ffn_down_exps.weight"), &[f, e, n], t.ty_ffn_down, 1.0);
            if t.n_ff_shexp > 0 {
                let fs = t.n_ff_shexp;
                let g = tw.rng.vec(e, 3.0 * (3.0 / e as f32).sqrt());
                tw.w.add_f32(p("ffn_gate_inp_shexp.weight"), &[e as u64], &g).unwrap();
                tw.mat(&p("ffn_gate_shexp.weight"), &[e, fs], t.ty_ffn_in, 1.0);
                tw.mat(&p("ffn_up_shexp.weight"), &[e, fs], t.ty_ffn_in, 1.0);
                // Q6_K where the rows are whole 256-blocks, for one more type.
                let ty = if fs.is_multiple_of(256) { GgmlType::Q6_K } else { GgmlType::Q8_0 };
                tw.mat(&p("ffn_down_shexp.weight"), &[fs, e], ty, 1.0);
            }
        } else {
            tw.mat(&p("ffn_gate.weight"), &[e, t.n_ff], t.ty_ffn_in, 1.0);
            tw.mat(&p("ffn_up.weight"), &[e, t.n_ff], t.ty_ffn_in, 1.0);
            tw.mat(&p("ffn_down.weight"), &[t.n_ff, e], t.ty_ffn_down, 1.0);
        }
    }
    tw.w
}

fn write_metadata(w: &mut GgufWriter, t: &Tiny) {
    let a = t.arch;
    let k = |s: &str| format!("{a}.{s}");
    w.set_str("general.architecture", a);
    w.set_str("general.name", format!("tiny random {a}"));
    w.set_u32(k("block_count"), t.n_layer as u32);
    w.set_u32(k("context_length"), 256);
    w.set_u32(k("embedding_length"), t.n_embd as u32);
    w.set_u32(k("attention.head_count"), t.n_head as u32);
    w.set_u32(k("attention.head_count_kv"), t.n_head_kv as u32);
    if let Some(hd) = t.head_dim {
        w.set_u32(k("attention.key_length"), hd as u32);
        w.set_u32(k("attention.value_length"), hd as u32);
    }
    w.set_u32(k("rope.dimension_count"), t.head_dim() as u32);
    w.set_f32(k("rope.freq_base"), t.rope_base);
    w.set_f32(k("attention.layer_norm_rms_epsilon"), 1e-5);
    w.set_u32(k("vocab_size"), t.n_vocab as u32);
    if let Some(win) = t.sliding_window {
        w.set_u32(k("attention.sliding_window"), win as u32);
    }
    if t.is_moe() {
        w.set_u32(k("expert_count"), t.n_expert as u32);
        w.set_u32(k("expert_used_count"), t.n_expert_used as u32);
        w.set_u32(k("expert_feed_forward_length"), t.n_ff_exp as u32);
        if t.n_ff_shexp > 0 {
            w.set_u32(k("expert_shared_feed_forward_length"), t.n_ff_shexp as u32);
        }
    } else {
        w.set_u32(k("feed_forward_length"), t.n_ff as u32);
    }
}

// ---------------------------------------------------------------------------------------
// Upcycling a dense model into MoE form.

/// Byte offsets of the f16 scale fields in one block of `ty`: multiplying each by a power
/// of two multiplies every value the block encodes by it, exactly.
fn scale_fields(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 => &[0, 2],
        Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        F16 => &[0],
        other => panic!("no power-of-two scaler for {other}"),
    }
}

/// Multiplies every value of `bytes` (whole blocks of `ty`) by `factor`, a power of two,
/// by scaling the blocks' f16 scales (or the values themselves for F16/F32).
pub fn scale_pow2(ty: GgmlType, bytes: &mut [u8], factor: f32) {
    assert!(factor > 0.0 && factor.log2().fract() == 0.0, "{factor} is not a power of two");
    if ty == GgmlType::F32 {
        for c in bytes.chunks_exact_mut(4) {
            let v = f32::from_le_bytes(c.try_into().unwrap()) * factor;
            c.copy_from_slice(&v.to_le_bytes());
        }
        return;
    }
    for block in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in scale_fields(ty) {
            let old = half::f16::from_le_bytes([block[at], block[at + 1]]);
            let new = half::f16::from_f32(old.to_f32() * factor);
            assert!(
                new.is_finite() && new.to_f32() == old.to_f32() * factor,
                "f16 scale {old} × {factor}"
            );
            block[at..at + 2].copy_from_slice(&new.to_le_bytes());
        }
    }
}

/// The columns `c0..c0 + n` of every row of a 2-D tensor `[k, rows]`, as whole blocks.
fn column_slice(ty: GgmlType, data: &[u8], k: usize, c0: usize, n: usize) -> Vec<u8> {
    let (be, bb) = (ty.block_elems(), ty.block_bytes());
    assert!(
        c0.is_multiple_of(be) && n.is_multiple_of(be),
        "columns {c0}..+{n} are not whole {ty} blocks"
    );
    let rb = k / be * bb;
    data.chunks_exact(rb).flat_map(|row| &row[c0 / be * bb..(c0 + n) / be * bb]).copied().collect()
}

fn dequant(ty: GgmlType, bytes: &[u8]) -> Vec<f32> {
    quant::dequantize_row_to_vec(ty, bytes).expect("dequantizable")
}

/// The router of an upcycled model.
#[derive(Debug, Clone, Copy)]
pub enum Router {
    /// F32 zeros: softmax gives every expert exactly 1/E.
    Zero,
    /// Uniform F32 weights in ±scale, from a seed.
    Random { seed: u64, scale: f32 },
}

/// How to cut a dense model's feed-forward into experts.
#[derive(Debug, Clone, Copy)]
pub struct Upcycle {
    /// The MoE architecture to write (`llama` or `qwen2moe`).
    pub arch: &'static str,
    pub n_expert: usize,
    pub n_expert_used: usize,
    /// Rows of the dense FFN given to the shared expert first (0: none).
    pub n_ff_shexp: usize,
    pub router: Router,
    /// Power of two multiplying each routed expert's `ffn_down`.
    pub down_scale: f32,
    /// Power of two multiplying the shared expert's `ffn_down` (its gate is zero: 0.5).
    pub shexp_down_scale: f32,
}

/// Writes `src` (a dense llama or qwen2 model) as `up.arch` with experts cut from its
/// feed-forward: the shared expert takes rows `0..n_ff_shexp` of ffn_gate/ffn_up and the
/// same columns of ffn_down, routed expert e the next `n_ff_exp` rows each. Quantized
/// bytes are sliced, never requantized; scaling goes through the block scales.
pub fn upcycle(src: &GgufFile, up: &Upcycle) -> GgufWriter {
    let src_arch = src.architecture().unwrap().to_string();
    let meta = src.metadata();
    let n_ff = meta.get_usize_opt(&format!("{src_arch}.feed_forward_length")).unwrap().unwrap();
    let n_ff_exp = (n_ff - up.n_ff_shexp) / up.n_expert;
    assert_eq!(up.n_ff_shexp + n_ff_exp * up.n_expert, n_ff, "FFN rows do not split evenly");
    let mut w = GgufWriter::new();
    for (key, value) in meta.iter() {
        let key = match key.strip_prefix(&format!("{src_arch}.")) {
            Some(rest) => format!("{}.{rest}", up.arch),
            None => key.to_string(),
        };
        w.set(key, value.clone());
    }
    let a = up.arch;
    w.set_str("general.architecture", a);
    w.set(format!("{a}.expert_count"), Value::U32(up.n_expert as u32));
    w.set(format!("{a}.expert_used_count"), Value::U32(up.n_expert_used as u32));
    w.set(format!("{a}.expert_feed_forward_length"), Value::U32(n_ff_exp as u32));
    if a == "llama" {
        // Mixtral-style files give the expert size as the FFN length (llama.cpp reads
        // only that key for llama).
        w.set(format!("{a}.feed_forward_length"), Value::U32(n_ff_exp as u32));
    }
    if up.n_ff_shexp > 0 {
        w.set(format!("{a}.expert_shared_feed_forward_length"), Value::U32(up.n_ff_shexp as u32));
    }
    let mut rng = match up.router {
        Router::Random { seed, .. } => Rng::new(seed),
        Router::Zero => Rng::new(0),
    };
    for info in src.tensors() {
        let data = src.tensor_data(info);
        let Some((layer, short)) = split_layer_name(&info.name) else {
            w.add_tensor(info.name.clone(), &info.dims, info.ty, data.to_vec()).unwrap();
            continue;
        };
        let p = |s: &str| format!("blk.{layer}.{s}");
        let n_embd = info.dims[0] as usize;
        match short {
            "ffn_gate.weight" | "ffn_up.weight" => {
                let base = &short[..short.len() - ".weight".len()];
                let rb = info.row_bytes() as usize;
                let (shared, routed) = data.split_at(up.n_ff_shexp * rb);
                let dims = [n_embd as u64, n_ff_exp as u64, up.n_expert as u64];
                w.add_tensor(p(&format!("{base}_exps.weight")), &dims, info.ty, routed.to_vec())
                    .unwrap();
                if up.n_ff_shexp > 0 {
                    let dims = [n_embd as u64, up.n_ff_shexp as u64];
                    w.add_tensor(
                        p(&format!("{base}_shexp.weight")),
                        &dims,
                        info.ty,
                        shared.to_vec(),
                    )
                    .unwrap();
                }
                if short == "ffn_gate.weight" {
                    let router = match up.router {
                        Router::Zero => vec![0.0; n_embd * up.n_expert],
                        Router::Random { scale, .. } => rng.vec(n_embd * up.n_expert, scale),
                    };
                    w.add_f32(
                        p("ffn_gate_inp.weight"),
                        &[n_embd as u64, up.n_expert as u64],
                        &router,
                    )
                    .unwrap();
                    if up.n_ff_shexp > 0 {
                        w.add_f32(
                            p("ffn_gate_inp_shexp.weight"),
                            &[n_embd as u64],
                            &vec![0.0; n_embd],
                        )
                        .unwrap();
                    }
                }
            }
            "ffn_down.weight" => {
                let (k, n_out) = (info.dims[0] as usize, info.dims[1] as usize);
                let mut routed = Vec::with_capacity(data.len());
                for e in 0..up.n_expert {
                    let c0 = up.n_ff_shexp + e * n_ff_exp;
                    routed.extend(column_slice(info.ty, data, k, c0, n_ff_exp));
                }
                let orig = dequant(info.ty, &routed);
                scale_pow2(info.ty, &mut routed, up.down_scale);
                check_scaled(&orig, &dequant(info.ty, &routed), up.down_scale, &info.name);
                let dims = [n_ff_exp as u64, n_out as u64, up.n_expert as u64];
                w.add_tensor(p("ffn_down_exps.weight"), &dims, info.ty, routed).unwrap();
                if up.n_ff_shexp > 0 {
                    let mut shared = column_slice(info.ty, data, k, 0, up.n_ff_shexp);
                    let orig = dequant(info.ty, &shared);
                    scale_pow2(info.ty, &mut shared, up.shexp_down_scale);
                    check_scaled(
                        &orig,
                        &dequant(info.ty, &shared),
                        up.shexp_down_scale,
                        &info.name,
                    );
                    let dims = [up.n_ff_shexp as u64, n_out as u64];
                    w.add_tensor(p("ffn_down_shexp.weight"), &dims, info.ty, shared).unwrap();
                }
            }
            _ => {
                w.add_tensor(info.name.clone(), &info.dims, info.ty, data.to_vec()).unwrap();
            }
        }
    }
    w
}

/// The scaled weights dequantize to exactly `factor` × the originals.
fn check_scaled(orig: &[f32], scaled: &[f32], factor: f32, name: &str) {
    let bad = orig.iter().zip(scaled).position(|(&o, &s)| o * factor != s);
    assert!(bad.is_none(), "{name}: scaling by {factor} is not exact at {bad:?}");
}

/// `blk.12.ffn_up.weight` → (12, "ffn_up.weight").
fn split_layer_name(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("blk.")?;
    let (n, short) = rest.split_once('.')?;
    Some((n.parse().ok()?, short))
}

/// `src` with only its first `n_layer` layers (for a short, well-conditioned forward pass).
pub fn truncate(src: &GgufFile, n_layer: usize) -> GgufWriter {
    let arch = src.architecture().unwrap().to_string();
    let mut w = GgufWriter::new();
    for (key, value) in src.metadata().iter() {
        w.set(key, value.clone());
    }
    w.set_u32(format!("{arch}.block_count"), n_layer as u32);
    for info in src.tensors() {
        if split_layer_name(&info.name).is_some_and(|(il, _)| il >= n_layer) {
            continue;
        }
        w.add_tensor(info.name.clone(), &info.dims, info.ty, src.tensor_data(info).to_vec())
            .unwrap();
    }
    w
}

/// The dense model at `dense` cut to `n_layer` layers and upcycled to a top-2-of-4 llama
/// MoE (random router), written into `dir`; returns its path.
pub fn upcycled(
    dense: &std::path::Path,
    dir: &std::path::Path,
    n_layer: usize,
) -> std::path::PathBuf {
    let open = |p: &std::path::Path| std::sync::Arc::new(GgufFile::open(p).unwrap());
    let short = dir.join("short.gguf");
    truncate(&open(dense), n_layer).write(&short).unwrap();
    let up = Upcycle {
        arch: "llama",
        n_expert: 4,
        n_expert_used: 2,
        n_ff_shexp: 0,
        router: Router::Random { seed: 3, scale: 0.05 },
        down_scale: 2.0,
        shexp_down_scale: 1.0,
    };
    let path = dir.join("moe.gguf");
    upcycle(&open(&short), &up).write(&path).unwrap();
    path
}
