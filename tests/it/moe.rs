//! Mixture-of-experts models end to end (DESIGN.md "MoE test models"): tiny random models
//! of every architecture against an independent reference forward (`refmodel`), and real
//! dense models upcycled into MoE form (`testmodels`), which must reproduce the dense
//! model.
//!
//! Tolerances. The CPU backend rounds as llama.cpp does: each matmul's activations go
//! through the type ggml pairs with the weight (Q8_0/Q8_1/Q8_K/F16), K and V are f16,
//! attention sums values in f16. With 8-bit rounding the forward pass is a step function
//! of its inputs: two computations that differ by one f32 rounding (a summation order,
//! f64 against f32) agree until a value lands on the other side of a rounding step, and
//! differ by that step from there on, which later layers carry and multiply. Hence:
//! - one feed-forward/MoE block on one input, where every rounding sees the same values:
//!   nmse < 1e-8 (engine against engine) or < 1e-6 (against the f64 reference, which may
//!   flip a rare 8-bit step), and the router's choices identical;
//! - whole models: nmse below a bound set several times above the measured figures and
//!   below what a wrong architecture rule gives (each tiny model checks that a reference
//!   with one rule changed lands beyond `MIN_NMSE_MUTATED`); argmax identical on every
//!   row whose top-2 gap exceeds `ARGMAX_GAP`; greedy continuations identical.
//!
//! The reference's `Numerics::Ggml` mirrors where ggml rounds; against exact math
//! (`Numerics::Exact`) the engine sits at nmse 6e-5..3e-4 on the tiny models (printed by
//! each test, not asserted).

use std::sync::Arc;

use hearth::backend::cpu::CpuBackend;
use hearth::backend::{Backend, KvType};
use hearth::gguf::GgufFile;
use hearth::model::layers::{ffn, route, Act, Routing};
use hearth::model::weights::Ffn;
use hearth::model::{Logits, Model};
use hearth::tokenizer::Tokenizer;

use crate::common::{self, QWEN25_CODER, SMOLLM2};
use crate::refmodel::{Mutation, Numerics, RefModel, RefOut};
use crate::testmodels::{
    build_tiny, scale_pow2, tiny_models, truncate, upcycle, Rng, Router, Upcycle,
};

/// One block on one input, engine against engine (measured 1.5e-14..2e-13).
const MAX_NMSE_BLOCK: f64 = 1e-8;
/// One block on one input, engine against the ggml-rounded reference (measured up to
/// 3.2e-8: one flipped 8-bit step among 30 SmolLM2 layers; else ~1e-14).
const MAX_NMSE_BLOCK_REF: f64 = 1e-6;
/// A model of 1 to 6 layers end to end against the ggml-rounded reference (measured
/// 5e-15..1e-4 on the tiny models, 1.8e-5 on 1 layer of SmolLM2 with top-2 routing).
const MAX_NMSE_SHORT: f64 = 3e-4;
/// A reference with one architecture rule changed lands at least this far from the
/// engine (measured 1.4e-3..0.26).
const MIN_NMSE_MUTATED: f64 = 1e-3;
/// A 24- or 30-layer real model: upcycled against dense (measured 2.2e-4..5.7e-4), or
/// dense SmolLM2 against the reference (4.5e-4..6.1e-4).
const MAX_NMSE_UPCYCLED: f64 = 3e-3;
/// Rows whose best logit leads the second by more than this must agree on the argmax.
const ARGMAX_GAP: f32 = 0.5;
/// Router choices of the test prompts are at least this far from a tie (probability gap
/// between the k-th and the next expert), so rounding cannot flip them.
const MIN_ROUTE_MARGIN: f64 = 1e-3;

/// How two logit matrices `(rows, n_vocab)` differ.
#[derive(Debug)]
#[allow(dead_code)] // every field is read through Debug in failure messages
struct Diff {
    nmse: f64,
    max_abs: f64,
    rows: usize,
    /// Rows whose argmax differs, with the reference's top-2 gap there.
    argmax_differs: Vec<(usize, f32)>,
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best })
}

fn top2_gap(row: &[f32]) -> f32 {
    let best = argmax(row);
    let second = row
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != best)
        .map(|(_, &v)| v)
        .fold(f32::MIN, f32::max);
    row[best] - second
}

