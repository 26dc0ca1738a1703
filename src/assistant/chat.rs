//! [`Assistant`]: one conversation with a loaded model, as every face runs it — the
//! session and its KV cache, the files in context and project notes, the history, the
//! stored conversation, and a turn: the prompt assembled with a stable prefix (system →
//! notes → files in the order added → history) so the cache is reused, checked against
//! the context size (never truncated), generated on the engine's own thread and streamed
//! to the face as [`TurnEvent`]s, then committed to the store.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::agent::{Approval, ToolActivity, ToolUse};
use super::config::{Config, ModelConfig};
use super::conversation::Conversation;
use super::load::{self, Loaded};
use super::prompt::{system_message, ChatFormat};
use super::tools::Outcome;
use crate::backend::any::AnyBackend;
use crate::chat::toolcall::Scanner;
use crate::chat::Message;
use crate::context::edits::EditLog;
use crate::context::{largest_files, load_notes, ContextFiles, Notes};
use crate::engine::generate::Stats;
use crate::engine::grammar::{Grammar, Grammars};
use crate::engine::sampler::{Sampler, SamplerParams};
use crate::engine::session::Session;
use crate::engine::stream::{self, Event, Job};
use crate::error::{Error, ErrorKind, Result};

/// How often the generation speed is reported while streaming.
const SPEED_EVERY: Duration = Duration::from_millis(400);

/// What a face sets up its conversation with.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The face's built-in system prompt (`--system-prompt` replaces it).
    pub system: String,
    /// The project is found from here (its root holds `.git`, or is this directory).
    pub cwd: PathBuf,
    /// Read the project's notes (`HEARTH.md`, `AGENTS.md`, `CLAUDE.md`) into the prompt.
    pub notes: bool,
    /// Keep room for the answer (`n_predict`, at most a quarter of the context) when
    /// checking that a prompt fits; otherwise any room left will do.
    pub reserve_answer: bool,
    /// The ways out named when a prompt does not fit.
    pub budget_hint: String,
}

/// A message for the user that is not part of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Info(String),
    Error(String),
}

/// What a turn reports while it runs.
#[derive(Debug)]
pub enum TurnEvent {
    /// Text of the answer, ready to show.
    Text(String),
    /// Generation speed so far, tokens/s.
    Speed(f64),
    /// Something the user should know before the answer (a file added by mention, a
    /// context nearly full).
    Notice(Notice),
    /// The model is writing a call of this tool.
    Forming(String),
    /// A call is about to run (after `Approve`, when it needs a yes).
    ToolCall(ToolActivity),
    /// May this call run? The face answers on the approval's channel.
    Approve(Approval),
    /// What a call gave (or why it did not run).
    ToolResult(ToolActivity, Outcome),
    /// A command the face may run itself (only when asked for, see
    /// `Assistant::delegate_commands`).
    Execute(super::agent::Execution),
}

/// How a turn ended.
#[derive(Debug)]
pub struct TurnEnd {
    /// The answer as far as it came.
    pub answer: String,
    /// `Done` with its stats, or `Error` (kind `Interrupted` when cancelled).
    pub end: Event,
    /// The answer joined the history (a complete one, or a stopped one with some text).
    pub kept: bool,
    /// Why the turn was not saved to the stored session, when it was not.
    pub save_error: Option<Error>,
    /// The tool loop stopped the turn (the step limit, or the same call again and again);
    /// `end` says which.
    pub tool_stop: bool,
}

impl TurnEnd {
    fn failed(e: Error) -> TurnEnd {
        let end = Event::Error(e);
        TurnEnd { answer: String::new(), end, kept: false, save_error: None, tool_stop: false }
    }

    /// The stats of a complete turn.
    pub fn stats(&self) -> Option<&Stats> {
        match &self.end {
            Event::Done(stats) => Some(stats),
            _ => None,
        }
    }

    /// Whether generation was stopped by the cancel flag.
    pub fn cancelled(&self) -> bool {
        matches!(&self.end, Event::Error(e) if e.kind() == ErrorKind::Interrupted)
    }
}

/// Draft length of speculative lookup decoding unless a face says otherwise.
pub const DEFAULT_DRAFT_MAX: usize = 8;

