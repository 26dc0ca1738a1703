//! Sessions of a hybrid model: its recurrent state cannot be cut back, so rolling back
//! and reusing a prefix go through checkpoints, and snapshots carry the state. Each
//! path must give what re-reading the tokens from scratch gives.

use std::sync::Arc;

use hearth::assistant::conversation;
use hearth::backend::cpu::CpuBackend;
use hearth::engine::session::{Session, CHECKPOINT_EVERY};
use hearth::gguf::GgufFile;
use hearth::model::Model;
use hearth::store::snapshots::{prepare, Binding};
use hearth::store::{Store, Turn};
use serde_json::json;

use crate::hybrid_models::{build, Hybrid};

fn model() -> Arc<Model<CpuBackend>> {
    let bytes = build(&Hybrid::tiny(false)).to_bytes().unwrap();
    let file = GgufFile::from_bytes("tiny-qwen35moe.gguf", bytes).unwrap();
    Arc::new(Model::load(Arc::new(file), CpuBackend).unwrap())
}

/// `n` token ids from a fixed stream (xorshift), below the tiny vocabulary's size.
fn tokens(seed: u64, n: usize) -> Vec<u32> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 256) as u32
        })
        .collect()
}

fn binding() -> Binding {
    Binding {
        model_sha256: "cd".repeat(32),
        arch: "qwen35moe".into(),
        n_ctx: 2048,
        kv_dtype: "f16/f16".into(),
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn argmax(x: &[f32]) -> u32 {
    (0..x.len()).max_by(|&a, &b| x[a].total_cmp(&x[b])).unwrap() as u32
}

/// `n` greedy tokens after logits `last`.
fn greedy(s: &mut Session<CpuBackend>, mut last: Vec<f32>, n: usize) -> Vec<u32> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(argmax(&last));
        last = s.decode(*out.last().unwrap()).unwrap();
    }
    out
}

/// The logits a fresh session gives for `prompt`.
fn reread(model: &Arc<Model<CpuBackend>>, prompt: &[u32]) -> Vec<f32> {
    Session::new(Arc::clone(model), 2048, 512).unwrap().prefill(prompt).unwrap()
}

#[test]
fn a_prompt_diverging_inside_the_history_resumes_from_the_checkpoint_before() {
    let model = model();
    let mut s = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    let history = tokens(1, CHECKPOINT_EVERY + 80);
    let last = s.prefill(&history).unwrap();
    greedy(&mut s, last, 3);
    // A prompt that leaves the history 30 tokens past the regular checkpoint.
    let mut prompt = history[..CHECKPOINT_EVERY + 30].to_vec();
    prompt.extend(tokens(2, 40));
    let rest = s.reuse_prefix(&prompt).to_vec();
    assert_eq!(rest.len(), prompt.len() - CHECKPOINT_EVERY, "resumed at the checkpoint");
    let got = s.prefill(&rest).unwrap();
    let d = max_diff(&got, &reread(&model, &prompt));
    assert!(d < 1e-3, "resumed logits differ from a re-read by {d}");
}

#[test]
fn regenerating_an_answer_resumes_before_the_prompts_last_token() {
    let model = model();
    let mut s = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    let prompt = tokens(3, 200);
    let first = s.prefill(&prompt).unwrap();
    let answer = greedy(&mut s, first.clone(), 6);
    // /regen: the same prompt again; only its last token is fed again.
    let rest = s.reuse_prefix(&prompt).to_vec();
    assert_eq!(rest, prompt[prompt.len() - 1..]);
    let again = s.prefill(&rest).unwrap();
    assert!(max_diff(&again, &first) < 1e-4);
    assert_eq!(greedy(&mut s, again, 6), answer);
    // The same after the session went through a snapshot.
    let mut restored = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    restored.import_kv(&s.export_kv().unwrap()).unwrap();
    assert_eq!(restored.reuse_prefix(&prompt), &prompt[prompt.len() - 1..]);
    let last = restored.prefill(&prompt[prompt.len() - 1..]).unwrap();
    assert_eq!(greedy(&mut restored, last, 6), answer);
}

#[test]
fn a_hybrid_session_resumes_from_its_stored_snapshot_with_the_tokens_of_a_reread() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("hearth.db")).unwrap();
    let row = store.create_session(Some("hybrid"), None, &json!({})).unwrap();
    // A turn: a prompt and its answer, saved as a snapshot with the state.
    let mut s = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    let prompt = tokens(4, 300);
    let last = s.prefill(&prompt).unwrap();
    greedy(&mut s, last, 10);
    let history = s.tokens().to_vec();
    let states = s.export_states().unwrap();
    assert_eq!(states.last().unwrap().0, history.len());
    let export = |a, b| s.export_kv_range(a..b);
    let snap = prepare(None, binding(), history.clone(), export, &states).unwrap();
    store.commit_turn(row.id, &Turn::default(), Some(&snap)).unwrap();
    // The next question, in a session restored from the store and in one that re-reads.
    let saved = store.load_snapshot(row.id).unwrap().unwrap();
    assert_eq!(saved.states.len(), states.len());
    let question = tokens(5, 25);
    let mut resumed = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    conversation::import(&mut resumed, &saved).unwrap();
    let last = resumed.prefill(&question).unwrap();
    let got = greedy(&mut resumed, last, 16);
    let mut fresh = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    let all: Vec<u32> = history.iter().chain(&question).copied().collect();
    let last = fresh.prefill(&all).unwrap();
    assert_eq!(got, greedy(&mut fresh, last, 16));
    // The single-blob snapshot too.
    let mut blob = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    blob.import_kv(&s.export_kv().unwrap()).unwrap();
    let last = blob.prefill(&question).unwrap();
    assert_eq!(greedy(&mut blob, last, 16), got);
    // A snapshot without the state is refused, never restored with a zero state.
    let stateless = hearth::store::SavedSnapshot { states: Vec::new(), ..saved };
    let mut none = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    let e = conversation::import(&mut none, &stateless).unwrap_err();
    assert!(e.to_string().contains("no recurrent state"), "{e}");
    assert!(none.tokens().is_empty());
}

#[test]
fn a_damaged_state_checkpoint_is_found_before_anything_is_restored() {
    let model = model();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    let mut store = Store::open(&path).unwrap();
    let row = store.create_session(Some("hybrid"), None, &json!({})).unwrap();
    let mut s = Session::new(Arc::clone(&model), 2048, 512).unwrap();
    s.prefill(&tokens(6, 50)).unwrap();
    let states = s.export_states().unwrap();
    let history = s.tokens().to_vec();
    let export = |a, b| s.export_kv_range(a..b);
    let snap = prepare(None, binding(), history, export, &states).unwrap();
    store.commit_turn(row.id, &Turn::default(), Some(&snap)).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // The state of the whole history (50 tokens): start −51.
    conn.execute("UPDATE kv_segments SET checksum = 'x' WHERE start = -51", []).unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    let e = store.load_snapshot(row.id).unwrap_err();
    assert_eq!(e.to_string(), "state checkpoint at token 50 fails its checksum");
}
