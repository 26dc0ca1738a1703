//! The terminal REPL (`hearth`, `hearth chat`): terminal setup and teardown (raw mode,
//! alternate screen, bracketed paste, mouse; restored on every exit path and on panic),
//! and the event loop. Threads feed one channel of [`Msg`]: a reader of terminal events,
//! and the worker that owns the model (which passes on the generating thread's events).
//! The loop draws from `&State`, runs `update`, and carries out its effects; it never
//! waits on generation, files or the database.
//!
//! `state` is plain data, `update` the pure logic, `keymap` keys to actions, `view` the
//! drawing, `worker` the model side.

pub mod commands;
pub mod input;
pub mod keymap;
pub mod state;
pub mod update;
pub mod view;
mod worker;

#[cfg(test)]
mod tests;

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent, KeyboardEnhancementFlags};
use crossterm::{execute, terminal};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use self::state::State;
use self::update::{update, Effect, Msg, Request};
use self::view::{Palette, Screen};
use self::worker::Worker;
use crate::assistant::Config;
use crate::error::{Error, Result};

type Term = Terminal<CrosstermBackend<io::Stdout>>;

/// The REPL's settings: the conversation's, the files to add at the start, and whether to
/// resume the most recent stored session.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub config: Config,
    /// Paths or globs, as with `/add`.
    pub files: Vec<String>,
    pub resume: bool,
    /// Offer the model the project's tools.
    pub tools: bool,
    /// Permissions given up front (`edit`, `run`).
    pub allow: Vec<String>,
    /// The remote engine `/escalate` sends turns to.
    pub remote: Option<String>,
}

/// Runs the REPL until the user quits. The model loads first, before the screen
/// changes, so that failing to load is the usual one-line error.
pub fn run(chat: &ChatConfig) -> Result<()> {
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        return Err(Error::usage(
            "the REPL needs a terminal; for pipes use `hearth ask \"question\" < input`",
        ));
    }
    let (tx, rx) = mpsc::channel();
    let worker = Worker::new(chat, tx.clone())?;
    let cancel = worker.cancel_flag();
    let size = terminal::size().unwrap_or((80, 24));
    let mut state = State::new(worker.status(), size);
    for (role, text) in worker.resumed_turns() {
        state.turns.push(view::TurnView::new(role, text));
    }
    for line in &worker.startup {
        state.notice(line.clone());
    }
    if state.turns.is_empty() {
        state.notice(
            "hearth: ask about your code. /add files or mention @path; /help lists commands.",
        );
    }
    let (worker_tx, worker_thread) = spawn_worker(worker);
    let palette = Palette::from_env_values(
        std::env::var("NO_COLOR").ok().as_deref(),
        std::env::var("COLORTERM").ok().as_deref(),
        std::env::var("TERM").ok().as_deref(),
    );
    let mut term = enter()?;
    let paused = Arc::new(AtomicBool::new(false));
    let stop_reader = Arc::new(AtomicBool::new(false));
    spawn_reader(tx, Arc::clone(&paused), Arc::clone(&stop_reader));
    let mut lp = Loop { term: &mut term, screen: Screen::new(palette), worker_tx, cancel, paused };
    let result = lp.run(&mut state, &rx);
    stop_reader.store(true, Ordering::Relaxed);
    lp.cancel.store(true, Ordering::Relaxed);
    let _ = lp.worker_tx.send(Request::Shutdown);
    drop(lp);
    leave();
    // The worker saves the last turn before it ends.
    let _ = worker_thread.join();
    result
}

fn spawn_worker(worker: Worker) -> (Sender<Request>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("hearth-worker".into())
        .spawn(move || worker.run(rx))
        .expect("spawn the worker thread");
    (tx, handle)
}

/// Reads terminal events into the channel; stops reading while `paused` ($EDITOR runs).
fn spawn_reader(tx: Sender<Msg>, paused: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if paused.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => break,
            }
            let msg = match event::read() {
                Ok(TermEvent::Key(k)) => Msg::Key(k),
                Ok(TermEvent::Paste(s)) => Msg::Paste(s),
                Ok(TermEvent::Mouse(m)) => Msg::Mouse(m),
                Ok(TermEvent::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(msg).is_err() {
                break;
            }
        }
    });
}

