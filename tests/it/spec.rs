//! Speculative lookup decoding gives the tokens plain decoding gives: greedy `hearth run
//! --spec lookup` against `--spec off`, byte for byte, on each architecture — the three
//! dense test models and a MoE upcycled from SmolLM2, on a prompt they repeat, so drafts
//! are made, kept and cut — and the tiny hybrids (qwen35, qwen35moe), whose recurrent
//! state goes back to a checkpoint when a draft is cut, with drafts from an oracle.

use std::path::Path;

use std::sync::Arc;

use hearth::backend::cpu::CpuBackend;
use hearth::engine::generate::{generate_drafted, Request};
use hearth::engine::lookup::Drafter;
use hearth::engine::sampler::{Sampler, SamplerParams};
use hearth::engine::session::Session;
use hearth::gguf::GgufFile;
use hearth::model::Model;
use hearth::tokenizer::Tokenizer;

use crate::common::{self, model_path, GEMMA3, QWEN25_CODER, SMOLLM2};
use crate::hybrid_models::{build, Hybrid};
use crate::testmodels::upcycled;

const CODE: &str = "def total_price(items, tax):\n    subtotal = sum(i.price * i.count for i in items)\n    return round(subtotal * (1 + tax), 2)\n";

/// stdout of greedy `hearth run` with `spec`, and its timing line.
fn run(model: &Path, prompt: &str, spec: &str) -> (String, String) {
    let m = model.to_str().unwrap();
    let args = ["run", "-m", m, "--temp", "0", "-n", "48", "-t", "2", "--spec", spec, "-p", prompt];
    let out = common::run(&args);
    assert!(out.status.success(), "{}", common::stderr(&out));
    (common::stdout(&out), common::stderr(&out))
}

fn same_with_and_without(model: &Path, prompt: &str) {
    let (plain, _) = run(model, prompt, "off");
    let (spec, timing) = run(model, prompt, "lookup");
    assert_eq!(spec, plain, "{}", model.display());
    assert!(timing.contains("drafts: "), "no draft was made: {timing}");
}

#[test]
fn lookup_decoding_keeps_the_tokens_of_plain_decoding_on_every_architecture() {
    let prompt = format!("Copy this function exactly.\n\n{CODE}\nCopy:\n\n{}", &CODE[..40]);
    for name in [SMOLLM2, QWEN25_CODER, GEMMA3] {
        same_with_and_without(&model_path(name), &prompt);
    }
    let dir = tempfile::tempdir().unwrap();
    same_with_and_without(&upcycled(&model_path(SMOLLM2), dir.path(), 4), &prompt);
}

/// Proposes the known greedy continuation, every third draft with its second token
/// wrong: drafts kept whole, and drafts cut where the model disagrees.
struct Oracle {
    truth: Vec<u32>,
    n: usize,
}

impl Drafter for Oracle {
    fn draft(&mut self, history: &[u32], max: usize) -> Vec<u32> {
        self.n += 1;
        let at = history.len().min(self.truth.len());
        let mut d = self.truth[at..(at + max).min(self.truth.len())].to_vec();
        if self.n.is_multiple_of(3) && d.len() > 1 {
            d[1] = (d[1] + 1) % 200;
        }
        d
    }
}

/// Greedy generation on the tiny hybrid models, whose random weights never repeat the
/// prompt: drafts from an oracle, some cut, so the recurrent state goes back to its
/// checkpoint and the kept tokens are fed again — the text must not change.
#[test]
fn cut_drafts_on_a_hybrid_model_rewind_its_state_exactly() {
    for dense in [false, true] {
        let w = build(&Hybrid::tiny(dense));
        let file = Arc::new(GgufFile::from_bytes("hybrid", w.to_bytes().unwrap()).unwrap());
        let tok = Tokenizer::from_gguf(file.metadata()).unwrap();
        let model = Arc::new(Model::load(Arc::clone(&file), CpuBackend).unwrap());
        let prompt = tok.encode("ab cd ef gh ij", false, false).unwrap();
        let gen = |spec: Option<usize>, drafter: &mut dyn Drafter| {
            let mut session = Session::new(Arc::clone(&model), 256, 512).unwrap();
            let params = SamplerParams { temp: 0.0, ..SamplerParams::default() };
            let mut sampler = Sampler::new(params).unwrap();
            let req = Request {
                prompt: &prompt,
                max_tokens: Some(40),
                ignore_eos: true,
                stop: vec![],
                cancel: None,
                spec,
            };
            let mut text = String::new();
            let stats =
                generate_drafted(&mut session, &tok, &mut sampler, &req, drafter, &mut |t| {
                    text.push_str(t);
                    Ok(())
                })
                .unwrap();
            (text, session.tokens().to_vec(), stats)
        };
        let (plain, truth, _) = gen(None, &mut Oracle { truth: vec![], n: 0 });
        let (text, tokens, stats) = gen(Some(6), &mut Oracle { truth: truth.clone(), n: 0 });
        assert_eq!(text, plain, "dense: {dense}");
        assert_eq!(tokens, truth[..tokens.len()], "dense: {dense}");
        assert!(
            stats.spec.accepted > 0 && stats.spec.drafted > stats.spec.accepted,
            "{:?}",
            stats.spec
        );
    }
}

