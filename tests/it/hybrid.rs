//! The hybrid architectures (qwen35, qwen35moe) against llama.cpp's figures for the same
//! tiny random files (`tests/golden/hybrid.json`): logits, perplexity through the CLI,
//! greedy tokens where the reference's choice is decisive; chunked prefill against
//! token-by-token decoding; and deliberately wrong variants that the same checks catch.

use std::sync::Arc;

use hearth::backend::cpu::CpuBackend;
use hearth::backend::{Backend, KvType};
use hearth::engine::session::Session;
use hearth::gguf::{Array, GgufFile, GgufWriter, Value};
use hearth::model::{Logits, Model};
use hearth::tokenizer::Tokenizer;
use serde_json::Value as Json;

use crate::common::{fixture, golden_json, run, stdout};
use crate::hybrid_models::{build, Hybrid};

const ARCHS: [(&str, bool); 2] = [("qwen35", true), ("qwen35moe", false)];
/// Largest logit difference allowed against the reference: 1.5× what rounding alone
/// moves our logits by — the distance between an f16 and an f32 KV cache, on the same
/// tokens (the tiny models' logits spread ±10, which magnifies rounding).
fn tolerance(model: &Arc<Model<CpuBackend>>, tokens: &[u32]) -> f32 {
    let types = (KvType::F32, KvType::F32);
    let mut exact = Session::with_cache_types(Arc::clone(model), 256, 512, types).unwrap();
    let spread = max_diff(&exact.prefill_all(tokens).unwrap(), &logits(model, tokens, 512));
    1.5 * spread.max(0.01)
}

fn load(w: &GgufWriter, name: &str) -> Arc<Model<CpuBackend>> {
    let file = GgufFile::from_bytes(name, w.to_bytes().unwrap()).unwrap();
    Arc::new(Model::load(Arc::new(file), CpuBackend).unwrap())
}

fn golden(arch: &str) -> Json {
    golden_json("hybrid.json")["models"][arch].clone()
}

