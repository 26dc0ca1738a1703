//! The worker's slash-command jobs: files in and out of context, the budget, compacting,
//! model and sampling changes, stored sessions, and proposed edits shown, applied, undone.

use std::sync::Arc;

use super::{count_tokens, load_model, Worker};
use crate::cli::resolve_model;
use crate::context::edits::plan;
use crate::context::AddReport;
use crate::engine::sampler::SamplerParams;
use crate::modes::conversation::Conversation;
use crate::modes::load;
use crate::store::Store;
use crate::tui::update::Reply;
use crate::tui::view::DiffLine;

/// One `/ls` or `/add` line for a file.
fn file_line(path: &str, tokens: usize, read_only: bool) -> String {
    let ro = if read_only { ", read-only" } else { "" };
    format!("{path} ({tokens} tokens{ro})")
}

impl Worker {
    /// Adds files; returns one line per outcome for the user.
    pub(super) fn add_files(&mut self, specs: &[String], read_only: bool) -> Vec<String> {
        let tok = Arc::clone(&self.loaded.tokenizer);
        let count = |s: &str| count_tokens(&tok, s);
        let refs: Vec<&str> = specs.iter().map(String::as_str).collect();
        let report: AddReport = self.files.add(&refs, read_only, &count);
        let mut lines = Vec::new();
        for path in &report.added {
            if let Some(f) = self.files.get(path) {
                lines.push(format!("added {}", file_line(path, f.tokens, f.read_only)));
            }
        }
        for path in &report.already {
            lines.push(format!("{path} is already in context"));
        }
        for refusal in &report.refused {
            lines.push(format!("not added: {}", refusal.message()));
        }
        lines
    }

    /// Re-reads the files that changed on disk, and says so.
    pub(super) fn refresh_files(&mut self) {
        let tok = Arc::clone(&self.loaded.tokenizer);
        let count = |s: &str| count_tokens(&tok, s);
        for change in self.files.refresh(&count) {
            self.notice(change.message());
        }
    }

    pub(super) fn drop_files(&mut self, specs: &[String]) {
        let dropped = match specs.is_empty() {
            true => self.files.drop_all(),
            false => specs.iter().flat_map(|s| self.files.drop(s)).collect(),
        };
        match dropped.is_empty() {
            true => self.error("no such file in context: /ls lists them"),
            false => self.notice(format!("dropped {}", dropped.join(", "))),
        }
    }

    pub(super) fn ls(&mut self) {
        self.refresh_files();
        if self.files.is_empty() {
            self.notice("no files in context: /add PATH or mention @path");
            return;
        }
        let mut lines: Vec<String> =
            self.files.list().iter().map(|f| file_line(&f.path, f.tokens, f.read_only)).collect();
        let total: usize = self.files.list().iter().map(|f| f.tokens).sum();
        lines.push(format!("{} files, {total} tokens", self.files.len()));
        self.notice(lines.join("\n"));
    }

    /// Marks the files in context that `specs` name read-only; adds the others read-only.
    pub(super) fn read_only(&mut self, specs: &[String]) {
        let tok = Arc::clone(&self.loaded.tokenizer);
        let count = |s: &str| count_tokens(&tok, s);
        let mut lines = Vec::new();
        let mut to_add = Vec::new();
        for spec in specs {
            let marked = self.files.set_read_only(spec, true, &count);
            match marked.is_empty() {
                true => to_add.push(spec.clone()),
                false => lines.extend(marked.iter().map(|p| format!("{p} is read-only"))),
            }
        }
        if !to_add.is_empty() {
            lines.extend(self.add_files(&to_add, true));
        }
        self.notice(lines.join("\n"));
    }

    /// The history's tokens (the rendered prompt minus the system message's).
    fn history_tokens(&self) -> usize {
        let tok = &self.loaded.tokenizer;
        self.history.iter().map(|m| count_tokens(tok, &m.content) + 4).sum()
    }

