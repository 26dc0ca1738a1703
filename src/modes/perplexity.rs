//! `hearth perplexity`: llama.cpp's method — tokenize the text (BOS first where the model
//! adds one), cut it into chunks of n_ctx tokens each starting with BOS, and score only
//! the second half of each chunk.

use std::time::Instant;

use serde_json::json;

use super::{input, output};
use crate::assistant::load;
use crate::cli::PerplexityArgs;
use crate::error::{Error, Result};

/// Running sums of the negative log-likelihood of scored tokens.
#[derive(Debug, Default, Clone, Copy)]
struct Nll {
    sum: f64,
    sum_sq: f64,
    count: usize,
}

impl Nll {
    fn add(&mut self, nll: f64) {
        self.sum += nll;
        self.sum_sq += nll * nll;
        self.count += 1;
    }

    fn ppl(&self) -> f64 {
        (self.sum / self.count as f64).exp()
    }

    /// Uncertainty of the estimate from the spread of per-token values.
    fn ppl_err(&self) -> f64 {
        let n = self.count as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        self.ppl() * (var / (n - 1.0).max(1.0)).sqrt()
    }
}

/// −log p(target) under the softmax of `logits`, in f64.
fn nll_of(logits: &[f32], target: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum::<f64>().ln();
    -(logits[target as usize] as f64 - max - log_sum)
}

pub fn run(args: &PerplexityArgs) -> Result<()> {
    let text = input::read_text_file(&args.file)?;
    let loaded = load::load(&args.model.config())?;
    let n_ctx = args.model.ctx_size.unwrap_or(512);
    if n_ctx < 4 {
        return Err(Error::usage("-c/--ctx-size must be at least 4 for perplexity"));
    }
    let add_bos = loaded.tokenizer.add_bos_default();
    let tokens = loaded.tokenizer.encode(&text, add_bos, true)?;
    let n_chunk = tokens.len() / n_ctx;
    if n_chunk == 0 {
        return Err(Error::bad_input(format!(
            "{} tokens is less than one chunk of {n_ctx} (lower -c or give more text)",
            tokens.len()
        ))
        .with_file(&args.file));
    }
    let mut session = load::session(&loaded.model, n_ctx, &args.model.config())?;
    let n_vocab = loaded.model.hp.n_vocab;
    let first = n_ctx / 2;
    let mut nll = Nll::default();
    let started = Instant::now();
    for i in 0..n_chunk {
        let mut chunk = tokens[i * n_ctx..(i + 1) * n_ctx].to_vec();
        if add_bos {
            chunk[0] = loaded.tokenizer.bos().unwrap_or(chunk[0]);
        }
        session.truncate(0);
        let logits = session.prefill_all(&chunk)?;
        for j in first..n_ctx - 1 {
            nll.add(nll_of(&logits[j * n_vocab..(j + 1) * n_vocab], tokens[i * n_ctx + j + 1]));
        }
        eprint!("[{}]{:.4},", i + 1, nll.ppl());
        if !nll.ppl().is_finite() {
            eprintln!();
            return Err(Error::failed(format!(
                "chunk {} of {n_chunk} gave non-finite logits (the model's weights or its \
                 arithmetic overflow): no perplexity",
                i + 1
            ))
            .with_file(loaded.model.file.path()));
        }
    }
    eprintln!();
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        return output::print_json(&json!({
            "ppl": nll.ppl(), "ppl_err": nll.ppl_err(), "chunks": n_chunk, "n_ctx": n_ctx,
            "tokens": tokens.len(), "scored": nll.count, "seconds": secs,
        }));
    }
    eprintln!(
        "perplexity: {n_chunk} chunks of {n_ctx} tokens, {:.1} tokens/s",
        (n_chunk * n_ctx) as f64 / secs
    );
    output::print(&format!("PPL = {:.4} +/- {:.4}\n", nll.ppl(), nll.ppl_err()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nll_of_uniform_logits_is_log_vocab() {
        assert!((nll_of(&[0.0; 8], 3) - 8f64.ln()).abs() < 1e-12);
        assert!(nll_of(&[10.0, 0.0], 0) < 1e-4);
    }

    #[test]
    fn ppl_of_equal_nll_is_exp() {
        let mut n = Nll::default();
        n.add(2.0);
        n.add(2.0);
        assert!((n.ppl() - 2f64.exp()).abs() < 1e-12);
        assert_eq!(n.ppl_err(), 0.0);
    }
}