pub struct Assistant {
    pub(super) config: Config,
    /// The model settings in force (the stored session's, where the command line is silent).
    pub(super) model_config: ModelConfig,
    pub(super) setup: Setup,
    pub(super) loaded: Loaded,
    pub(super) format: ChatFormat,
    /// `None` only while a generation has it.
    pub(super) session: Option<Session<AnyBackend>>,
    pub(super) n_ctx: usize,
    pub(super) params: SamplerParams,
    pub(super) system: String,
    pub(super) files: ContextFiles,
    pub(super) notes: Option<Notes>,
    /// The conversation after the system message.
    pub(super) history: Vec<Message>,
    pub(super) conv: Option<Conversation>,
    /// The stored session already holds its system message.
    pub(super) conv_has_system: bool,
    pub(super) log: EditLog,
    /// Tool use, when the face turned it on.
    pub(super) tools: Option<ToolUse>,
    /// Whether tool calls are grammar-constrained (when their format has a grammar).
    pub(super) grammar_on: bool,
    /// A grammar every answer follows (`--json-schema`).
    pub(super) output_grammar: Option<(Grammars, Grammar)>,
    /// The vocabulary compiled for grammars, once one is used.
    pub(super) grammars: Option<Grammars>,
    /// Speculative lookup decoding: drafts of up to this many tokens (`--spec`).
    pub(super) spec: Option<usize>,
    /// The calls of the last remote answer, in the API's own form (not in its text).
    pub(super) remote_calls: Option<crate::chat::toolcall::Parsed>,
    /// The remote engine of `/escalate`, when one is known.
    pub(super) remote: Option<super::remote::RemoteUse>,
    pub(super) cancel: Arc<AtomicBool>,
    notices: Vec<Notice>,
}

impl Assistant {
    /// Opens the stored session `config.session` names (if any), loads the model (the
    /// session's, where the command line names none) and restores the session's cache.
    pub fn open(config: &Config, setup: Setup) -> Result<Assistant> {
        config.sampling.params.validate()?;
        let conv = config.session.as_deref().map(Conversation::open).transpose()?;
        let model_config = match &conv {
            Some(c) => c.model_config(&config.model),
            None => config.model.clone(),
        };
        let loaded = load::load(&model_config)?;
        Assistant::with_loaded(loaded, config, setup, conv)
    }

    /// A conversation over an already loaded model (faces that hold several share one).
    pub fn with_loaded(
        loaded: Loaded,
        config: &Config,
        setup: Setup,
        conv: Option<Conversation>,
    ) -> Result<Assistant> {
        let model_config = match &conv {
            Some(c) => c.model_config(&config.model),
            None => config.model.clone(),
        };
        let format = ChatFormat::new(config.prompt.chat_template_file.as_deref(), &loaded)?;
        let n_ctx = model_config.ctx_size(loaded.model.hp.n_ctx_train);
        let session = load::session(&loaded.model, n_ctx, &model_config)?;
        let files = ContextFiles::discover(&setup.cwd)?;
        let system = config.prompt.system_prompt.clone().unwrap_or_else(|| setup.system.clone());
        let mut a = Assistant {
            config: config.clone(),
            model_config,
            loaded,
            format,
            session: Some(session),
            n_ctx,
            params: config.sampling.params.clone(),
            system,
            files,
            notes: None,
            history: Vec::new(),
            conv: None,
            conv_has_system: false,
            log: EditLog::new(),
            tools: None,
            grammar_on: true,
            output_grammar: None,
            grammars: None,
            remote: None,
            remote_calls: None,
            // Runs only where picks are greedy: the same tokens, sooner.
            spec: Some(DEFAULT_DRAFT_MAX),
            cancel: Arc::new(AtomicBool::new(false)),
            notices: Vec::new(),
            setup,
        };
        if a.setup.notes {
            a.read_notes();
        }
        if let Some(conv) = conv {
            a.attach(conv)?;
        }
        Ok(a)
    }

    fn read_notes(&mut self) {
        match load_notes(self.files.root(), self.files.limits()) {
            Ok(notes) => self.notes = notes,
            Err(refusal) => self.info(format!("project notes not used: {}", refusal.message())),
        }
        if let Some(notes) = &self.notes {
            let line = format!("project notes from {}", notes.path);
            self.info(line);
        }
    }

