//! Generation on its own thread, streamed as events over a channel, with a cancel flag:
//! what the REPL and editor modes use so they never block on the model.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::generate::{generate, Request, Stats};
use super::sampler::Sampler;
use super::session::Session;
use crate::backend::Backend;
use crate::error::Error;
use crate::tokenizer::Tokenizer;

/// What a generating thread reports.
#[derive(Debug)]
pub enum Event {
    /// Text ready to show (never a partial character or a partial stop string).
    Text(String),
    /// Generation ended normally.
    Done(Stats),
    /// Generation failed or was cancelled (kind `Interrupted`).
    Error(Error),
}

/// An owned generation request, sent to the generating thread.
pub struct Job {
    pub prompt: Vec<u32>,
    pub max_tokens: Option<usize>,
    pub ignore_eos: bool,
    pub stop: Vec<String>,
    /// Speculative lookup decoding, drafts of up to this many tokens.
    pub spec: Option<usize>,
}

/// Runs `job` on a new thread. Events arrive on the receiver, ending with exactly one
/// `Done` or `Error`; setting `cancel` stops generation at the next token. The thread
/// hands the session (its cache extended by the generation) back when joined.
pub fn spawn<B: Backend + 'static>(
    mut session: Session<B>,
    tokenizer: Arc<Tokenizer>,
    mut sampler: Sampler,
    job: Job,
    cancel: Arc<AtomicBool>,
) -> (Receiver<Event>, JoinHandle<Session<B>>)
where
    B::Kv: 'static,
    B::Weight: 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let req = Request {
            prompt: &job.prompt,
            max_tokens: job.max_tokens,
            ignore_eos: job.ignore_eos,
            stop: job.stop,
            cancel: Some(&cancel),
            spec: job.spec,
        };
        let mut send_text = |t: &str| {
            if !t.is_empty() {
                // A receiver that hung up no longer wants text; generation still ends
                // at its own pace and the session is handed back.
                let _ = tx.send(Event::Text(t.to_string()));
            }
            Ok(())
        };
        let end = match generate(&mut session, &tokenizer, &mut sampler, &req, &mut send_text) {
            Ok(stats) => Event::Done(stats),
            Err(e) => Event::Error(e),
        };
        let _ = tx.send(end);
        session
    });
    (rx, handle)
}
