//! `hearth bench`: prompt processing (ppN) and text generation (tgN) speed, each
//! repeated, reported as mean ± standard deviation in tokens per second, the way
//! llama-bench reports them.

use std::time::Instant;

use serde_json::json;

use super::{output, roofline};
use crate::assistant::load;
use crate::backend::any::AnyBackend;
use crate::cli::BenchArgs;
use crate::engine::session::Session;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::quant::dot;

/// One measured test.
pub(super) struct Measure {
    pub name: String,
    pub n_tokens: usize,
    /// Tokens per second (or seconds) of each repetition.
    pub samples: Vec<f64>,
}

impl Measure {
    pub fn mean(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }

    pub fn stddev(&self) -> f64 {
        let m = self.mean();
        let n = self.samples.len() as f64;
        (self.samples.iter().map(|s| (s - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt()
    }
}

/// Deterministic pseudo-random token ids below `n_vocab` (as llama-bench feeds random
/// tokens: speed does not depend on which).
pub(super) fn random_tokens(n: usize, n_vocab: usize, seed: u64) -> Vec<u32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 33) % n_vocab as u64) as u32
        })
        .collect()
}

/// The bandwidth bound of token generation, when `--roofline` asked for it.
struct Roofline {
    bytes_per_token: u64,
    bandwidth: f64,
}

impl Roofline {
    fn bound(&self) -> f64 {
        self.bandwidth / self.bytes_per_token as f64
    }
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.reps == 0 {
        return Err(Error::usage("-r/--repetitions must be at least 1"));
    }
    if let Some(n) = args.resume {
        return super::bench_resume::run(args, n);
    }
    if let Some(task) = &args.spec {
        return super::bench_spec::run(args, task);
    }
    if args.n_prompt == 0 && args.n_gen == 0 {
        return Err(Error::usage("nothing to measure: -p and -n are both 0"));
    }
    let loaded = load::load(&args.model.config())?;
    let model = &loaded.model;
    // Room for the warm-up too (up to 16 prompt tokens and one decode).
    let n_ctx = args.n_prompt.max(args.n_gen + 1).max(17);
    let mut session = load::session(model, n_ctx, &args.model.config())?;
    warm_up(&mut session, model.hp.n_vocab, args)?;
    let mut tests = Vec::new();
    if args.n_prompt > 0 {
        tests.push(measure(&mut session, args, format!("pp{}", args.n_prompt), true)?);
    }
    if args.n_gen > 0 {
        tests.push(measure(&mut session, args, format!("tg{}", args.n_gen), false)?);
    }
    // Before the bandwidth probe, whose buffer is not the model's.
    let rss = output::peak_rss();
    let roofline = args.roofline.then(|| Roofline {
        bytes_per_token: roofline::bytes_per_token(
            &model.file,
            model.hp.n_expert,
            model.hp.n_expert_used,
        ),
        bandwidth: roofline::read_bandwidth(3),
    });
    let report = Report { args, model, tests: &tests, roofline: roofline.as_ref(), rss };
    if args.json {
        return output::print_json(&report.json());
    }
    output::print(&report.text())
}

/// One short untimed pass of each test, as llama-bench does, so that page faults of the
/// mapping and first-touch allocations are not measured.
fn warm_up(session: &mut Session<AnyBackend>, n_vocab: usize, args: &BenchArgs) -> Result<()> {
    let tokens = random_tokens(args.n_prompt.clamp(1, 16), n_vocab, 999);
    session.truncate(0);
    session.prefill(&tokens)?;
    if args.n_gen > 0 {
        session.decode(tokens[0])?;
    }
    Ok(())
}

