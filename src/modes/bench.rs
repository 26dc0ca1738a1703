//! `hearth bench`: prompt processing (ppN) and text generation (tgN) speed, each
//! repeated, reported as mean ± standard deviation in tokens per second, the way
//! llama-bench reports them.

use std::time::Instant;

use serde_json::json;

use super::{load, output};
use crate::cli::BenchArgs;
use crate::engine::session::Session;
use crate::error::{Error, Result};

/// One measured test.
struct Measure {
    name: String,
    n_tokens: usize,
    /// Tokens per second of each repetition.
    samples: Vec<f64>,
}

impl Measure {
    fn mean(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }

    fn stddev(&self) -> f64 {
        let m = self.mean();
        let n = self.samples.len() as f64;
        (self.samples.iter().map(|s| (s - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
    }
}

/// Deterministic pseudo-random token ids below `n_vocab` (as llama-bench feeds random
/// tokens: speed does not depend on which).
fn random_tokens(n: usize, n_vocab: usize, seed: u64) -> Vec<u32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) % n_vocab as u64) as u32
        })
        .collect()
}

/// Peak resident memory of this process in bytes (Linux), if known.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.reps == 0 {
        return Err(Error::usage("-r/--repetitions must be at least 1"));
    }
    if args.n_prompt == 0 && args.n_gen == 0 {
        return Err(Error::usage("nothing to measure: -p and -n are both 0"));
    }
    let loaded = load::load(&args.model)?;
    let model = &loaded.model;
    let n_vocab = model.hp.n_vocab;
    let n_ctx = args.n_prompt.max(args.n_gen + 1).max(1);
    let mut session = Session::new(model.clone(), n_ctx, args.model.batch_size)?;
    let mut tests = Vec::new();
    if args.n_prompt > 0 {
        let mut m = Measure {
            name: format!("pp{}", args.n_prompt),
            n_tokens: args.n_prompt,
            samples: vec![],
        };
        for rep in 0..args.reps {
            let tokens = random_tokens(args.n_prompt, n_vocab, rep as u64 + 1);
            session.truncate(0);
            let t = Instant::now();
            session.prefill(&tokens)?;
            m.samples.push(args.n_prompt as f64 / t.elapsed().as_secs_f64());
        }
        tests.push(m);
    }
    if args.n_gen > 0 {
        let mut m =
            Measure { name: format!("tg{}", args.n_gen), n_tokens: args.n_gen, samples: vec![] };
        for rep in 0..args.reps {
            let tokens = random_tokens(args.n_gen, n_vocab, 1000 + rep as u64);
            session.truncate(0);
            let t = Instant::now();
            for &tok in &tokens {
                session.decode(tok)?;
            }
            m.samples.push(args.n_gen as f64 / t.elapsed().as_secs_f64());
        }
        tests.push(m);
    }
    let threads = args.model.threads();
    let file = &model.file;
    let name =
        file.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if args.json {
        let rows: Vec<_> = tests
            .iter()
            .map(|m| {
                json!({
                    "model": name, "model_size": file.file_size(), "n_params": file.n_params(),
                    "arch": model.arch.name(), "backend": model.backend_name(), "threads": threads,
                    "test": m.name, "n_tokens": m.n_tokens, "repetitions": m.samples.len(),
                    "tokens_per_second": m.mean(), "stddev": m.stddev(), "samples": m.samples,
                    "peak_rss": peak_rss(),
                })
            })
            .collect();
        return output::print_json(&serde_json::Value::Array(rows));
    }
    let mut text =
        String::from("| model | size | params | backend | threads | test | t/s |\n|---|---|---|---|---|---|---|\n");
    for m in &tests {
        text.push_str(&format!(
            "| {name} | {:.2} GiB | {:.2} B | {} | {threads} | {} | {:.2} ± {:.2} |\n",
            file.file_size() as f64 / (1u64 << 30) as f64,
            file.n_params() as f64 / 1e9,
            model.backend_name(),
            m.name,
            m.mean(),
            m.stddev()
        ));
    }
    if let Some(rss) = peak_rss() {
        text.push_str(&format!(
            "\npeak resident memory: {:.1} MiB\n",
            rss as f64 / (1u64 << 20) as f64
        ));
    }
    output::print(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_stddev() {
        let m = Measure { name: "pp4".into(), n_tokens: 4, samples: vec![1.0, 2.0, 3.0] };
        assert_eq!(m.mean(), 2.0);
        assert_eq!(m.stddev(), 1.0);
    }

    #[test]
    fn random_tokens_stay_in_the_vocabulary_and_repeat_per_seed() {
        let a = random_tokens(100, 50, 7);
        assert!(a.iter().all(|&t| t < 50));
        assert_eq!(a, random_tokens(100, 50, 7));
        assert_ne!(a, random_tokens(100, 50, 8));
    }
}
