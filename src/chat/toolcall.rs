//! Tool calls in the model's own format: which family a chat template speaks (Hermes
//! JSON in `<tool_call>` tags, the Qwen3-Coder/Qwen3.5 XML form, Llama 3.x bare JSON,
//! Mistral's `[TOOL_CALLS]`), found from the template's text, and the calls parsed out of
//! an answer — whole, or as it streams (text before a call shown as it comes).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One call the model made: the tool's name and its arguments (a JSON object's text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, as tool results refer to it (Mistral's templates want 9
    /// alphanumerics; the others ignore it).
    pub id: String,
    pub name: String,
    /// A JSON object, as text.
    pub arguments: String,
}

impl ToolCall {
    pub fn new(index: usize, name: impl Into<String>, arguments: &Value) -> ToolCall {
        ToolCall { id: call_id(index), name: name.into(), arguments: arguments.to_string() }
    }

    /// The arguments as a JSON value (an empty object when they do not parse).
    pub fn arguments_value(&self) -> Value {
        serde_json::from_str(&self.arguments).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// An id of nine alphanumerics (`call` and five digits) for call number `index`.
pub fn call_id(index: usize) -> String {
    format!("call{index:05}")
}

/// The call format of a model family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFormat {
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>` (Qwen2.5/Qwen3, Hermes).
    Hermes,
    /// `<tool_call><function=NAME><parameter=K>V</parameter></function></tool_call>`
    /// (Qwen3-Coder, Qwen3.5/3.6).
    QwenXml,
    /// `{"name": …, "parameters": {…}}` as the whole answer (Llama 3.1–3.3).
    Llama3,
    /// `[TOOL_CALLS][{"name": …, "arguments": {…}}]` or `[TOOL_CALLS]NAME[ARGS]{…}`.
    Mistral,
}

/// The families by their name in messages and settings.
const NAMES: [(CallFormat, &str); 4] = [
    (CallFormat::Hermes, "hermes"),
    (CallFormat::QwenXml, "qwen-xml"),
    (CallFormat::Llama3, "llama3"),
    (CallFormat::Mistral, "mistral"),
];

impl CallFormat {
    /// The family a chat template's text renders tools for; `None` when it has no tool
    /// support (hearth then describes the tools itself, in the Hermes form).
    pub fn detect(template: &str) -> Option<CallFormat> {
        if template.contains("<function=") && template.contains("<parameter=") {
            Some(CallFormat::QwenXml)
        } else if template.contains("<tool_call>") {
            Some(CallFormat::Hermes)
        } else if template.contains("[TOOL_CALLS]") {
            Some(CallFormat::Mistral)
        } else if template.contains("<|python_tag|>") || template.contains("ipython") {
            Some(CallFormat::Llama3)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        NAMES.iter().find(|(f, _)| *f == self).map_or("?", |(_, n)| n)
    }

    /// The text that opens a call.
    pub fn trigger(self) -> &'static str {
        match self {
            CallFormat::Hermes | CallFormat::QwenXml => "<tool_call>",
            CallFormat::Llama3 => "{",
            CallFormat::Mistral => "[TOOL_CALLS]",
        }
    }

    /// Whether the trigger only counts at the start of the answer (Llama 3's bare JSON).
    fn trigger_at_start_only(self) -> bool {
        self == CallFormat::Llama3
    }

    /// Splits a whole answer into its text and its calls (each parsed, or the reason it
    /// does not parse).
    pub fn parse(self, answer: &str) -> Parsed {
        let mut scanner = Scanner::new(self);
        let mut content = scanner.push(answer);
        content.push_str(&scanner.finish());
        let calls = match scanner.call_text() {
            Some(text) => self.parse_calls(text),
            None => return self.loose(content),
        };
        Parsed { content: content.trim_end().to_string(), calls }
    }

    /// An answer without the trigger that is nothing but one call as a JSON object
    /// (`{"name": …, "arguments": …}`), bare or in a fenced block — as small models write
    /// them — is that call (the reference's parsers take the same).
    fn loose(self, content: String) -> Parsed {
        let body = content.trim();
        // The fence's closing line may be missing: the answer can end at the call.
        let body =
            body.strip_prefix("```json").or_else(|| body.strip_prefix("```")).unwrap_or(body);
        let body = body.trim_end();
        let body = body.strip_suffix("```").unwrap_or(body).trim();
        let call = serde_json::from_str::<Value>(body).ok().filter(|v| {
            v.get("name").is_some_and(Value::is_string)
                && (v.get("arguments").is_some_and(Value::is_object)
                    || v.get("parameters").is_some_and(Value::is_object))
        });
        match call {
            Some(v) => Parsed {
                content: String::new(),
                calls: vec![object_call(&v, 0, &["arguments", "parameters"])],
            },
            None => Parsed { content: content.trim_end().to_string(), calls: Vec::new() },
        }
    }

