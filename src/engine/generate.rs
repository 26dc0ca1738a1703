//! The generation loop: reuse the cached prefix, prefill the rest of the prompt, then
//! sample, stream text (held back at stop-string prefixes and broken UTF-8) and decode
//! until end of text, a stop string, the token budget, a full context or a cancel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::sampler::Sampler;
use super::session::Session;
use super::stop::StopStrings;
use crate::backend::Backend;
use crate::error::{Error, ErrorKind, Result};
use crate::tokenizer::Tokenizer;

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndOfText,
    StopString,
    Length,
    ContextFull,
    Cancelled,
}

/// Counts and times of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Prompt tokens found in the cache and not processed again.
    pub n_reused: usize,
    pub n_prompt: usize,
    pub prompt_time: Duration,
    pub n_generated: usize,
    pub gen_time: Duration,
    pub stop: StopReason,
}

impl Stats {
    pub fn prompt_tps(&self) -> f64 {
        self.n_prompt as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }

    pub fn gen_tps(&self) -> f64 {
        self.n_generated as f64 / self.gen_time.as_secs_f64().max(1e-9)
    }

    /// The timing line tools print to stderr.
    pub fn summary(&self) -> String {
        format!(
            "prompt: {} tokens, {:.1} tok/s ({} reused) | generation: {} tokens, {:.1} tok/s | stop: {:?}",
            self.n_prompt,
            self.prompt_tps(),
            self.n_reused,
            self.n_generated,
            self.gen_tps(),
            self.stop
        )
    }
}

/// What to generate and when to stop.
pub struct Request<'a> {
    pub prompt: &'a [u32],
    /// Most tokens to generate; `None`: until end of text or a full context.
    pub max_tokens: Option<usize>,
    pub ignore_eos: bool,
    pub stop: Vec<String>,
    pub cancel: Option<&'a AtomicBool>,
}

/// Runs one generation, handing each piece of text to `on_text` as it is ready.
pub fn generate<B: Backend>(
    session: &mut Session<B>,
    tokenizer: &Tokenizer,
    sampler: &mut Sampler,
    req: &Request,
    on_text: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<Stats> {
    if req.prompt.is_empty() {
        return Err(Error::bad_input("the prompt is empty"));
    }
    if req.max_tokens == Some(0) {
        return Err(Error::usage("the number of tokens to generate must be at least 1"));
    }
    let started = Instant::now();
    let todo = session.reuse_prefix(req.prompt);
    let n_reused = req.prompt.len() - todo.len();
    session.check_room(todo.len())?;
    for &t in req.prompt {
        sampler.accept(t);
    }
    let mut logits = session.prefill_until(todo, req.cancel)?;
    let prompt_time = started.elapsed();
    let gen_start = Instant::now();
    let mut stops = StopStrings::new(req.stop.clone());
    let mut decoder = tokenizer.stream_decoder();
    let mut n_generated = 0;
    let stop = loop {
        if req.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            break StopReason::Cancelled;
        }
        let token = sampler.sample(&logits)?;
        if tokenizer.is_eog(token) && !req.ignore_eos {
            break StopReason::EndOfText;
        }
        sampler.accept(token);
        sampler.commit(token)?;
        n_generated += 1;
        let out = stops.push(&decoder.push(token));
        on_text(&out.emit)?;
        if out.stopped {
            break StopReason::StopString;
        }
        if req.max_tokens.is_some_and(|m| n_generated >= m) {
            break StopReason::Length;
        }
        if session.n_free() == 0 {
            break StopReason::ContextFull;
        }
        logits = session.decode(token)?;
    };
    if stop != StopReason::StopString {
        let tail = stops.push(&decoder.finish());
        on_text(&tail.emit)?;
        on_text(&stops.finish())?;
    }
    let stats = Stats {
        n_reused,
        n_prompt: todo.len(),
        prompt_time,
        n_generated,
        gen_time: gen_start.elapsed(),
        stop,
    };
    if stop == StopReason::Cancelled {
        return Err(Error::new(ErrorKind::Interrupted, "generation cancelled"));
    }
    Ok(stats)
}