/// Runs one test `args.reps` times: a prefill of `-p` tokens, or `-n` single decodes.
fn measure(
    session: &mut Session<AnyBackend>,
    args: &BenchArgs,
    name: String,
    prompt: bool,
) -> Result<Measure> {
    let n_vocab = session.model().hp.n_vocab;
    let n = if prompt { args.n_prompt } else { args.n_gen };
    let mut m = Measure { name, n_tokens: n, samples: vec![] };
    for rep in 0..args.reps {
        let seed = rep as u64 + if prompt { 1 } else { 1000 };
        let tokens = random_tokens(n, n_vocab, seed);
        session.truncate(0);
        let t = Instant::now();
        if prompt {
            session.prefill(&tokens)?;
        } else {
            for &tok in &tokens {
                session.decode(tok)?;
            }
        }
        m.samples.push(n as f64 / t.elapsed().as_secs_f64());
    }
    Ok(m)
}

/// What `hearth bench` prints.
struct Report<'a> {
    args: &'a BenchArgs,
    model: &'a Model<AnyBackend>,
    tests: &'a [Measure],
    roofline: Option<&'a Roofline>,
    /// Peak resident memory after the tests, in bytes.
    rss: Option<u64>,
}

impl Report<'_> {
    fn model_name(&self) -> String {
        let path = self.model.file.path();
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    fn json(&self) -> serde_json::Value {
        let (model, file) = (self.model, &self.model.file);
        let rows = self.tests.iter().map(|m| {
            let mut row = json!({
                "model": self.model_name(), "model_size": file.file_size(),
                "n_params": file.n_params(), "arch": model.arch.name(),
                "backend": model.backend_name(), "kernels": dot::level().name(),
                "type_k": self.args.model.config().cache_types().0.name(),
                "type_v": self.args.model.config().cache_types().1.name(),
                "threads": self.args.model.config().threads(), "test": m.name, "n_tokens": m.n_tokens,
                "repetitions": m.samples.len(), "tokens_per_second": m.mean(),
                "stddev": m.stddev(), "samples": m.samples, "peak_rss": self.rss,
            });
            let placement = model.backend.placement();
            if let Some(device) = &placement.device {
                row["device"] = json!(device);
            }
            row["placement"] = json!(placement);
            if let Some(r) = self.roofline {
                row["bytes_per_token"] = json!(r.bytes_per_token);
                row["read_bandwidth"] = json!(r.bandwidth);
                if m.name.starts_with("tg") {
                    row["roofline_tokens_per_second"] = json!(r.bound());
                    row["roofline_fraction"] = json!(m.mean() / r.bound());
                }
            }
            row
        });
        serde_json::Value::Array(rows.collect())
    }

    fn text(&self) -> String {
        let (model, file) = (self.model, &self.model.file);
        let mut text = String::from(
            "| model | size | params | backend | threads | test | t/s |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for m in self.tests {
            text.push_str(&format!(
                "| {} | {:.2} GiB | {:.2} B | {} ({}) | {} | {} | {:.2} ± {:.2} |\n",
                self.model_name(),
                file.file_size() as f64 / (1u64 << 30) as f64,
                file.n_params() as f64 / 1e9,
                model.backend_name(),
                dot::level().name(),
                self.args.model.config().threads(),
                m.name,
                m.mean(),
                m.stddev()
            ));
        }
        if let Some(rss) = self.rss {
            let mib = rss as f64 / (1u64 << 20) as f64;
            text.push_str(&format!("\npeak resident memory: {mib:.1} MiB\n"));
        }
        if let Some(r) = self.roofline {
            text.push_str(&self.roofline_text(r));
        }
        text
    }

    fn roofline_text(&self, r: &Roofline) -> String {
        let mut text = format!(
            "read bandwidth: {:.1} GB/s; weights read per token: {:.1} MB; tg bound: {:.1} t/s\n",
            r.bandwidth / 1e9,
            r.bytes_per_token as f64 / 1e6,
            r.bound()
        );
        for m in self.tests.iter().filter(|m| m.name.starts_with("tg")) {
            let pct = 100.0 * m.mean() / r.bound();
            text.push_str(&format!("{}: {pct:.0}% of the bandwidth bound\n", m.name));
        }
        text
    }
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