    /// Parses the text from the trigger on.
    fn parse_calls(self, text: &str) -> Vec<std::result::Result<ToolCall, String>> {
        match self {
            CallFormat::Hermes => tagged(text, |body, i| json_call(body, i, "arguments")),
            CallFormat::QwenXml => tagged(text, xml_call),
            CallFormat::Llama3 => vec![llama3_call(text)],
            CallFormat::Mistral => mistral_calls(text),
        }
    }
}

/// An answer split into text and calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The text before the first call.
    pub content: String,
    pub calls: Vec<std::result::Result<ToolCall, String>>,
}

/// Finds the start of a call in streamed text: text before it is released as it comes
/// (held back only while it could be the beginning of the trigger); from the trigger on,
/// everything is kept as the call's text. An answer that opens like a call without the
/// trigger (`{"name"`, bare or after a json fence) is held back whole: it is shown only if
/// it turns out not to be one.
#[derive(Debug, Clone)]
pub struct Scanner {
    format: CallFormat,
    /// Text not yet released (a possible start of the trigger).
    pending: String,
    /// The call's text from the trigger on, once it started.
    call: Option<String>,
    /// Whether anything but whitespace was released (Llama 3 calls open the answer).
    released_text: bool,
    /// The answer so far could still be a call without the trigger.
    opening: bool,
}

impl Scanner {
    pub fn new(format: CallFormat) -> Scanner {
        let opening = !format.trigger_at_start_only();
        Scanner { format, pending: String::new(), call: None, released_text: false, opening }
    }

    /// Takes the next piece; returns the text that is sure to be answer text.
    pub fn push(&mut self, piece: &str) -> String {
        if let Some(call) = self.call.as_mut() {
            call.push_str(piece);
            return String::new();
        }
        self.pending.push_str(piece);
        let trigger = self.format.trigger();
        if self.format.trigger_at_start_only() {
            return self.push_at_start(trigger);
        }
        if self.opening {
            match opens_loose_call(self.pending.trim_start()) {
                true => return String::new(),
                false => self.opening = false,
            }
        }
        if let Some(at) = self.pending.find(trigger) {
            let text = self.pending[..at].to_string();
            self.call = Some(self.pending[at..].to_string());
            self.pending.clear();
            return text;
        }
        let keep = partial_suffix(&self.pending, trigger);
        let text: String = self.pending.drain(..self.pending.len() - keep).collect();
        text
    }

    fn push_at_start(&mut self, trigger: &str) -> String {
        if self.released_text {
            return std::mem::take(&mut self.pending);
        }
        let start = self.pending.trim_start();
        if start.is_empty() {
            return String::new();
        }
        if start.starts_with(trigger) {
            self.call = Some(start.to_string());
            self.pending.clear();
            return String::new();
        }
        self.released_text = true;
        std::mem::take(&mut self.pending)
    }

    /// Whether what is held back is a whole call written without the trigger (not to be
    /// shown). Ask before `finish`.
    pub fn holds_call(&self) -> bool {
        self.opening && !self.format.loose(self.pending.clone()).calls.is_empty()
    }

    /// The end of the answer: whatever was held back is text.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }

    /// Whether a call has started.
    pub fn in_call(&self) -> bool {
        self.call.is_some()
    }

    /// The call's text so far (from the trigger on).
    pub fn call_text(&self) -> Option<&str> {
        self.call.as_deref()
    }

    /// The name of the tool the forming call names, once it is written out.
    pub fn forming_name(&self) -> Option<String> {
        let text = self.call.as_deref()?;
        let name = match self.format {
            CallFormat::QwenXml => between(text, "<function=", ">")?,
            CallFormat::Mistral if !text.contains("[{") => between(text, "[TOOL_CALLS]", "[ARGS]")?,
            _ => between(text, "\"name\"", ",")?.trim_start_matches([' ', ':']),
        };
        Some(name.trim().trim_matches('"').to_string())
    }
}

/// Whether an answer starting with `text` may be a call written without the trigger:
/// `{"name"` (or the start of it), bare or after a fence marked json.
fn opens_loose_call(text: &str) -> bool {
    const FENCE: &str = "```json";
    if FENCE.starts_with(text) {
        return true;
    }
    let rest = text.strip_prefix(FENCE).map_or(text, str::trim_start);
    let Some(inner) = rest.strip_prefix('{') else { return rest.is_empty() };
    let inner = inner.trim_start();
    "\"name\"".starts_with(inner) || inner.starts_with("\"name\"")
}

/// The length of the longest suffix of `text` that is a proper prefix of `trigger`.
fn partial_suffix(text: &str, trigger: &str) -> usize {
    (1..trigger.len())
        .rev()
        .find(|&n| {
            text.len() >= n
                && text.is_char_boundary(text.len() - n)
                && text.ends_with(&trigger[..n])
        })
        .unwrap_or(0)
}

/// The text between the first `open` and the next `close` after it.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

