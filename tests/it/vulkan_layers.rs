//! The Vulkan backend against the CPU on every golden prompt, layer by layer (issue
//! 16.14): the prompt and the reference's continuation go through both backends, teacher
//! forced, and every layer's output, the final logits and the greedy choice are compared.
//! A kernel fault shows as a jump at one layer; rounding grows smoothly through them.

use std::sync::Arc;

use hearth::backend::cpu::CpuBackend;
use hearth::backend::{Backend, KvType};
use hearth::gguf::GgufFile;
use hearth::model::{Logits, Model};
use hearth::tokenizer::Tokenizer;

use crate::common::*;
use crate::vulkan::vulkan;

/// Every layer's output and the logits of every position, on the host.
struct Trace {
    /// `layers[il]`: that layer's hidden states of every position, in order.
    layers: Vec<Vec<f32>>,
    logits: Vec<f32>,
}

/// Runs `chunks` one after the other through `model` (a chunk of one token takes the
/// decode kernels, longer ones the prompt kernels), recording every layer's output.
fn trace<B: Backend>(model: &Model<B>, chunks: &[&[u32]], cache: KvType) -> Trace {
    let n: usize = chunks.iter().map(|c| c.len()).sum();
    let mut kv = model.new_kv(n.next_multiple_of(64), cache, cache).unwrap();
    let mut layers = vec![Vec::new(); model.hp.n_layer];
    let mut logits = Vec::new();
    let mut start = 0;
    for chunk in chunks {
        let mut tap =
            |il: usize, x: &B::Tensor| layers[il].extend(model.backend.to_host(x).unwrap());
        logits.extend(
            model.forward_tapped(&mut kv, chunk, start, Logits::All, Some(&mut tap)).unwrap(),
        );
        start += chunk.len();
    }
    Trace { layers, logits }
}

/// Normalized mean squared error of `got` against `want`, and the largest absolute
/// difference.
fn distance(got: &[f32], want: &[f32]) -> (f64, f64) {
    assert_eq!(got.len(), want.len());
    let (mut err, mut norm, mut max) = (0.0, 0.0, 0.0f64);
    for (&a, &b) in got.iter().zip(want) {
        let d = (a as f64 - b as f64).abs();
        err += d * d;
        norm += (b as f64) * (b as f64);
        max = max.max(d);
    }
    (err / norm, max)
}

/// The best token of a row of logits and its lead over the second best.
fn top2(row: &[f32]) -> (usize, f32) {
    let (mut best, mut second) = ((0, f32::NEG_INFINITY), f32::NEG_INFINITY);
    for (i, &v) in row.iter().enumerate() {
        if v > best.1 {
            second = best.1;
            best = (i, v);
        } else if v > second {
            second = v;
        }
    }
    (best.0, best.1 - second)
}

/// How far the Vulkan backend may stray from the CPU, as a multiple of how far the CPU
/// strays from itself when only its cache's rounding changes (f32 instead of f16 keys
/// and values), at the same layer of the same prompt; measured on lavapipe (AMD AVX2
/// host), Vulkan stayed within 3.2× (4.7× in max abs at one early layer). A faulty
/// kernel is off by orders of magnitude (nmse near 1).
const ROUNDING_FACTOR: f64 = 8.0;
/// The floor of the CPU's own spread (where an f32 cache changes next to nothing).
const NMSE_FLOOR: f64 = 1e-5;
/// The logits' largest difference: the CPU's own spread reached 1.42, Vulkan's 1.28.
const LOGITS_MAX_ABS: f64 = 2.5;

/// A CPU step whose top-2 gap is at least this is decided: it takes both logits moving
/// half of it the opposite ways. Vulkan parted from the CPU only at gaps under 0.35.
const DECISIVE_GAP: f32 = 1.0;

