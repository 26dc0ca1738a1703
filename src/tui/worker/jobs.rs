//! The worker's jobs that answer in the REPL's own terms: a model switch and a resume
//! (busy jobs that end with `Ready`), and proposed edits shown as a diff pane, applied
//! on the user's yes, undone.

use super::Worker;
use crate::tui::update::Reply;
use crate::tui::view::DiffLine;

impl Worker {
    pub(super) fn switch_model(&mut self, name: &str) {
        if let Err(e) = self.assistant.switch_model(name) {
            self.error(format!("/model: {e}"));
        }
        self.reply(Reply::Ready);
    }

    pub(super) fn resume(&mut self, name: Option<String>) {
        match self.assistant.resume(name) {
            Ok(()) => {
                self.pending = None;
                self.reply(Reply::Resumed(self.resumed_turns()));
            }
            Err(e) => self.error(format!("/resume: {e}")),
        }
        self.flush_notices();
        self.reply(Reply::Ready);
    }

    /// The edits `answer` proposes, as a diff pane; with `confirm`, kept to be applied.
    pub(super) fn diff(&mut self, answer: &str, confirm: bool) {
        let proposal = self.assistant.proposal(answer);
        self.flush_notices();
        for p in &proposal.problems {
            self.error(p.clone());
        }
        let planned = proposal.plan;
        if planned.changes.is_empty() {
            if proposal.problems.is_empty() {
                self.notice("the last answer proposes no changes to files in context");
            }
            self.pending = None;
            return;
        }
        let lines: Vec<DiffLine> =
            planned.changes.iter().flat_map(|c| c.diff()).map(|l| DiffLine::from(&l)).collect();
        let paths: Vec<&str> = planned.changes.iter().map(|c| c.path.as_str()).collect();
        let mut title = format!("changes to {}", paths.join(", "));
        if let Some(path) = proposal.guessed {
            title.push_str(&format!(" (the answer's code block, read as the whole of {path})"));
        }
        self.pending = if confirm { Some(planned) } else { None };
        self.reply(Reply::Diff { title, lines, confirm });
    }

    pub(super) fn apply(&mut self) {
        let Some(planned) = self.pending.take() else {
            self.error("nothing to apply: /apply shows the changes first");
            return;
        };
        match self.assistant.apply(&planned) {
            Ok(paths) => self.notice(format!("wrote {} (/undo restores)", paths.join(", "))),
            Err(e) => self.error(format!("not applied: {e}")),
        }
    }

    pub(super) fn undo(&mut self) {
        match self.assistant.undo() {
            Ok(Some(paths)) => self.notice(format!("restored {}", paths.join(", "))),
            Ok(None) => self.error("nothing to undo"),
            Err(e) => self.error(format!("not undone: {e}")),
        }
    }
}
