//! Chat and text completions in the OpenAI API's form: the request read (messages with
//! their tool calls and results, tools, sampling, stop, max tokens), the prompt rendered
//! by the model's own template and run on the one KV cache (its common prefix with the
//! last request reused), the answer returned whole or streamed as chunks — tool calls in
//! the model's own format parsed into `tool_calls`, usage with the cached prompt tokens.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::http::{error, Out};
use super::Engine;
use crate::assistant::prompt::ChatFormat;
use crate::chat::toolcall::Scanner;
use crate::chat::{Message, ToolCall};
use crate::engine::generate::{generate, Request, Stats, StopReason};
use crate::engine::sampler::Sampler;

/// Tokens of an answer when the request does not say.
const DEFAULT_MAX_TOKENS: usize = 2048;

/// What a completion request asks for beyond its prompt.
struct Options {
    stream: bool,
    include_usage: bool,
    max_tokens: usize,
    stop: Vec<String>,
    sampler: Sampler,
}

fn options(engine: &Engine, body: &Value) -> Result<Options, String> {
    let mut params = engine.sampling.params.clone();
    if let Some(t) = body["temperature"].as_f64() {
        params.temp = t as f32;
    }
    if let Some(p) = body["top_p"].as_f64() {
        params.top_p = p as f32;
    }
    if let Some(s) = body["seed"].as_u64() {
        params.seed = s;
    }
    let max = body["max_completion_tokens"].as_u64().or(body["max_tokens"].as_u64());
    let stop = match &body["stop"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect(),
        _ => engine.sampling.stop.clone(),
    };
    Ok(Options {
        stream: body["stream"].as_bool().unwrap_or(false),
        include_usage: body["stream_options"]["include_usage"].as_bool().unwrap_or(false),
        max_tokens: max.map_or(DEFAULT_MAX_TOKENS, |n| n.max(1) as usize),
        stop,
        sampler: Sampler::new(params).map_err(|e| e.to_string())?,
    })
}

/// The request's messages: content as a string or as text parts; an assistant's
/// `tool_calls`; a tool result's `tool_call_id`.
fn messages(body: &Value) -> Result<Vec<Message>, String> {
    let list = body["messages"].as_array().ok_or("`messages` must be a list")?;
    if list.is_empty() {
        return Err("`messages` is empty".to_string());
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| message(m).map_err(|e| format!("messages[{i}]: {e}")))
        .collect()
}

fn message(m: &Value) -> Result<Message, String> {
    let role = m["role"].as_str().ok_or("no `role`")?;
    let content = match &m["content"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("")
        }
        _ => return Err("`content` must be a string or a list of parts".to_string()),
    };
    let mut msg = Message::new(role, content);
    for c in m["tool_calls"].as_array().into_iter().flatten() {
        let f = &c["function"];
        let arguments = match &f["arguments"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let name = f["name"].as_str().ok_or("a tool call has no function name")?;
        let id = c["id"].as_str().unwrap_or_default().to_string();
        msg.tool_calls.push(ToolCall { id, name: name.to_string(), arguments });
    }
    msg.tool_call_id = m["tool_call_id"].as_str().map(str::to_string);
    msg.name = m["name"].as_str().map(str::to_string);
    Ok(msg)
}

/// How an answer ended, for `finish_reason`.
fn finish(stats: &Stats, calls: bool) -> &'static str {
    match (calls, stats.stop) {
        (true, _) => "tool_calls",
        (false, StopReason::Length | StopReason::ContextFull) => "length",
        _ => "stop",
    }
}