fn nmse(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "value count");
    let err: f64 = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w as f64).powi(2)).sum();
    let norm: f64 = want.iter().map(|&w| (w as f64).powi(2)).sum();
    err / norm
}

fn diff(got: &[f32], want: &[f32], n_vocab: usize) -> Diff {
    assert!(got.iter().all(|v| v.is_finite()), "non-finite logits");
    let max_abs =
        got.iter().zip(want).map(|(&g, &w)| (g as f64 - w as f64).abs()).fold(0.0, f64::max);
    let argmax_differs = got
        .chunks(n_vocab)
        .zip(want.chunks(n_vocab))
        .enumerate()
        .filter(|(_, (g, w))| argmax(g) != argmax(w))
        .map(|(r, (_, w))| (r, top2_gap(w)))
        .collect();
    Diff { nmse: nmse(got, want), max_abs, rows: want.len() / n_vocab, argmax_differs }
}

/// Asserts `got` is within `max_nmse` of `want` and agrees on every clear argmax.
fn assert_close(what: &str, got: &[f32], want: &[f32], n_vocab: usize, max_nmse: f64) -> Diff {
    let d = diff(got, want, n_vocab);
    eprintln!("{what}: {d:?}");
    assert!(d.nmse < max_nmse, "{what}: nmse {:e} ≥ {max_nmse:e}: {d:?}", d.nmse);
    assert!(
        d.argmax_differs.iter().all(|&(_, gap)| gap <= ARGMAX_GAP),
        "{what}: argmax differs on a clear row: {d:?}"
    );
    d
}

fn load(file: Arc<GgufFile>) -> Model<CpuBackend> {
    Model::load(file, CpuBackend).unwrap_or_else(|e| panic!("load: {e:#}"))
}

fn open(path: &std::path::Path) -> Arc<GgufFile> {
    Arc::new(GgufFile::open(path).unwrap_or_else(|e| panic!("{e:#}")))
}

/// The routing rule of an architecture, for calling the engine's `ffn` block directly.
fn routing(arch: &str) -> Routing {
    Routing { norm_topk: matches!(arch, "llama" | "qwen3moe") }
}

/// Runs `tokens` through the engine in three calls — a prompt, a continuation at
/// start > 0, and one single-token step — and returns the logits of every token.
fn engine_logits(model: &Model<CpuBackend>, tokens: &[u32]) -> Vec<f32> {
    let n = tokens.len();
    let (a, b) = (n - 4, n - 1);
    let mut kv = model.new_kv(n + 4, KvType::F16, KvType::F16).unwrap();
    let mut out = model.forward(&mut kv, &tokens[..a], 0, Logits::All).unwrap();
    out.extend(model.forward(&mut kv, &tokens[a..b], a, Logits::All).unwrap());
    out.extend(model.forward(&mut kv, &tokens[b..], b, Logits::Last).unwrap());
    out
}

/// Every MoE layer spreads the tokens over more experts than one token uses, tokens do
/// not all share one selection, and no choice is a near tie.
fn assert_routes_vary(what: &str, r: &RefOut, k: usize) {
    assert!(!r.routes.is_empty(), "{what}: no MoE layer");
    for (il, layer) in r.routes.iter().enumerate() {
        let mut used: Vec<u32> = layer.iter().flatten().copied().collect();
        used.sort_unstable();
        used.dedup();
        let mut sets: Vec<Vec<u32>> = layer
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.sort_unstable();
                s
            })
            .collect();
        sets.sort();
        sets.dedup();
        assert!(
            used.len() > k && sets.len() > 1,
            "{what}: layer {il} routes every token alike: {layer:?}"
        );
    }
    assert!(
        r.min_route_margin > MIN_ROUTE_MARGIN,
        "{what}: router near a tie ({:e})",
        r.min_route_margin
    );
}

/// What a feed-forward block should give on one input: the output rows and, for a MoE
/// block, the experts each row selects (best first).
type BlockWant = (Vec<f32>, Option<Vec<Vec<u32>>>);

