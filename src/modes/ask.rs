//! `hearth ask`: one chat-templated question with a coding-assistant system prompt;
//! files given with -f and piped stdin go in as context; the answer streams to stdout.

use super::conversation::Conversation;
use super::{input, load, output};
use crate::backend::KvType;
use crate::chat::{ChatTemplate, Message, RenderOptions};
use crate::cli::{AskArgs, ModelArgs};
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
    let mut conv = args.session.as_deref().map(Conversation::open).transpose()?;
    let model_args = match &conv {
        Some(c) => with_session_defaults(&args.model, c),
        None => args.model.clone(),
    };
    let loaded = load::load(&model_args)?;
    let mut messages = match &conv {
        Some(c) => c.history()?,
        None => Vec::new(),
    };
    let mut new_messages = Vec::new();
    if messages.is_empty() {
        let system = args.prompt.system_prompt.as_deref().unwrap_or(SYSTEM_PROMPT.trim());
        messages.push(Message::system(system));
        new_messages.push(messages[0].clone());
    } else if args.prompt.system_prompt.is_some() {
        return Err(Error::usage(
            "--system-prompt: this session already has one (start a new session to change it)",
        ));
    }
    messages.push(Message::user(user_message(&question, &files, stdin.as_deref())));
    new_messages.push(messages[messages.len() - 1].clone());
    let prompt = render_prompt(args, &loaded, &messages)?;
    let n_ctx = model_args.ctx_size(loaded.model.hp.n_ctx_train);
    if prompt.len() >= n_ctx {
        let what = if conv.is_some() { "the conversation" } else { "the question and its context" };
        return Err(Error::bad_input(format!(
            "{what} is {} tokens, the context {n_ctx}: raise -c or give less",
            prompt.len()
        )));
    }
    let mut session = load::session(&loaded.model, n_ctx, &model_args)?;
    if let Some(c) = &mut conv {
        c.bind_model(&loaded.model)?;
        c.restore(&mut session);
    }
    let req = Request {
        prompt: &prompt,
        max_tokens: Some(args.prompt.n_predict.min(n_ctx - prompt.len())),
        ignore_eos: false,
        stop: args.sampling.stop.clone(),
        cancel: None,
    };
    let mut answer = String::new();
    let stats = generate(&mut session, &loaded.tokenizer, &mut sampler, &req, &mut |t| {
        answer.push_str(t);
        output::print(t)
    })?;
    output::print("\n")?;
    if std::env::var_os("HEARTH_VERBOSE").is_some() {
        eprintln!("{}", stats.summary());
    }
    if let Some(c) = &mut conv {
        let count =
            |m: &Message| loaded.tokenizer.encode(&m.content, false, false).map_or(0, |t| t.len());
        let mut rows: Vec<_> =
            new_messages.iter().map(|m| (m.role.clone(), m.content.clone(), count(m))).collect();
        rows.push(("assistant".to_string(), answer, stats.n_generated));
        c.commit(&session, rows)?;
    }
    Ok(())
}

/// The model, context size and cache types a stored session used, where the command
/// line does not say otherwise, so that its snapshot fits.
pub(crate) fn with_session_defaults(args: &ModelArgs, conv: &Conversation) -> ModelArgs {
    let mut out = args.clone();
    if out.model.is_none() {
        out.model = conv.model_path();
    }
    if out.ctx_size.is_none() {
        out.ctx_size = conv.setting("n_ctx").and_then(|v| v.as_u64()).map(|n| n as usize);
    }
    let kv = |key: &str| conv.setting(key).and_then(|v| v.as_str()).and_then(KvType::parse);
    out.cache_type_k = out.cache_type_k.or_else(|| kv("cache_type_k"));
    out.cache_type_v = out.cache_type_v.or_else(|| kv("cache_type_v"));
    out
}

/// The conversation rendered by the chat template, ready for the answer, as tokens.
fn render_prompt(args: &AskArgs, loaded: &load::Loaded, messages: &[Message]) -> Result<Vec<u32>> {
    let (template, opts) = chat_template(args.prompt.chat_template_file.as_deref(), loaded)?;
    encode_chat(&loaded.tokenizer, &template, &opts, messages)
}

/// The chat template (`--chat-template-file`, else the model's) and its render options.
pub(crate) fn chat_template(
    file: Option<&std::path::Path>,
    loaded: &load::Loaded,
) -> Result<(ChatTemplate, RenderOptions)> {
    let meta = loaded.model.file.metadata();
    let template = match file {
        Some(path) => ChatTemplate::from_file(path)?,
        None => ChatTemplate::from_gguf(meta).map_err(|e| e.with_file(loaded.model.file.path()))?,
    };
    Ok((template, RenderOptions::from_gguf(meta)?))
}

/// `messages` rendered by `template`, ready for the answer, as tokens.
pub(crate) fn encode_chat(
    tok: &crate::tokenizer::Tokenizer,
    template: &ChatTemplate,
    opts: &RenderOptions,
    messages: &[Message],
) -> Result<Vec<u32>> {
    let text = template.render(messages, opts)?;
    // Templates that write the BOS text themselves get no second BOS.
    let add_bos =
        tok.add_bos_default() && (opts.bos_token.is_empty() || !text.starts_with(&opts.bos_token));
    tok.encode(&text, add_bos, true)
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