/// `hearth bench --spec FILE` times both ways on the task and says the tokens matched.
#[test]
fn bench_spec_reports_both_speeds_the_acceptance_and_the_same_tokens() {
    let task = crate::common::fixture("../benches/spec/rename-in-file.md");
    let m = model_path(SMOLLM2);
    let args = ["bench", "-m", m.to_str().unwrap(), "-t", "2", "-n", "24", "-r", "1", "--json"];
    let out = common::run(&[&args[..], &["--spec", task.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["same_tokens"], true, "{v}");
    assert!(v["off_tps"].as_f64().unwrap() > 0.0 && v["lookup_tps"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["tokens"], 24, "{v}");
    assert!(v["acceptance"].as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)), "{v}");
}

/// The golden prompts of `greedy.json`: the same continuation with lookup decoding.
#[test]
fn lookup_decoding_keeps_the_golden_greedy_continuations() {
    let golden = crate::common::golden_json("greedy.json");
    for case in golden["cases"].as_array().unwrap() {
        let model = model_path(case["model_file"].as_str().unwrap());
        let prompt = case["prompt"].as_str().unwrap();
        let (plain, _) = run(&model, prompt, "off");
        let (spec, _) = run(&model, prompt, "lookup");
        assert_eq!(spec, plain, "{} {prompt:?}", model.display());
    }
}

/// Sampling with drafts: each drafted token kept with the probability the model gives
/// it, else a token drawn from the rest — so continuations come out as often as in plain
/// sampling. 200 seeded runs each way on SmolLM2 (temperature 1, a prompt it copies):
/// the copied continuation comes as often, the first two words are distributed alike
/// (within sampling noise), and drafts were made and partly kept.
#[test]
fn sampling_with_drafts_keeps_the_distribution_of_plain_sampling() {
    const RUNS: usize = 200;
    let file = Arc::new(GgufFile::open(model_path(SMOLLM2)).unwrap());
    let tok = Tokenizer::from_gguf(file.metadata()).unwrap();
    let model = Arc::new(Model::load(Arc::clone(&file), CpuBackend).unwrap());
    let prompt = tok
        .encode_prompt("Copy: the cat sat on the mat. Copy: the cat sat on the mat. Copy: the cat")
        .unwrap();
    let mut spec_stats = hearth::engine::generate::SpecStats::default();
    let mut counts = [std::collections::HashMap::new(), std::collections::HashMap::new()];
    for seed in 0..RUNS as u64 {
        for (arm, spec) in [None, Some(4)].into_iter().enumerate() {
            let mut session = Session::new(Arc::clone(&model), 128, 512).unwrap();
            let params = SamplerParams {
                temp: 1.0,
                top_k: 0,
                top_p: 1.0,
                min_p: 0.0,
                seed,
                ..SamplerParams::default()
            };
            let mut sampler = Sampler::new(params).unwrap();
            let req = Request {
                prompt: &prompt,
                max_tokens: Some(4),
                ignore_eos: true,
                stop: vec![],
                cancel: None,
                spec,
            };
            let mut text = String::new();
            let stats = hearth::engine::generate::generate(
                &mut session,
                &tok,
                &mut sampler,
                &req,
                &mut |t| {
                    text.push_str(t);
                    Ok(())
                },
            )
            .unwrap();
            *counts[arm].entry(text).or_insert(0usize) += 1;
            if arm == 1 {
                spec_stats.drafts += stats.spec.drafts;
                spec_stats.drafted += stats.spec.drafted;
                spec_stats.accepted += stats.spec.accepted;
            }
        }
    }
    // The continuation the prompt invites, as often each way; and the first two words'
    // distribution (most runs agree on them) within sampling noise.
    let copy = |c: &std::collections::HashMap<String, usize>| {
        *c.get(" sat on the mat").unwrap_or(&0) as f64 / RUNS as f64
    };
    let (p, q) = (copy(&counts[0]), copy(&counts[1]));
    assert!(p > 0.15 && (p - q).abs() < 0.12, "copies: {p:.3} plain vs {q:.3} with drafts");
    let words = |c: &std::collections::HashMap<String, usize>| {
        let mut m = std::collections::HashMap::new();
        for (text, n) in c {
            let key: Vec<&str> = text.split_whitespace().take(2).collect();
            *m.entry(key.join(" ")).or_insert(0usize) += n;
        }
        m
    };
    let (a, b) = (words(&counts[0]), words(&counts[1]));
    let keys: std::collections::HashSet<&String> = a.keys().chain(b.keys()).collect();
    let share = |m: &std::collections::HashMap<String, usize>, k: &String| {
        *m.get(k).unwrap_or(&0) as f64 / RUNS as f64
    };
    let tv = keys.iter().map(|k| (share(&a, k) - share(&b, k)).abs()).sum::<f64>() / 2.0;
    assert!(tv < 0.2, "first two words: total variation {tv:.3}");
    assert!(spec_stats.accepted > 0 && spec_stats.drafted > spec_stats.accepted, "{spec_stats:?}");
}