/// The engine's feed-forward block of every layer on normed rows of `x` against
/// `want(il, h)`: output within `max_nmse`, and for MoE blocks the router's choices
/// identical. Returns the worst nmse.
fn check_blocks(
    what: &str,
    model: &Model<CpuBackend>,
    x: &[f32],
    max_nmse: f64,
    mut want: impl FnMut(usize, &[f32]) -> BlockWant,
) -> f64 {
    let (b, hp) = (&model.backend, &model.hp);
    let x = b.tensor(x.to_vec(), x.len() / hp.n_embd, hp.n_embd);
    let mut worst = 0f64;
    for (il, l) in model.weights.layers.iter().enumerate() {
        let h = b.rms_norm(&x, &l.ffn_norm, hp.rms_eps);
        let got = b.to_host(&ffn(b, hp, &l.ffn, &h, Act::Silu, routing(&hp.arch))).unwrap();
        let (y, routes) = want(il, &b.to_host(&h).unwrap());
        let e = nmse(&got, &y);
        assert!(e < max_nmse, "{what}: layer {il} block nmse {e:e}");
        worst = worst.max(e);
        if let (Some(routes), Ffn::Moe { router, .. }) = (routes, &l.ffn) {
            let (ids, _) = route(b, hp, router, &h, routing(&hp.arch));
            let ids: Vec<Vec<u32>> = ids.chunks(hp.n_expert_used).map(<[u32]>::to_vec).collect();
            assert_eq!(ids, routes, "{what}: layer {il} experts chosen");
        }
    }
    eprintln!("{what}: worst block nmse over {} layers {worst:e}", model.weights.layers.len());
    worst
}

// ---------------------------------------------------------------------------------------
// Tiny random models against the reference.

/// Mutations that must be visible on a model of `name`.
fn mutations(name: &str) -> &'static [Mutation] {
    use Mutation::*;
    match name {
        "llama-moe" => &[NormTopk, RopeMode],
        "qwen2moe" => &[NormTopk, NoSharedGate, RopeMode],
        "qwen3moe" => &[NormTopk, NoQkNorm],
        "olmoe" => &[NormTopk, NoQkNorm],
        "llama" | "qwen2" => &[RopeMode],
        "qwen3" => &[NoQkNorm, RopeMode],
        "gemma3" => &[NoWindow, GlobalRopeBase, NoQkNorm],
        _ => &[],
    }
}

/// A tiny random model (by `Tiny::name`) against the reference: prompt, continuation
/// and single-token decode end to end; each MoE block on its own; and the mutated
/// references far away.
fn check_tiny(name: &str) {
    let (i, t) = tiny_models().into_iter().enumerate().find(|(_, t)| t.name() == name).unwrap();
    let bytes = build_tiny(&t).to_bytes().unwrap();
    assert!(bytes.len() < 4 << 20, "{name}: {} bytes", bytes.len());
    let file = Arc::new(GgufFile::from_bytes(format!("tiny-{name}.gguf"), bytes).unwrap());
    let model = load(Arc::clone(&file));
    let hp = &model.hp;
    assert_eq!(
        (model.arch.name(), hp.n_expert, hp.n_expert_used),
        (t.arch, t.n_expert, t.n_expert_used)
    );
    let tokens = Rng::new(7 + i as u64).tokens(13, t.n_vocab);
    let got = engine_logits(&model, &tokens);
    let reference = || RefModel::new(&file, Numerics::Ggml);
    let want = reference().forward(&tokens);
    assert_close(&format!("tiny {name}"), &got, &want.logits, want.n_vocab, MAX_NMSE_SHORT);
    let exact = RefModel::new(&file, Numerics::Exact).forward(&tokens);
    eprintln!("tiny {name} vs exact math: {:?}", diff(&got, &exact.logits, exact.n_vocab));
    for &m in mutations(name) {
        let e = nmse(&got, &reference().mutated(m).forward(&tokens).logits);
        eprintln!("tiny {name} vs reference with {m:?} changed: nmse {e:e}");
        assert!(
            e > MIN_NMSE_MUTATED,
            "{name}: the reference with {m:?} changed is as close ({e:e})"
        );
    }
    if t.is_moe() {
        assert_routes_vary(name, &want, t.n_expert_used);
        eprintln!("tiny {name}: min router margin {:.3e}", want.min_route_margin);
        // Each MoE block on random unit-scale rows, engine against reference.
        let x = Rng::new(3).vec(13 * t.n_embd, 1.7);
        let r = reference();
        check_blocks(&format!("tiny {name} MoE"), &model, &x, MAX_NMSE_BLOCK_REF, |il, h| {
            let (y, routes) = r.moe_block(il, h);
            (y, Some(routes))
        });
    }
}

#[test]
fn random_mixtral_style_llama_moe_matches_reference() {
    check_tiny("llama-moe");
}

