//! The changes an answer proposes, as ACP tool calls: each file's edits (SEARCH/REPLACE
//! blocks, or a fenced block after the path as its whole new text) applied in memory to
//! the file's current text, shown as a `tool_call` of kind `edit` with a diff, put to the
//! user by `session/request_permission`, written only when allowed, then reported by a
//! `tool_call_update`. What was rejected or failed is told to the model next turn.

use std::path::PathBuf;

use agent_client_protocol_schema::v1 as acp;

use super::files::Fs;
use super::tools::{choose, Choice};
use crate::context::edits::{
    apply_search_replace, merge_rewrite, parse_edits, EditKind, ParsedEdits,
};

/// One file's proposed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    /// Relative to `cwd`.
    pub path: String,
    pub abs: PathBuf,
    /// `None`: the file is created.
    pub old: Option<String>,
    pub new: String,
}

/// The changes `answer` proposes to files the conversation has shown (`shown`) or that do
/// not exist yet, one per file; and what could not be used, one line each.
pub fn proposals(answer: &str, shown: &[String], fs: &Fs) -> (Vec<Proposed>, Vec<String>) {
    let in_context = |p: &str| shown.iter().any(|s| s == p);
    let parsed = guess(parse_edits(answer, &in_context), answer, shown, &in_context);
    let mut problems = parsed.problems;
    let mut out: Vec<Proposed> = Vec::new();
    for edit in parsed.edits {
        let abs = match fs.resolve(&edit.path) {
            Ok(abs) => abs,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let path = fs.relative(&abs);
        let index = match out.iter().position(|p| p.path == path) {
            Some(i) => i,
            None => match fs.read(&abs) {
                Ok(Some(_)) if !in_context(&path) => {
                    problems.push(format!("{path}: not shown in this conversation, not edited"));
                    continue;
                }
                Ok(old) => {
                    let new = old.clone().unwrap_or_default();
                    out.push(Proposed { path: path.clone(), abs, old, new });
                    out.len() - 1
                }
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            },
        };
        let change = &mut out[index];
        let result = match &edit.kind {
            // Lines the rewrite does not touch keep their bytes (endings, final newline).
            EditKind::Whole(content) => match &change.old {
                Some(_) => Ok(merge_rewrite(&change.new, content)),
                None => Ok(content.clone()),
            },
            EditKind::SearchReplace { search, replace } => {
                apply_search_replace(&path, &change.new, search, replace)
            }
        };
        match result {
            Ok(new) => change.new = new,
            Err(e) => problems.push(e.to_string()),
        }
    }
    out.retain(|p| p.old.as_deref() != Some(p.new.as_str()));
    (out, problems)
}

/// As the REPL does: an answer that names no file but holds one complete code block,
/// while one file was shown, proposes that block as the file's new text (the user sees
/// the diff before anything is written).
fn guess(
    parsed: ParsedEdits,
    answer: &str,
    shown: &[String],
    in_context: &dyn Fn(&str) -> bool,
) -> ParsedEdits {
    let fences = answer.lines().filter(|l| l.trim_start().starts_with("```")).count();
    match (parsed.edits.is_empty(), shown, fences) {
        (true, [path], 2) => {
            let block: Vec<&str> =
                answer.lines().skip_while(|l| !l.trim_start().starts_with("```")).collect();
            let guessed = parse_edits(&format!("{path}\n{}", block.join("\n")), in_context);
            match guessed.edits.is_empty() {
                true => parsed,
                false => guessed,
            }
        }
        _ => parsed,
    }
}

/// What became of a proposed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written,
    Rejected,
    Failed(String),
    /// The turn was cancelled while the user was asked.
    Cancelled,
}

const ALLOW: &str = "allow-once";
const REJECT: &str = "reject-once";

/// Shows `change` as tool call `call_id`, asks for permission, writes it when allowed,
/// and reports the outcome as the tool call's final status.
pub fn offer(change: &Proposed, call_id: &str, fs: &Fs) -> Outcome {
    let diff = acp::Diff::new(&change.abs, &change.new).old_text(change.old.clone());
    let content = vec![acp::ToolCallContent::Diff(diff)];
    let title = match change.old {
        Some(_) => format!("Edit {}", change.path),
        None => format!("Create {}", change.path),
    };
    let call = acp::ToolCall::new(call_id.to_string(), title)
        .kind(acp::ToolKind::Edit)
        .status(acp::ToolCallStatus::Pending)
        .content(content)
        .locations(vec![acp::ToolCallLocation::new(&change.abs)]);
    update(fs, acp::SessionUpdate::ToolCall(call));
    let outcome = match ask(call_id, fs) {
        Outcome::Written => match fs.write(&change.abs, &change.new) {
            Ok(how) => {
                eprintln!("hearth: acp: {}: {how}", change.path);
                Outcome::Written
            }
            Err(e) => Outcome::Failed(e),
        },
        other => other,
    };
    let status = match outcome {
        Outcome::Written => acp::ToolCallStatus::Completed,
        _ => acp::ToolCallStatus::Failed,
    };
    let mut fields = acp::ToolCallUpdateFields::new().status(status);
    let said = match &outcome {
        Outcome::Written => None,
        Outcome::Rejected => Some("rejected by the user; nothing was written".to_string()),
        Outcome::Cancelled => Some("cancelled; nothing was written".to_string()),
        Outcome::Failed(e) => Some(format!("not written: {e}")),
    };
    if let Some(text) = said {
        let block = acp::ContentBlock::from(text);
        fields = fields.content(vec![acp::ToolCallContent::from(block)]);
    }
    let upd = acp::ToolCallUpdate::new(call_id.to_string(), fields);
    update(fs, acp::SessionUpdate::ToolCallUpdate(upd));
    outcome
}

/// Asks the user; `Written` stands for "allowed". A client error answers "reject".
fn ask(call_id: &str, fs: &Fs) -> Outcome {
    let options = vec![
        acp::PermissionOption::new(ALLOW, "Allow", acp::PermissionOptionKind::AllowOnce),
        acp::PermissionOption::new(REJECT, "Reject", acp::PermissionOptionKind::RejectOnce),
    ];
    match choose(fs, call_id, options) {
        Choice::Selected(id) if id == ALLOW => Outcome::Written,
        Choice::Cancelled => Outcome::Cancelled,
        _ => Outcome::Rejected,
    }
}

/// Sends a `session/update` of this session.
pub fn update(fs: &Fs, update: acp::SessionUpdate) {
    let note = acp::SessionNotification::new(fs.session_id.to_string(), update);
    fs.peer.notify("session/update", &note);
}

/// The note the model gets about changes that were not written (none when all were).
pub fn note(results: &[(Proposed, Outcome)], problems: &[String]) -> Option<String> {
    let mut lines = Vec::new();
    for (change, outcome) in results {
        match outcome {
            Outcome::Written => {}
            Outcome::Rejected => lines.push(format!(
                "The user rejected the change to {}; it was not written.",
                change.path
            )),
            Outcome::Cancelled => lines
                .push(format!("The change to {} was cancelled; it was not written.", change.path)),
            Outcome::Failed(e) => lines.push(format!("The change to {} failed: {e}", change.path)),
        }
    }
    lines.extend(problems.iter().map(|p| format!("An edit could not be used: {p}")));
    (!lines.is_empty()).then(|| lines.join("\n"))
}
