//! The generation loop: reuse the cached prefix, prefill the rest of the prompt, then
//! sample, stream text (held back at stop-string prefixes and broken UTF-8) and decode
//! until end of text, a stop string, the token budget, a full context or a cancel.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::lookup::{Drafter, Lookup};
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
    /// Speculative decoding's drafts, when it ran.
    pub spec: SpecStats,
}

/// Drafts proposed, their tokens, and the tokens the model agreed with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpecStats {
    pub drafts: usize,
    pub drafted: usize,
    pub accepted: usize,
}

impl SpecStats {
    /// The share of drafted tokens kept.
    pub fn acceptance(&self) -> f64 {
        self.accepted as f64 / self.drafted.max(1) as f64
    }

    /// Tokens kept per draft.
    pub fn mean_accepted(&self) -> f64 {
        self.accepted as f64 / self.drafts.max(1) as f64
    }
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
        let spec = match self.spec.drafts {
            0 => String::new(),
            n => format!(
                " | drafts: {n}, {:.0} % of {} drafted tokens kept, {:.1} a draft",
                100.0 * self.spec.acceptance(),
                self.spec.drafted,
                self.spec.mean_accepted()
            ),
        };
        format!(
            "prompt: {} tokens, {:.1} tok/s ({} reused) | generation: {} tokens, {:.1} tok/s | stop: {:?}{spec}",
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
    /// Speculative decoding from the context (`lookup`): drafts of up to this many
    /// tokens, verified in one batch. Runs only where sampling is greedy.
    pub spec: Option<usize>,
}

/// The generated tokens on their way out: text decoding, stop strings, counts.
struct Out<'t> {
    stops: StopStrings,
    decoder: crate::tokenizer::StreamDecoder<'t>,
    n_generated: usize,
    spec: SpecStats,
}

impl Out<'_> {
    /// Takes one generated token: records it, streams its text; says when generation
    /// ends with it (end of text before it is shown; a stop string or the budget after).
    fn take(
        &mut self,
        token: u32,
        tokenizer: &Tokenizer,
        sampler: &mut Sampler,
        req: &Request,
        on_text: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<Option<StopReason>> {
        if tokenizer.is_eog(token) && !req.ignore_eos {
            return Ok(Some(StopReason::EndOfText));
        }
        sampler.accept(token);
        sampler.commit(token)?;
        self.n_generated += 1;
        let out = self.stops.push(&self.decoder.push(token));
        on_text(&out.emit)?;
        if out.stopped {
            return Ok(Some(StopReason::StopString));
        }
        if req.max_tokens.is_some_and(|m| self.n_generated >= m) {
            return Ok(Some(StopReason::Length));
        }
        Ok(None)
    }
}

/// What verifying a draft left: the logits of the next position, or the end.
enum Verified {
    /// The next position's logits, and its token when verification already drew it.
    Next(Vec<f32>, Option<u32>),
    Stop(StopReason),
}

/// One drafted token checked against the model's pick at its position: greedy, kept
/// when it is the argmax; sampling, the standard rule for a draft that is one token for
/// sure — kept with the probability the model gives it, else a token is drawn from the
/// model's distribution without it (so every token comes out as likely as in plain
/// sampling). `Err(Some(t))`: not kept, the position's token is `t`.
fn check(
    sampler: &mut Sampler,
    logits: &[f32],
    drafted: u32,
) -> Result<std::result::Result<u32, Option<u32>>> {
    if sampler.is_greedy() {
        let pick = sampler.sample(logits)?;
        return Ok(if pick == drafted { Ok(pick) } else { Err(None) });
    }
    let dist = sampler.distribution(logits)?;
    let p = dist.iter().find(|d| d.0 == drafted).map_or(0.0, |d| d.1);
    if sampler.uniform() < p {
        return Ok(Ok(drafted));
    }
    let rest: Vec<(u32, f32)> = dist.into_iter().filter(|d| d.0 != drafted).collect();
    Ok(Err(sampler.draw(&rest)))
}

/// Feeds the last token of `history` and the `draft` in one batch, then picks along it as
/// plain decoding would: each pick that equals the drafted token is kept and the next
/// compared; the first that differs is kept too and ends the draft. The cache is cut
/// back to what was kept (for a recurrent model: from its checkpoint, fed again).
#[allow(clippy::too_many_arguments)]
fn verify<B: Backend>(
    session: &mut Session<B>,
    sampler: &mut Sampler,
    tokenizer: &Tokenizer,
    req: &Request,
    on_text: &mut dyn FnMut(&str) -> Result<()>,
    out: &mut Out,
    mut history: Vec<u32>,
    draft: &[u32],
) -> Result<Verified> {
    // `history`: the cache's tokens, then the token to feed.
    let base = session.tokens().len();
    session.checkpoint()?;
    history.extend_from_slice(draft);
    let fed = &history[base..];
    let all = session.prefill_all(fed)?;
    let n_vocab = all.len() / fed.len();
    let row = |i: usize| &all[i * n_vocab..(i + 1) * n_vocab];
    out.spec.drafts += 1;
    out.spec.drafted += draft.len();
    let mut kept = 0;
    let mut end = None;
    let mut drawn = None;
    while kept < draft.len() {
        if req.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            end = Some(StopReason::Cancelled);
            break;
        }
        let pick = match check(sampler, row(kept), draft[kept])? {
            Ok(pick) => pick,
            Err(t) => {
                drawn = t;
                break;
            }
        };
        kept += 1;
        out.spec.accepted += 1;
        if let Some(stop) = out.take(pick, tokenizer, sampler, req, on_text)? {
            end = Some(stop);
            break;
        }
    }
    // The drafted tokens after the kept ones leave the cache.
    let keep = base + 1 + kept;
    session.truncate(keep);
    let have = session.tokens().len();
    let next = match have < keep {
        // A recurrent model went back to its checkpoint: feed the kept tokens again.
        true => session.prefill_all(&history[have..keep])?,
        false => row(kept).to_vec(),
    };
    Ok(match end {
        Some(stop) => Verified::Stop(stop),
        None => Verified::Next(next[next.len() - n_vocab..].to_vec(), drawn),
    })
}

