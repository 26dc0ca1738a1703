//! The CPU engine on the real models: greedy continuations and perplexity against the
//! reference engine's figures (tests/golden), and the bad-input rules of run/perplexity.

use crate::common::{self, assert_fails, golden_json, run, stdout};
use hearth::quant::dot::Level;

/// The greedy continuation of `prompt`, `n` tokens, as `hearth run` prints it.
fn greedy(model: &str, prompt: &str, n: usize) -> String {
    let path = common::model_path(model);
    let out = run(&[
        "run",
        "-m",
        path.to_str().unwrap(),
        "-p",
        prompt,
        "-n",
        &n.to_string(),
        "--temp",
        "0",
        "-c",
        "512",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = stdout(&out);
    text.strip_suffix('\n').expect("run ends its output with a newline").to_string()
}

/// A reference step whose top-2 logit gap is below this is a tie that rounding decides.
const DECISIVE_GAP: f64 = 0.5;

/// The reference's first tokens up to its first near-tie (at most 16), as text: where
/// both reference runs (greedy.json and greedy-margins.json) agree and every step's
/// top-2 gap is at least `DECISIVE_GAP`.
fn decisive_prefix(
    tok: &hearth::tokenizer::Tokenizer,
    case: &serde_json::Value,
    golden: &str,
) -> (usize, String) {
    let ids: Vec<u32> =
        case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let gaps = case["top2_gap"].as_array().unwrap();
    let mut prefix = (0, String::new());
    for k in 0..16.min(ids.len()) {
        let text = tok.decode(&ids[..=k]).unwrap();
        if gaps[k].as_f64().unwrap() < DECISIVE_GAP || !golden.starts_with(&text) {
            break;
        }
        prefix = (k + 1, text);
    }
    prefix
}

#[test]
fn greedy_continuations_match_the_reference_up_to_its_first_near_tie() {
    let golden = golden_json("greedy.json");
    let margins = golden_json("greedy-margins.json");
    let mut decisive_tokens = 0;
    for (case, m) in
        golden["cases"].as_array().unwrap().iter().zip(margins["cases"].as_array().unwrap())
    {
        let model = case["model_file"].as_str().unwrap();
        let prompt = case["prompt"].as_str().unwrap();
        assert_eq!((m["model_file"].as_str(), m["prompt"].as_str()), (Some(model), Some(prompt)));
        let file = hearth::gguf::GgufFile::open(common::model_path(model)).unwrap();
        let tok = hearth::tokenizer::Tokenizer::from_gguf(file.metadata()).unwrap();
        let (n, want) = decisive_prefix(&tok, m, case["continuation"].as_str().unwrap());
        let got = greedy(model, prompt, 16);
        assert!(!got.trim().is_empty(), "{model} {prompt:?}: nothing generated");
        assert!(
            got.starts_with(&want),
            "{model} {prompt:?}: first {n} tokens\n  got  {got:?}\n  want {want:?}"
        );
        decisive_tokens += n;
    }
    // Most steps are decisive: the comparison is not vacuous.
    assert!(decisive_tokens >= 40, "only {decisive_tokens} decisive reference tokens");
}

fn perplexity(model: &str, n_ctx: usize) -> serde_json::Value {
    perplexity_with(model, n_ctx, &[])
}

fn perplexity_with(model: &str, n_ctx: usize, extra: &[&str]) -> serde_json::Value {
    let path = common::model_path(model);
    let text = common::fixture("golden/perplexity-text.txt");
    let ctx = n_ctx.to_string();
    let args = [
        "perplexity",
        "-m",
        path.to_str().unwrap(),
        "-f",
        text.to_str().unwrap(),
        "-c",
        &ctx,
        "--json",
    ];
    let out = run(&[&args[..], extra].concat());
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).expect("perplexity --json prints one object")
}

#[test]
fn perplexity_is_within_one_percent_of_the_reference() {
    let golden = golden_json("perplexity.json");
    for r in golden["results"].as_array().unwrap() {
        let n_ctx = r["n_ctx"].as_u64().unwrap() as usize;
        if n_ctx != 128 {
            continue; // one context size keeps the suite fast; 256 is covered by the bench notes
        }
        let model = r["model_file"].as_str().unwrap();
        let want = r["ppl"].as_f64().unwrap();
        let got = perplexity(model, n_ctx);
        assert_eq!(got["chunks"], r["chunks"], "{model}: chunk count");
        let ppl = got["ppl"].as_f64().unwrap();
        let rel = (ppl - want).abs() / want;
        assert!(
            rel < 0.01,
            "{model} n_ctx {n_ctx}: ppl {ppl:.4} vs reference {want:.4} ({:.2}%)",
            rel * 100.0
        );
    }
}

/// `-ctk`/`-ctv`: an f32 cache stays within 1% of the reference perplexity (measured
/// 8.2240 vs 8.2214 on SmolLM2 at -c 128), q8_0 keys and values within 2% (8.2656).
#[test]
fn kv_cache_types_keep_perplexity_near_the_reference() {
    let golden = golden_json("perplexity.json");
    let want = golden["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model_file"] == common::SMOLLM2 && r["n_ctx"] == 128)
        .unwrap()["ppl"]
        .as_f64()
        .unwrap();
    for (flags, max) in
        [(["-ctk", "f32", "-ctv", "f32"], 0.01), (["-ctk", "q8_0", "-ctv", "q8_0"], 0.02)]
    {
        let ppl = perplexity_with(common::SMOLLM2, 128, &flags)["ppl"].as_f64().unwrap();
        assert!((ppl / want - 1.0).abs() < max, "{flags:?}: ppl {ppl} vs reference {want}");
    }
    let m = common::model_path(common::SMOLLM2);
    let out = run(&["run", "-m", m.to_str().unwrap(), "-p", "hi", "-n", "1", "-ctv", "q4_0"]);
    // A usage error from the argument parser: exit 2, the reason named.
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("'q4_0' is not one of f32, f16, q8_0"));
}

