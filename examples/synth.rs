//! Writes a random-weight hybrid model (qwen35, qwen35moe): the tiny ones of the parity
//! tests, or Qwen3.5-35B-A3B's per-layer shape with fewer layers for benchmarks.
//!
//! `cargo run --release --example synth -- KIND OUT.gguf [LAYERS]`, KIND one of
//! `tiny-qwen35`, `tiny-qwen35moe`, `qwen35moe-35b-a3b` (LAYERS default 4).

#[allow(dead_code)]
#[path = "../tests/it/hybrid_models.rs"]
mod hybrid_models;

use std::error::Error;

use hybrid_models::{build, Hybrid};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, out, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: synth tiny-qwen35|tiny-qwen35moe|qwen35moe-35b-a3b OUT.gguf [LAYERS]".into()
        );
    };
    let n_layer: usize = rest.first().map_or(Ok(4), |n| n.parse())?;
    let shape = match kind.as_str() {
        "tiny-qwen35" => Hybrid::tiny(true),
        "tiny-qwen35moe" => Hybrid::tiny(false),
        "qwen35moe-35b-a3b" => Hybrid::qwen35moe_35b_a3b(n_layer),
        other => return Err(format!("unknown KIND {other:?}").into()),
    };
    build(&shape).write(out)?;
    eprintln!("wrote {out}: {} layers of {}", shape.n_layer, shape.arch);
    Ok(())
}
