//! Chat templates: rendering `tokenizer.chat_template` the way Hugging Face's transformers
//! does (jinja2 with trim_blocks/lstrip_blocks), the built-in fallbacks of `prompts/`, and
//! `--chat-template-file` overrides.

mod builtin;
mod env;
mod tojson;
pub mod toolcall;
mod values;

use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gguf::Metadata;

pub use builtin::builtin_names;
pub use toolcall::{CallFormat, ToolCall};

/// The metadata key of a GGUF file's chat template.
pub const KEY_CHAT_TEMPLATE: &str = "tokenizer.chat_template";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_BOS_ID: &str = "tokenizer.ggml.bos_token_id";
const KEY_EOS_ID: &str = "tokenizer.ggml.eos_token_id";

/// One turn of a conversation, as chat templates see it (`message.role`,
/// `message.content`, and for tool use `message.tool_calls`, `message.tool_call_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// The calls an assistant message made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For a `tool` message: the tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    /// An assistant message that calls tools (`content` is its text before the calls).
    pub fn with_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Message {
        Message { tool_calls: calls, ..Message::assistant(content) }
    }

    /// The result of `call`, as a `tool` message.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Message {
        Message {
            tool_call_id: Some(call.id.clone()),
            name: Some(call.name.clone()),
            ..Message::new("tool", content)
        }
    }

    pub fn system(content: impl Into<String>) -> Message {
        Message::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Message {
        Message::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Message {
        Message::new("assistant", content)
    }
}

/// The variables a template sees besides `messages`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RenderOptions {
    /// End with the header of the assistant's turn, ready for generation.
    pub add_generation_prompt: bool,
    /// The text of the BOS token (`bos_token`), e.g. `<bos>`; empty when the model has none.
    pub bos_token: String,
    /// The text of the EOS token (`eos_token`).
    pub eos_token: String,
    /// Tool definitions (`tools`, a JSON list); `None` is passed as `none`, as HF does.
    pub tools: Option<serde_json::Value>,
    /// The clock `strftime_now` reads; `None` means the local time when rendering.
    pub now: Option<DateTime<FixedOffset>>,
}

impl RenderOptions {
    /// Options for a model: its BOS/EOS token texts, found from `tokenizer.ggml.tokens` and
    /// the BOS/EOS ids, and `add_generation_prompt` set.
    pub fn from_gguf(meta: &Metadata) -> Result<RenderOptions> {
        let tokens = meta.get_str_array_opt(KEY_TOKENS)?.unwrap_or_default();
        let token_text = |key: &str| -> Result<String> {
            let Some(id) = meta.get_u32_opt(key)? else { return Ok(String::new()) };
            tokens.get(id as usize).cloned().ok_or_else(|| {
                Error::bad_input(format!(
                    "token id {id} is outside the vocabulary of {} tokens",
                    tokens.len()
                ))
                .with_key(key)
            })
        };
        Ok(RenderOptions {
            add_generation_prompt: true,
            bos_token: token_text(KEY_BOS_ID)?,
            eos_token: token_text(KEY_EOS_ID)?,
            tools: None,
            now: None,
        })
    }
}

/// Where a template came from; errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// The model file's `tokenizer.chat_template`.
    Gguf,
    /// A file given by the user (`--chat-template-file`).
    File(PathBuf),
    /// One of hearth's built-in templates, by name.
    Builtin(&'static str),
}

/// A chat template, checked to compile, ready to render conversations.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: TemplateSource,
    name: String,
    text: String,
}

impl ChatTemplate {
    /// The file's own template, or the built-in fallback that suits the model (see
    /// `name()` for which one was chosen).
    pub fn from_gguf(meta: &Metadata) -> Result<ChatTemplate> {
        match meta.get_str_opt(KEY_CHAT_TEMPLATE)? {
            Some(text) if !text.trim().is_empty() => ChatTemplate::new(TemplateSource::Gguf, text),
            _ => ChatTemplate::builtin(builtin::fallback_name(meta)?),
        }
    }

    /// A template read from a file (`--chat-template-file`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<ChatTemplate> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        ChatTemplate::new(TemplateSource::File(path.to_path_buf()), text)
    }

    /// A built-in template by name: `chatml`, `gemma` or `llama3`.
    pub fn builtin(name: &str) -> Result<ChatTemplate> {
        let Some(b) = builtin::find(name) else {
            let known: Vec<&str> = builtin_names().collect();
            let msg =
                format!("unknown built-in chat template '{name}' (known: {})", known.join(", "));
            return Err(Error::usage(msg));
        };
        ChatTemplate::new(TemplateSource::Builtin(b.name), b.text)
    }

    /// A template from its text; compile errors name `source`.
    pub fn new(source: TemplateSource, text: impl Into<String>) -> Result<ChatTemplate> {
        let name = match &source {
            TemplateSource::Gguf => KEY_CHAT_TEMPLATE.to_string(),
            TemplateSource::File(path) => path.display().to_string(),
            TemplateSource::Builtin(name) => name.to_string(),
        };
        let template = ChatTemplate { source, name, text: text.into() };
        let env = env::environment(None);
        env.template_from_named_str(&template.name, &template.text)
            .map_err(|e| template.error(&e))?;
        Ok(template)
    }

    /// A short name: the built-in's name (`gemma`), `tokenizer.chat_template`, or the path.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn source(&self) -> &TemplateSource {
        &self.source
    }

    pub fn is_builtin(&self) -> bool {
        matches!(self.source, TemplateSource::Builtin(_))
    }

    /// The template's jinja text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Renders a conversation into the prompt text, as HF's `apply_chat_template(...,
    /// tokenize=False)` would. Errors (including `raise_exception`) name the template.
    pub fn render(&self, messages: &[Message], opts: &RenderOptions) -> Result<String> {
        let env = env::environment(opts.now);
        let template =
            env.template_from_named_str(&self.name, &self.text).map_err(|e| self.error(&e))?;
        let tools = opts.tools.as_ref().map_or(minijinja::Value::from(()), values::json_value);
        let ctx = minijinja::context! {
            messages => values::messages_value(messages),
            tools => tools,
            documents => minijinja::Value::from(()),
            add_generation_prompt => opts.add_generation_prompt,
            bos_token => opts.bos_token.as_str(),
            eos_token => opts.eos_token.as_str(),
        };
        template.render(ctx).map_err(|e| self.error(&e))
    }

    /// How errors introduce the template, e.g. `chat template (from tokenizer.chat_template)`.
    fn describe(&self) -> String {
        match &self.source {
            TemplateSource::Gguf => format!("chat template (from {KEY_CHAT_TEMPLATE})"),
            TemplateSource::File(_) => "chat template (from file)".to_string(),
            TemplateSource::Builtin(name) => format!("chat template (built-in {name})"),
        }
    }

    fn error(&self, err: &minijinja::Error) -> Error {
        let e = Error::bad_input(format!("{}: {}", self.describe(), env::describe_error(err)));
        match &self.source {
            TemplateSource::Gguf => e.with_key(KEY_CHAT_TEMPLATE),
            TemplateSource::File(path) => e.with_file(path),
            TemplateSource::Builtin(_) => e,
        }
    }
}

#[cfg(test)]
mod tests;
