//! A streamed chat completion read chunk by chunk: the answer's text passed on as it
//! comes, tool calls put together from their pieces (by index: id and name once, the
//! arguments in fragments), the finish reason and the usage when the server sends them.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::sse;
use crate::chat::ToolCall;

/// Token counts a server reports (`usage`), with the prompt tokens it had cached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
}

/// How a remote answer ended.
#[derive(Debug, Clone, Default)]
pub struct ChatEnd {
    /// The text as far as it came.
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// `stop`, `length`, `tool_calls`… as the server said.
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// The stream broke off before its end (`[DONE]` or a finish reason): why.
    pub cut: Option<String>,
}

/// A call being put together.
#[derive(Default)]
struct Forming {
    id: String,
    name: String,
    arguments: String,
}

/// Reads the events of `r` to the end of the stream, text to `on`.
pub fn read(r: &mut impl BufRead, cancel: &AtomicBool, on: &mut dyn FnMut(&str)) -> ChatEnd {
    let mut end = ChatEnd::default();
    let mut calls: BTreeMap<u64, Forming> = BTreeMap::new();
    let mut done = false;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return end;
        }
        let data = match sse::next_event(r) {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) => {
                end.cut = Some(match e.kind() {
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        "the server went silent mid-answer (timed out)".to_string()
                    }
                    _ => format!("the stream broke off mid-answer ({e})"),
                });
                break;
            }
        };
        if data.trim() == "[DONE]" {
            done = true;
            break;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&data) else { continue };
        if let Some(msg) = chunk["error"]["message"].as_str() {
            end.cut = Some(format!("the server reported an error mid-answer: {msg}"));
            break;
        }
        take_chunk(&chunk, &mut end, &mut calls, on);
    }
    if !done && end.cut.is_none() && end.finish_reason.is_none() {
        end.cut = Some("the stream ended before the answer did".to_string());
    }
    end.tool_calls = calls
        .into_values()
        .enumerate()
        .map(|(i, c)| {
            let id = if c.id.is_empty() { crate::chat::toolcall::call_id(i) } else { c.id };
            ToolCall { id, name: c.name, arguments: c.arguments }
        })
        .collect();
    end
}

fn take_chunk(
    chunk: &Value,
    end: &mut ChatEnd,
    calls: &mut BTreeMap<u64, Forming>,
    on: &mut dyn FnMut(&str),
) {
    if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        end.usage = Some(Usage {
            prompt_tokens: n(&u["prompt_tokens"]),
            completion_tokens: n(&u["completion_tokens"]),
            cached_tokens: n(&u["prompt_tokens_details"]["cached_tokens"]),
        });
    }
    let Some(choice) = chunk["choices"].get(0) else { return };
    let delta = &choice["delta"];
    if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
        end.text.push_str(text);
        on(text);
    }
    for (i, piece) in delta["tool_calls"].as_array().into_iter().flatten().enumerate() {
        let index = piece["index"].as_u64().unwrap_or(i as u64);
        let call = calls.entry(index).or_default();
        if let Some(id) = piece["id"].as_str() {
            call.id = id.to_string();
        }
        let f = &piece["function"];
        if let Some(name) = f["name"].as_str() {
            call.name.push_str(name);
        }
        if let Some(args) = f["arguments"].as_str() {
            call.arguments.push_str(args);
        }
    }
    if let Some(reason) = choice["finish_reason"].as_str() {
        end.finish_reason = Some(reason.to_string());
    }
}
