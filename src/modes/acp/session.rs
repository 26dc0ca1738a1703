//! The worker: owns the backend and the open conversations and answers the model work in
//! order — `session/new`, `session/load` (history replayed, KV cache restored),
//! `session/list`, and `session/prompt` (the answer streamed as chunks, proposed edits
//! offered as tool calls, a usage update, the stop reason); plus `initialize`'s answer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use agent_client_protocol_schema::v1 as acp;

use super::backend::{Backend, Conversation, Role, Stop, TurnOut, COMMANDS};
use super::edits::{self, update};
use super::files::Fs;
use super::prompt::{self, Input};
use super::rpc::{self, Peer, RpcError};
use super::server::{lock, Caps, Ctl, Ctls, Job};
use super::tools;

/// `initialize`'s answer; records what the client can do.
pub fn initialize(req: &acp::InitializeRequest, caps: &Caps) -> acp::InitializeResponse {
    let c = &req.client_capabilities;
    *lock(caps) = super::server::ClientCaps {
        read_text_file: c.fs.read_text_file,
        write_text_file: c.fs.write_text_file,
        notices: c.session.as_ref().is_some_and(|s| s.notices.is_some()),
        terminal: c.terminal,
    };
    let prompt = acp::PromptCapabilities::new().embedded_context(true);
    let sessions = acp::SessionCapabilities::new().list(acp::SessionListCapabilities::new());
    let agent = acp::AgentCapabilities::new()
        .load_session(true)
        .prompt_capabilities(prompt)
        .session_capabilities(sessions);
    acp::InitializeResponse::new(agent_client_protocol_schema::ProtocolVersion::V1)
        .agent_capabilities(agent)
        .agent_info(acp::Implementation::new("hearth", env!("CARGO_PKG_VERSION")))
}

struct Open<C> {
    conv: C,
    /// Canonical.
    cwd: PathBuf,
    /// Files shown to the model in this conversation (relative to `cwd`): edits may go
    /// to these, or create new files.
    shown: Vec<String>,
}

pub struct Worker<B: Backend> {
    backend: B,
    peer: Arc<Peer>,
    ctls: Ctls,
    caps: Caps,
    open: HashMap<String, Open<B::Conv>>,
    /// Edits offered so far (tool call ids).
    n_calls: usize,
}

impl<B: Backend> Worker<B> {
    pub fn new(backend: B, peer: Arc<Peer>, ctls: Ctls, caps: Caps) -> Worker<B> {
        Worker { backend, peer, ctls, caps, open: HashMap::new(), n_calls: 0 }
    }

    pub fn run(mut self, jobs: Receiver<Job>) {
        for job in jobs {
            match job {
                Job::New { id, req } => {
                    let resp = self.new_session(&req);
                    let sid = resp.as_ref().ok().map(|r| r.session_id.to_string());
                    self.peer.reply(id, resp);
                    if let Some(sid) = sid {
                        self.after_open(&sid, &req.mcp_servers);
                    }
                }
                Job::Load { id, req } => {
                    // The replay, commands and context use come before the answer,
                    // which tells the client the session is ready.
                    let resp = self.load_session(&req);
                    if resp.is_ok() {
                        self.after_open(&req.session_id.0, &req.mcp_servers);
                    }
                    self.peer.reply(id, resp);
                }
                Job::List { id, req } => {
                    let resp = self.list(&req);
                    self.peer.reply(id, resp);
                }
                Job::Prompt { id, req, ctl } => {
                    let resp = self.prompt(&req, &ctl);
                    ctl.busy.store(false, Ordering::SeqCst);
                    self.peer.reply(id, resp);
                }
            }
        }
    }

    fn new_session(
        &mut self,
        req: &acp::NewSessionRequest,
    ) -> Result<acp::NewSessionResponse, RpcError> {
        let cwd = canonical_dir(&req.cwd)?;
        let sid = new_id();
        let ctl = Arc::new(Ctl::default());
        let conv = self
            .backend
            .create(&sid, &cwd, Arc::clone(&ctl.cancel))
            .map_err(|e| RpcError::from_error(&e))?;
        self.register(sid.clone(), ctl, Open { conv, cwd, shown: Vec::new() });
        Ok(acp::NewSessionResponse::new(sid))
    }

