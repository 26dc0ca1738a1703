//! The REPL's worker thread: it owns the model, the session and its KV cache, the files in
//! context, the stored conversation and the edit log, takes [`Request`]s from the event
//! loop and reports back as [`Msg`]s. A turn renders the prompt with a stable prefix
//! (system → project notes → files in the order added → history) so the KV cache is
//! reused, checks it against the context size (never truncating), and streams the
//! answer from the engine's own generating thread.

mod jobs;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::any::AnyBackend;
use crate::chat::{ChatTemplate, Message, RenderOptions};
use crate::cli::{ChatArgs, ModelArgs};
use crate::context::edits::{parse_edits, EditLog, ParsedEdits, Plan};
use crate::context::{largest_files, load_notes, render_context, ContextFiles, Notes};
use crate::engine::sampler::{Sampler, SamplerParams};
use crate::engine::session::Session;
use crate::engine::stream::{self, Event, Job};
use crate::error::{Error, ErrorKind, Result};
use crate::model::Model;
use crate::modes::ask::{chat_template, encode_chat, with_session_defaults};
use crate::modes::conversation::Conversation;
use crate::modes::load;
use crate::store::Store;
use crate::tokenizer::Tokenizer;

use super::update::{Msg, Reply, Request};
use super::view::{Role, StatusView};

/// The REPL's built-in system prompt.
pub const SYSTEM_PROMPT: &str = include_str!("../../../prompts/chat-system.md");

/// How often the generation speed is reported while streaming.
const SPEED_EVERY: Duration = Duration::from_millis(400);

/// Counts tokens with the model's tokenizer (no BOS, special text as text).
fn count_tokens(tok: &Tokenizer, text: &str) -> usize {
    tok.encode(text, false, false).map_or(0, |t| t.len())
}

/// The loaded model and what renders prompts for it.
struct Loaded {
    model: Arc<Model<AnyBackend>>,
    tokenizer: Arc<Tokenizer>,
    template: ChatTemplate,
    opts: RenderOptions,
    /// Shown in the status bar.
    name: String,
    backend: String,
}

fn load_model(args: &ModelArgs, template_file: Option<&Path>) -> Result<Loaded> {
    let loaded = load::load(args)?;
    let (template, opts) = chat_template(template_file, &loaded)?;
    let path = loaded.model.file.path().to_path_buf();
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let placement = loaded.model.backend.placement();
    let backend = match placement.device {
        Some(device) => format!("{}: {device}", placement.backend),
        None => placement.backend.to_string(),
    };
    Ok(Loaded {
        model: loaded.model,
        tokenizer: Arc::new(loaded.tokenizer),
        template,
        opts,
        name,
        backend,
    })
}

pub struct Worker {
    args: ChatArgs,
    model_args: ModelArgs,
    loaded: Loaded,
    /// `None` only while a generation has it.
    session: Option<Session<AnyBackend>>,
    n_ctx: usize,
    params: SamplerParams,
    system: String,
    files: ContextFiles,
    notes: Option<Notes>,
    /// The conversation after the system message.
    history: Vec<Message>,
    conv: Option<Conversation>,
    /// The stored session already holds its system message.
    conv_has_system: bool,
    log: EditLog,
    /// What the last `/apply` showed, awaiting the user's yes.
    pending: Option<Plan>,
    tx: Sender<Msg>,
    cancel: Arc<AtomicBool>,
    /// Notices for the first screen (files added by -f, a resumed session…).
    pub startup: Vec<String>,
}