    pub(super) fn tokens(&mut self) {
        self.refresh_files();
        let tok = Arc::clone(&self.loaded.tokenizer);
        let count = |s: &str| count_tokens(&tok, s);
        let system = count(&self.system);
        let budget = self.files.budget(
            self.n_ctx,
            system,
            self.notes.as_ref(),
            self.history_tokens(),
            self.reserve(),
            &count,
        );
        let mut text = budget.to_string();
        if let Ok(prompt) = self.prompt() {
            text.push_str(&format!(
                "\nthe prompt now: {} tokens with the chat template",
                prompt.len()
            ));
        }
        self.notice(text);
    }

    /// Forgets the older half of the conversation (whole turns), on the user's word.
    pub(super) fn compact(&mut self) {
        let users: Vec<usize> = self
            .history
            .iter()
            .enumerate()
            .filter(|(_, m)| m.role == "user")
            .map(|(i, _)| i)
            .collect();
        if users.len() < 2 {
            self.error("nothing to compact: the conversation has fewer than two turns");
            return;
        }
        let cut = users[users.len() / 2];
        let removed = self.history.drain(..cut).filter(|m| m.role == "user").count();
        self.notice(format!(
            "forgot the {removed} oldest turns (the model no longer sees them; the transcript keeps them)"
        ));
    }

    pub(super) fn clear(&mut self) {
        self.history.clear();
        self.pending = None;
        match self.conv.take() {
            Some(c) => {
                let name = c.row.as_ref().map_or_else(String::new, |r| r.label());
                self.notice(format!(
                    "conversation cleared; the stored session {name} keeps its messages (/resume {name})"
                ));
            }
            None => self.notice("conversation cleared (files stay in context)"),
        }
    }

    pub(super) fn switch_model(&mut self, name: &str) {
        let result = resolve_model(std::path::Path::new(name)).and_then(|path| {
            let mut args = self.model_args.clone();
            args.model = Some(path);
            let loaded = load_model(&args, self.args.prompt.chat_template_file.as_deref())?;
            let n_ctx = args.ctx_size(loaded.model.hp.n_ctx_train);
            let session = load::session(&loaded.model, n_ctx, &args)?;
            Ok((args, loaded, n_ctx, session))
        });
        match result {
            Ok((args, loaded, n_ctx, session)) => {
                self.model_args = args;
                self.loaded = loaded;
                self.n_ctx = n_ctx;
                self.session = Some(session);
                // Token counts follow the new tokenizer.
                let paths: Vec<(String, bool)> =
                    self.files.list().iter().map(|f| (f.path.clone(), f.read_only)).collect();
                self.files.drop_all();
                for (path, ro) in paths {
                    self.add_files(&[path], ro);
                }
                if let Some(conv) = self.conv.as_mut() {
                    if let Err(e) = conv.bind_model(&self.loaded.model) {
                        self.error(format!("the session is not bound to the new model: {e}"));
                    }
                }
                self.notice(format!(
                    "model: {} on {} (context {})",
                    self.loaded.name, self.loaded.backend, self.n_ctx
                ));
            }
            Err(e) => self.error(format!("/model: {e}")),
        }
        self.reply(Reply::Ready);
    }

    /// `/set KEY VALUE`: a sampling setting, checked before it is used.
    pub(super) fn set(&mut self, kv: Option<(String, String)>) {
        let Some((key, value)) = kv else {
            let p = &self.params;
            self.notice(format!(
                "temp {} · top-k {} · top-p {} · min-p {} · repeat-penalty {} · seed {} · n {}",
                p.temp,
                p.top_k,
                p.top_p,
                p.min_p,
                p.repeat_penalty,
                p.seed,
                self.args.prompt.n_predict
            ));
            return;
        };
        let mut params = self.params.clone();
        let bad = || format!("/set {key}: {value:?} is not a valid value");
        let parsed: Result<(), String> = (|| {
            let f = || value.parse::<f32>().map_err(|_| bad());
            let u = || value.parse::<usize>().map_err(|_| bad());
            match key.as_str() {
                "temp" | "temperature" => params.temp = f()?,
                "top-k" | "top_k" => params.top_k = u()?,
                "top-p" | "top_p" => params.top_p = f()?,
                "min-p" | "min_p" => params.min_p = f()?,
                "repeat-penalty" | "repeat_penalty" => params.repeat_penalty = f()?,
                "repeat-last-n" => params.repeat_last_n = u()?,
                "seed" => params.seed = value.parse::<u64>().map_err(|_| bad())?,
                "n" | "n-predict" => {
                    self.args.prompt.n_predict = u()?.max(1);
                    return Ok(());
                }
                _ => return Err(format!(
                    "/set: unknown setting {key} (temp, top-k, top-p, min-p, repeat-penalty, repeat-last-n, seed, n)"
                )),
            }
            SamplerParams::validate(&params).map_err(|e| e.to_string())
        })();
        match parsed {
            Ok(()) => {
                self.params = params;
                self.notice(format!("{key} = {value}"));
            }
            Err(e) => self.error(e),
        }
    }

