//! The model's own tool calls as the protocol shows them: a `tool_call` (kind, title,
//! the edit's diff or the command line) when one runs or asks, `session/request_permission`
//! for edits and commands (allow once, allow always, reject), commands run in the
//! client's terminal when it offers one, and a `tool_call_update` with what it gave.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use agent_client_protocol_schema::v1 as acp;

use super::edits::update;
use super::files::Fs;
use super::terminal;
use crate::assistant::tools::{Decision, Kind, Outcome};
use crate::assistant::{Approval, Execution, ToolActivity};

const ALLOW_ONCE: &str = "allow-once";
const ALLOW_ALWAYS: &str = "allow-always";
const REJECT: &str = "reject-once";

/// What the user picked in a permission request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Selected(String),
    Cancelled,
    /// The request failed or its answer did not parse (said on stderr).
    Failed,
}

/// Asks the client about `call_id` with `options`.
pub fn choose(fs: &Fs, call_id: &str, options: Vec<acp::PermissionOption>) -> Choice {
    let call = acp::ToolCallUpdate::new(call_id.to_string(), acp::ToolCallUpdateFields::new());
    let req = acp::RequestPermissionRequest::new(fs.session_id.to_string(), call, options);
    let answer = fs.peer.request("session/request_permission", &req, fs.cancel);
    if fs.cancel.load(Ordering::SeqCst) {
        return Choice::Cancelled;
    }
    let answer = match answer {
        Ok(v) => v,
        Err(e) => {
            eprintln!("hearth: acp: the permission request failed ({})", e.message);
            return Choice::Failed;
        }
    };
    match serde_json::from_value::<acp::RequestPermissionResponse>(answer) {
        Ok(resp) => match resp.outcome {
            acp::RequestPermissionOutcome::Selected(s) => {
                Choice::Selected(s.option_id.0.to_string())
            }
            acp::RequestPermissionOutcome::Cancelled => Choice::Cancelled,
            _ => Choice::Failed,
        },
        Err(e) => {
            eprintln!("hearth: acp: the permission answer is malformed ({e})");
            Choice::Failed
        }
    }
}

/// The tool calls of one turn, as shown to the client.
#[derive(Default)]
pub struct Calls {
    /// Calls already sent as a `tool_call`.
    announced: HashSet<String>,
    /// The terminal each command ran in, by call id.
    terminals: HashMap<String, String>,
}

impl Calls {
    /// A call about to run.
    pub fn running(&mut self, a: &ToolActivity, fs: &Fs) {
        self.announce(a, acp::ToolCallStatus::InProgress, fs);
    }

    /// A call that needs a yes: shown as pending, then put to the user.
    pub fn approve(&mut self, ap: Approval, fs: &Fs) {
        self.announce(&ap.activity, acp::ToolCallStatus::Pending, fs);
        let options = vec![
            acp::PermissionOption::new(ALLOW_ONCE, "Allow", acp::PermissionOptionKind::AllowOnce),
            acp::PermissionOption::new(
                ALLOW_ALWAYS,
                "Always allow",
                acp::PermissionOptionKind::AllowAlways,
            ),
            acp::PermissionOption::new(REJECT, "Reject", acp::PermissionOptionKind::RejectOnce),
        ];
        let decision = match choose(fs, &ap.activity.id, options) {
            Choice::Selected(id) if id == ALLOW_ONCE => Decision::Yes,
            Choice::Selected(id) if id == ALLOW_ALWAYS => Decision::Always,
            _ => Decision::No,
        };
        let _ = ap.reply.send(decision);
    }

    /// A command to run: in a terminal of the client's when it offers them, shown in the
    /// call as it runs; else the reply is dropped and the assistant runs it.
    pub fn execute(&mut self, ex: Execution, fs: &Fs) {
        if !fs.caps.terminal {
            return;
        }
        let shown = |terminal: &str| {
            let content =
                vec![acp::ToolCallContent::Terminal(acp::Terminal::new(terminal.to_string()))];
            let fields = acp::ToolCallUpdateFields::new().content(content);
            let upd = acp::ToolCallUpdate::new(ex.activity.id.clone(), fields);
            update(fs, acp::SessionUpdate::ToolCallUpdate(upd));
        };
        let (outcome, terminal) = terminal::run(&ex.command, fs, shown);
        if let Some(t) = terminal {
            self.terminals.insert(ex.activity.id.clone(), t);
        }
        let _ = ex.reply.send(outcome);
    }

    /// What a call gave.
    pub fn result(&mut self, a: &ToolActivity, o: &Outcome, fs: &Fs) {
        if !self.announced.contains(&a.id) {
            self.announce(a, acp::ToolCallStatus::Pending, fs);
        }
        let status = match o.failed {
            true => acp::ToolCallStatus::Failed,
            false => acp::ToolCallStatus::Completed,
        };
        let mut content = match self.terminals.get(&a.id) {
            Some(t) => vec![acp::ToolCallContent::Terminal(acp::Terminal::new(t.clone()))],
            None => content_of(a, fs),
        };
        content.push(acp::ToolCallContent::from(acp::ContentBlock::from(o.text.clone())));
        let fields = acp::ToolCallUpdateFields::new().status(status).content(content);
        update(
            fs,
            acp::SessionUpdate::ToolCallUpdate(acp::ToolCallUpdate::new(a.id.clone(), fields)),
        );
    }

    fn announce(&mut self, a: &ToolActivity, status: acp::ToolCallStatus, fs: &Fs) {
        if !self.announced.insert(a.id.clone()) {
            let fields = acp::ToolCallUpdateFields::new().status(status);
            let upd = acp::ToolCallUpdate::new(a.id.clone(), fields);
            return update(fs, acp::SessionUpdate::ToolCallUpdate(upd));
        }
        let mut call = acp::ToolCall::new(a.id.clone(), a.title.clone())
            .kind(kind(a.kind))
            .status(status)
            .content(content_of(a, fs));
        if let Some(abs) = a.change.as_ref().and_then(|c| fs.resolve(&c.path).ok()) {
            call = call.locations(vec![acp::ToolCallLocation::new(abs)]);
        }
        update(fs, acp::SessionUpdate::ToolCall(call));
    }
}

/// What a call shows: an edit's diff, or the command line.
fn content_of(a: &ToolActivity, fs: &Fs) -> Vec<acp::ToolCallContent> {
    if let Some(change) = &a.change {
        if let Ok(abs) = fs.resolve(&change.path) {
            let diff = acp::Diff::new(abs, &change.after).old_text(change.before.clone());
            return vec![acp::ToolCallContent::Diff(diff)];
        }
    }
    match (&a.detail, a.kind) {
        (Some(cmd), Kind::Execute) => {
            vec![acp::ToolCallContent::from(acp::ContentBlock::from(cmd.clone()))]
        }
        _ => Vec::new(),
    }
}

fn kind(k: Kind) -> acp::ToolKind {
    match k {
        Kind::Read => acp::ToolKind::Read,
        Kind::Search => acp::ToolKind::Search,
        Kind::Edit => acp::ToolKind::Edit,
        Kind::Execute => acp::ToolKind::Execute,
    }
}
