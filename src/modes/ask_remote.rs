//! `hearth ask --remote URL`: the question (with its files and piped input) sent to an
//! OpenAI-compatible server, the answer streamed to stdout as it comes; the local model
//! is not loaded. A failure is one line on stderr; an answer cut mid-stream keeps what
//! came on stdout and says so on stderr (exit 1).

use super::ask::SYSTEM_PROMPT;
use super::output;
use crate::chat::Message;
use crate::cli::AskArgs;
use crate::error::{Error, Result};
use crate::remote::ChatRequest;

/// Runs `ask` on the remote `url`.
pub fn run(args: &AskArgs, url: &str, message: String) -> Result<()> {
    let endpoint = crate::remote::config::resolve(url, args.remote_model.clone())?;
    let model = endpoint.model()?;
    let system =
        args.prompt.system_prompt.clone().unwrap_or_else(|| SYSTEM_PROMPT.trim().to_string());
    let req = ChatRequest {
        messages: vec![Message::new("system", system), Message::user(message)],
        temperature: args.sampling.temp,
        top_p: Some(args.sampling.top_p),
        max_tokens: args.prompt.n_predict,
        tools: None,
    };
    let mut printed: Result<()> = Ok(());
    let end = endpoint.chat(&model, &req, &mut |t| {
        if printed.is_ok() {
            printed = output::print(t);
        }
    })?;
    printed?;
    if output::stdout_closed() {
        return Ok(());
    }
    output::print("\n")?;
    if std::env::var_os("HEARTH_VERBOSE").is_some() {
        let u = end.usage.unwrap_or_default();
        eprintln!(
            "remote {} ({model}): prompt {} tokens ({} cached), answer {} tokens, finish: {}",
            endpoint.base,
            u.prompt_tokens,
            u.cached_tokens,
            u.completion_tokens,
            end.finish_reason.as_deref().unwrap_or("-")
        );
    }
    match end.cut {
        Some(why) => Err(Error::failed(format!(
            "remote {}: {why}; the answer above is partial",
            endpoint.base
        ))),
        None => Ok(()),
    }
}