#[test]
fn run_refuses_bad_numbers_and_prompts() {
    let path = common::model_path(common::SMOLLM2);
    let m = path.to_str().unwrap();
    assert_fails(&run(&["run", "-m", m, "-p", "hi", "-n", "0"]), 2, "-n 0");
    assert_fails(&run(&["run", "-m", m, "-p", "", "-n", "4"]), 2, "the prompt is empty");
    assert_fails(
        &run(&["run", "-m", m, "-p", "hi", "-t", "0"]),
        2,
        "-t/--threads must be at least 1",
    );
    let long = "word ".repeat(200);
    assert_fails(&run(&["run", "-m", m, "-p", &long, "-c", "64"]), 2, "raise -c/--ctx-size");
    // stdin is not a terminal here (it is empty), so it is read as the prompt.
    assert_fails(&run(&["run", "-m", m]), 2, "the prompt is empty");
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpt2.gguf");
    let mut w = hearth::gguf::GgufWriter::new();
    w.set_str("general.architecture", "gpt2");
    w.set_str("tokenizer.ggml.model", "gpt2");
    w.set_str("tokenizer.ggml.pre", "gpt2");
    w.set(
        "tokenizer.ggml.tokens",
        hearth::gguf::Value::Array(hearth::gguf::Array::String(vec!["a".into(), "b".into()])),
    );
    w.set(
        "tokenizer.ggml.merges",
        hearth::gguf::Value::Array(hearth::gguf::Array::String(vec!["a b".into()])),
    );
    w.write(&path).unwrap();
    let out = run(&["run", "-m", path.to_str().unwrap(), "-p", "a", "-n", "1"]);
    assert_fails(&out, 2, "architecture \"gpt2\" is not supported (supported: llama, qwen2");
}

/// A llama header with a one-layer manifest's worth of metadata and the tensors given.
fn tiny_llama(dir: &std::path::Path, tensors: &[(&str, &[u64])]) -> std::path::PathBuf {
    let path = dir.join("tiny.gguf");
    let mut w = hearth::gguf::GgufWriter::new();
    w.set_str("general.architecture", "llama");
    for (k, v) in [("block_count", 1), ("embedding_length", 32), ("attention.head_count", 4)] {
        w.set_u32(format!("llama.{k}"), v);
    }
    w.set_u32("llama.context_length", 64).set_u32("llama.feed_forward_length", 64);
    w.set_u32("llama.vocab_size", 16).set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5);
    for (name, dims) in tensors {
        let n: u64 = dims.iter().product();
        w.add_f32(*name, dims, &vec![0.0; n as usize]).unwrap();
    }
    w.write(&path).unwrap();
    path
}

