//! The REPL's logic, pure: `update(&mut State, Msg) -> Vec<Effect>`. Messages are keys,
//! pastes, mouse and resize events, and what the worker reports (streamed text, notices,
//! diffs); effects are what only the event loop can do (ask the worker, stop generation,
//! open `$EDITOR`, quit). No I/O, no clock: everything is testable without a terminal.

use crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};

use super::commands::{self, SlashCommand};
use super::keymap::{self, Action, Focus};
use super::state::{DiffPane, Mode, State};
use super::view::{DiffLine, Role, ToolResultView, TurnView};
use crate::assistant::tools::Decision;
use crate::engine::stream::Event;
use crate::error::ErrorKind;

/// Lines the mouse wheel scrolls.
const WHEEL_LINES: usize = 3;

/// An input to `update`.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// From the generating thread (via the worker).
    Engine(Event),
    /// Generation speed so far, tokens per second.
    Speed(f64),
    /// From the worker.
    Reply(Reply),
    /// `$EDITOR` closed: the new message text, or `None` when it failed (the error said).
    Edited(Result<String, String>),
}

/// What the worker reports besides the generation's own events.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Notice(String),
    Error(String),
    /// New status figures (model, backend, context use, session).
    Status(super::view::StatusView),
    /// Completions of `partial`.
    Completions {
        partial: String,
        options: Vec<String>,
    },
    Diff {
        title: String,
        lines: Vec<DiffLine>,
        confirm: bool,
    },
    /// The files the last answer proposes edits to.
    Proposed(Vec<String>),
    /// A stored session was resumed: its turns replace the transcript.
    Resumed(Vec<(Role, String)>),
    /// A busy job (model switch, resume) is over.
    Ready,
    /// What a tool call gave.
    ToolResult(ToolResultView),
    /// The model is writing a call of this tool.
    Forming(String),
    /// A tool call asks to run: what it would do (an edit's diff, a command line).
    Approve {
        title: String,
        lines: Vec<DiffLine>,
    },
}

/// A job for the worker, which owns the model, the files in context and the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// A user message: generate the answer.
    Send(String),
    /// Drop the last answer and generate it again.
    Regen,
    Add {
        specs: Vec<String>,
        read_only: bool,
    },
    Drop(Vec<String>),
    Ls,
    ReadOnly(Vec<String>),
    Tokens,
    Compact,
    Clear,
    Model(String),
    Set(Option<(String, String)>),
    Sessions,
    Resume(Option<String>),
    /// The proposed edits of `answer` as a diff; `confirm` for `/apply`.
    Diff {
        answer: String,
        confirm: bool,
    },
    /// Write the plan shown by the last `Diff { confirm: true }`.
    Apply,
    Undo,
    Escalate(Option<String>),
    Local,
    Complete(String),
    /// The user's answer to a tool call's `Approve`.
    Decide(Decision),
    Shutdown,
}

/// What `update` asks the event loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Worker(Request),
    /// Stop the generation now (set the cancel flag).
    Cancel,
    /// Edit this text in `$EDITOR`.
    OpenEditor(String),
    /// Repaint the whole screen.
    Redraw,
    Quit,
}

/// Applies `msg` to `state`; returns what the event loop must do.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Paste(text) => {
            if state.diff.is_none() {
                state.input.insert_str(&text);
            }
            vec![]
        }
        Msg::Mouse(m) => {
            on_mouse(state, m);
            vec![]
        }
        Msg::Resize(w, h) => {
            state.size = (w, h);
            vec![]
        }
        Msg::Engine(event) => {
            on_engine(state, event);
            vec![]
        }
        Msg::Speed(tps) => {
            state.status.tok_per_s = Some(tps);
            vec![]
        }
        Msg::Reply(reply) => on_reply(state, reply),
        Msg::Edited(Ok(text)) => {
            state.input.set(text.trim_end_matches('\n'));
            vec![Effect::Redraw]
        }
        Msg::Edited(Err(e)) => {
            state.error(e);
            vec![Effect::Redraw]
        }
    }
}

