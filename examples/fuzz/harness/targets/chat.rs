//! The chat-template renderer over the real models' templates and the built-in ones:
//! any list of messages (any roles, any contents) and any tool list renders or fails with
//! an error; a rendered prompt holds every user message's text.
//!
//! Input: one flags byte (template, add_generation_prompt, tools), then records split by
//! 0x1e; with tools, the first record is their JSON; every other record is a message,
//! `role 0x1f content` (no 0x1f: a user message).

use std::path::Path;

use chrono::DateTime;
use hearth::chat::{builtin_names, ChatTemplate, Message, RenderOptions};
use hearth::gguf::GgufFile;

use super::super::{class_of, Target};

pub const RECORD: u8 = 0x1e;
pub const FIELD: u8 = 0x1f;

pub struct Chat {
    templates: Vec<(ChatTemplate, RenderOptions)>,
}

impl Chat {
    pub fn load(models: &[&Path]) -> Result<Chat, String> {
        let now = DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z").ok();
        let mut templates = Vec::new();
        for path in models {
            let file = GgufFile::open(path).map_err(|e| e.to_string())?;
            let template = ChatTemplate::from_gguf(file.metadata()).map_err(|e| e.to_string())?;
            let mut opts = RenderOptions::from_gguf(file.metadata()).map_err(|e| e.to_string())?;
            opts.now = now;
            templates.push((template, opts));
        }
        for name in builtin_names() {
            let template = ChatTemplate::builtin(name).map_err(|e| e.to_string())?;
            let opts = RenderOptions { bos_token: "<s>".into(), now, ..RenderOptions::default() };
            templates.push((template, opts));
        }
        Ok(Chat { templates })
    }
}

/// The messages and tools of an input (after the flags byte).
pub fn parse(rest: &[u8], with_tools: bool) -> (Vec<Message>, Option<serde_json::Value>) {
    let mut records = rest.split(|&b| b == RECORD);
    let tools = match with_tools {
        true => records.next().map(|r| {
            serde_json::from_slice(r)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(r).into()))
        }),
        false => None,
    };
    let messages = records
        .map(|r| {
            let text = String::from_utf8_lossy(r);
            match text.split_once(FIELD as char) {
                Some((role, content)) => Message::new(role, content),
                None => Message::user(text),
            }
        })
        .collect();
    (messages, tools)
}

impl Target for Chat {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        let words: &[&str] = &[
            "\x1e",
            "\x1f",
            "\x1euser\x1f",
            "\x1eassistant\x1f",
            "\x1esystem\x1f",
            "\x1etool\x1f",
            "\x1eipython\x1f",
            "\x1emodel\x1f",
            "user",
            "assistant",
            "system",
            "tool",
            "<|im_start|>",
            "<|im_end|>",
            "<start_of_turn>",
            "<end_of_turn>",
            "<|eot_id|>",
            "{{",
            "}}",
            "{%",
            "%}",
            "{#",
            "#}",
            "\n",
            "\"",
            "\\u0000",
            r#"[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"x":{"type":"string"}}}}}]"#,
            r#"{"name":"f"}"#,
            "null",
            "[]",
            "{}",
            "1e999",
            "-0",
            "\"\\ud800\"",
        ];
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn run(&mut self, input: &[u8]) -> String {
        let Some((&flags, rest)) = input.split_first() else { return "empty".into() };
        let index = (flags & 15) as usize % self.templates.len();
        let (template, opts) = &self.templates[index];
        let (messages, tools) = parse(rest, flags & 0x20 != 0);
        let opts =
            RenderOptions { add_generation_prompt: flags & 0x10 != 0, tools, ..opts.clone() };
        let prompt = match template.render(&messages, &opts) {
            Ok(prompt) => prompt,
            Err(e) => return format!("{index}: error {}", class_of(&e.to_string())),
        };
        for m in messages.iter().filter(|m| m.role == "user") {
            assert!(
                prompt.contains(m.content.trim()),
                "template {}: the user message {:?} is not in the prompt",
                template.name(),
                m.content
            );
        }
        // Features: the template with each role it took, and the size of the conversation.
        let mut class = format!("{index}: ok, {} messages", messages.len().min(4));
        for m in &messages {
            let known = ["system", "user", "assistant", "tool", "ipython", "model"];
            let role = if known.contains(&m.role.as_str()) { m.role.as_str() } else { "other" };
            class.push_str(&format!("\n{index}: took {role}"));
        }
        class
    }
}