    /// Makes `conv` the stored conversation: its history, its KV snapshot restored.
    pub fn attach(&mut self, mut conv: Conversation) -> Result<()> {
        conv.bind_model(&self.loaded.model)?;
        let mut stored = conv.history()?;
        if stored.first().is_some_and(|m| m.role == "system") {
            // The conversation goes on under the system prompt it was begun with (so its
            // cache still fits), unless the command line gives another.
            let system = stored.remove(0).content;
            if self.config.prompt.system_prompt.is_none() {
                self.system = system;
            }
            self.conv_has_system = true;
        } else {
            self.conv_has_system = !stored.is_empty();
        }
        if let Some(session) = self.session.as_mut() {
            conv.restore(session);
        }
        let name = conv.row.as_ref().map_or_else(|| "new".to_string(), |r| r.label());
        self.info(match stored.is_empty() {
            true => format!("session {name}"),
            false => format!("resumed session {name}: {} messages", stored.len()),
        });
        self.history = stored;
        self.conv = Some(conv);
        Ok(())
    }

    /// The flag that stops a running turn at its next token (settable from any thread).
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// Uses `flag` as the cancel flag (one a face set up before the conversation, such
    /// as a Ctrl-C handler's).
    pub fn set_cancel_flag(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = flag;
    }

    /// Most tokens of one answer from now on.
    /// Speculative lookup decoding with drafts of up to `draft_max` tokens (`None`: off).
    pub fn set_spec(&mut self, draft_max: Option<usize>) {
        self.spec = draft_max;
    }

    pub fn set_n_predict(&mut self, n: usize) {
        self.config.prompt.n_predict = n.max(1);
    }