fn on_mouse(state: &mut State, m: MouseEvent) {
    match (m.kind, &mut state.diff) {
        (MouseEventKind::ScrollUp, Some(d)) => d.scroll = d.scroll.saturating_sub(WHEEL_LINES),
        (MouseEventKind::ScrollDown, Some(d)) => d.scroll += WHEEL_LINES,
        (MouseEventKind::ScrollUp, None) => state.scroll += WHEEL_LINES,
        (MouseEventKind::ScrollDown, None) => {
            state.scroll = state.scroll.saturating_sub(WHEEL_LINES)
        }
        _ => {}
    }
}

fn page(state: &State) -> usize {
    usize::from(state.transcript_rows().saturating_sub(2).max(1))
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let focus = match &state.diff {
        Some(d) => Focus::Diff { confirm: d.confirm, always: d.approval },
        None => Focus::Prompt,
    };
    let Some(action) = keymap::action(key, focus) else { return vec![] };
    if action != Action::Interrupt {
        state.quit_armed = false;
    }
    if !matches!(action, Action::Complete) {
        state.hint = None;
    }
    match focus {
        Focus::Diff { .. } => on_diff_key(state, action),
        Focus::Prompt => on_prompt_key(state, action),
    }
}

fn on_diff_key(state: &mut State, action: Action) -> Vec<Effect> {
    let page = page(state);
    let Some(pane) = state.diff.as_mut() else { return vec![] };
    match action {
        Action::Up => pane.scroll = pane.scroll.saturating_sub(1),
        Action::Down => pane.scroll += 1,
        Action::PageUp => pane.scroll = pane.scroll.saturating_sub(page),
        Action::PageDown => pane.scroll += page,
        Action::Yes | Action::Always | Action::No | Action::Escape | Action::Interrupt
            if pane.approval =>
        {
            let decision = match action {
                Action::Yes => Decision::Yes,
                Action::Always => Decision::Always,
                _ => Decision::No,
            };
            state.diff = None;
            return vec![Effect::Worker(Request::Decide(decision))];
        }
        Action::Yes => {
            state.diff = None;
            return vec![Effect::Worker(Request::Apply)];
        }
        Action::No | Action::Escape | Action::Interrupt => {
            let confirm = pane.confirm;
            state.diff = None;
            if confirm {
                state.notice("not applied: nothing was written");
            }
        }
        Action::Redraw => return vec![Effect::Redraw],
        _ => {}
    }
    vec![]
}

fn on_prompt_key(state: &mut State, action: Action) -> Vec<Effect> {
    let input = &mut state.input;
    match action {
        Action::Insert(c) => input.insert_char(c),
        Action::Newline => input.insert_char('\n'),
        Action::Backspace => input.backspace(),
        Action::Delete => input.delete(),
        Action::DeleteWord => input.delete_word(),
        Action::DeleteToLineStart => input.delete_to_line_start(),
        Action::Left => input.left(),
        Action::Right => input.right(),
        Action::Home => input.home(),
        Action::End => input.end(),
        Action::Up => {
            if !input.up() {
                input.history_prev();
            }
        }
        Action::Down => {
            if !input.down() {
                input.history_next();
            }
        }
        Action::PageUp => state.scroll += page(state),
        Action::PageDown => state.scroll = state.scroll.saturating_sub(page(state)),
        Action::Complete => return complete(state),
        Action::Submit => return submit(state),
        Action::Escape => return stop(state),
        Action::Interrupt => return interrupt(state),
        Action::Eof if state.input.is_empty() => return quit(),
        Action::Eof => state.input.delete(),
        Action::Editor => return vec![Effect::OpenEditor(state.input.text().to_string())],
        Action::ToggleTools => state.toggle_tools(),
        Action::Redraw => return vec![Effect::Redraw],
        Action::Yes | Action::No | Action::Always => {}
    }
    vec![]
}

fn quit() -> Vec<Effect> {
    vec![Effect::Cancel, Effect::Quit]
}

/// Esc: stops a generation.
fn stop(state: &mut State) -> Vec<Effect> {
    match &mut state.mode {
        Mode::Generating { stopping } => {
            *stopping = true;
            vec![Effect::Cancel]
        }
        _ => vec![],
    }
}

