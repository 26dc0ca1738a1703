//! Writes a dense model upcycled into MoE form for benchmarks: every weight matrix
//! requantized to Q8_0 (when its rows are whole Q8_0 blocks), then the feed-forward cut
//! into E experts with a zero router and all E active, so the MoE model computes what
//! the dense one does (DESIGN.md, "upcycled" test models). E must be a power of two:
//! the experts' `ffn_down` is scaled by E exactly, through the block scales.
//!
//! `cargo run --release --example upcycle -- DENSE.gguf OUT.gguf [EXPERTS]`

#[allow(dead_code)]
#[path = "../tests/it/testmodels.rs"]
mod testmodels;

use std::error::Error;

use hearth::gguf::{GgufFile, GgufWriter};
use hearth::quant::{self, GgmlType};
use testmodels::{upcycle, Router, Upcycle};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, out, rest @ ..] = args.as_slice() else {
        return Err(
            "usage: upcycle DENSE.gguf OUT.gguf [EXPERTS (a power of two, default 8)]".into()
        );
    };
    let n_expert: usize = rest.first().map_or(Ok(8), |e| e.parse())?;
    if !n_expert.is_power_of_two() || n_expert < 2 {
        return Err(format!("EXPERTS {n_expert}: a power of two from 2 up").into());
    }
    let dense = GgufFile::open(src)?;
    let q8 =
        GgufFile::from_bytes("requantized.gguf", requantize(&dense, GgmlType::Q8_0)?.to_bytes()?)?;
    let up = Upcycle {
        arch: "llama",
        n_expert,
        n_expert_used: n_expert,
        n_ff_shexp: 0,
        router: Router::Zero,
        down_scale: n_expert as f32,
        shexp_down_scale: 1.0,
    };
    upcycle(&q8, &up).write(out)?;
    println!("{out}: {src} as {n_expert} experts (all active), weights in Q8_0");
    Ok(())
}

/// `src` with every matrix (2-D or more, quantized or f16) stored as `ty` where its rows
/// are whole blocks of `ty`; vectors and other tensors as they are.
fn requantize(src: &GgufFile, ty: GgmlType) -> Result<GgufWriter, Box<dyn Error>> {
    let mut w = GgufWriter::new();
    for (key, value) in src.metadata().iter() {
        w.set(key, value.clone());
    }
    for info in src.tensors() {
        let data = src.tensor_data(info);
        let matrix = info.dims.len() >= 2 && info.ty != GgmlType::F32;
        if !matrix || info.dims[0] % ty.block_elems() as u64 != 0 {
            w.add_tensor(info.name.clone(), &info.dims, info.ty, data.to_vec())?;
            continue;
        }
        let values = quant::dequantize_row_to_vec(info.ty, data)?;
        let mut bytes = Vec::new();
        quant::quantize(ty, &values, &mut bytes)?;
        w.add_tensor(info.name.clone(), &info.dims, ty, bytes)?;
    }
    Ok(w)
}
