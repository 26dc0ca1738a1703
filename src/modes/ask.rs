//! `hearth ask`: one chat-templated question with a coding-assistant system prompt;
//! files given with -f and piped stdin go in as context; the answer streams to stdout.

use super::{input, load, output};
use crate::chat::{ChatTemplate, Message, RenderOptions};
use crate::cli::AskArgs;
use crate::engine::generate::{generate, Request};
use crate::error::{Error, Result};

/// The built-in system prompt of `ask`.
pub const SYSTEM_PROMPT: &str = include_str!("../../prompts/ask-system.md");

/// A fenced block of context, labelled with where it came from.
fn context_block(label: &str, text: &str) -> String {
    let fence = if text.contains("```") { "````" } else { "```" };
    format!("{label}:\n{fence}\n{}\n{fence}\n\n", text.trim_end_matches('\n'))
}

/// The user's message: context blocks (files, then stdin) followed by the question.
fn user_message(question: &str, files: &[(String, String)], stdin: Option<&str>) -> String {
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

pub fn run(args: &AskArgs) -> Result<()> {
    let question = args.question.join(" ");
    if question.trim().is_empty() {
        return Err(Error::usage("the question is empty"));
    }
    let files = args
        .files
        .iter()
        .map(|p| Ok((p.display().to_string(), input::read_text_file(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let stdin = input::read_piped_stdin()?;
    let mut sampler = load::sampler(&args.sampling)?;
    let loaded = load::load(&args.model)?;
    let meta = loaded.model.file.metadata();
    let template = match &args.chat_template_file {
        Some(path) => ChatTemplate::from_file(path)?,
        None => ChatTemplate::from_gguf(meta).map_err(|e| e.with_file(loaded.model.file.path()))?,
    };
    let system = args.system_prompt.as_deref().unwrap_or(SYSTEM_PROMPT.trim());
    let messages =
        [Message::system(system), Message::user(user_message(&question, &files, stdin.as_deref()))];
    let opts = RenderOptions::from_gguf(meta)?;
    let text = template.render(&messages, &opts)?;
    let tok = &loaded.tokenizer;
    // Templates that write the BOS text themselves get no second BOS.
    let add_bos =
        tok.add_bos_default() && (opts.bos_token.is_empty() || !text.starts_with(&opts.bos_token));
    let prompt = tok.encode(&text, add_bos, true)?;
    let n_ctx = args.model.ctx_size(loaded.model.hp.n_ctx_train);
    if prompt.len() >= n_ctx {
        return Err(Error::bad_input(format!(
            "the question and its context are {} tokens, the context {n_ctx}: raise -c or give less",
            prompt.len()
        )));
    }
    let mut session = load::session(&loaded.model, n_ctx, &args.model)?;
    let req = Request {
        prompt: &prompt,
        max_tokens: Some(args.n_predict.min(n_ctx - prompt.len())),
        ignore_eos: false,
        stop: args.sampling.stop.clone(),
        cancel: None,
    };
    let stats = generate(&mut session, tok, &mut sampler, &req, &mut |t| output::print(t))?;
    output::print("\n")?;
    if std::env::var_os("HEARTH_VERBOSE").is_some() {
        eprintln!("{}", stats.summary());
    }
    Ok(())
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
    fn system_prompt_is_not_empty() {
        assert!(SYSTEM_PROMPT.contains("coding assistant"));
    }
}