#[test]
fn random_qwen2moe_matches_reference() {
    check_tiny("qwen2moe");
}

#[test]
fn random_qwen3moe_matches_reference() {
    check_tiny("qwen3moe");
}

#[test]
fn random_olmoe_matches_reference() {
    check_tiny("olmoe");
}

#[test]
fn random_dense_llama_matches_reference() {
    check_tiny("llama");
}

#[test]
fn random_dense_qwen2_matches_reference() {
    check_tiny("qwen2");
}

#[test]
fn random_dense_qwen3_matches_reference() {
    check_tiny("qwen3");
}

#[test]
fn random_dense_gemma3_matches_reference() {
    check_tiny("gemma3");
}

// ---------------------------------------------------------------------------------------
// Dense models upcycled into MoE form.

#[test]
fn block_scales_multiply_every_type_exactly_by_powers_of_two() {
    use hearth::quant::{self, GgmlType::*};
    let x = Rng::new(9).vec(4 * 256, 2.0);
    for ty in [F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K] {
        let mut bytes = Vec::new();
        quant::quantize(ty, &x, &mut bytes).unwrap();
        let before = quant::dequantize_row_to_vec(ty, &bytes).unwrap();
        for factor in [2.0, 8.0, 16.0] {
            let mut scaled = bytes.clone();
            scale_pow2(ty, &mut scaled, factor);
            let after = quant::dequantize_row_to_vec(ty, &scaled).unwrap();
            assert!(before.iter().zip(&after).all(|(&b, &a)| b * factor == a), "{ty} × {factor}");
        }
    }
}

const PROMPT: &str = "def is_prime(n):\n    if n < 2:\n        return False\n    for i in";
const N_GREEDY: usize = 8;

/// Logits of every prompt token, then `N_GREEDY` greedy tokens, decoded one at a time.
fn prompt_and_greedy(model: &Model<CpuBackend>, prompt: &[u32]) -> (Vec<f32>, Vec<u32>) {
    let mut kv = model.new_kv(prompt.len() + N_GREEDY, KvType::F16, KvType::F16).unwrap();
    let logits = model.forward(&mut kv, prompt, 0, Logits::All).unwrap();
    let n_vocab = model.hp.n_vocab;
    let mut next = argmax(&logits[logits.len() - n_vocab..]) as u32;
    let mut greedy = vec![next];
    for pos in prompt.len()..prompt.len() + N_GREEDY - 1 {
        next = argmax(&model.forward(&mut kv, &[next], pos, Logits::Last).unwrap()) as u32;
        greedy.push(next);
    }
    (logits, greedy)
}

/// Logits of every prompt token, and the greedy choice after the prompt and after each
/// token of `continuation` but the last, from one forward pass over both (teacher
/// forcing: the model continues greedily with `continuation` iff the choices equal it).
fn prompt_and_forced(
    model: &Model<CpuBackend>,
    prompt: &[u32],
    continuation: &[u32],
) -> (Vec<f32>, Vec<u32>) {
    let tokens: Vec<u32> =
        prompt.iter().chain(&continuation[..continuation.len() - 1]).copied().collect();
    let mut kv = model.new_kv(tokens.len(), KvType::F16, KvType::F16).unwrap();
    let mut logits = model.forward(&mut kv, &tokens, 0, Logits::All).unwrap();
    let n_vocab = model.hp.n_vocab;
    let choices =
        logits.chunks(n_vocab).skip(prompt.len() - 1).map(|row| argmax(row) as u32).collect();
    logits.truncate(prompt.len() * n_vocab);
    (logits, choices)
}

/// The prompt's token embeddings, `(n, n_embd)`: realistic rows for block checks.
fn embeddings(model: &Model<CpuBackend>, prompt: &[u32]) -> Vec<f32> {
    model.backend.to_host(&model.backend.get_rows(&model.weights.token_embd, prompt)).unwrap()
}