    /// Loads a stored session: its history goes to the client as message chunks before
    /// the answer, as the protocol asks.
    fn load_session(
        &mut self,
        req: &acp::LoadSessionRequest,
    ) -> Result<acp::LoadSessionResponse, RpcError> {
        let cwd = canonical_dir(&req.cwd)?;
        let sid = req.session_id.0.to_string();
        if let Some(ctl) = lock(&self.ctls).get(&sid) {
            if ctl.busy.load(Ordering::SeqCst) {
                return Err(RpcError::invalid_params(format!(
                    "sessionId: session {sid:?} is answering a prompt"
                )));
            }
        }
        let ctl = Arc::new(Ctl::default());
        let conv = match self.backend.load(&sid, &cwd, Arc::clone(&ctl.cancel)) {
            Ok(conv) => conv,
            Err(e) if e.kind() == crate::error::ErrorKind::Usage => {
                return Err(RpcError::new(rpc::RESOURCE_NOT_FOUND, format!("sessionId: {e}")))
            }
            Err(e) => return Err(RpcError::from_error(&e)),
        };
        for (role, text) in conv.history() {
            let chunk = acp::ContentChunk::new(acp::ContentBlock::from(text));
            let upd = match role {
                Role::User => acp::SessionUpdate::UserMessageChunk(chunk),
                Role::Agent => acp::SessionUpdate::AgentMessageChunk(chunk),
            };
            self.peer.notify("session/update", &acp::SessionNotification::new(sid.clone(), upd));
        }
        self.register(sid, ctl, Open { conv, cwd, shown: Vec::new() });
        Ok(acp::LoadSessionResponse::new())
    }

    fn register(&mut self, sid: String, ctl: Arc<Ctl>, open: Open<B::Conv>) {
        lock(&self.ctls).insert(sid.clone(), ctl);
        self.open.insert(sid, open);
    }

    /// After a session opened: what it does not take (MCP servers), its commands, what
    /// loading said, and its context use.
    fn after_open(&mut self, sid: &str, mcp: &[acp::McpServer]) {
        let notify = |upd| {
            self.peer.notify("session/update", &acp::SessionNotification::new(sid.to_string(), upd))
        };
        if !mcp.is_empty() {
            let text = format!(
                "hearth runs offline and does not connect to MCP servers; {} server(s) not used.\n",
                mcp.len()
            );
            notify(acp::SessionUpdate::AgentMessageChunk(acp::ContentChunk::new(text.into())));
        }
        let commands =
            COMMANDS.iter().map(|(name, what)| acp::AvailableCommand::new(*name, *what)).collect();
        notify(acp::SessionUpdate::AvailableCommandsUpdate(acp::AvailableCommandsUpdate::new(
            commands,
        )));
        if let Some(open) = self.open.get_mut(sid) {
            for n in open.conv.notices() {
                eprintln!("hearth: acp: {n}");
            }
            let (used, size) = open.conv.usage();
            notify(acp::SessionUpdate::UsageUpdate(acp::UsageUpdate::new(used, size)));
        }
    }

    fn list(
        &mut self,
        req: &acp::ListSessionsRequest,
    ) -> Result<acp::ListSessionsResponse, RpcError> {
        let rows = self.backend.list().map_err(|e| RpcError::from_error(&e))?;
        // The store does not record a session's directory: each is shown under the one
        // asked for, else this process's.
        let cwd = match &req.cwd {
            Some(c) => c.clone(),
            None => std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        };
        let sessions = rows
            .into_iter()
            .map(|r| {
                let updated =
                    chrono::DateTime::from_timestamp(r.updated, 0).map(|t| t.to_rfc3339());
                acp::SessionInfo::new(r.id, cwd.clone())
                    .title((!r.title.is_empty()).then_some(r.title))
                    .updated_at(updated)
            })
            .collect();
        Ok(acp::ListSessionsResponse::new(sessions))
    }