/// Ctrl-C: stops a generation; on an idle prompt clears it and arms the exit, and exits
/// when armed.
fn interrupt(state: &mut State) -> Vec<Effect> {
    if state.is_generating() {
        return stop(state);
    }
    if state.quit_armed {
        return quit();
    }
    state.input.clear();
    state.quit_armed = true;
    state.hint = Some("press Ctrl-C again to exit".into());
    vec![]
}

/// Tab: command names here; paths (after `@`, or as `/add` arguments) by the worker.
fn complete(state: &mut State) -> Vec<Effect> {
    let (start, word) = state.input.word_before_cursor();
    let word = word.to_string();
    if start == 0 && word.starts_with('/') {
        let options = commands::complete(&word);
        apply_completion(state, start, &word, &word, options);
        return vec![];
    }
    let partial = match word.strip_prefix('@') {
        Some(p) => p.to_string(),
        None if commands::takes_paths(state.input.text()) && start > 0 => word.clone(),
        None => return vec![],
    };
    state.completing = Some((start, word));
    vec![Effect::Worker(Request::Complete(partial))]
}

/// Puts the completion of `word` (at `start`; `partial` is its path part) into the
/// input: the one option, or the options' common prefix with the options as a hint.
fn apply_completion(
    state: &mut State,
    start: usize,
    word: &str,
    partial: &str,
    options: Vec<String>,
) {
    let lead = &word[..word.len() - partial.len()];
    match options.as_slice() {
        [] => state.hint = Some(format!("no completions for {word}")),
        [one] => {
            let space = if one.ends_with('/') { "" } else { " " };
            state.input.replace_before_cursor(start, &format!("{lead}{one}{space}"));
        }
        many => {
            let common = common_prefix(many);
            if common.len() > partial.len() {
                state.input.replace_before_cursor(start, &format!("{lead}{common}"));
            }
            let shown: Vec<&str> = many.iter().take(12).map(String::as_str).collect();
            let more = if many.len() > 12 {
                format!(" … {} more", many.len() - 12)
            } else {
                String::new()
            };
            state.hint = Some(format!("{}{more}", shown.join("  ")));
        }
    }
}

fn common_prefix(options: &[String]) -> String {
    let mut prefix = options[0].clone();
    for o in &options[1..] {
        while !o.starts_with(&prefix) {
            prefix.pop();
        }
    }
    prefix
}

/// Enter: a command runs, a message is sent; while generating, nothing is sent.
fn submit(state: &mut State) -> Vec<Effect> {
    if state.input.text().trim().is_empty() {
        return vec![];
    }
    if !state.is_idle() {
        state.hint = Some(match &state.mode {
            Mode::Busy(what) => format!("{what} — wait a moment"),
            _ => "still answering — Esc stops it".into(),
        });
        return vec![];
    }
    let text = state.input.take();
    state.scroll = 0;
    if text.trim_start().starts_with('/') {
        return match commands::parse(&text) {
            Ok(cmd) => run_command(state, cmd),
            Err(e) => {
                state.error(e);
                vec![]
            }
        };
    }
    state.turns.push(TurnView::new(Role::User, text.clone()));
    start_answer(state);
    vec![Effect::Worker(Request::Send(text))]
}

fn start_answer(state: &mut State) {
    let mut answer = TurnView::new(Role::Assistant, "");
    answer.partial = true;
    state.turns.push(answer);
    state.mode = Mode::Generating { stopping: false };
    state.proposed.clear();
    state.status.tok_per_s = None;
}