fn ids(v: &Json) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn ref_logits(g: &Json) -> Vec<f32> {
    let rows = g["logits"].as_array().unwrap();
    rows.iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Logits of every token of `tokens`, fed `batch` at a time.
fn logits(model: &Arc<Model<CpuBackend>>, tokens: &[u32], batch: usize) -> Vec<f32> {
    let mut s = Session::new(Arc::clone(model), 256, batch).unwrap();
    s.prefill_all(tokens).unwrap()
}

#[test]
fn tiny_hybrids_give_the_reference_logits_in_any_batching() {
    for (arch, dense) in ARCHS {
        let w = build(&Hybrid::tiny(dense));
        let g = golden(arch);
        let tok = Tokenizer::from_gguf(w.metadata()).unwrap();
        let prompt = tok.encode(g["prompt"].as_str().unwrap(), false, true).unwrap();
        assert_eq!(prompt, ids(&g["prompt_tokens"]), "{arch}: tokens");
        let model = load(&w, arch);
        let whole = logits(&model, &prompt, 512);
        let err = max_diff(&whole, &ref_logits(&g));
        let tol = tolerance(&model, &prompt);
        assert!(err < tol, "{arch}: logits {err} from the reference (tolerance {tol})");
        // Chunked prefill, token by token, and uneven batches agree within rounding.
        for batch in [1, 5] {
            let d = max_diff(&logits(&model, &prompt, batch), &whole);
            assert!(d < 1e-3, "{arch}: batches of {batch} differ by {d}");
        }
    }
}

#[test]
fn tiny_hybrids_choose_the_reference_greedy_tokens_where_it_is_decisive() {
    // Decoding one token at a time along the reference's greedy path, every step where
    // its top two logits are at least 0.5 apart must pick its token.
    for (arch, dense) in ARCHS {
        let w = build(&Hybrid::tiny(dense));
        let g = golden(arch);
        let model = load(&w, arch);
        let mut s = Session::new(Arc::clone(&model), 256, 512).unwrap();
        let mut last = s.prefill(&ids(&g["prompt_tokens"])).unwrap();
        let (want, gaps) = (ids(&g["greedy"]["ids"]), g["greedy"]["gaps"].as_array().unwrap());
        let mut decisive = 0;
        for (step, (&id, gap)) in want.iter().zip(gaps).enumerate() {
            if gap.as_f64().unwrap() >= 0.5 {
                assert_eq!(argmax(&last), id, "{arch}: greedy step {step}");
                decisive += 1;
            }
            last = s.decode(id).unwrap();
        }
        assert!(decisive >= 16, "{arch}: only {decisive} decisive steps of {}", want.len());
    }
}

/// The byte a byte-level token id stands for (the tiny vocabulary lists the bytes in
/// order).
fn byte_of(id: u32) -> u8 {
    u8::try_from(id).unwrap_or_else(|_| panic!("token {id} is not a byte token"))
}

fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

#[test]
fn hearth_perplexity_of_tiny_hybrids_is_the_reference_within_one_percent() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, dense) in ARCHS {
        let g = golden(arch);
        let p = &g["perplexity"];
        let text = std::fs::read(fixture("golden/perplexity-text.txt")).unwrap();
        let text_path = dir.path().join("text.txt");
        std::fs::write(&text_path, &text[..p["bytes"].as_u64().unwrap() as usize]).unwrap();
        let model_path = dir.path().join(format!("{arch}.gguf"));
        build(&Hybrid::tiny(dense)).write(&model_path).unwrap();
        let n_ctx = p["n_ctx"].to_string();
        let out = run(&[
            "perplexity",
            "-m",
            model_path.to_str().unwrap(),
            "-f",
            text_path.to_str().unwrap(),
            "-c",
            &n_ctx,
            "--json",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: Json = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(got["tokens"], p["tokens"], "{arch}: tokens of the text");
        let (ppl, want) = (got["ppl"].as_f64().unwrap(), p["ppl"].as_f64().unwrap());
        assert!((ppl / want - 1.0).abs() < 0.01, "{arch}: ppl {ppl} vs reference {want}");
    }
}

#[test]
fn run_and_inspect_show_a_tiny_hybrid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-qwen35moe.gguf");
    build(&Hybrid::tiny(false)).write(&path).unwrap();
    let out = run(&["inspect", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("layer pattern: 3 gated DeltaNet + 1 attention (R R R A), 1 MTP"),
        "{text}"
    );
    // `run` prints the bytes of the reference's greedy tokens (byte tokens, all of them).
    let g = golden("qwen35moe");
    let want: Vec<u8> = ids(&g["greedy"]["ids"])[..4].iter().map(|&i| byte_of(i)).collect();
    let out = run(&[
        "run",
        "-m",
        path.to_str().unwrap(),
        "-p",
        g["prompt"].as_str().unwrap(),
        "-n",
        "4",
        "--temp",
        "0",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out), format!("{}\n", String::from_utf8_lossy(&want)));
}

// ---------------------------------------------------------------------------------------
// Deliberately wrong variants: the logit check above fails any model more than its
// tolerance from the reference; each of these must be at least twice that far.

/// The reference logits' distance from a model that is `w` changed by `mutate`.
/// How many times the tolerance the changed model misses the reference by.
fn distance_after(dense: bool, mutate: impl Fn(&mut GgufWriter)) -> f32 {
    let arch = if dense { "qwen35" } else { "qwen35moe" };
    let mut w = build(&Hybrid::tiny(dense));
    let g = golden(arch);
    let prompt = ids(&g["prompt_tokens"]);
    let tol = tolerance(&load(&w, arch), &prompt);
    mutate(&mut w);
    max_diff(&logits(&load(&w, arch), &prompt, 512), &ref_logits(&g)) / tol
}

#[test]
fn wrong_rope_sections_miss_the_reference() {
    // Sections claiming every pair: the pair the file's sections leave unrotated turns.
    let d = distance_after(true, |w| {
        w.set("qwen35.rope.dimension_sections", Value::Array(Array::I32(vec![4, 4, 4, 0])));
    });
    assert!(d > 2.0, "rope sections ignored: {d}× the tolerance");
}

#[test]
fn an_ungated_attention_misses_the_reference() {
    // Zero gate rows in the query projection: sigmoid(0) = ½ everywhere instead of the
    // gate's values.
    let d = distance_after(false, |w| {
        let (info, bytes) = w.tensor_mut("blk.3.attn_q.weight").unwrap();
        let h = Hybrid::tiny(false);
        let row = info.ty.bytes_for(info.dims[0]).unwrap() as usize;
        for head in 0..h.n_head {
            for r in 0..h.head_dim {
                let at = (head * 2 * h.head_dim + h.head_dim + r) * row;
                bytes[at..at + row].fill(0);
            }
        }
    });
    assert!(d > 2.0, "the output gate made no difference: {d}× the tolerance");
}

#[test]
fn a_state_not_carried_over_misses_the_reference() {
    // The prompt in two calls with the recurrent state cleared between them.
    let g = golden("qwen35moe");
    let model = load(&build(&Hybrid::tiny(false)), "qwen35moe");
    let prompt = ids(&g["prompt_tokens"]);
    let b = &model.backend;
    let mut kv = model.new_kv(64, Default::default(), Default::default()).unwrap();
    let mut got = model.forward(&mut kv, &prompt[..6], 0, Logits::All).unwrap();
    b.state_clear(&mut kv);
    got.extend(model.forward(&mut kv, &prompt[6..], 6, Logits::All).unwrap());
    let d = max_diff(&got, &ref_logits(&g)) / tolerance(&model, &prompt);
    assert!(d > 2.0, "a lost state went unnoticed: {d}× the tolerance");
}
