//! What a conversation does between turns, on the user's word: files in and out of
//! context, the budget, compacting, clearing, model and sampling changes, stored
//! sessions. Each job reports in notices ([`Assistant::take_notices`]).

use super::chat::Assistant;
use super::config::resolve_model;
use super::conversation::Conversation;
use super::load;
use super::prompt::ChatFormat;
use crate::context::AddReport;
use crate::engine::sampler::SamplerParams;
use crate::error::{Error, Result};
use crate::store::Store;

/// One `/ls` or `/add` line for a file.
fn file_line(path: &str, tokens: usize, read_only: bool) -> String {
    let ro = if read_only { ", read-only" } else { "" };
    format!("{path} ({tokens} tokens{ro})")
}

impl Assistant {
    /// Adds files; returns one line per outcome for the user.
    pub fn add_files(&mut self, specs: &[String], read_only: bool) -> Vec<String> {
        let loaded = self.loaded.clone();
        let count = |s: &str| loaded.count_tokens(s);
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
    pub fn refresh_files(&mut self) {
        let loaded = self.loaded.clone();
        let count = |s: &str| loaded.count_tokens(s);
        for change in self.files.refresh(&count) {
            self.info(change.message());
        }
    }

    pub fn drop_files(&mut self, specs: &[String]) {
        let dropped = match specs.is_empty() {
            true => self.files.drop_all(),
            false => specs.iter().flat_map(|s| self.files.drop(s)).collect(),
        };
        match dropped.is_empty() {
            true => self.error("no such file in context: /ls lists them"),
            false => self.info(format!("dropped {}", dropped.join(", "))),
        }
    }

    pub fn ls(&mut self) {
        self.refresh_files();
        if self.files.is_empty() {
            self.info("no files in context: /add PATH or mention @path");
            return;
        }
        let mut lines: Vec<String> =
            self.files.list().iter().map(|f| file_line(&f.path, f.tokens, f.read_only)).collect();
        let total: usize = self.files.list().iter().map(|f| f.tokens).sum();
        lines.push(format!("{} files, {total} tokens", self.files.len()));
        self.info(lines.join("\n"));
    }

    /// Marks the files in context that `specs` name read-only; adds the others read-only.
    pub fn read_only(&mut self, specs: &[String]) {
        let loaded = self.loaded.clone();
        let count = |s: &str| loaded.count_tokens(s);
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
        self.info(lines.join("\n"));
    }

    /// The history's tokens (the rendered prompt minus the system message's).
    fn history_tokens(&self) -> usize {
        self.history.iter().map(|m| self.loaded.count_tokens(&m.content) + 4).sum()
    }

    pub fn tokens(&mut self) {
        self.refresh_files();
        let loaded = self.loaded.clone();
        let count = |s: &str| loaded.count_tokens(s);
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
        self.info(text);
    }

    /// Forgets the older half of the conversation (whole turns), on the user's word.
    pub fn compact(&mut self) {
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
        self.info(format!(
            "forgot the {removed} oldest turns (the model no longer sees them; the transcript keeps them)"
        ));
    }

    pub fn clear(&mut self) {
        self.history.clear();
        match self.conv.take() {
            Some(c) => {
                let name = c.row.as_ref().map_or_else(String::new, |r| r.label());
                self.info(format!(
                    "conversation cleared; the stored session {name} keeps its messages (/resume {name})"
                ));
            }
            None => self.info("conversation cleared (files stay in context)"),
        }
    }

    /// Loads another model for the conversation (`/model`); the files in context are
    /// counted again with its tokenizer. A model that fails to load leaves all as it was.
    pub fn switch_model(&mut self, name: &str) -> Result<()> {
        let path = resolve_model(std::path::Path::new(name))?;
        let mut config = self.model_config.clone();
        config.model = Some(path);
        let loaded = load::load(&config)?;
        let format = ChatFormat::new(self.config.prompt.chat_template_file.as_deref(), &loaded)?;
        let n_ctx = config.ctx_size(loaded.model.hp.n_ctx_train);
        let session = load::session(&loaded.model, n_ctx, &config)?;
        self.model_config = config;
        self.loaded = loaded;
        self.format = format;
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
        let line = format!(
            "model: {} on {} (context {})",
            self.loaded.name(),
            self.loaded.backend_label(),
            self.n_ctx
        );
        self.info(line);
        Ok(())
    }

    /// `/set KEY VALUE`: a sampling setting, checked before it is used.
    pub fn set(&mut self, kv: Option<(String, String)>) {
        let Some((key, value)) = kv else {
            let p = &self.params;
            self.info(format!(
                "temp {} · top-k {} · top-p {} · min-p {} · repeat-penalty {} · seed {} · n {}",
                p.temp,
                p.top_k,
                p.top_p,
                p.min_p,
                p.repeat_penalty,
                p.seed,
                self.config.prompt.n_predict
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
                    self.config.prompt.n_predict = u()?.max(1);
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
                self.info(format!("{key} = {value}"));
            }
            Err(e) => self.error(e),
        }
    }

    pub fn sessions(&mut self) {
        let rows = Store::open_default().and_then(|s| s.sessions());
        match rows {
            Ok(rows) if rows.is_empty() => {
                self.info("no stored sessions yet (hearth chat --session NAME)")
            }
            Ok(rows) => {
                let lines: Vec<String> = rows
                    .iter()
                    .take(20)
                    .map(|r| format!("{}  {} messages  {}", r.label(), r.n_messages, r.title))
                    .collect();
                self.info(format!("{}\n/resume NAME continues one", lines.join("\n")));
            }
            Err(e) => self.error(format!("/sessions: {e}")),
        }
    }

    /// Continues the stored session `name` (the most recent one without a name).
    pub fn resume(&mut self, name: Option<String>) -> Result<()> {
        let store = Store::open_default()?;
        let name = match name {
            Some(n) => n,
            None => match store.sessions()?.into_iter().next() {
                Some(row) => row.label(),
                None => return Err(Error::usage("there is no stored session yet")),
            },
        };
        let row = store.resolve_session(&name)?;
        let conv = Conversation::open(&row.label())?;
        self.attach(conv)
    }
}