    pub(super) fn sessions(&mut self) {
        let rows = Store::open_default().and_then(|s| s.sessions());
        match rows {
            Ok(rows) if rows.is_empty() => {
                self.notice("no stored sessions yet (hearth chat --session NAME)")
            }
            Ok(rows) => {
                let lines: Vec<String> = rows
                    .iter()
                    .take(20)
                    .map(|r| format!("{}  {} messages  {}", r.label(), r.n_messages, r.title))
                    .collect();
                self.notice(format!("{}\n/resume NAME continues one", lines.join("\n")));
            }
            Err(e) => self.error(format!("/sessions: {e}")),
        }
    }

    pub(super) fn resume(&mut self, name: Option<String>) {
        let result = (|| {
            let name = match name {
                Some(n) => n,
                None => match Store::open_default()?.sessions()?.into_iter().next() {
                    Some(row) => row.label(),
                    None => {
                        return Err(crate::error::Error::usage("there is no stored session yet"))
                    }
                },
            };
            let store = Store::open_default()?;
            let row = store.resolve_session(&name)?;
            let conv = Conversation::open(&row.label())?;
            self.startup.clear();
            self.attach(conv)?;
            Ok(())
        })();
        match result {
            Ok(()) => {
                self.reply(Reply::Resumed(self.resumed_turns()));
                for line in std::mem::take(&mut self.startup) {
                    self.notice(line);
                }
            }
            Err(e) => self.error(format!("/resume: {e}")),
        }
        self.reply(Reply::Ready);
    }

    /// The edits `answer` proposes, as a diff pane; with `confirm`, kept to be applied.
    pub(super) fn diff(&mut self, answer: &str, confirm: bool) {
        self.refresh_files();
        let (parsed, guessed) = self.edits_of(answer);
        let planned = plan(&parsed.edits, &self.files);
        let mut problems: Vec<String> = parsed.problems.clone();
        problems.extend(planned.failed.iter().map(|e| e.to_string()));
        for p in &problems {
            self.error(p.clone());
        }
        if planned.changes.is_empty() {
            if problems.is_empty() {
                self.notice("the last answer proposes no changes to files in context");
            }
            self.pending = None;
            return;
        }
        let lines: Vec<DiffLine> =
            planned.changes.iter().flat_map(|c| c.diff()).map(|l| DiffLine::from(&l)).collect();
        let paths: Vec<&str> = planned.changes.iter().map(|c| c.path.as_str()).collect();
        let mut title = format!("changes to {}", paths.join(", "));
        if let Some(path) = guessed {
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
        let tok = Arc::clone(&self.loaded.tokenizer);
        let count = |s: &str| count_tokens(&tok, s);
        match self.log.apply(&planned.changes, &mut self.files, &count) {
            Ok(paths) => self.notice(format!("wrote {} (/undo restores)", paths.join(", "))),
            Err(e) => self.error(format!("not applied: {e}")),
        }
    }

    pub(super) fn undo(&mut self) {
        let tok = Arc::clone(&self.loaded.tokenizer);
        let count = |s: &str| count_tokens(&tok, s);
        match self.log.undo(&mut self.files, &count) {
            Ok(Some(paths)) => self.notice(format!("restored {}", paths.join(", "))),
            Ok(None) => self.error("nothing to undo"),
            Err(e) => self.error(format!("not undone: {e}")),
        }
    }
}