/// Upcycles the real model `name` as `up` into a temp dir, and checks that the MoE file
/// reproduces the dense model: every layer's feed-forward block within rounding, the
/// prompt's logits, and the greedy continuation.
fn check_upcycled_equivalence(name: &str, up: Upcycle) {
    let dense_file = open(&common::model_path(name));
    let tok = Tokenizer::from_gguf(dense_file.metadata()).unwrap();
    let prompt = tok.encode_prompt(PROMPT).unwrap();
    assert!((12..=24).contains(&prompt.len()), "{} prompt tokens", prompt.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upcycled.gguf");
    upcycle(&dense_file, &up).write(&path).unwrap();
    let moe = load(open(&path));
    assert_eq!(
        (moe.arch.name(), moe.hp.n_expert, moe.hp.n_expert_used),
        (up.arch, up.n_expert, up.n_expert)
    );
    let dense = load(dense_file);
    let what = format!("{name} as {} with {} experts", up.arch, up.n_expert);
    // Each layer's MoE block equals the dense FFN on the same input.
    let x = embeddings(&dense, &prompt);
    let (b, hp) = (&dense.backend, &dense.hp);
    let dense_ffn = |il: usize, h: &[f32]| {
        let l = &dense.weights.layers[il];
        let h = b.tensor(h.to_vec(), h.len() / hp.n_embd, hp.n_embd);
        (b.to_host(&ffn(b, hp, &l.ffn, &h, Act::Silu, routing(&hp.arch))).unwrap(), None)
    };
    check_blocks(&what, &moe, &x, MAX_NMSE_BLOCK, dense_ffn);
    // The whole model, and its greedy continuation.
    let (want, want_greedy) = prompt_and_greedy(&dense, &prompt);
    let (got, got_greedy) = prompt_and_forced(&moe, &prompt, &want_greedy);
    assert_close(&what, &got, &want, dense.hp.n_vocab, MAX_NMSE_UPCYCLED);
    eprintln!(
        "{name} greedy: {:?}",
        tok.decode_bytes(&want_greedy).map(|b| String::from_utf8_lossy(&b).into_owned())
    );
    assert_eq!(got_greedy, want_greedy, "{what}: greedy continuation");
}

#[test]
fn upcycled_smollm2_llama_moe_matches_dense() {
    // 1536 FFN rows → 8 experts of 192 rows (6 Q4_1 blocks), all active, uniform router.
    check_upcycled_equivalence(
        SMOLLM2,
        Upcycle {
            arch: "llama",
            n_expert: 8,
            n_expert_used: 8,
            n_ff_shexp: 0,
            router: Router::Zero,
            down_scale: 8.0,
            shexp_down_scale: 1.0,
        },
    );
}

#[test]
fn upcycled_qwen25_coder_qwen2moe_matches_dense() {
    // 4864 rows → a 768-row shared expert + 16 experts of 256 rows (whole Q4_K/Q6_K
    // blocks of ffn_down), all active; zero gates give 1/16 and sigmoid(0) = 1/2.
    check_upcycled_equivalence(
        QWEN25_CODER,
        Upcycle {
            arch: "qwen2moe",
            n_expert: 16,
            n_expert_used: 16,
            n_ff_shexp: 768,
            router: Router::Zero,
            down_scale: 16.0,
            shexp_down_scale: 2.0,
        },
    );
}

#[test]
fn upcycled_smollm2_with_top2_routing_matches_reference() {
    // A random router choosing 2 of 8 experts; ffn_down × 4 keeps the output's scale.
    let dense_file = open(&common::model_path(SMOLLM2));
    let tok = Tokenizer::from_gguf(dense_file.metadata()).unwrap();
    let prompt = tok.encode_prompt(PROMPT).unwrap();
    let up = Upcycle {
        arch: "llama",
        n_expert: 8,
        n_expert_used: 2,
        n_ff_shexp: 0,
        router: Router::Random { seed: 11, scale: 1.0 },
        down_scale: 4.0,
        shexp_down_scale: 1.0,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upcycled-top2.gguf");
    upcycle(&dense_file, &up).write(&path).unwrap();
    let file = open(&path);
    let moe = load(Arc::clone(&file));
    // All 30 MoE blocks on the prompt's embeddings: same experts, same output.
    let what = "SmolLM2 top-2 of 8";
    let reference = RefModel::new(&file, Numerics::Ggml);
    let x = embeddings(&moe, &prompt);
    let mut routes = Vec::new();
    check_blocks(what, &moe, &x, MAX_NMSE_BLOCK_REF, |il, h| {
        let (y, r) = reference.moe_block(il, h);
        routes.push(r.clone());
        (y, Some(r))
    });
    let blocks = RefOut { logits: Vec::new(), n_vocab: 0, routes, min_route_margin: f64::INFINITY };
    assert_routes_vary(what, &blocks, 2);
    // End to end over the first layer only: SmolLM2's outlier features make one flipped
    // 8-bit step grow fast (measured nmse 1.8e-5 after 1 layer, 2.5e-5..3e-3 after 2,
    // 4e-4 after 4); a few layers on, a token picks another expert and the rows no
    // longer compare.
    let short = Arc::new(
        GgufFile::from_bytes("top2-short.gguf", truncate(&file, N_SHORT).to_bytes().unwrap())
            .unwrap(),
    );
    let got = engine_logits(&load(Arc::clone(&short)), &prompt);
    let want = RefModel::new(&short, Numerics::Ggml).forward(&prompt);
    let what = format!("{what}, first {N_SHORT} layer(s)");
    assert_close(&what, &got, &want.logits, want.n_vocab, MAX_NMSE_SHORT);
    assert_routes_vary(&what, &want, 2);
    eprintln!("{what}: min router margin {:.3e}", want.min_route_margin);
}

/// Layers of the top-2 SmolLM2 run end to end against the reference (see above).
const N_SHORT: usize = 1;

#[test]
fn dense_smollm2_matches_reference() {
    // The reference on a real 30-layer model (the dense form of the upcycled ones).
    let file = open(&common::model_path(SMOLLM2));
    let prompt = Tokenizer::from_gguf(file.metadata()).unwrap().encode_prompt(PROMPT).unwrap();
    let got = engine_logits(&load(Arc::clone(&file)), &prompt);
    let want = RefModel::new(&file, Numerics::Ggml).forward(&prompt);
    assert_close("dense SmolLM2", &got, &want.logits, want.n_vocab, MAX_NMSE_UPCYCLED);
}

#[test]
fn zero_router_ties_go_to_the_lowest_experts() {
    // Every expert has probability 1/8: the top 2 are experts 0 and 1, for every token.
    let mut t = tiny_models().into_iter().find(|t| t.name() == "llama-moe").unwrap();
    t.router_gain = 0.0;
    let file = Arc::new(
        GgufFile::from_bytes("tiny-tied-router.gguf", build_tiny(&t).to_bytes().unwrap()).unwrap(),
    );
    let model = load(Arc::clone(&file));
    let tokens = Rng::new(1).tokens(13, t.n_vocab);
    let want = RefModel::new(&file, Numerics::Ggml).forward(&tokens);
    assert!(want.routes.iter().flatten().all(|r| r == &[0, 1]), "{:?}", want.routes);
    assert_close(
        "tiny llama-moe, zero router",
        &engine_logits(&model, &tokens),
        &want.logits,
        want.n_vocab,
        MAX_NMSE_SHORT,
    );
    let x = Rng::new(3).vec(13 * t.n_embd, 1.7);
    let r = RefModel::new(&file, Numerics::Ggml);
    check_blocks("tiny llama-moe, zero router", &model, &x, MAX_NMSE_BLOCK_REF, |il, h| {
        let (y, routes) = r.moe_block(il, h);
        (y, Some(routes))
    });
}

/// `hearth bench` on an upcycled MoE (SmolLM2, 2 layers, top-2 of 4 experts): both
/// tests run, and the bytes read per token count 2 of 4 experts' weights.
#[test]
fn bench_runs_on_an_upcycled_moe() {
    let dir = tempfile::tempdir().unwrap();
    let path = crate::testmodels::upcycled(&common::model_path(SMOLLM2), dir.path(), 2);
    let args = ["bench", "-m", path.to_str().unwrap(), "-p", "16", "-n", "4", "-r", "1"];
    let out = common::run(&[&args[..], &["--json", "--roofline"]].concat());
    assert!(out.status.success(), "{}", common::stderr(&out));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["arch"], "llama");
    let file = open(&path);
    let experts: u64 =
        file.tensors().iter().filter(|t| t.name.contains("_exps.")).map(|t| t.n_bytes).sum();
    let all: u64 = file.tensors().iter().map(|t| t.n_bytes).sum();
    let embd = file.tensor("token_embd.weight").unwrap().n_bytes;
    // Tied embeddings: read whole as the output matrix.
    assert!(file.tensor("output.weight").is_none() && embd > 0);
    assert_eq!(rows[0]["bytes_per_token"].as_u64().unwrap(), all - experts / 2);
}
