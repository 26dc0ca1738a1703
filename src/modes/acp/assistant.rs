//! The real [`Backend`]: one model, loaded on the first session, shared by every
//! conversation; each conversation an [`Assistant`] bound to its stored session (KV
//! snapshot restored on load, each turn saved).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::backend::{Backend, Conversation, Listed, Role, Stop, TurnOut, TurnResult};
use crate::assistant::conversation::Conversation as Stored;
use crate::assistant::tools::Permissions;
use crate::assistant::{
    load, Assistant, Config, Loaded, Notice, Setup, TurnEvent, DEFAULT_MAX_STEPS,
};
use crate::engine::generate::StopReason;
use crate::engine::stream::Event;
use crate::error::{Error, ErrorKind, Result};
use crate::remote::Endpoint;
use crate::store::Store;

/// The system prompt of the ACP face: the REPL's (files under their paths, changes as a
/// path and a code block or SEARCH/REPLACE blocks).
const SYSTEM_PROMPT: &str = include_str!("../../../prompts/chat-system.md");

/// How a prompt that does not fit is answered.
const BUDGET_HINT: &str = "send /compact or /clear, start a new session, or raise -c";

pub struct AssistantBackend {
    config: Config,
    /// Offer the model the project's tools (`--tools`).
    tools: bool,
    /// Every turn on this remote engine (`--remote`).
    remote: Option<Endpoint>,
    loaded: Option<Loaded>,
}

impl AssistantBackend {
    pub fn new(config: Config, tools: bool, remote: Option<Endpoint>) -> AssistantBackend {
        AssistantBackend { config, tools, remote, loaded: None }
    }

    /// The model, loaded on first use (a failure is answered, and tried again next time).
    fn loaded(&mut self) -> Result<Loaded> {
        if let Some(loaded) = &self.loaded {
            return Ok(loaded.clone());
        }
        let loaded = load::load(&self.config.model)?;
        eprintln!("hearth: acp: model {} on {} loaded", loaded.name(), loaded.backend_label());
        self.loaded = Some(loaded.clone());
        Ok(loaded)
    }

    fn open(&mut self, cwd: &Path, conv: Stored, cancel: Arc<AtomicBool>) -> Result<AssistantConv> {
        let loaded = self.loaded()?;
        let setup = Setup {
            system: SYSTEM_PROMPT.trim().to_string(),
            cwd: cwd.to_path_buf(),
            notes: true,
            reserve_answer: true,
            budget_hint: BUDGET_HINT.to_string(),
        };
        let mut assistant = Assistant::with_loaded(loaded, &self.config, setup, Some(conv))?;
        assistant.set_cancel_flag(cancel);
        if let Some(endpoint) = &self.remote {
            assistant.set_remote(endpoint.clone());
            assistant.escalate(None)?;
        }
        if self.tools {
            // Every edit and command goes through session/request_permission.
            assistant.enable_tools(Permissions::default(), DEFAULT_MAX_STEPS);
            // Commands go to the client's terminal when it offers one (`tools.rs`).
            assistant.delegate_commands();
        }
        Ok(AssistantConv { assistant })
    }
}

impl Backend for AssistantBackend {
    type Conv = AssistantConv;

    fn create(&mut self, id: &str, cwd: &Path, cancel: Arc<AtomicBool>) -> Result<AssistantConv> {
        let conv = Stored::open(id)?;
        if conv.row.is_some() {
            return Err(Error::usage(format!("a session named '{id}' already exists")));
        }
        self.open(cwd, conv, cancel)
    }

    fn load(&mut self, id: &str, cwd: &Path, cancel: Arc<AtomicBool>) -> Result<AssistantConv> {
        let store = Store::open_default()?;
        let row = store.resolve_session(id)?;
        drop(store);
        let conv = Stored::open(&row.label())?;
        self.open(cwd, conv, cancel)
    }

    fn list(&mut self) -> Result<Vec<Listed>> {
        let rows = Store::open_default()?.sessions()?;
        Ok(rows
            .into_iter()
            .map(|r| Listed { id: r.label(), title: r.title.clone(), updated: r.updated })
            .collect())
    }
}

pub struct AssistantConv {
    assistant: Assistant,
}

fn notice_text(n: Notice) -> String {
    match n {
        Notice::Info(s) | Notice::Error(s) => s,
    }
}

impl Conversation for AssistantConv {
    fn history(&self) -> Vec<(Role, String)> {
        let role = |r: &str| if r == "user" { Role::User } else { Role::Agent };
        self.assistant
            .history()
            .iter()
            .filter(|m| m.role == "user" || m.role == "assistant")
            .map(|m| (role(&m.role), m.content.clone()))
            .collect()
    }

    fn turn(&mut self, message: String, out: &mut dyn FnMut(TurnOut)) -> Result<TurnResult> {
        let mut notices = Vec::new();
        let end = self.assistant.ask(message, &mut |ev| match ev {
            TurnEvent::Text(t) => out(TurnOut::Text(&t)),
            TurnEvent::Notice(n) => notices.push(notice_text(n)),
            TurnEvent::ToolCall(a) => out(TurnOut::Call(&a)),
            TurnEvent::Approve(ap) => out(TurnOut::Approve(ap)),
            TurnEvent::ToolResult(a, o) => out(TurnOut::Result(&a, &o)),
            TurnEvent::Execute(ex) => out(TurnOut::Execute(ex)),
            TurnEvent::Speed(_) | TurnEvent::Forming(_) => {}
        });
        for n in notices {
            eprintln!("hearth: acp: {n}");
        }
        if let Some(e) = &end.save_error {
            eprintln!("hearth: warning: the turn was not saved: {e}");
        }
        if let (true, Event::Error(e)) = (end.tool_stop, &end.end) {
            // Not a failure of the request: the answer ends, saying why.
            out(TurnOut::Text(&format!("\n\n[{e}]")));
            return Ok(TurnResult { answer: end.answer, stop: Stop::MaxTurnRequests });
        }
        let stop = match &end.end {
            Event::Done(stats) => {
                if std::env::var_os("HEARTH_VERBOSE").is_some() {
                    eprintln!("{}", stats.summary());
                }
                match stats.stop {
                    StopReason::Length | StopReason::ContextFull => Stop::MaxTokens,
                    StopReason::Cancelled => Stop::Cancelled,
                    _ => Stop::EndTurn,
                }
            }
            Event::Error(e) if e.kind() == ErrorKind::Interrupted => Stop::Cancelled,
            Event::Error(e) => return Err(Error::new(e.kind(), e.to_string())),
            Event::Text(_) => return Err(Error::failed("the answer ended without a result")),
        };
        Ok(TurnResult { answer: end.answer, stop })
    }

    fn note(&mut self, text: &str) {
        self.assistant.note(text);
    }

    fn command(&mut self, name: &str) -> String {
        match name {
            "clear" => self.assistant.clear(),
            "compact" => self.assistant.compact(),
            "tokens" => self.assistant.tokens(),
            other => return format!("unknown command /{other}"),
        }
        let lines: Vec<String> =
            self.assistant.take_notices().into_iter().map(notice_text).collect();
        lines.join("\n")
    }

    fn notices(&mut self) -> Vec<String> {
        self.assistant.take_notices().into_iter().map(notice_text).collect()
    }

    fn usage(&self) -> (u64, u64) {
        (self.assistant.ctx_used() as u64, self.assistant.n_ctx() as u64)
    }
}
