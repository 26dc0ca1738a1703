//! qwen35moe (Qwen3.5/3.6-35B-A3B): qwen35's hybrid of gated DeltaNet and gated
//! attention layers, each with routed experts (softmax top-k renormalized) and a shared
//! expert behind a sigmoid gate.

use super::decoder::{FfnKind, PreNormDecoder};

pub const DECODER: PreNormDecoder =
    PreNormDecoder { ffn: FfnKind::Moe { shared: true }, ..super::qwen35::DECODER };