/// `got`'s distance from `want` is rounding's: within `ROUNDING_FACTOR` of `own`'s.
fn within_rounding(what: &str, got: &[f32], own: &[f32], want: &[f32]) -> (f64, f64) {
    let (e, max) = distance(got, want);
    let (e_own, max_own) = distance(own, want);
    eprintln!("{what}: nmse {e:.2e}, max abs {max:.3}; the CPU's own: {e_own:.2e}, {max_own:.3}");
    let bound = ROUNDING_FACTOR * e_own.max(NMSE_FLOOR);
    assert!(e < bound, "{what}: nmse {e:.2e} over {bound:.2e} (max abs {max})");
    (e, max)
}

/// Compares one golden case; returns how many steps were decisive.
fn compare_case(
    cpu: &Model<CpuBackend>,
    gpu: &Model<hearth::backend::vulkan::VulkanBackend>,
    tok: &Tokenizer,
    case: &serde_json::Value,
) -> usize {
    let prompt = case["prompt"].as_str().unwrap();
    let mut ids = tok.encode_prompt(prompt).unwrap();
    let n_prompt = ids.len();
    let ref_ids = case["ids"].as_array().unwrap().iter().take(16);
    ids.extend(ref_ids.map(|v| v.as_u64().unwrap() as u32));
    // The prompt as a batch, four decode steps, the rest as a batch again.
    let (p, rest) = ids.split_at(n_prompt);
    let (steps, tail) = rest.split_at(4);
    let mut chunks = vec![p];
    chunks.extend(steps.chunks(1));
    chunks.push(tail);
    let (want, got) = (trace(cpu, &chunks, KvType::F16), trace(gpu, &chunks, KvType::F16));
    let own = trace(cpu, &chunks, KvType::F32);
    let what = format!("{} {prompt:?}", case["model_file"].as_str().unwrap());
    for (il, (g, w)) in got.layers.iter().zip(&want.layers).enumerate() {
        within_rounding(&format!("{what} layer {il}"), g, &own.layers[il], w);
    }
    let (_, max) =
        within_rounding(&format!("{what} logits"), &got.logits, &own.logits, &want.logits);
    assert!(max < LOGITS_MAX_ABS, "{what}: logits max abs {max}");
    let n_vocab = cpu.hp.n_vocab;
    let mut decisive = 0;
    // Row r predicts token r + 1; the rows from the prompt's last one on are the steps.
    for r in n_prompt - 1..ids.len() - 1 {
        let (c, gap) = top2(&want.logits[r * n_vocab..(r + 1) * n_vocab]);
        let (g, _) = top2(&got.logits[r * n_vocab..(r + 1) * n_vocab]);
        if gap >= DECISIVE_GAP {
            assert_eq!(g, c, "{what}: step {}: the CPU's gap is {gap}", r + 1 - n_prompt);
            decisive += 1;
        }
    }
    decisive
}

// SmolLM2-135M in Q4_1 is the chaotic one (top logits often within 0.3, activations
// near q8_1 rounding edges), and the one lavapipe runs fast enough for every prompt;
// on the AMD host of issue 16.14 it parted from the CPU on "The capital of France is"
// at step 5, where the CPU's own gap is 0.34, with every layer within rounding.
#[test]
fn every_golden_prompt_stays_near_the_cpu_layer_by_layer() {
    if vulkan().is_none() {
        return;
    }
    let margins = golden_json("greedy-margins.json");
    let file = Arc::new(GgufFile::open(model_path(SMOLLM2)).unwrap());
    let tok = Tokenizer::from_gguf(file.metadata()).unwrap();
    let cpu = Model::load(Arc::clone(&file), CpuBackend).unwrap();
    let gpu = Model::load(file, vulkan().unwrap()).unwrap();
    let cases = margins["cases"].as_array().unwrap().iter();
    let decisive: usize = cases
        .filter(|c| c["model_file"] == SMOLLM2)
        .map(|c| compare_case(&cpu, &gpu, &tok, c))
        .sum();
    // Most steps are decisive (33 of 64 here): the greedy comparison is not vacuous.
    assert!(decisive >= 24, "only {decisive} decisive steps");
}
