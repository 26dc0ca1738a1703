//! The REPL's state as plain data: the transcript's turns, the input box, scrolling, what
//! the REPL is doing (idle, generating, busy), the status bar's figures, an open diff pane
//! and the transient hint under the input. Changed only by `update`; drawn by `view`.

use super::input::InputBox;
use super::view::{DiffLine, Role, StatusView, ToolResultView, TurnView};

/// What the REPL is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Waiting for the user.
    Idle,
    /// An answer is streaming into the last turn.
    Generating {
        /// Esc or Ctrl-C was pressed; the stop is on its way.
        stopping: bool,
    },
    /// The worker is on a slow job (loading a model, resuming a session).
    Busy(String),
}

/// A diff shown over the transcript: for `/diff`, or for `/apply` awaiting y/n.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffPane {
    pub title: String,
    pub lines: Vec<DiffLine>,
    /// `/apply`: y writes, n or Esc does not.
    pub confirm: bool,
    /// A tool call asking to run: y, n, or a (always, for this session).
    pub approval: bool,
    /// Lines scrolled down from the top.
    pub scroll: usize,
}

/// Everything the screen shows.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub turns: Vec<TurnView>,
    pub input: InputBox,
    /// Transcript lines scrolled up from the bottom (0: following the newest text).
    pub scroll: usize,
    pub mode: Mode,
    pub status: StatusView,
    pub diff: Option<DiffPane>,
    /// One line under the input (completions, "press Ctrl-C again to exit"); cleared by
    /// the next key.
    pub hint: Option<String>,
    /// Ctrl-C was pressed on an idle prompt: a second one exits.
    pub quit_armed: bool,
    /// The last answer proposes edits to these files.
    pub proposed: Vec<String>,
    /// The terminal's size (columns, rows).
    pub size: (u16, u16),
    /// The word a completion request was made for (its start and text), to check that the
    /// reply still fits what is typed.
    pub completing: Option<(usize, String)>,
    /// Tool results show their whole text (Ctrl-O), not one line each.
    pub tools_expanded: bool,
    /// The tool whose call the model is writing now.
    pub forming: Option<String>,
}

impl State {
    pub fn new(status: StatusView, size: (u16, u16)) -> State {
        State {
            turns: Vec::new(),
            input: InputBox::new(),
            scroll: 0,
            mode: Mode::Idle,
            status,
            diff: None,
            hint: None,
            quit_armed: false,
            proposed: Vec::new(),
            size,
            completing: None,
            tools_expanded: false,
            forming: None,
        }
    }

    pub fn is_idle(&self) -> bool {
        self.mode == Mode::Idle
    }

    pub fn is_generating(&self) -> bool {
        matches!(self.mode, Mode::Generating { .. })
    }

    /// Adds a notice from hearth to the transcript (and follows it); while an answer
    /// streams, the notice goes above it (it is about the turn being prepared).
    pub fn notice(&mut self, text: impl Into<String>) {
        self.push_notice(TurnView::new(Role::Notice, text));
    }

    /// Adds an error notice.
    pub fn error(&mut self, text: impl Into<String>) {
        let mut turn = TurnView::new(Role::Notice, "");
        turn.error = Some(text.into());
        self.push_notice(turn);
    }

    /// Adds a tool call's result, expanded or not as the others are.
    pub fn tool_result(&mut self, tool: ToolResultView) {
        self.forming = None;
        self.push_notice(TurnView::tool_result(tool, self.tools_expanded));
    }

    /// Ctrl-O: every tool result's whole text, or one line each.
    pub fn toggle_tools(&mut self) {
        self.tools_expanded = !self.tools_expanded;
        for turn in &mut self.turns {
            turn.show_tool(self.tools_expanded);
        }
    }

    fn push_notice(&mut self, turn: TurnView) {
        match self.turns.last() {
            Some(t) if t.role == Role::Assistant && t.partial => {
                self.turns.insert(self.turns.len() - 1, turn)
            }
            _ => self.turns.push(turn),
        }
        self.scroll = 0;
    }

    /// The text of the last assistant turn.
    pub fn last_answer(&self) -> Option<&str> {
        self.turns.iter().rev().find(|t| t.role == Role::Assistant).map(|t| t.text.as_str())
    }

    /// The answer being generated, when there is one.
    pub fn streaming_turn(&mut self) -> Option<&mut TurnView> {
        self.turns.iter_mut().rev().find(|t| t.role == Role::Assistant && t.partial)
    }

    /// Rows of the transcript area for a terminal of `self.size`: all but the input box
    /// and the status bar.
    pub fn transcript_rows(&self) -> u16 {
        self.size.1.saturating_sub(self.input_rows() + 1)
    }

    /// Rows of the input box: its lines (at most 8, at most a third of the screen),
    /// plus the rule above them.
    pub fn input_rows(&self) -> u16 {
        let lines = self.input.text().split('\n').count().max(1) as u16;
        let cap = (self.size.1 / 3).clamp(1, 8);
        lines.min(cap) + 1
    }

    /// Keeps the scroll offset within what the transcript holds.
    pub fn clamp_scroll(&mut self, max_scroll: usize) {
        self.scroll = self.scroll.min(max_scroll);
    }
}