/// Raw mode, the alternate screen, bracketed paste, mouse reports and (where the
/// terminal has them) disambiguated keys, so Shift-Enter is not Enter; and a panic hook
/// that puts the terminal back before the message prints.
fn enter() -> Result<Term> {
    let fail = |e: io::Error| Error::failed(format!("cannot set up the terminal: {e}"));
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A panic elsewhere (the worker) leaves the screen to the loop, which reports it.
        if std::thread::current().name() == Some("main") {
            leave();
        }
        hook(info);
    }));
    terminal::enable_raw_mode().map_err(fail)?;
    let mut out = io::stdout();
    execute!(
        out,
        terminal::EnterAlternateScreen,
        event::EnableBracketedPaste,
        event::EnableMouseCapture
    )
    .map_err(fail)?;
    if terminal::supports_keyboard_enhancement().unwrap_or(false) {
        let flags = KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES;
        let _ = execute!(out, event::PushKeyboardEnhancementFlags(flags));
    }
    Terminal::new(CrosstermBackend::new(out)).map_err(fail)
}

/// Puts the terminal back as it was; safe to call more than once.
fn leave() {
    let mut out = io::stdout();
    if terminal::supports_keyboard_enhancement().unwrap_or(false) {
        let _ = execute!(out, event::PopKeyboardEnhancementFlags);
    }
    let _ = execute!(
        out,
        event::DisableMouseCapture,
        event::DisableBracketedPaste,
        terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

struct Loop<'t> {
    term: &'t mut Term,
    screen: Screen,
    worker_tx: Sender<Request>,
    cancel: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
}

impl Loop<'_> {
    fn run(&mut self, state: &mut State, rx: &Receiver<Msg>) -> Result<()> {
        let fail = |e: io::Error| Error::failed(format!("terminal: {e}"));
        loop {
            self.draw(state).map_err(fail)?;
            let first = match rx.recv_timeout(Duration::from_millis(250)) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            // Take what else is queued before drawing again: a burst of tokens is one frame.
            let mut msgs = vec![first];
            msgs.extend(rx.try_iter().take(256));
            for msg in msgs {
                for effect in update(state, msg) {
                    if self.effect(state, effect).map_err(fail)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn draw(&mut self, state: &mut State) -> io::Result<()> {
        let mut max_scroll = 0;
        let screen = &mut self.screen;
        self.term.draw(|f| {
            max_scroll = screen.draw(state, f);
        })?;
        state.clamp_scroll(max_scroll);
        Ok(())
    }

    /// Carries out one effect; `true` to quit.
    fn effect(&mut self, state: &mut State, effect: Effect) -> io::Result<bool> {
        match effect {
            Effect::Worker(req) => {
                if self.worker_tx.send(req).is_err() {
                    state.error("the worker stopped; /exit and start again");
                }
            }
            Effect::Cancel => self.cancel.store(true, Ordering::Relaxed),
            Effect::Redraw => self.term.clear()?,
            Effect::Quit => return Ok(true),
            Effect::OpenEditor(text) => {
                // The reader is paused meanwhile: keys typed into the editor stay there.
                let result = self.edit(&text);
                for e in update(state, Msg::Edited(result)) {
                    self.effect(state, e)?;
                }
            }
        }
        Ok(false)
    }

    /// Runs `$VISUAL`/`$EDITOR` (else `vi`) on a temporary file holding `text`, with the
    /// terminal handed over; returns the file's new text.
    fn edit(&mut self, text: &str) -> std::result::Result<String, String> {
        self.paused.store(true, Ordering::Relaxed);
        // Let a poll in progress end before the editor reads the terminal.
        std::thread::sleep(Duration::from_millis(80));
        leave();
        let result = run_editor(text);
        let _ = terminal::enable_raw_mode();
        let _ = execute!(
            io::stdout(),
            terminal::EnterAlternateScreen,
            event::EnableBracketedPaste,
            event::EnableMouseCapture
        );
        self.paused.store(false, Ordering::Relaxed);
        let _ = self.term.clear();
        result
    }
}

fn run_editor(text: &str) -> std::result::Result<String, String> {
    let editor = std::env::var("VISUAL")
        .ok()
        .or_else(|| std::env::var("EDITOR").ok())
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let path = std::env::temp_dir().join(format!("hearth-message-{}.md", std::process::id()));
    std::fs::write(&path, text).map_err(|e| format!("$EDITOR: {}: {e}", path.display()))?;
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program).args(words).arg(&path).status();
    let out = match status {
        Ok(s) if s.success() => std::fs::read_to_string(&path).map_err(|e| format!("$EDITOR: {e}")),
        Ok(s) => Err(format!("{editor} exited with {s}; the message is unchanged")),
        Err(e) => Err(format!("cannot run {editor}: {e}")),
    };
    let _ = std::fs::remove_file(&path);
    out
}