fn usage(prompt: usize, stats: &Stats) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": stats.n_generated,
        "total_tokens": prompt + stats.n_generated,
        "prompt_tokens_details": {"cached_tokens": stats.n_reused},
    })
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An id for an answer: `PREFIX-TIME-N`, distinct within the server's life.
fn answer_id(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    format!("{prefix}-{}-{}", now(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Runs `prompt` with `opts` on the engine's cache, text to `on` (`false` from it: the
/// client is gone, and generation stops).
fn run(
    engine: &mut Engine,
    prompt: &[u32],
    opts: &mut Options,
    on: &mut dyn FnMut(&str) -> bool,
) -> Result<Stats, (u16, Value)> {
    if prompt.len() >= engine.n_ctx {
        let msg = format!("the prompt is {} tokens, the context {}", prompt.len(), engine.n_ctx);
        return Err(error(400, msg));
    }
    engine.gone.store(false, Ordering::Relaxed);
    let req = Request {
        prompt,
        max_tokens: Some(opts.max_tokens),
        ignore_eos: false,
        stop: opts.stop.clone(),
        cancel: Some(&engine.gone),
        // Lookup decoding: agents resend files and ask for edits of them; the tokens (or,
        // sampling, their distribution) are those of plain decoding.
        spec: Some(crate::assistant::chat::DEFAULT_DRAFT_MAX),
    };
    let tok = std::sync::Arc::clone(&engine.loaded.tokenizer);
    let gone = &engine.gone;
    let stats = generate(&mut engine.session, &tok, &mut opts.sampler, &req, &mut |t| {
        if !on(t) {
            gone.store(true, Ordering::Relaxed);
        }
        Ok(())
    });
    match &stats {
        // One line a request, as servers log them.
        Ok(s) => eprintln!(
            "hearth: serve: {} prompt tokens ({} cached), {} generated, {:.1} tok/s",
            prompt.len(),
            s.n_reused,
            s.n_generated,
            s.gen_tps()
        ),
        Err(e) => eprintln!("hearth: serve: a request failed: {e}"),
    }
    stats.map_err(|e| error(500, e.to_string()))
}

/// A chat request made ready: its prompt, options, and the call format when tools are
/// offered.
struct Prepared {
    prompt: Vec<u32>,
    opts: Options,
    calls: Option<crate::chat::CallFormat>,
    id: String,
    model: String,
}

fn prepare(engine: &Engine, body: &Value) -> Result<Prepared, (u16, Value)> {
    let msgs = messages(body).map_err(|e| error(400, e))?;
    let opts = options(engine, body).map_err(|e| error(400, e))?;
    let tools = body["tools"].as_array().filter(|t| !t.is_empty()).map(|t| Value::Array(t.clone()));
    let calls = engine.calls.filter(|_| tools.is_some());
    let mut render = engine.format.opts.clone();
    render.tools = tools;
    let format = ChatFormat { template: engine.format.template.clone(), opts: render };
    let prompt =
        format.encode(&engine.loaded.tokenizer, &msgs).map_err(|e| error(400, e.to_string()))?;
    Ok(Prepared { prompt, opts, calls, id: answer_id("chatcmpl"), model: engine.name.clone() })
}

/// The answer split into its text and its calls, the calls in the API's form.
fn split(p: &Prepared, answer: &str) -> (String, Vec<Value>) {
    let Some(format) = p.calls else { return (answer.to_string(), Vec::new()) };
    let parsed = format.parse(answer);
    let calls: Vec<Value> = parsed
        .calls
        .iter()
        .filter_map(|c| c.as_ref().ok())
        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
        .collect();
    (parsed.content, calls)
}

/// `POST /v1/chat/completions`.
pub fn chat(engine: &mut Engine, body: &Value, out: Out) {
    let mut p = match prepare(engine, body) {
        Ok(p) => p,
        Err(e) => return out.json(e),
    };
    if p.opts.stream {
        return chat_stream(engine, p, out);
    }
    let mut answer = String::new();
    let stats = run(engine, &p.prompt, &mut p.opts, &mut |t| {
        answer.push_str(t);
        true
    });
    let stats = match stats {
        Ok(s) => s,
        Err(e) => return out.json(e),
    };
    let (content, calls) = split(&p, &answer);
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls.clone());
    }
    out.json((200, json!({
        "id": p.id, "object": "chat.completion", "created": now(), "model": p.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish(&stats, !calls.is_empty())}],
        "usage": usage(p.prompt.len(), &stats),
    })));
}