    /// Notices gathered since the last call, oldest first.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    pub(super) fn info(&mut self, text: impl Into<String>) {
        self.notices.push(Notice::Info(text.into()));
    }

    pub(super) fn error(&mut self, text: impl Into<String>) {
        self.notices.push(Notice::Error(text.into()));
    }

    pub fn loaded(&self) -> &Loaded {
        &self.loaded
    }

    pub fn files(&self) -> &ContextFiles {
        &self.files
    }

    /// The conversation after the system message.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// The stored conversation, when there is one.
    pub fn conversation(&self) -> Option<&Conversation> {
        self.conv.as_ref()
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Tokens now in the KV cache.
    pub fn ctx_used(&self) -> usize {
        self.session.as_ref().map_or(0, |s| s.tokens().len())
    }

    /// The project root the files in context are relative to.
    pub fn root(&self) -> &Path {
        self.files.root().path()
    }

    /// The system message: the system prompt, then the notes and files in context.
    pub fn system_message(&self) -> Message {
        system_message(&self.system, self.notes.as_ref(), self.files.list())
    }

    /// The prompt of the conversation so far, ready for the answer.
    pub fn prompt(&self) -> Result<Vec<u32>> {
        let mut messages = vec![self.system_message()];
        messages.extend(self.history.iter().cloned());
        self.format.encode(&self.loaded.tokenizer, &messages)
    }

    /// Room kept for the answer when checking the budget.
    pub(super) fn reserve(&self) -> usize {
        match self.setup.reserve_answer {
            true => self.config.prompt.n_predict.min(self.n_ctx / 4).max(1),
            false => 1,
        }
    }

    /// A user message: mentioned files join the context, changed files are re-read, and
    /// the answer is generated.
    pub fn send(&mut self, text: &str, on: &mut dyn FnMut(TurnEvent)) -> TurnEnd {
        self.refresh_files();
        let mentions = self.files.parse_mentions(text);
        if !mentions.mentions.is_empty() {
            let specs: Vec<String> = mentions.mentions.iter().map(|m| m.path.clone()).collect();
            // A mention of a file already in context needs no word.
            for line in self.add_files(&specs, false) {
                if !line.ends_with("is already in context") {
                    self.info(line);
                }
            }
        }
        self.ask(mentions.message, on)
    }

    /// A user message taken as it is (no mentions), and its answer.
    pub fn ask(&mut self, message: String, on: &mut dyn FnMut(TurnEvent)) -> TurnEnd {
        self.history.push(Message::user(message));
        self.generate(false, on)
    }

    /// The last answer again.
    pub fn regen(&mut self, on: &mut dyn FnMut(TurnEvent)) -> TurnEnd {
        // The answer and the tool steps that led to it.
        while self.history.last().is_some_and(|m| m.role == "assistant" || m.role == "tool") {
            self.history.pop();
        }
        if self.history.last().is_none_or(|m| m.role != "user") {
            return TurnEnd::failed(Error::usage("nothing to regenerate"));
        }
        self.refresh_files();
        self.generate(true, on)
    }

    /// Adds a note to the conversation that the model sees next turn (an edit the user
    /// rejected, say), as a user message followed by the assistant's acknowledgement.
    pub fn note(&mut self, text: &str) {
        self.history.push(Message::user(text));
        self.history.push(Message::assistant("Noted."));
    }

    /// Generates the answer to the history's last (user) message. Fails without
    /// generating, the user message taken back, when the prompt would not fit.
    fn generate(&mut self, regen: bool, on: &mut dyn FnMut(TurnEvent)) -> TurnEnd {
        let end = match self.try_generate(regen, on) {
            Ok(end) => end,
            Err(e) => TurnEnd::failed(e),
        };
        if !end.kept && !regen {
            self.history.pop();
        }
        self.cancel.store(false, Ordering::Relaxed);
        end
    }

    fn try_generate(&mut self, regen: bool, on: &mut dyn FnMut(TurnEvent)) -> Result<TurnEnd> {
        // The turn's messages start here: the user's (unless regenerating), then the
        // answer, or the tool steps and the answer.
        let from = self.history.len() - usize::from(!regen);
        let (mut steps, mut tool_stop) = (0, false);
        self.forget_calls();
        loop {
            let (answer, end) = match self.generate_once(on) {
                Ok(step) => step,
                // A step after tool calls that ran: what they did stays in the turn.
                Err(e) if steps > 0 => (String::new(), Event::Error(e)),
                Err(e) => return Err(e),
            };
            let stopped = matches!(&end, Event::Error(e) if e.kind() == ErrorKind::Interrupted);
            let complete = matches!(end, Event::Done(_));
            let max_steps = self.tools.as_ref().map_or(0, |t| t.max_steps);
            let parsed = if complete { self.calls_in(&answer) } else { None };
            let parsed = self.remote_calls.take().or(parsed);
            let end = match parsed {
                Some(parsed) if steps < max_steps => {
                    steps += 1;
                    self.run_step(&answer, parsed, on);
                    if self.stuck() {
                        tool_stop = true;
                        Event::Error(Error::failed(
                            "stopped: the model kept making the same tool call",
                        ))
                    } else if !self.cancel.load(Ordering::Relaxed) {
                        continue;
                    } else {
                        Event::Error(Error::new(ErrorKind::Interrupted, "generation cancelled"))
                    }
                }
                Some(_) => {
                    tool_stop = true;
                    self.history.push(Message::assistant(answer.clone()));
                    let s = if max_steps == 1 { "" } else { "s" };
                    Event::Error(Error::failed(format!(
                        "stopped after {max_steps} tool step{s} (the step limit, --max-steps); \
                         the last answer's calls did not run"
                    )))
                }
                None => {
                    if complete || (stopped && !answer.is_empty()) {
                        self.history.push(Message::assistant(answer.clone()));
                    }
                    end
                }
            };
            let kept = self.history.len() > from + usize::from(!regen);
            let save_error = if kept { self.commit(from).err() } else { None };
            return Ok(TurnEnd { answer, end, kept, save_error, tool_stop });
        }
    }

    /// One generation over the history as it stands: the answer's text and how it ended.
    fn generate_once(&mut self, on: &mut dyn FnMut(TurnEvent)) -> Result<(String, Event)> {
        if self.remote_active() {
            return self.generate_remote(on);
        }
        let prompt = self.prompt()?;
        self.check_budget(prompt.len())?;
        for n in self.take_notices() {
            on(TurnEvent::Notice(n));
        }
        let session = self.session.take().ok_or_else(|| Error::failed("no session"))?;
        self.params.seed = self.params.seed.wrapping_add(1);
        let mut sampler = Sampler::new(self.params.clone())?;
        if let Some(c) = self.call_constraint()? {
            sampler.set_constraint(c);
        }
        let job = Job {
            max_tokens: Some(self.config.prompt.n_predict.min(self.n_ctx - prompt.len()).max(1)),
            prompt,
            ignore_eos: false,
            stop: self.config.sampling.stop.clone(),
            spec: self.spec,
        };
        let tok = Arc::clone(&self.loaded.tokenizer);
        let (rx, handle) = stream::spawn(session, tok, sampler, job, Arc::clone(&self.cancel));
        let mut scanner = self.tools.as_ref().map(|t| Scanner::new(t.format));
        let (answer, end) = forward(rx, &mut scanner, on);
        if let Some(s) = scanner.as_mut() {
            // A call (tagged, or the whole answer without tags) is not answer text.
            let hidden = s.in_call() || s.holds_call();
            let rest = s.finish();
            if !hidden && !rest.is_empty() {
                on(TurnEvent::Text(rest));
            }
        }
        match handle.join() {
            Ok(session) => self.session = Some(session),
            Err(_) => {
                let fresh = load::session(&self.loaded.model, self.n_ctx, &self.model_config)?;
                self.session = Some(fresh);
                return Err(Error::failed("the generating thread panicked; the cache was reset"));
            }
        }
        Ok((answer, end))
    }

    /// Says when the prompt nears the context size; refuses one that does not fit, naming
    /// the ways out. Nothing is dropped without the user's say.
    fn check_budget(&mut self, prompt_tokens: usize) -> Result<()> {
        let needed = prompt_tokens + self.reserve();
        if needed > self.n_ctx {
            let files = self.files.list().iter().map(|f| (f.path.as_str(), f.tokens));
            let hint =
                largest_files(files).map_or(String::new(), |l| format!(" (largest files: {l})"));
            let answer = match self.setup.reserve_answer {
                true => format!(" plus {} for the answer", self.reserve()),
                false => String::new(),
            };
            return Err(Error::bad_input(format!(
                "the prompt would not fit: {prompt_tokens} tokens{answer}, the context holds \
                 {}{hint}. {}",
                self.n_ctx, self.setup.budget_hint
            )));
        }
        if needed as f64 > self.n_ctx as f64 * crate::context::WARN_FRACTION {
            let line = format!(
                "the context is nearly full ({needed} of {} tokens): {}",
                self.n_ctx, self.setup.budget_hint
            );
            self.info(line);
        }
        Ok(())
    }

    /// Saves the turn — the history from `from` on — to the stored conversation, when
    /// there is one. Tool calls are stored as readable lines after the text.
    fn commit(&mut self, from: usize) -> Result<()> {
        let Some(conv) = self.conv.as_mut() else { return Ok(()) };
        let Some(session) = self.session.as_ref() else { return Ok(()) };
        let count = |s: &str| self.loaded.count_tokens(s);
        let mut rows = Vec::new();
        if !self.conv_has_system {
            rows.push(("system".to_string(), self.system.clone(), count(&self.system)));
        }
        for m in &self.history[from.min(self.history.len())..] {
            let mut content = m.content.clone();
            for call in &m.tool_calls {
                content.push_str(&format!("\n[tool call] {} {}", call.name, call.arguments));
            }
            let tokens = count(&content);
            rows.push((m.role.clone(), content, tokens));
        }
        conv.commit(session, rows)?;
        self.conv_has_system = true;
        Ok(())
    }
}

/// Passes the generation's events on (text through the call scanner, when tools are
/// on); returns the answer and the final event.
fn forward(
    rx: Receiver<Event>,
    scanner: &mut Option<Scanner>,
    on: &mut dyn FnMut(TurnEvent),
) -> (String, Event) {
    let mut named = false;
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
                    on(TurnEvent::Speed((pieces - 1) as f64 / secs));
                    last_speed = Instant::now();
                }
                Assistant::scan_text(scanner, &mut named, t, on);
            }
            end => return (answer, end),
        }
    }
    (answer, Event::Error(Error::failed("the generating thread ended without a result")))
}
