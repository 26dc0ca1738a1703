//! `hearth serve`: the loaded model behind an OpenAI-compatible HTTP API, for the tools
//! people already use (aider, Continue, opencode, Open WebUI): `/v1/chat/completions`
//! (streamed or not, with tools), `/v1/completions`, `/v1/models`, `/health`. One model,
//! one request at a time (others wait their turn); one KV cache kept between requests,
//! so a conversation that comes back with one more turn is read only from where it
//! grew (`usage.prompt_tokens_details.cached_tokens` says how much was reused).

mod completion;
mod http;

use std::sync::atomic::AtomicBool;

use serde_json::{json, Value};

use crate::assistant::load::{self, Loaded};
use crate::assistant::prompt::ChatFormat;
use crate::assistant::SamplingConfig;
use crate::backend::any::AnyBackend;
use crate::chat::CallFormat;
use crate::cli::ServeArgs;
use crate::engine::session::Session;
use crate::error::{Error, Result};
use http::{Out, Route};

/// What every request works with: the model, its chat format, the one KV cache.
pub struct Engine {
    loaded: Loaded,
    format: ChatFormat,
    session: Session<AnyBackend>,
    n_ctx: usize,
    /// The sampling settings of the command line, which a request may override.
    sampling: SamplingConfig,
    /// The model's name in `/v1/models` and in answers.
    name: String,
    /// How the model writes tool calls, when its template knows tools.
    calls: Option<CallFormat>,
    /// Set when the client of a streamed answer goes away.
    gone: AtomicBool,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let config = args.model.config();
    let loaded = load::load(&config)?;
    let format = ChatFormat::new(args.prompt.chat_template_file.as_deref(), &loaded)?;
    let n_ctx = config.ctx_size(loaded.model.hp.n_ctx_train);
    let session = load::session(&loaded.model, n_ctx, &config)?;
    let calls = CallFormat::detect(format.template.text());
    let name = loaded.name();
    let mut engine = Engine {
        loaded,
        format,
        session,
        n_ctx,
        sampling: args.sampling.config(),
        name,
        calls,
        gone: AtomicBool::new(false),
    };
    let addr = format!("{}:{}", args.host, args.port);
    let server = tiny_http::Server::http(&addr)
        .map_err(|e| Error::usage(format!("--host/--port {addr}: cannot listen ({e})")))?;
    eprintln!(
        "hearth: serving {} on http://{addr}/v1 ({}, context {n_ctx}); one request at a time",
        engine.name,
        engine.loaded.backend_label()
    );
    for request in server.incoming_requests() {
        http::serve(request, args.api_key.as_deref(), &mut |route, out| {
            route_to(&mut engine, route, out)
        });
    }
    Ok(())
}

/// Answers one request.
fn route_to(engine: &mut Engine, route: Route, out: Out) {
    match route {
        Route::Health => out.json((200, health(engine))),
        Route::Models => out.json((200, models(engine))),
        Route::Chat(body) => completion::chat(engine, &body, out),
        Route::Completion(body) => completion::text(engine, &body, out),
    }
}

fn health(engine: &Engine) -> Value {
    json!({
        "status": "ok",
        "model": engine.name,
        "n_ctx": engine.n_ctx,
        "backend": engine.loaded.backend_label(),
        "scheduling": "one request at a time, others queued; continuous batching is a later step",
    })
}

fn models(engine: &Engine) -> Value {
    json!({
        "object": "list",
        "data": [{"id": engine.name, "object": "model", "created": 0, "owned_by": "hearth"}],
    })
}
