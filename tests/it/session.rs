//! `engine::Session` on a real model: prefix reuse, rollback, and KV snapshots that
//! restore exactly and refuse what they were not made for.

use std::sync::Arc;

use hearth::backend::cpu::CpuBackend;
use hearth::engine::session::Session;
use hearth::gguf::GgufFile;
use hearth::model::Model;
use hearth::tokenizer::Tokenizer;

use crate::common;

fn smollm2() -> (Arc<Model<CpuBackend>>, Tokenizer) {
    let file = Arc::new(GgufFile::open(common::model_path(common::SMOLLM2)).unwrap());
    let tok = Tokenizer::from_gguf(file.metadata()).unwrap();
    (Arc::new(Model::load(file, CpuBackend).unwrap()), tok)
}

fn argmax(logits: &[f32]) -> usize {
    (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap()
}

#[test]
fn snapshot_restores_the_cache_exactly() {
    let (model, tok) = smollm2();
    let prompt = tok.encode("fn main() { println!(\"hello\"); }", false, true).unwrap();
    let mut a = Session::new(model.clone(), 64, 8).unwrap();
    a.prefill(&prompt).unwrap();
    let snap = a.export_kv().unwrap();
    let next = a.decode(42).unwrap();

    let mut b = Session::new(model.clone(), 64, 8).unwrap();
    b.import_kv(&snap).unwrap();
    assert_eq!(b.tokens(), &prompt[..]);
    assert_eq!(b.decode(42).unwrap(), next, "restored cache gives the same logits");

    // Bound to the context size; a refused import leaves the session as it was.
    let mut c = Session::new(model.clone(), 128, 8).unwrap();
    let e = c.import_kv(&snap).unwrap_err();
    assert!(e.to_string().contains("another context size"), "{e}");
    assert!(c.tokens().is_empty());
    // Corrupt or cut snapshots are errors, not panics.
    assert!(b.import_kv(&snap[..snap.len() - 3]).is_err());
    let mut flipped = snap.clone();
    flipped[10] ^= 1; // inside the model hash
    assert!(b.import_kv(&flipped).unwrap_err().to_string().contains("another model file"));
}

#[test]
fn prefix_reuse_and_rollback_give_the_logits_of_a_fresh_session() {
    let (model, tok) = smollm2();
    let first = tok.encode("The quick brown fox", false, true).unwrap();
    let longer = tok.encode("The quick brown fox jumps over the lazy dog", false, true).unwrap();
    assert!(longer.starts_with(&first));
    let mut fresh = Session::new(model.clone(), 64, 4).unwrap();
    let want = fresh.prefill(&longer).unwrap();

    let mut s = Session::new(model.clone(), 64, 4).unwrap();
    s.prefill(&first).unwrap();
    s.decode(999).unwrap(); // a token the next prompt does not share
    let todo = s.reuse_prefix(&longer).to_vec();
    assert_eq!(todo.len(), longer.len() - first.len(), "the shared prefix is not processed again");
    let got = s.prefill(&todo).unwrap();
    assert_eq!(argmax(&got), argmax(&want));
    let max_diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max_diff < 1e-3, "max diff {max_diff}");

    // The same prompt again still processes its last token (its logits are needed).
    assert_eq!(s.reuse_prefix(&longer).len(), 1);
}

#[test]
fn context_overflow_is_an_error_before_any_work() {
    let (model, _) = smollm2();
    let mut s = Session::new(model, 8, 4).unwrap();
    let e = s.prefill(&[1; 9]).unwrap_err();
    assert!(e.to_string().contains("do not fit the context"), "{e}");
    assert!(s.tokens().is_empty());
    s.prefill(&[1; 8]).unwrap();
    assert!(s.decode(1).is_err());
}

#[test]
fn streamed_generation_sends_text_then_done_and_stops_on_cancel() {
    use hearth::engine::sampler::{Sampler, SamplerParams};
    use hearth::engine::stream::{spawn, Event, Job};
    use std::sync::atomic::{AtomicBool, Ordering};

    let (model, tok) = smollm2();
    let tok = Arc::new(tok);
    let prompt = tok.encode("The capital of France is", false, true).unwrap();
    let greedy = || Sampler::new(SamplerParams { temp: 0.0, ..SamplerParams::default() }).unwrap();
    let job = |n| Job {
        prompt: prompt.clone(),
        max_tokens: Some(n),
        ignore_eos: true,
        stop: vec![],
        spec: None,
    };

    let session = Session::new(model.clone(), 64, 8).unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let (rx, handle) = spawn(session, tok.clone(), greedy(), job(6), cancel);
    let events: Vec<Event> = rx.iter().collect();
    let text: String = events
        .iter()
        .filter_map(|e| if let Event::Text(t) = e { Some(t.as_str()) } else { None })
        .collect();
    assert!(matches!(events.last(), Some(Event::Done(s)) if s.n_generated == 6), "{events:?}");
    assert!(text.starts_with(" Paris"), "{text:?}");
    let session = handle.join().unwrap();
    assert_eq!(
        session.tokens().len(),
        prompt.len() + 5,
        "the last sampled token is not yet in the cache"
    );

    // A cancel already set stops before the first token, as an interruption.
    let cancel = Arc::new(AtomicBool::new(true));
    let (rx, handle) = spawn(session, tok, greedy(), job(50), cancel.clone());
    let last = rx.iter().last().unwrap();
    assert!(matches!(&last, Event::Error(e) if e.exit_code() == 130), "{last:?}");
    assert!(cancel.load(Ordering::Relaxed));
    handle.join().unwrap();
}