/// A streamed chat answer: text as it comes (a call's text held back), then the calls,
/// the finish reason, and the usage when asked for.
fn chat_stream(engine: &mut Engine, mut p: Prepared, out: Out) {
    let chunk = |p: &Prepared, delta: Value, finish: Option<&str>| {
        json!({"id": p.id, "object": "chat.completion.chunk", "created": now(), "model": p.model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = out.events();
    events.send(&chunk(&p, json!({"role": "assistant", "content": ""}), None));
    let mut scanner = p.calls.map(Scanner::new);
    let mut answer = String::new();
    let head = chunk(&p, json!({}), None);
    let stats = run(engine, &p.prompt, &mut p.opts, &mut |t| {
        answer.push_str(t);
        let shown = scanner.as_mut().map_or_else(|| t.to_string(), |s| s.push(t));
        let mut c = head.clone();
        c["choices"][0]["delta"] = json!({"content": shown});
        shown.is_empty() || events.send(&c)
    });
    let stats = match stats {
        Ok(s) => s,
        Err((_, e)) => {
            events.send(&e);
            return;
        }
    };
    let (_, calls) = split(&p, &answer);
    if let Some(s) = scanner.as_mut() {
        let hidden = s.in_call() || s.holds_call();
        let rest = s.finish();
        if !hidden && !rest.is_empty() {
            events.send(&chunk(&p, json!({"content": rest}), None));
        }
    }
    if !calls.is_empty() {
        let indexed: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                c["index"] = json!(i);
                c
            })
            .collect();
        events.send(&chunk(&p, json!({"tool_calls": indexed}), None));
    }
    events.send(&chunk(&p, json!({}), Some(finish(&stats, !calls.is_empty()))));
    if p.opts.include_usage {
        let mut u = chunk(&p, json!({}), None);
        u["choices"] = json!([]);
        u["usage"] = usage(p.prompt.len(), &stats);
        events.send(&u);
    }
}

/// `POST /v1/completions`: raw text after `prompt`, no chat template.
pub fn text(engine: &mut Engine, body: &Value, out: Out) {
    let prompt_text = match &body["prompt"] {
        Value::String(s) => s.clone(),
        Value::Array(a) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_string()
        }
        _ => return out.json(error(400, "`prompt` must be a string")),
    };
    let mut opts = match options(engine, body) {
        Ok(o) => o,
        Err(e) => return out.json(error(400, e)),
    };
    let tok = std::sync::Arc::clone(&engine.loaded.tokenizer);
    let prompt = match tok.encode(&prompt_text, tok.add_bos_default(), true) {
        Ok(p) => p,
        Err(e) => return out.json(error(400, e.to_string())),
    };
    let (id, model) = (answer_id("cmpl"), engine.name.clone());
    let piece = |text: &str, finish: Option<&str>| {
        json!({"id": id, "object": "text_completion", "created": now(), "model": model,
               "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}]})
    };
    if opts.stream {
        let mut events = out.events();
        let stats = run(engine, &prompt, &mut opts, &mut |t| events.send(&piece(t, None)));
        match stats {
            Ok(s) => events.send(&piece("", Some(finish(&s, false)))),
            Err((_, e)) => events.send(&e),
        };
        return;
    }
    let mut text = String::new();
    let stats = run(engine, &prompt, &mut opts, &mut |t| {
        text.push_str(t);
        true
    });
    match stats {
        Ok(s) => {
            let mut body = piece(&text, Some(finish(&s, false)));
            body["usage"] = usage(prompt.len(), &s);
            out.json((200, body));
        }
        Err(e) => out.json(e),
    }
}
