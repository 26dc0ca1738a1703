//! A remote OpenAI-compatible engine — vLLM or SGLang on a GPU box, the reference
//! server, Ollama — for the turns a user sends there: `GET /v1/models` to list and
//! choose, `POST /v1/chat/completions` with `stream: true`, its server-sent events read
//! as they come (text, tool calls in the API's form, usage). Every failure is one line
//! naming the endpoint: unreachable, refused (401, 429 with its Retry-After, 5xx with the
//! server's message), or a stream cut mid-answer — in which case what came is kept.

pub mod config;
pub mod sse;
mod stream;

use std::io::BufReader;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::{json, Value};

use crate::chat::Message;
use crate::error::{Error, Result};
pub use stream::{ChatEnd, Usage};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server may stay silent: before its answer starts (a long prompt being
/// read) and between two pieces of it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The environment variable holding the API key sent as a bearer token, when set.
pub const API_KEY_ENV: &str = "HEARTH_REMOTE_API_KEY";

/// An OpenAI-compatible server: its base URL (up to and including `/v1`), the key, and
/// the model asked for (else the first the server lists).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base: String,
    pub api_key: Option<String>,
    pub model: Option<String>,
}

/// What a chat completion asks for.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub max_tokens: Option<usize>,
    /// The tools, in the API's form (`[{"type": "function", "function": {…}}]`).
    pub tools: Option<Value>,
}

impl Endpoint {
    /// An endpoint at `url` (`http://host:port/v1`; a URL without a path gets `/v1`).
    pub fn new(url: &str, model: Option<String>) -> Result<Endpoint> {
        let url = url.trim().trim_end_matches('/');
        let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"))
        else {
            return Err(Error::usage(format!("--remote {url}: not an http:// or https:// URL")));
        };
        let base = match rest.contains('/') {
            true => url.to_string(),
            false => format!("{url}/v1"),
        };
        let api_key = std::env::var(API_KEY_ENV).ok().filter(|k| !k.is_empty());
        Ok(Endpoint { base, api_key, model })
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(IDLE_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn fail(&self, what: impl std::fmt::Display) -> Error {
        Error::failed(format!("remote {}: {what}", self.base))
    }

    /// The models the server offers (`GET /models`).
    pub fn models(&self) -> Result<Vec<String>> {
        let mut req = Self::agent().get(format!("{}/models", self.base));
        if let Some(key) = &self.api_key {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        let resp = req.call().map_err(|e| self.fail(transport(&e)))?;
        let body = self.checked(resp)?.into_body().read_to_string();
        let body = body.map_err(|e| self.fail(format!("reading the model list: {e}")))?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| self.fail(format!("the model list is not JSON: {e}")))?;
        let ids = v["data"].as_array().into_iter().flatten();
        Ok(ids.filter_map(|m| m["id"].as_str().map(str::to_string)).collect())
    }

    /// The model to ask for: the one named, else the first the server lists.
    pub fn model(&self) -> Result<String> {
        if let Some(m) = &self.model {
            return Ok(m.clone());
        }
        self.models()?.into_iter().next().ok_or_else(|| self.fail("the server lists no model"))
    }

    /// Runs a chat completion, streaming the answer's text to `on` as it comes. A stream
    /// cut mid-answer is not an error here: the end says so (`ChatEnd::cut`) and keeps
    /// what came.
    pub fn chat(
        &self,
        model: &str,
        req: &ChatRequest,
        on: &mut dyn FnMut(&str),
    ) -> Result<ChatEnd> {
        self.chat_until(model, req, &AtomicBool::new(false), on)
    }

    /// As `chat`, reading no further once `cancel` is set.
    pub fn chat_until(
        &self,
        model: &str,
        req: &ChatRequest,
        cancel: &AtomicBool,
        on: &mut dyn FnMut(&str),
    ) -> Result<ChatEnd> {
        let mut body = json!({
            "model": model,
            "messages": req.messages.iter().map(api_message).collect::<Vec<_>>(),
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let opts = [
            ("temperature", req.temperature.map(Value::from)),
            ("top_p", req.top_p.map(Value::from)),
            ("max_tokens", req.max_tokens.map(Value::from)),
            ("tools", req.tools.clone()),
        ];
        for (key, value) in opts {
            if let Some(v) = value {
                body[key] = v;
            }
        }
        let mut post = Self::agent()
            .post(format!("{}/chat/completions", self.base))
            .header("Accept", "text/event-stream")
            .header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            post = post.header("Authorization", format!("Bearer {key}"));
        }
        let resp = post.send(body.to_string()).map_err(|e| self.fail(transport(&e)))?;
        let resp = self.checked(resp)?;
        let mut reader = BufReader::new(resp.into_body().into_reader());
        Ok(stream::read(&mut reader, cancel, on))
    }

    /// The response when its status is a success; else the error, with the server's
    /// message and, for 429, when to try again.
    fn checked(
        &self,
        resp: ureq::http::Response<ureq::Body>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = resp.into_body().read_to_string().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                v["error"]["message"].as_str().or(v["detail"].as_str()).map(str::to_string)
            })
            .unwrap_or_else(|| body.lines().next().unwrap_or_default().chars().take(200).collect());
        let mut line = format!("{status}");
        if !message.is_empty() {
            line.push_str(&format!(": {message}"));
        }
        if let Some(after) = retry {
            line.push_str(&format!(" (retry after {after} s)"));
        }
        Err(self.fail(line))
    }
}

/// A message in the API's form: role and content; an assistant's calls as `tool_calls`;
/// a tool result with the id of the call it answers.
fn api_message(m: &Message) -> Value {
    let mut v = json!({"role": m.role, "content": m.content});
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        v["tool_calls"] = Value::Array(calls);
    }
    if let Some(id) = &m.tool_call_id {
        v["tool_call_id"] = Value::from(id.as_str());
    }
    v
}

/// A transport failure in a few words: the server cannot be reached, or went silent.
fn transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "cannot connect (connection refused)".to_string()
        }
        ureq::Error::HostNotFound => "cannot connect (host not found)".to_string(),
        other => format!("cannot connect ({other})"),
    }
}

#[cfg(test)]
mod tests;
