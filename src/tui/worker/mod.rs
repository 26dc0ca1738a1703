//! The REPL's worker thread: it owns the [`Assistant`] (model, session and KV cache,
//! files in context, stored conversation, edit log), takes [`Request`]s from the event
//! loop and reports back as [`Msg`]s. A turn streams from the engine's own generating
//! thread, so the event loop never waits on the model.

mod jobs;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use super::update::{Msg, Reply, Request};
use super::view::{parse_unified, DiffLine, DiffLineKind, Role, StatusView, ToolResultView};
use super::ChatConfig;
use crate::assistant::tools::{Decision, Outcome, Permissions};
use crate::assistant::{Assistant, Notice, Setup, TurnEnd, TurnEvent, DEFAULT_MAX_STEPS};
use crate::context::edits::Plan;
use crate::engine::stream::Event;
use crate::error::{Error, Result};
use crate::store::Store;

/// The REPL's built-in system prompt.
pub const SYSTEM_PROMPT: &str = include_str!("../../../prompts/chat-system.md");

/// What the REPL names when a prompt does not fit.
const BUDGET_HINT: &str =
    "/drop files, /compact the conversation, /clear it, or restart with a larger -c";

pub struct Worker {
    assistant: Assistant,
    /// `--session NAME`, shown before the session's first turn creates it.
    session_name: Option<String>,
    /// What the last `/apply` showed, awaiting the user's yes.
    pending: Option<Plan>,
    tx: Sender<Msg>,
    /// The event loop's requests, read here while a tool call waits for its yes.
    requests: Option<Receiver<Request>>,
    /// Notices for the first screen (files added by -f, a resumed session…).
    pub startup: Vec<String>,
}

/// The stored session `--session`/`--resume` name, if any.
fn session_name(chat: &ChatConfig) -> Result<Option<String>> {
    match (&chat.config.session, chat.resume) {
        (Some(name), _) => Ok(Some(name.clone())),
        (None, false) => Ok(None),
        (None, true) => {
            let store = Store::open_default()?;
            let last = store.sessions()?.into_iter().next();
            match last {
                Some(row) => Ok(Some(row.label())),
                None => Err(Error::usage("--resume: there is no stored session yet")),
            }
        }
    }
}

/// A notice as a line of the first screen.
fn notice_line(n: Notice) -> String {
    match n {
        Notice::Info(s) | Notice::Error(s) => s,
    }
}

impl Worker {
    /// Loads the model and opens the session before the screen changes, so a failure is
    /// the usual one-line error and exit code.
    pub fn new(chat: &ChatConfig, tx: Sender<Msg>) -> Result<Worker> {
        let mut config = chat.config.clone();
        config.session = session_name(chat)?;
        let cwd = std::env::current_dir().map_err(|e| Error::io(Path::new("."), e))?;
        let setup = Setup {
            system: SYSTEM_PROMPT.trim().to_string(),
            cwd,
            notes: true,
            reserve_answer: true,
            budget_hint: BUDGET_HINT.to_string(),
        };
        let mut assistant = Assistant::open(&config, setup)?;
        let mut startup: Vec<String> =
            assistant.take_notices().into_iter().map(notice_line).collect();
        if !chat.files.is_empty() {
            startup.extend(assistant.add_files(&chat.files, false));
        }
        if let Some(url) = &chat.remote {
            assistant.set_remote(crate::remote::config::resolve(url, None)?);
        }
        if chat.tools {
            let allow = Permissions::parse_list(&chat.allow.join(",")).map_err(Error::usage)?;
            let format = assistant.enable_tools(Permissions::new(allow), DEFAULT_MAX_STEPS);
            if let Some(format) = format {
                startup.push(format!(
                    "tools on ({} calls): reading and searching are free; edits and commands ask",
                    format.name()
                ));
            }
        }
        Ok(Worker {
            assistant,
            session_name: config.session,
            pending: None,
            tx,
            requests: None,
            startup,
        })
    }

