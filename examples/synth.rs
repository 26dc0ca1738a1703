//! Writes a random-weight model: the tiny hybrids (qwen35, qwen35moe) of the parity
//! tests, or, with fewer layers, the per-layer shape of Qwen3.5-35B-A3B or of
//! Qwen3-Coder-30B-A3B (qwen3moe) for benchmarks (Q4_K, Q6_K down projections, a
//! byte-level vocabulary padded to the real size).
//!
//! `cargo run --release --example synth -- KIND OUT.gguf [LAYERS]`, KIND one of
//! `tiny-qwen35`, `tiny-qwen35moe`, `qwen35moe-35b-a3b`, `qwen3moe-30b-a3b` (LAYERS
//! default 4).

#[allow(dead_code)]
#[path = "../tests/it/hybrid_models.rs"]
mod hybrid_models;
#[allow(dead_code)]
#[path = "../tests/it/testmodels.rs"]
mod testmodels;

use std::error::Error;

use hearth::gguf::GgufWriter;
use hearth::quant::GgmlType::{F32, Q4_K, Q6_K};
use hybrid_models::{build, byte_vocab, Hybrid, BYTE_VOCAB};
use testmodels::{build_tiny, Tiny};

/// Qwen3-Coder-30B-A3B's per-layer shape with `n_layer` layers.
fn qwen3moe_30b_a3b(n_layer: usize) -> GgufWriter {
    let t = Tiny {
        arch: "qwen3moe",
        n_layer,
        n_embd: 2048,
        n_head: 32,
        n_head_kv: 4,
        head_dim: Some(128),
        n_vocab: 151_936,
        n_ff: 0,
        n_expert: 128,
        n_expert_used: 8,
        n_ff_exp: 768,
        n_ff_shexp: 0,
        rope_base: 10_000_000.0,
        sliding_window: None,
        tied: false,
        ty_embd: Q4_K,
        ty_output: Q6_K,
        ty_qkv: Q4_K,
        ty_attn_out: Q4_K,
        ty_ffn_in: Q4_K,
        ty_ffn_down: Q6_K,
        ty_router: F32,
        router_gain: 1.0,
        seed: 30,
    };
    let mut w = build_tiny(&t);
    w.set_u32("qwen3moe.context_length", 40_960);
    byte_vocab(&mut w, t.n_vocab - BYTE_VOCAB);
    w
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, out, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: synth tiny-qwen35|tiny-qwen35moe|qwen35moe-35b-a3b OUT.gguf [LAYERS]".into()
        );
    };
    let n_layer: usize = rest.first().map_or(Ok(4), |n| n.parse())?;
    let w = match kind.as_str() {
        "tiny-qwen35" => build(&Hybrid::tiny(true)),
        "tiny-qwen35moe" => build(&Hybrid::tiny(false)),
        "qwen35moe-35b-a3b" => build(&Hybrid::qwen35moe_35b_a3b(n_layer)),
        "qwen3moe-30b-a3b" => qwen3moe_30b_a3b(n_layer),
        other => return Err(format!("unknown KIND {other:?}").into()),
    };
    w.write(out)?;
    eprintln!("wrote {out} ({kind})");
    Ok(())
}