/// Runs one generation, handing each piece of text to `on_text` as it is ready.
pub fn generate<B: Backend>(
    session: &mut Session<B>,
    tokenizer: &Tokenizer,
    sampler: &mut Sampler,
    req: &Request,
    on_text: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<Stats> {
    let mut lookup = Lookup::default();
    generate_drafted(session, tokenizer, sampler, req, &mut lookup, on_text)
}

/// As [`generate`], with drafts (when `req.spec` asks for them) from `drafter`.
pub fn generate_drafted<B: Backend>(
    session: &mut Session<B>,
    tokenizer: &Tokenizer,
    sampler: &mut Sampler,
    req: &Request,
    drafter: &mut dyn Drafter,
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
    let mut out = Out {
        stops: StopStrings::new(req.stop.clone()),
        decoder: tokenizer.stream_decoder(),
        n_generated: 0,
        spec: SpecStats::default(),
    };
    // Drafts are verified only where a pick is the argmax: the tokens stay those of
    // plain decoding.
    let draft_max = req.spec.filter(|_| sampler.can_verify());
    let mut drawn: Option<u32> = None;
    let stop = loop {
        if req.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            break StopReason::Cancelled;
        }
        let token = match drawn.take() {
            Some(t) => t,
            None => sampler.sample(&logits)?,
        };
        if let Some(stop) = out.take(token, tokenizer, sampler, req, on_text)? {
            break stop;
        }
        if session.n_free() == 0 {
            break StopReason::ContextFull;
        }
        let Some(draft_max) = draft_max else {
            logits = session.decode(token)?;
            continue;
        };
        let mut history = session.tokens().to_vec();
        history.push(token);
        let room = session.n_free().saturating_sub(1);
        let draft = drafter.draft(&history, draft_max.min(room));
        if draft.is_empty() {
            logits = session.decode(token)?;
            continue;
        }
        match verify(session, sampler, tokenizer, req, on_text, &mut out, history, &draft)? {
            Verified::Next(l, t) => (logits, drawn) = (l, t),
            Verified::Stop(stop) => break stop,
        }
    };
    if stop != StopReason::StopString {
        let tail = out.stops.push(&out.decoder.finish());
        on_text(&tail.emit)?;
        on_text(&out.stops.finish())?;
    }
    let stats = Stats {
        n_reused,
        n_prompt: todo.len(),
        prompt_time,
        n_generated: out.n_generated,
        gen_time: gen_start.elapsed(),
        stop,
        spec: out.spec,
    };
    if stop == StopReason::Cancelled {
        return Err(Error::new(ErrorKind::Interrupted, "generation cancelled"));
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sampler::SamplerParams;

    /// The token a position ends with after `check` (the draft kept, or the one drawn),
    /// counted over many draws, comes out as often as the model's distribution says —
    /// whichever token was drafted; a greedy check keeps only the argmax.
    #[test]
    fn a_checked_draft_leaves_the_distribution_as_it_was() {
        let logits = [2.0f32, 1.5, 0.5, -1.0, -3.0];
        let params = SamplerParams {
            temp: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: 7,
            ..SamplerParams::default()
        };
        let mut s = Sampler::new(params).unwrap();
        let want = s.distribution(&logits).unwrap();
        const N: usize = 40_000;
        for drafted in [0u32, 1, 3] {
            let mut seen = [0usize; 5];
            for _ in 0..N {
                let t = match check(&mut s, &logits, drafted).unwrap() {
                    Ok(t) => t,
                    Err(t) => t.expect("a token drawn from the rest"),
                };
                seen[t as usize] += 1;
            }
            for &(id, p) in &want {
                let got = seen[id as usize] as f32 / N as f32;
                assert!((got - p).abs() < 0.01, "drafted {drafted}: token {id} {got:.3} vs {p:.3}");
            }
        }
        let mut greedy =
            Sampler::new(SamplerParams { temp: 0.0, ..SamplerParams::default() }).unwrap();
        assert_eq!(check(&mut greedy, &logits, 0).unwrap(), Ok(0));
        assert_eq!(check(&mut greedy, &logits, 1).unwrap(), Err(None));
    }
}