#[test]
fn missing_and_misshapen_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny_llama(dir.path(), &[("token_embd.weight", &[32, 16])]);
    let out = run(&["run", "-m", path.to_str().unwrap(), "-p", "a", "-n", "1"]);
    assert_fails(
        &out,
        2,
        "tensor 'output_norm.weight': required tensor is missing (expected shape [32])",
    );
    let path =
        tiny_llama(dir.path(), &[("token_embd.weight", &[32, 15]), ("output_norm.weight", &[32])]);
    let out = run(&["run", "-m", path.to_str().unwrap(), "-p", "a", "-n", "1"]);
    assert_fails(&out, 2, "tensor 'token_embd.weight': expected shape [32, 16], found [32, 15]");
}

#[test]
fn missing_hyperparameters_are_listed_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bare.gguf");
    let mut w = hearth::gguf::GgufWriter::new();
    w.set_str("general.architecture", "qwen3moe");
    w.write(&path).unwrap();
    let out = run(&["run", "-m", path.to_str().unwrap(), "-p", "a", "-n", "1"]);
    assert_fails(&out, 2, "missing metadata keys: qwen3moe.embedding_length, qwen3moe.block_count");
}

/// Each kernel level (forced with `HEARTH_CPU_KERNELS`) scores the same text alike: the
/// AVX2 and AVX-512 VNNI kernels form the same integer sums and so the same perplexity
/// to the last digit. The scalar oracle sums in another order, and the 135M model
/// amplifies that: one flipped activation rounding per layer leaves logits ~5e-4 apart
/// (nmse) already at the first position, and this 150-token text at -c 64 moved 1.9%
/// (the full text at -c 128 moves 0.4%). So: within 3%, a check that the scalar path runs
/// the same model, while `quant::dot` tests each kernel against the scalar one tightly.
#[test]
fn every_kernel_level_scores_a_text_alike() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::fixture("golden/perplexity-text.txt")).unwrap();
    let short = dir.path().join("short.txt");
    std::fs::write(&short, &text[..text.char_indices().nth(600).unwrap().0]).unwrap();
    let model = common::model_path(common::SMOLLM2);
    let args = ["perplexity", "-m", model.to_str().unwrap(), "-f", short.to_str().unwrap()];
    let ppl_at = |level: &str| {
        let out = common::hearth()
            .args(args)
            .args(["-c", "64", "--json"])
            .env("HEARTH_CPU_KERNELS", level)
            .output()
            .unwrap();
        assert!(out.status.success(), "{level}: {}", common::stderr(&out));
        assert!(!common::stderr(&out).contains("HEARTH_CPU_KERNELS"), "{level} is supported");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["ppl"].as_f64().unwrap()
    };
    let scalar = ppl_at("scalar");
    let simd: Vec<f64> = Level::ALL
        .into_iter()
        .filter(|&l| l != Level::Scalar && l.supported())
        .map(|l| ppl_at(l.name()))
        .collect();
    for &p in &simd {
        assert!((p / scalar - 1.0).abs() < 0.03, "simd {p} vs scalar {scalar}");
        // The SIMD levels form the same integer sums; only VNNI's Q8_0 kernel, which
        // takes its weights' bias off as a min, adds them up in another float order.
        assert!((p / simd[0] - 1.0).abs() < 1e-6, "the SIMD levels differ: {simd:?}");
    }
}

#[test]
fn bench_json_reports_each_test() {
    let path = common::model_path(common::SMOLLM2);
    let m = path.to_str().unwrap();
    let out = run(&["bench", "-m", m, "-p", "8", "-n", "4", "-r", "2", "--json", "--roofline"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["test"].as_str(), rows[1]["test"].as_str()), (Some("pp8"), Some("tg4")));
    let size = rows[0]["model_size"].as_f64().unwrap();
    let per_token = rows[0]["bytes_per_token"].as_f64().unwrap();
    assert!(per_token > 0.5 * size && per_token < size, "{per_token} of {size}");
    assert!(rows[0]["read_bandwidth"].as_f64().unwrap() > 1e8);
    assert!(rows[1]["roofline_fraction"].as_f64().unwrap() > 0.0);
    assert!(rows[0].get("roofline_fraction").is_none(), "pp has no bandwidth bound");
    for r in rows {
        assert!(r["tokens_per_second"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["kernels"].as_str().is_some() && r["peak_rss"].as_u64().unwrap() > 0, "{r}");
        assert!(
            r["stddev"].as_f64().is_some() && r["samples"].as_array().unwrap().len() == 2,
            "{r}"
        );
    }
    assert_fails(&run(&["bench", "-m", m, "-p", "0", "-n", "0"]), 2, "nothing to measure");
    assert_fails(&run(&["bench", "-m", m, "-r", "0"]), 2, "-r/--repetitions must be at least 1");
}
