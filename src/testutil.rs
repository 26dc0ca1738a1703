//! Test helpers shared by unit tests: a small deterministic random generator and random
//! but valid quantized blocks.

use crate::quant::{self, GgmlType};

/// xorshift64: deterministic, seedable, good enough for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// `n` values uniform in [-1, 1).
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }

    /// Values of mixed magnitude: a random scale per 32, so block scales differ.
    pub fn vec_mixed(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n / 32 {
            let scale = 0.05 + 2.0 * self.f32().abs();
            out.extend((0..32).map(|_| scale * self.f32()));
        }
        out
    }
}

/// Random bytes as blocks of `ty`, each re-drawn until its values are finite and
/// moderate: every bit pattern of the quants and scales can occur.
pub fn random_blocks(rng: &mut Rng, ty: GgmlType, n_elems: usize) -> Vec<u8> {
    let (be, bb) = (ty.block_elems(), ty.block_bytes());
    let mut out = Vec::with_capacity(n_elems / be * bb);
    let mut vals = vec![0f32; be];
    for _ in 0..n_elems / be {
        loop {
            let block: Vec<u8> = (0..bb).map(|_| rng.next() as u8).collect();
            quant::dequantize(ty, &block, &mut vals).expect("whole block of a dequantizable type");
            if vals.iter().all(|v| v.is_finite() && v.abs() < 1e4) {
                out.extend(block);
                break;
            }
        }
    }
    out
}

/// Activations rounded through the type the reference engine pairs with weights of type
/// `w` (rows of `k` values): what an exact product with its quantized activations sees.
pub fn rounded(w: GgmlType, x: &[f32], k: usize) -> Vec<f32> {
    let ty = quant::dot::activation_type(w);
    if ty == GgmlType::F32 {
        return x.to_vec();
    }
    x.chunks(k)
        .flat_map(|row| {
            let mut q = Vec::new();
            quant::quantize(ty, row, &mut q).unwrap();
            crate::backend::naive::dequantize(ty, &q, k)
        })
        .collect()
}

/// Grammars over a byte-level vocabulary (token `b` is byte `b`, a few merges above).
pub fn byte_grammars() -> crate::engine::grammar::Grammars {
    use crate::tokenizer::{testutil::gpt2_meta, Tokenizer};
    let meta = gpt2_meta("gpt-2", &["a b", "ab c"], &["<|endoftext|>"]);
    let tokenizer = Tokenizer::from_gguf(&meta).expect("a valid test vocabulary");
    crate::engine::grammar::Grammars::new(std::sync::Arc::new(tokenizer)).expect("a trie")
}

/// Whether `grammar` takes `text` whole, fed byte by byte (see [`byte_grammars`]).
pub fn grammar_takes(
    g: &crate::engine::grammar::Grammars,
    grammar: &crate::engine::grammar::Grammar,
    text: &str,
) -> bool {
    let mut m = g.matcher(grammar).unwrap_or_else(|e| panic!("{e}\n{grammar:?}"));
    let tokens: Vec<u32> = text.bytes().map(u32::from).collect();
    m.consume_tokens(&tokens).is_ok() && m.is_accepting().unwrap_or(false)
}
