//! Prompt assembly: the chat template and how a conversation becomes tokens, the system
//! message (system prompt, then project notes and files in context), and labelled
//! context blocks for text that is not a project file (piped input, `-f` files, an
//! editor's selection).

use std::path::Path;

use super::load::Loaded;
use crate::chat::{ChatTemplate, Message, RenderOptions};
use crate::context::{fence_for, render_context, ContextFile, Notes};
use crate::error::Result;
use crate::tokenizer::Tokenizer;

/// How conversations are rendered for a model: its template and render options.
#[derive(Debug, Clone)]
pub struct ChatFormat {
    pub template: ChatTemplate,
    pub opts: RenderOptions,
}

impl ChatFormat {
    /// `--chat-template-file` when given, else the model's own template.
    pub fn new(file: Option<&Path>, loaded: &Loaded) -> Result<ChatFormat> {
        let meta = loaded.model.file.metadata();
        let template = match file {
            Some(path) => ChatTemplate::from_file(path)?,
            None => {
                ChatTemplate::from_gguf(meta).map_err(|e| e.with_file(loaded.model.file.path()))?
            }
        };
        Ok(ChatFormat { template, opts: RenderOptions::from_gguf(meta)? })
    }

    /// `messages` rendered, ready for the answer, as tokens.
    pub fn encode(&self, tok: &Tokenizer, messages: &[Message]) -> Result<Vec<u32>> {
        let text = self.template.render(messages, &self.opts)?;
        // Templates that write the BOS text themselves get no second BOS.
        let bos = &self.opts.bos_token;
        let add_bos = tok.add_bos_default() && (bos.is_empty() || !text.starts_with(bos));
        tok.encode(&text, add_bos, true)
    }
}

/// The system message: the system prompt, then the project notes and files in context.
pub fn system_message(system: &str, notes: Option<&Notes>, files: &[ContextFile]) -> Message {
    let context = render_context(notes, files);
    match context.is_empty() {
        true => Message::system(system),
        false => Message::system(format!("{system}\n\n{context}")),
    }
}

/// A fenced block of context, labelled with where it came from.
pub fn context_block(label: &str, text: &str) -> String {
    let fence = fence_for(text);
    format!("{label}:\n{fence}\n{}\n{fence}\n\n", text.trim_end_matches('\n'))
}

/// A user message: context blocks (files, then piped input) followed by the question.
pub fn user_message(question: &str, files: &[(String, String)], stdin: Option<&str>) -> String {
    let mut msg = String::new();
    for (path, text) in files {
        msg.push_str(&context_block(&format!("File `{path}`"), text));
    }
    if let Some(text) = stdin.filter(|t| !t.trim().is_empty()) {
        msg.push_str(&context_block("Input", text));
    }
    msg.push_str(question);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_message_puts_context_before_the_question() {
        let files = vec![("a.rs".to_string(), "fn a() {}\n".to_string())];
        let msg = user_message("find the bug", &files, Some("x = 1"));
        assert_eq!(
            msg,
            "File `a.rs`:\n```\nfn a() {}\n```\n\nInput:\n```\nx = 1\n```\n\nfind the bug"
        );
    }

    #[test]
    fn fences_grow_around_text_with_fences() {
        assert!(context_block("Input", "```rust\nx\n```").starts_with("Input:\n````\n"));
    }

    #[test]
    fn the_system_message_carries_files_after_the_prompt() {
        assert_eq!(system_message("be brief", None, &[]).content, "be brief");
    }
}