/// The stored session `--session`/`--resume` name, if any.
fn session_name(args: &ChatArgs) -> Result<Option<String>> {
    match (&args.session, args.resume) {
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

impl Worker {
    /// Loads the model and opens the session before the screen changes, so a failure is
    /// the usual one-line error and exit code.
    pub fn new(args: &ChatArgs, tx: Sender<Msg>, cancel: Arc<AtomicBool>) -> Result<Worker> {
        let params = load::sampler_params(&args.sampling);
        params.validate()?;
        let conv = session_name(args)?.as_deref().map(Conversation::open).transpose()?;
        let model_args = match &conv {
            Some(c) => with_session_defaults(&args.model, c),
            None => args.model.clone(),
        };
        let loaded = load_model(&model_args, args.prompt.chat_template_file.as_deref())?;
        let n_ctx = model_args.ctx_size(loaded.model.hp.n_ctx_train);
        let session = load::session(&loaded.model, n_ctx, &model_args)?;
        let cwd = std::env::current_dir().map_err(|e| Error::io(Path::new("."), e))?;
        let files = ContextFiles::discover(&cwd)?;
        let system =
            args.prompt.system_prompt.clone().unwrap_or_else(|| SYSTEM_PROMPT.trim().to_string());
        let mut w = Worker {
            args: args.clone(),
            model_args,
            loaded,
            session: Some(session),
            n_ctx,
            params,
            system,
            files,
            notes: None,
            history: Vec::new(),
            conv: None,
            conv_has_system: false,
            log: EditLog::new(),
            pending: None,
            tx,
            cancel,
            startup: Vec::new(),
        };
        match load_notes(w.files.root(), w.files.limits()) {
            Ok(notes) => w.notes = notes,
            Err(refusal) => {
                w.startup.push(format!("project notes not used: {}", refusal.message()))
            }
        }
        if let Some(notes) = &w.notes {
            w.startup.push(format!("project notes from {}", notes.path));
        }
        if let Some(conv) = conv {
            w.attach(conv)?;
        }
        if !args.files.is_empty() {
            let specs = args.files.clone();
            let lines = w.add_files(&specs, false);
            w.startup.extend(lines);
        }
        Ok(w)
    }

    /// Makes `conv` the stored conversation: its history, its KV snapshot restored.
    fn attach(&mut self, mut conv: Conversation) -> Result<()> {
        conv.bind_model(&self.loaded.model)?;
        let mut stored = conv.history()?;
        self.conv_has_system = !stored.is_empty();
        if stored.first().is_some_and(|m| m.role == "system") {
            stored.remove(0);
        }
        if let Some(session) = self.session.as_mut() {
            conv.restore(session);
        }
        let name = conv.row.as_ref().map_or_else(|| "new".to_string(), |r| r.label());
        self.startup.push(match stored.is_empty() {
            true => format!("session {name}"),
            false => format!("resumed session {name}: {} messages", stored.len()),
        });
        self.history = stored;
        self.conv = Some(conv);
        Ok(())
    }

    /// The transcript of the resumed history.
    pub fn resumed_turns(&self) -> Vec<(Role, String)> {
        self.history
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

    pub fn status(&self) -> StatusView {
        StatusView {
            model: self.loaded.name.clone(),
            backend: self.loaded.backend.clone(),
            ctx_used: self.session.as_ref().map_or(0, |s| s.tokens().len()),
            ctx_total: self.n_ctx,
            tok_per_s: None,
            session: self
                .conv
                .as_ref()
                .map(|c| c.row.as_ref().map_or_else(String::new, |r| r.label())),
        }
    }

    fn send_status(&self) {
        let mut status = self.status();
        if let (Some(conv), Some(name)) = (&self.conv, &self.args.session) {
            if conv.row.is_none() {
                status.session = Some(name.clone());
            }
        }
        self.reply(Reply::Status(status));
    }

    /// Serves requests until `Shutdown` or until the event loop hangs up.
    pub fn run(mut self, rx: Receiver<Request>) {
        while let Ok(req) = rx.recv() {
            if req == Request::Shutdown {
                break;
            }
            self.handle(req);
        }
    }

    fn handle(&mut self, req: Request) {
        match req {
            Request::Send(text) => self.turn(&text),
            Request::Regen => self.regen(),
            Request::Add { specs, read_only } => {
                for line in self.add_files(&specs, read_only) {
                    self.notice(line);
                }
            }
            Request::Drop(specs) => self.drop_files(&specs),
            Request::Ls => self.ls(),
            Request::ReadOnly(specs) => self.read_only(&specs),
            Request::Tokens => self.tokens(),
            Request::Compact => self.compact(),
            Request::Clear => self.clear(),
            Request::Model(m) => self.switch_model(&m),
            Request::Set(kv) => self.set(kv),
            Request::Sessions => self.sessions(),
            Request::Resume(name) => self.resume(name),
            Request::Diff { answer, confirm } => self.diff(&answer, confirm),
            Request::Apply => self.apply(),
            Request::Undo => self.undo(),
            Request::Complete(partial) => {
                let options = self.files.complete(&partial);
                self.reply(Reply::Completions { partial, options });
            }
            Request::Shutdown => {}
        }
        self.send_status();
    }

    /// The system message: the system prompt, then the notes and files in context.
    fn system_message(&self) -> Message {
        let context = render_context(self.notes.as_ref(), self.files.list());
        match context.is_empty() {
            true => Message::system(self.system.clone()),
            false => Message::system(format!("{}\n\n{context}", self.system)),
        }
    }

    /// The prompt of the conversation so far, ready for the answer.
    fn prompt(&self) -> Result<Vec<u32>> {
        let mut messages = vec![self.system_message()];
        messages.extend(self.history.iter().cloned());
        encode_chat(&self.loaded.tokenizer, &self.loaded.template, &self.loaded.opts, &messages)
    }

    /// Room kept for the answer when checking the budget.
    fn reserve(&self) -> usize {
        self.args.prompt.n_predict.min(self.n_ctx / 4).max(1)
    }

    /// A user message: mentioned files join the context, changed files are re-read, and
    /// the answer is generated.
    fn turn(&mut self, text: &str) {
        self.refresh_files();
        let mentions = self.files.parse_mentions(text);
        if !mentions.mentions.is_empty() {
            let specs: Vec<String> = mentions.mentions.iter().map(|m| m.path.clone()).collect();
            // A mention of a file already in context needs no word.
            for line in self.add_files(&specs, false) {
                if !line.ends_with("is already in context") {
                    self.notice(line);
                }
            }
        }
        self.history.push(Message::user(mentions.message));
        self.generate(false);
    }

    fn regen(&mut self) {
        if self.history.last().is_some_and(|m| m.role == "assistant") {
            self.history.pop();
        }
        if self.history.last().is_none_or(|m| m.role != "user") {
            self.send(Msg::Engine(Event::Error(Error::usage("nothing to regenerate"))));
            return;
        }
        self.refresh_files();
        self.generate(true);
    }

    /// Generates the answer to the history's last (user) message. Fails without
    /// generating, the user message taken back, when the prompt would not fit.
    fn generate(&mut self, regen: bool) {
        match self.try_generate(regen) {
            Ok(()) => {}
            Err(e) => {
                if !regen {
                    self.history.pop();
                }
                self.send(Msg::Engine(Event::Error(e)));
            }
        }
        self.cancel.store(false, Ordering::Relaxed);
    }

    fn try_generate(&mut self, regen: bool) -> Result<()> {
        let prompt = self.prompt()?;
        self.check_budget(prompt.len())?;
        let session = self.session.take().ok_or_else(|| Error::failed("no session"))?;
        self.params.seed = self.params.seed.wrapping_add(1);
        let sampler = Sampler::new(self.params.clone())?;
        let job = Job {
            max_tokens: Some(self.args.prompt.n_predict.min(self.n_ctx - prompt.len()).max(1)),
            prompt,
            ignore_eos: false,
            stop: self.args.sampling.stop.clone(),
        };
        let tok = Arc::clone(&self.loaded.tokenizer);
        let (rx, handle) = stream::spawn(session, tok, sampler, job, Arc::clone(&self.cancel));
        let (answer, end) = self.forward(rx);
        match handle.join() {
            Ok(session) => self.session = Some(session),
            Err(_) => {
                self.session =
                    Some(load::session(&self.loaded.model, self.n_ctx, &self.model_args)?);
                return Err(Error::failed("the generating thread panicked; the cache was reset"));
            }
        }
        let stopped = matches!(&end, Event::Error(e) if e.kind() == ErrorKind::Interrupted);
        let keep = matches!(end, Event::Done(_)) || (stopped && !answer.is_empty());
        if keep {
            self.history.push(Message::assistant(answer.clone()));
            self.commit(regen, &answer);
        } else if !regen {
            self.history.pop();
        }
        self.send(Msg::Engine(end));
        if keep {
            self.propose(&answer);
        }
        Ok(())
    }

    /// Passes the generation's events on; returns the answer and the final event.
    fn forward(&self, rx: Receiver<Event>) -> (String, Event) {
        let mut answer = String::new();
        let mut first: Option<Instant> = None;
        let mut last_speed = Instant::now();
        let mut pieces = 0usize;
        for event in rx.iter() {
            match event {
                Event::Text(t) => {
                    answer.push_str(&t);
                    pieces += 1;
                    let started = *first.get_or_insert_with(Instant::now);
                    if last_speed.elapsed() >= SPEED_EVERY && pieces > 1 {
                        let secs = started.elapsed().as_secs_f64().max(1e-3);
                        self.send(Msg::Speed((pieces - 1) as f64 / secs));
                        last_speed = Instant::now();
                    }
                    self.send(Msg::Engine(Event::Text(t)));
                }
                end => return (answer, end),
            }
        }
        (answer, Event::Error(Error::failed("the generating thread ended without a result")))
    }

    /// Says when the prompt nears the context size; refuses one that does not fit, naming
    /// the ways out. Nothing is dropped without the user's say.
    fn check_budget(&self, prompt_tokens: usize) -> Result<()> {
        let needed = prompt_tokens + self.reserve();
        if needed > self.n_ctx {
            let files = self.files.list().iter().map(|f| (f.path.as_str(), f.tokens));
            let hint =
                largest_files(files).map_or(String::new(), |l| format!(" (largest files: {l})"));
            return Err(Error::bad_input(format!(
                "the prompt would not fit: {prompt_tokens} tokens plus {} for the answer, the \
                 context holds {}{hint}. /drop files, /compact the conversation, /clear it, or \
                 restart with a larger -c",
                self.reserve(),
                self.n_ctx
            )));
        }
        if needed as f64 > self.n_ctx as f64 * crate::context::WARN_FRACTION {
            self.notice(format!(
                "the context is nearly full ({needed} of {} tokens): /drop files or /compact soon",
                self.n_ctx
            ));
        }
        Ok(())
    }

    /// Saves the turn to the stored conversation, when there is one.
    fn commit(&mut self, regen: bool, answer: &str) {
        let Some(conv) = self.conv.as_mut() else { return };
        let Some(session) = self.session.as_ref() else { return };
        let tok = &self.loaded.tokenizer;
        let mut rows = Vec::new();
        if !self.conv_has_system {
            rows.push(("system".to_string(), self.system.clone(), count_tokens(tok, &self.system)));
        }
        if !regen {
            if let Some(user) = self.history.iter().rev().find(|m| m.role == "user") {
                rows.push((
                    "user".to_string(),
                    user.content.clone(),
                    count_tokens(tok, &user.content),
                ));
            }
        }
        rows.push(("assistant".to_string(), answer.to_string(), count_tokens(tok, answer)));
        match conv.commit(session, rows) {
            Ok(()) => self.conv_has_system = true,
            Err(e) => self.error(format!("the turn was not saved: {e}")),
        }
    }

    /// The edits `answer` proposes, and the file an unlabelled block was taken for: when
    /// no block names a file, one editable file is in context and the answer holds one
    /// complete code block, that block is read as the file's new content (the user sees
    /// the diff before anything is written).
    pub(super) fn edits_of(&self, answer: &str) -> (ParsedEdits, Option<String>) {
        let in_context = |p: &str| self.files.get(p).is_some();
        let parsed = parse_edits(answer, &in_context);
        if !parsed.edits.is_empty() {
            return (parsed, None);
        }
        let editable: Vec<&str> =
            self.files.list().iter().filter(|f| !f.read_only).map(|f| f.path.as_str()).collect();
        let fences = answer.lines().filter(|l| l.trim_start().starts_with("```")).count();
        match (editable.as_slice(), fences) {
            ([path], 2) => {
                let block: Vec<&str> =
                    answer.lines().skip_while(|l| !l.trim_start().starts_with("```")).collect();
                let labelled = format!("{path}\n{}", block.join("\n"));
                let guess = parse_edits(&labelled, &in_context);
                match guess.edits.is_empty() {
                    true => (parsed, None),
                    false => (guess, Some(path.to_string())),
                }
            }
            _ => (parsed, None),
        }
    }

    /// Tells the user when the answer proposes edits to files.
    fn propose(&self, answer: &str) {
        let parsed = self.edits_of(answer).0;
        let mut paths: Vec<String> = Vec::new();
        for edit in &parsed.edits {
            if !paths.contains(&edit.path) {
                paths.push(edit.path.clone());
            }
        }
        if !paths.is_empty() {
            self.reply(Reply::Proposed(paths));
        }
    }
}
