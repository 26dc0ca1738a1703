//! `hearth acp`: the Agent Client Protocol (v1) agent over stdin/stdout, for editors
//! (Zed, JetBrains, Neovim plugins). Newline-delimited JSON-RPC 2.0; only protocol
//! messages go to stdout, logs to stderr; EOF on stdin ends it (exit 0).
//!
//! `rpc` frames lines, `server` is the read loop, `session` the worker that owns the
//! conversations, `prompt` reads content blocks, `edits` turns proposed changes into
//! permissioned tool calls, `tools` shows the model's own tool calls (and asks for them), `files` reaches files inside a session's `cwd`, and
//! `assistant` binds all of it to the assistant layer through the `backend` traits.

mod assistant;
pub mod backend;
mod edits;
mod files;
mod prompt;
pub mod rpc;
pub mod server;
mod session;
mod terminal;
mod tools;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::assistant::Config;
use crate::cli::AcpArgs;
use crate::error::Result;

pub fn run(args: &AcpArgs) -> Result<()> {
    let config = Config {
        model: args.model.config(),
        sampling: args.sampling.config(),
        prompt: args.prompt.config(),
        session: None,
    };
    // Settings that cannot work fail now, not at the first prompt.
    config.sampling.params.validate()?;
    let peer = Arc::new(rpc::Peer::new(Box::new(std::io::stdout())));
    let stdin = std::io::stdin().lock();
    let remote =
        args.remote.as_deref().map(|s| crate::remote::config::resolve(s, None)).transpose()?;
    server::serve(stdin, peer, assistant::AssistantBackend::new(config, args.tools, remote));
    Ok(())
}
