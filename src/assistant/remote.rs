//! Turns on a remote engine (`/escalate`): the conversation as it stands — system
//! message with notes and files in context, the history — sent to an OpenAI-compatible
//! server, its answer streamed as the local model's would be, then joining the history.
//! The local KV cache is left as it is: when `/local` returns, the next prompt extends it
//! from where the conversations part.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::chat::{Assistant, TurnEvent};
use crate::chat::toolcall::Parsed;
use crate::engine::generate::{Stats, StopReason};
use crate::engine::stream::Event;
use crate::error::{Error, ErrorKind, Result};
use crate::remote::{ChatRequest, Endpoint};

/// The remote endpoint of a conversation, and whether turns go there now.
#[derive(Debug, Clone)]
pub struct RemoteUse {
    pub endpoint: Endpoint,
    /// The model the server named (asked for once, on the first escalation).
    pub model: Option<String>,
    pub active: bool,
}

impl Assistant {
    /// The endpoint `/escalate` uses unless it names another (`--remote`).
    pub fn set_remote(&mut self, endpoint: Endpoint) {
        self.remote = Some(RemoteUse { endpoint, model: None, active: false });
    }

    /// `/escalate [URL]`: the next turns go to `url` (or the endpoint set before) until
    /// `/local`. Asks the server for its model first, so a wrong URL is said at once.
    pub fn escalate(&mut self, url: Option<&str>) -> Result<String> {
        let endpoint = match (url, &self.remote) {
            (Some(spec), _) => crate::remote::config::resolve(spec, None)?,
            (None, Some(r)) => r.endpoint.clone(),
            (None, None) => {
                return Err(Error::usage(
                    "no remote endpoint: give one (/escalate URL) or start with --remote URL",
                ))
            }
        };
        let model = endpoint.model()?;
        let label = format!("{} ({model})", endpoint.base);
        self.remote = Some(RemoteUse { endpoint, model: Some(model), active: true });
        Ok(label)
    }

    /// `/local`: turns run on the local model again; whether they were remote.
    pub fn go_local(&mut self) -> bool {
        self.remote.as_mut().is_some_and(|r| std::mem::replace(&mut r.active, false))
    }

    /// The endpoint turns go to now, for the status bar.
    pub fn remote_label(&self) -> Option<String> {
        let r = self.remote.as_ref().filter(|r| r.active)?;
        let host = r.endpoint.base.split("://").nth(1).unwrap_or(&r.endpoint.base);
        Some(host.split('/').next().unwrap_or(host).to_string())
    }

    pub(super) fn remote_active(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| r.active)
    }

    /// One answer from the remote engine. A stream cut mid-answer, or a turn stopped by
    /// the user, keeps what came (ended as interrupted, so the answer stays, marked).
    pub(super) fn generate_remote(
        &mut self,
        on: &mut dyn FnMut(TurnEvent),
    ) -> Result<(String, Event)> {
        let r = self.remote.clone().ok_or_else(|| Error::failed("no remote endpoint"))?;
        let model = match r.model {
            Some(m) => m,
            None => r.endpoint.model()?,
        };
        let mut messages = vec![self.system_message()];
        messages.extend(self.history.iter().cloned());
        let req = ChatRequest {
            messages,
            temperature: Some(self.params.temp),
            top_p: Some(self.params.top_p),
            max_tokens: Some(self.config.prompt.n_predict),
            // The same tools, in the API's own form; calls come back as `tool_calls`.
            tools: self.tools.as_ref().map(|_| super::tools::definitions()),
        };
        let started = Instant::now();
        let mut first: Option<Instant> = None;
        let cancel = std::sync::Arc::clone(&self.cancel);
        let end = r.endpoint.chat_until(&model, &req, &cancel, &mut |t| {
            first.get_or_insert_with(Instant::now);
            on(TurnEvent::Text(t.to_string()))
        })?;
        // Reading the prompt ends with the first piece of the answer.
        let first = first.unwrap_or_else(Instant::now);
        if cancel.load(Ordering::Relaxed) {
            return Ok((
                end.text,
                Event::Error(Error::new(ErrorKind::Interrupted, "generation cancelled")),
            ));
        }
        if let Some(why) = end.cut {
            let e = Error::new(
                ErrorKind::Interrupted,
                format!("remote {}: {why}; the answer is partial", r.endpoint.base),
            );
            return Ok((end.text, Event::Error(e)));
        }
        if self.tools.is_some() && !end.tool_calls.is_empty() {
            let calls = end.tool_calls.iter().cloned().map(Ok).collect();
            self.remote_calls = Some(Parsed { content: end.text.clone(), calls });
        }
        let u = end.usage.unwrap_or_default();
        let stats = Stats {
            n_reused: u.cached_tokens as usize,
            n_prompt: u.prompt_tokens.saturating_sub(u.cached_tokens) as usize,
            prompt_time: first - started,
            n_generated: u.completion_tokens as usize,
            gen_time: first.elapsed(),
            stop: match end.finish_reason.as_deref() {
                Some("length") => StopReason::Length,
                _ => StopReason::EndOfText,
            },
            spec: Default::default(),
        };
        Ok((end.text, Event::Done(stats)))
    }
}