    /// The flag that stops a running answer.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.assistant.cancel_flag()
    }

    /// The transcript of the resumed history.
    pub fn resumed_turns(&self) -> Vec<(Role, String)> {
        self.assistant
            .history()
            .iter()
            .map(|m| {
                (if m.role == "user" { Role::User } else { Role::Assistant }, m.content.clone())
            })
            .collect()
    }

    fn send(&self, msg: Msg) {
        // The event loop is gone only when the REPL is closing.
        let _ = self.tx.send(msg);
    }

    fn reply(&self, reply: Reply) {
        self.send(Msg::Reply(reply));
    }

    fn notice(&self, text: impl Into<String>) {
        self.reply(Reply::Notice(text.into()));
    }

    fn error(&self, text: impl Into<String>) {
        self.reply(Reply::Error(text.into()));
    }

    /// Passes on what the assistant has to say.
    fn flush_notices(&mut self) {
        for n in self.assistant.take_notices() {
            match n {
                Notice::Info(s) => self.notice(s),
                Notice::Error(s) => self.error(s),
            }
        }
    }

    pub fn status(&self) -> StatusView {
        let a = &self.assistant;
        let stored =
            a.conversation().map(|c| c.row.as_ref().map_or_else(String::new, |r| r.label()));
        StatusView {
            model: a.loaded().name(),
            backend: a.loaded().backend_label(),
            ctx_used: a.ctx_used(),
            ctx_total: a.n_ctx(),
            tok_per_s: None,
            session: stored,
            remote: a.remote_label(),
        }
    }

    fn send_status(&self) {
        let mut status = self.status();
        if let (Some(conv), Some(name)) = (self.assistant.conversation(), &self.session_name) {
            if conv.row.is_none() {
                status.session = Some(name.clone());
            }
        }
        self.reply(Reply::Status(status));
    }

    /// Serves requests until `Shutdown` or until the event loop hangs up.
    pub fn run(mut self, rx: Receiver<Request>) {
        self.requests = Some(rx);
        while let Some(Ok(req)) = self.requests.as_ref().map(Receiver::recv) {
            if req == Request::Shutdown {
                break;
            }
            self.handle(req);
            self.flush_notices();
            self.send_status();
        }
    }

    fn handle(&mut self, req: Request) {
        let a = &mut self.assistant;
        match req {
            Request::Send(text) => self.turn(|a, on| a.send(&text, on)),
            Request::Regen => self.turn(|a, on| a.regen(on)),
            Request::Add { specs, read_only } => {
                for line in a.add_files(&specs, read_only) {
                    self.notice(line);
                }
            }
            Request::Drop(specs) => a.drop_files(&specs),
            Request::Ls => a.ls(),
            Request::ReadOnly(specs) => a.read_only(&specs),
            Request::Tokens => a.tokens(),
            Request::Compact => a.compact(),
            Request::Clear => {
                self.pending = None;
                a.clear();
            }
            Request::Model(m) => self.switch_model(&m),
            Request::Set(kv) => a.set(kv),
            Request::Sessions => a.sessions(),
            Request::Resume(name) => self.resume(name),
            Request::Diff { answer, confirm } => self.diff(&answer, confirm),
            Request::Apply => self.apply(),
            Request::Undo => self.undo(),
            Request::Escalate(url) => {
                match a.escalate(url.as_deref()) {
                    Ok(label) => self.notice(format!(
                        "escalated: the next turns go to {label}; /local comes back"
                    )),
                    Err(e) => self.error(e.to_string()),
                }
                self.reply(Reply::Ready);
                self.send_status();
            }
            Request::Local => {
                match a.go_local() {
                    true => self.notice("back to the local model".to_string()),
                    false => self.notice("already on the local model".to_string()),
                }
                self.send_status();
            }
            Request::Complete(partial) => {
                let options = a.files().complete(&partial);
                self.reply(Reply::Completions { partial, options });
            }
            // A decision that came after its turn ended (nothing waits for it).
            Request::Decide(_) | Request::Shutdown => {}
        }
    }

    /// Runs a turn, streaming its text and speed to the event loop; then the end event,
    /// a save failure, and the files the answer proposes to change.
    fn turn(&mut self, run: impl FnOnce(&mut Assistant, &mut dyn FnMut(TurnEvent)) -> TurnEnd) {
        let tx = self.tx.clone();
        let requests = self.requests.as_ref();
        let mut on = |ev: TurnEvent| {
            let msg = match ev {
                TurnEvent::Text(t) => Msg::Engine(Event::Text(t)),
                TurnEvent::Speed(s) => Msg::Speed(s),
                TurnEvent::Notice(Notice::Info(s)) => Msg::Reply(Reply::Notice(s)),
                TurnEvent::Notice(Notice::Error(s)) => Msg::Reply(Reply::Error(s)),
                TurnEvent::ToolCall(a) => Msg::Reply(Reply::Notice(format!("▸ {}", a.title))),
                TurnEvent::ToolResult(a, o) => Msg::Reply(result_line(&a.title, &o)),
                TurnEvent::Approve(ap) => {
                    let lines = detail_lines(ap.activity.detail.as_deref());
                    let _ = tx.send(Msg::Reply(Reply::Approve { title: ap.activity.title, lines }));
                    let _ = ap.reply.send(wait_for_decision(requests));
                    return;
                }
                TurnEvent::Forming(tool) => Msg::Reply(Reply::Forming(tool)),
                // Commands run here: the REPL does not delegate them.
                TurnEvent::Execute(_) => return,
            };
            let _ = tx.send(msg);
        };
        let end = run(&mut self.assistant, &mut on);
        self.flush_notices();
        if let Some(e) = &end.save_error {
            self.error(format!("the turn was not saved: {e}"));
        }
        let paths = match end.kept {
            true => self.assistant.proposed_paths(&end.answer),
            false => Vec::new(),
        };
        self.send(Msg::Engine(end.end));
        if !paths.is_empty() {
            self.reply(Reply::Proposed(paths));
        }
    }
}

/// Waits for the user's answer to a tool call; the REPL closing is a no. Other requests
/// cannot come while the pane asks (its keys are y, n, a and scrolling).
fn wait_for_decision(requests: Option<&Receiver<Request>>) -> Decision {
    let Some(rx) = requests else { return Decision::No };
    while let Ok(req) = rx.recv() {
        match req {
            Request::Decide(d) => return d,
            Request::Shutdown => return Decision::No,
            _ => {}
        }
    }
    Decision::No
}

/// A tool's result as one transcript line: its first line (and how many more).
fn result_line(title: &str, o: &Outcome) -> Reply {
    let mut lines = o.text.lines();
    let first = lines.next().unwrap_or_default();
    let more = lines.count();
    let summary = match more {
        0 => format!("  {title}: {first}"),
        n => format!("  {title}: {first} (+{n} lines, Ctrl-O)"),
    };
    let body = match more {
        0 => String::new(),
        _ => o.text.clone(),
    };
    Reply::ToolResult(ToolResultView { summary, body, failed: o.failed })
}

/// What a tool call would do, as pane lines: an edit's unified diff, or a command line.
fn detail_lines(detail: Option<&str>) -> Vec<DiffLine> {
    let text = detail.unwrap_or_default();
    match text.starts_with("---") {
        true => parse_unified(text),
        false => text
            .lines()
            .map(|l| DiffLine { kind: DiffLineKind::Context, text: l.to_string() })
            .collect(),
    }
}