    fn prompt(
        &mut self,
        req: &acp::PromptRequest,
        ctl: &Ctl,
    ) -> Result<acp::PromptResponse, RpcError> {
        let sid = req.session_id.0.to_string();
        let caps = lock(&self.caps).clone();
        let n_calls = &mut self.n_calls;
        let Some(open) = self.open.get_mut(&sid) else {
            return Err(RpcError::new(
                rpc::RESOURCE_NOT_FOUND,
                format!("sessionId: no session {sid:?}"),
            ));
        };
        let fs =
            Fs { peer: &self.peer, caps, session_id: &sid, cwd: &open.cwd, cancel: &ctl.cancel };
        let input = prompt::build(&req.prompt, &fs)?;
        let text = match input {
            Input::Command(name) => {
                let said = open.conv.command(&name);
                let chunk = acp::ContentChunk::new(format!("{said}\n").into());
                update(&fs, acp::SessionUpdate::AgentMessageChunk(chunk));
                send_usage(&fs, &open.conv);
                return Ok(acp::PromptResponse::new(acp::StopReason::EndTurn));
            }
            Input::Message { text, shown } => {
                for s in shown {
                    if !open.shown.contains(&s) {
                        open.shown.push(s);
                    }
                }
                text
            }
        };
        let mut calls = tools::Calls::default();
        let result = open.conv.turn(text, &mut |out| match out {
            TurnOut::Text(t) => {
                let chunk = acp::ContentChunk::new(t.to_string().into());
                update(&fs, acp::SessionUpdate::AgentMessageChunk(chunk));
            }
            TurnOut::Call(a) => calls.running(a, &fs),
            TurnOut::Approve(ap) => calls.approve(ap, &fs),
            TurnOut::Result(a, o) => calls.result(a, o, &fs),
            TurnOut::Execute(ex) => calls.execute(ex, &fs),
        });
        for n in open.conv.notices() {
            eprintln!("hearth: acp: {n}");
        }
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                send_usage(&fs, &open.conv);
                return Err(RpcError::from_error(&e));
            }
        };
        let mut stop = result.stop;
        if stop != Stop::Cancelled {
            let (changes, problems) = edits::proposals(&result.answer, &open.shown, &fs);
            let mut results = Vec::new();
            for change in changes {
                *n_calls += 1;
                let outcome = edits::offer(&change, &format!("edit-{n_calls}"), &fs);
                if outcome == edits::Outcome::Cancelled {
                    stop = Stop::Cancelled;
                }
                results.push((change, outcome));
            }
            if let Some(note) = edits::note(&results, &problems) {
                open.conv.note(&note);
            }
        }
        send_usage(&fs, &open.conv);
        Ok(acp::PromptResponse::new(match stop {
            Stop::EndTurn => acp::StopReason::EndTurn,
            Stop::MaxTokens => acp::StopReason::MaxTokens,
            Stop::MaxTurnRequests => acp::StopReason::MaxTurnRequests,
            Stop::Cancelled => acp::StopReason::Cancelled,
        }))
    }
}

fn send_usage(fs: &Fs, conv: &impl Conversation) {
    let (used, size) = conv.usage();
    update(fs, acp::SessionUpdate::UsageUpdate(acp::UsageUpdate::new(used, size)));
}

/// A session id no stored session has: `acp-` with the time and the process.
fn new_id() -> String {
    use std::sync::atomic::AtomicUsize;
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    format!("acp-{t}-{}-{n}", std::process::id())
}

/// The canonical form of the session's directory; it must exist.
fn canonical_dir(cwd: &Path) -> Result<PathBuf, RpcError> {
    match cwd.canonicalize() {
        Ok(p) if p.is_dir() => Ok(p),
        Ok(_) => {
            Err(RpcError::invalid_params(format!("cwd: {} is not a directory", cwd.display())))
        }
        Err(e) => Err(RpcError::invalid_params(format!("cwd: {}: {e}", cwd.display()))),
    }
}