/// Each `<tool_call>…</tool_call>` block parsed by `body` (an unclosed last block is
/// parsed as it is: the answer may have stopped at the closing tag).
fn tagged(
    text: &str,
    body: impl Fn(&str, usize) -> std::result::Result<ToolCall, String>,
) -> Vec<std::result::Result<ToolCall, String>> {
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("<tool_call>") {
        let inner = &rest[at + "<tool_call>".len()..];
        let (block, next) = match inner.find("</tool_call>") {
            Some(end) => (&inner[..end], &inner[end + "</tool_call>".len()..]),
            None => (inner, ""),
        };
        calls.push(body(block.trim(), calls.len()));
        rest = next;
    }
    calls
}

/// `{"name": N, KEY: {…}}`: a call as a JSON object, its arguments under `key`.
fn json_call(body: &str, index: usize, key: &str) -> std::result::Result<ToolCall, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the call is not valid JSON: {e}"))?;
    object_call(&value, index, &[key, "arguments", "parameters"])
}

/// A call from a JSON object with `name` and the arguments under one of `keys`.
fn object_call(
    value: &Value,
    index: usize,
    keys: &[&str],
) -> std::result::Result<ToolCall, String> {
    let obj = value.as_object().ok_or("the call is not a JSON object")?;
    let name = obj.get("name").and_then(Value::as_str).ok_or("the call names no tool (`name`)")?;
    let args = keys.iter().find_map(|k| obj.get(*k)).cloned().unwrap_or(Value::Object(Map::new()));
    // Some models write the arguments as a JSON string.
    let args = match args {
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| format!("the arguments of `{name}` are not valid JSON: {e}"))?,
        other => other,
    };
    if !args.is_object() {
        return Err(format!("the arguments of `{name}` are not a JSON object"));
    }
    let mut call = ToolCall::new(index, name, &args);
    if let Some(id) = obj.get("id").and_then(Value::as_str) {
        call.id = id.to_string();
    }
    Ok(call)
}

/// `<function=NAME><parameter=K>V</parameter>…</function>`: values are text, or JSON
/// where they read as JSON other than a plain string (numbers, booleans, lists, objects).
fn xml_call(body: &str, index: usize) -> std::result::Result<ToolCall, String> {
    let name =
        between(body, "<function=", ">").ok_or("the call names no function (`<function=NAME>`)")?;
    let mut args = Map::new();
    let mut rest = body;
    while let Some(at) = rest.find("<parameter=") {
        let after = &rest[at + "<parameter=".len()..];
        let close = after.find('>').ok_or("a `<parameter=` tag is not closed")?;
        let key = after[..close].trim();
        let value_start = &after[close + 1..];
        let end = value_start
            .find("</parameter>")
            .or_else(|| value_start.find("<parameter="))
            .or_else(|| value_start.find("</function>"))
            .unwrap_or(value_start.len());
        args.insert(key.to_string(), xml_value(&value_start[..end]));
        rest = &value_start[end..];
    }
    Ok(ToolCall::new(index, name.trim(), &Value::Object(args)))
}

/// A parameter's text: one leading and one trailing newline dropped, as the template
/// writes them; JSON when it parses as anything but a string.
fn xml_value(raw: &str) -> Value {
    let text = raw.strip_prefix('\n').unwrap_or(raw);
    let text = text.strip_suffix('\n').unwrap_or(text);
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(v) if !v.is_string() && !text.trim().is_empty() => v,
        _ => Value::String(text.to_string()),
    }
}

/// Llama 3's call: the answer is one JSON object (`parameters` or `arguments`).
fn llama3_call(text: &str) -> std::result::Result<ToolCall, String> {
    let body = text.trim().trim_start_matches("<|python_tag|>").trim();
    json_call(body, 0, "parameters")
}

/// Mistral's calls: `[TOOL_CALLS][{…}, …]` (v3) or `[TOOL_CALLS]NAME[ARGS]{…}` repeated.
fn mistral_calls(text: &str) -> Vec<std::result::Result<ToolCall, String>> {
    let body = text.trim_start_matches("[TOOL_CALLS]").trim();
    if body.starts_with('[') {
        return match serde_json::from_str::<Value>(body) {
            Ok(Value::Array(items)) => {
                items.iter().enumerate().map(|(i, v)| object_call(v, i, &["arguments"])).collect()
            }
            Ok(_) => vec![Err("the calls are not a JSON list".to_string())],
            Err(e) => vec![Err(format!("the calls are not valid JSON: {e}"))],
        };
    }
    body.split("[TOOL_CALLS]")
        .enumerate()
        .map(|(i, part)| {
            let (name, args) = part.split_once("[ARGS]").ok_or("a call has no `[ARGS]`")?;
            let args: Value = serde_json::from_str(args.trim()).map_err(|e| {
                format!("the arguments of `{}` are not valid JSON: {e}", name.trim())
            })?;
            if !args.is_object() {
                return Err(format!("the arguments of `{}` are not a JSON object", name.trim()));
            }
            Ok(ToolCall::new(i, name.trim(), &args))
        })
        .collect()
}

#[cfg(test)]
mod tests;