fn run_command(state: &mut State, cmd: SlashCommand) -> Vec<Effect> {
    let request = match cmd {
        SlashCommand::Help => {
            state.notice(commands::help_text());
            return vec![];
        }
        SlashCommand::Exit => return quit(),
        SlashCommand::Clear => {
            state.turns.clear();
            state.proposed.clear();
            Request::Clear
        }
        SlashCommand::Regen => {
            let Some(last) = state.turns.iter().rposition(|t| t.role != Role::Notice) else {
                state.error("nothing to regenerate yet");
                return vec![];
            };
            if state.turns[last].role != Role::Assistant {
                state.error("the last turn is not an answer: nothing to regenerate");
                return vec![];
            }
            state.turns.remove(last);
            start_answer(state);
            Request::Regen
        }
        SlashCommand::Diff | SlashCommand::Apply => {
            let Some(answer) = state.last_answer().map(str::to_string) else {
                state.error("no answer yet: ask for a change first");
                return vec![];
            };
            Request::Diff { answer, confirm: cmd == SlashCommand::Apply }
        }
        SlashCommand::Add(specs) => Request::Add { specs, read_only: false },
        SlashCommand::Drop(specs) => Request::Drop(specs),
        SlashCommand::Ls => Request::Ls,
        SlashCommand::ReadOnly(specs) => Request::ReadOnly(specs),
        SlashCommand::Tokens => Request::Tokens,
        SlashCommand::Compact => Request::Compact,
        SlashCommand::Model(m) => {
            state.mode = Mode::Busy(format!("loading {m}"));
            Request::Model(m)
        }
        SlashCommand::Set(kv) => Request::Set(kv),
        SlashCommand::Sessions => Request::Sessions,
        SlashCommand::Resume(name) => {
            state.mode = Mode::Busy("resuming".into());
            Request::Resume(name)
        }
        SlashCommand::Undo => Request::Undo,
        SlashCommand::Escalate(url) => {
            state.mode = Mode::Busy("asking the remote engine".into());
            Request::Escalate(url)
        }
        SlashCommand::Local => Request::Local,
    };
    vec![Effect::Worker(request)]
}

fn on_engine(state: &mut State, event: Event) {
    match event {
        Event::Text(t) => {
            if let Some(turn) = state.streaming_turn() {
                turn.text.push_str(&t);
            }
        }
        Event::Done(_) => finish(state, |_| {}),
        Event::Error(e) if e.kind() == ErrorKind::Interrupted => {
            finish(state, |t| t.stopped = true)
        }
        Event::Error(e) => {
            let msg = e.to_string();
            finish(state, |t| t.error = Some(msg));
        }
    }
}

fn finish(state: &mut State, mark: impl FnOnce(&mut TurnView)) {
    state.forming = None;
    if let Some(turn) = state.streaming_turn() {
        turn.partial = false;
        mark(turn);
    }
    state.mode = Mode::Idle;
    state.status.tok_per_s = None;
}

fn on_reply(state: &mut State, reply: Reply) -> Vec<Effect> {
    match reply {
        Reply::Notice(text) => state.notice(text),
        Reply::Error(text) => state.error(text),
        Reply::ToolResult(tool) => state.tool_result(tool),
        Reply::Forming(tool) => state.forming = Some(tool),
        Reply::Status(status) => {
            let tps = state.status.tok_per_s;
            state.status = status;
            state.status.tok_per_s = if state.is_generating() { tps } else { None };
        }
        Reply::Completions { partial, options } => {
            let Some((start, word)) = state.completing.take() else { return vec![] };
            // The input changed since the request: the reply is stale.
            if state.input.word_before_cursor() != (start, word.as_str())
                || !word.ends_with(&partial)
            {
                return vec![];
            }
            apply_completion(state, start, &word, &partial, options);
        }
        Reply::Diff { title, lines, confirm } => {
            state.diff = Some(DiffPane { title, lines, confirm, approval: false, scroll: 0 });
        }
        Reply::Approve { title, lines } => {
            let title = format!("{title} — allow? y yes · n no · a always (this session)");
            state.diff = Some(DiffPane { title, lines, confirm: true, approval: true, scroll: 0 });
        }
        Reply::Proposed(paths) => {
            state.notice(format!(
                "the answer proposes changes to {}: /diff to review them, /apply to write them",
                paths.join(", ")
            ));
            state.proposed = paths;
        }
        Reply::Resumed(turns) => {
            state.turns = turns.into_iter().map(|(role, text)| TurnView::new(role, text)).collect();
            state.scroll = 0;
            return vec![Effect::Redraw];
        }
        Reply::Ready => {
            if matches!(state.mode, Mode::Busy(_)) {
                state.mode = Mode::Idle;
            }
            return vec![Effect::Redraw];
        }
    }
    vec![]
}
