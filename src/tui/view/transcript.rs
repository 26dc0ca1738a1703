//! The transcript: each turn (user, assistant, notice) as a role header, its body and its
//! markers (`[stopped]`, errors), cached per turn; and the visible window of all those
//! lines drawn into a `Buffer`, scrolled by an offset from the bottom.
//!
//! [`TurnView`] is plain data that the REPL state owns; [`Transcript`] is the render
//! cache beside it: [`Transcript::layout`] brings it up to date (re-rendering only the
//! turns whose text changed, and of a streaming answer only its unfinished tail), then
//! [`Transcript::render`] draws a window. The total line count is there for the caller to
//! clamp its scroll offset.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::markdown::{render_plain, Rendered};
use super::palette::Palette;
use super::wrap::{wrap, Prefix, WrapMode};

/// Who a turn is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The person at the keyboard: shown as typed.
    User,
    /// The model: markdown.
    Assistant,
    /// A notice from hearth itself (`/add`ed a file, session resumed…): no header, dimmed.
    Notice,
}

/// One turn of the conversation, as the view needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct TurnView {
    pub role: Role,
    pub text: String,
    /// Still being generated.
    pub partial: bool,
    /// Generation was stopped by the user; `text` is what came before.
    pub stopped: bool,
    /// Generation failed with this message.
    pub error: Option<String>,
    /// A tool call's result: its one-line summary and its whole text (shown under the
    /// summary while results are expanded).
    pub tool: Option<ToolResultView>,
}

/// A tool call's result in the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolResultView {
    pub summary: String,
    pub body: String,
    pub failed: bool,
}

impl TurnView {
    /// A finished turn.
    pub fn new(role: Role, text: impl Into<String>) -> TurnView {
        TurnView {
            role,
            text: text.into(),
            partial: false,
            stopped: false,
            error: None,
            tool: None,
        }
    }

    /// A tool call's result: the summary alone, or with the whole text under it.
    pub fn tool_result(tool: ToolResultView, expanded: bool) -> TurnView {
        let mut turn = TurnView::new(Role::Notice, "");
        turn.tool = Some(tool);
        turn.show_tool(expanded);
        turn
    }

    /// Shows a tool result's whole text under its summary, or hides it.
    pub fn show_tool(&mut self, expanded: bool) {
        let Some(t) = &self.tool else { return };
        let body: String = match expanded {
            true => t.body.lines().map(|l| format!("\n    {l}")).collect(),
            false => String::new(),
        };
        match t.failed {
            true => {
                self.error = Some(t.summary.clone());
                self.text = body.trim_start_matches('\n').to_string();
            }
            false => self.text = format!("{}{body}", t.summary),
        }
    }
}

/// The header shown above a user turn.
pub const USER_LABEL: &str = "you";
/// The header shown above an assistant turn.
pub const ASSISTANT_LABEL: &str = "assistant";
/// The marker after an answer the user stopped.
pub const STOPPED_MARKER: &str = "[stopped]";

/// The cached lines of one turn.
struct TurnLines {
    role: Role,
    /// Markdown bodies (assistant turns).
    markdown: Rendered,
    /// Plain bodies (user turns, notices) and the text they came from.
    plain: Vec<Line<'static>>,
    plain_text: Option<String>,
    /// The blank separator and the role header.
    head: Vec<Line<'static>>,
    /// Markers after the body.
    tail: Vec<Line<'static>>,
}

impl TurnLines {
    fn new(role: Role) -> TurnLines {
        TurnLines {
            role,
            markdown: Rendered::new(),
            plain: Vec::new(),
            plain_text: None,
            head: Vec::new(),
            tail: Vec::new(),
        }
    }

    fn body(&self) -> &[Line<'static>] {
        match self.role {
            Role::Assistant => self.markdown.lines(),
            Role::User | Role::Notice => &self.plain,
        }
    }

    fn len(&self) -> usize {
        self.head.len() + self.body().len() + self.tail.len()
    }

    fn lines(&self) -> impl Iterator<Item = &Line<'static>> {
        self.head.iter().chain(self.body()).chain(&self.tail)
    }

    fn update(&mut self, turn: &TurnView, first: bool, width: u16, p: &Palette) {
        self.head.clear();
        if !first {
            self.head.push(Line::default());
        }
        let header = match turn.role {
            Role::User => Some(Span::styled(USER_LABEL, p.user_header)),
            Role::Assistant => Some(Span::styled(ASSISTANT_LABEL, p.assistant_header)),
            Role::Notice => None,
        };
        let w = usize::from(width.max(1));
        let fit = |spans: &[Span<'static>]| {
            wrap(spans, w, WrapMode::Words, &Prefix::default(), Style::new(), None)
        };
        if let Some(header) = header {
            let mut spans = vec![header];
            if turn.partial && !turn.stopped {
                spans.push(Span::styled(" …", p.notice));
            }
            self.head.extend(fit(&spans));
        }
        match turn.role {
            Role::Assistant => {
                self.markdown.update(&turn.text, width, p);
            }
            Role::User | Role::Notice => {
                if self.plain_text.as_deref() != Some(turn.text.as_str()) {
                    let style = if turn.role == Role::Notice { p.notice } else { p.text };
                    self.plain = render_plain(&turn.text, width, style);
                    self.plain_text = Some(turn.text.clone());
                }
            }
        }
        self.tail.clear();
        if turn.stopped {
            self.tail.extend(fit(&[Span::styled(STOPPED_MARKER, p.stopped)]));
        }
        if let Some(err) = &turn.error {
            let text = format!("error: {err}");
            self.tail.extend(render_plain(&text, width, p.error));
        }
    }
}

/// The render cache of the whole transcript (see the module docs).
#[derive(Default)]
pub struct Transcript {
    turns: Vec<TurnLines>,
    width: u16,
    palette: Option<Palette>,
    total: usize,
}

impl Transcript {
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// Brings the lines up to date with `turns` at `width`; returns the total line count.
    pub fn layout(&mut self, turns: &[TurnView], width: u16, palette: &Palette) -> usize {
        if self.width != width || self.palette.as_ref() != Some(palette) {
            self.turns.clear();
            self.width = width;
            self.palette = Some(palette.clone());
        }
        self.turns.truncate(turns.len());
        for (i, turn) in turns.iter().enumerate() {
            match self.turns.get_mut(i) {
                Some(cached) if cached.role == turn.role => {}
                Some(cached) => *cached = TurnLines::new(turn.role),
                None => self.turns.push(TurnLines::new(turn.role)),
            }
            if let Some(cached) = self.turns.get_mut(i) {
                cached.update(turn, i == 0, width, palette);
            }
        }
        self.total = self.turns.iter().map(TurnLines::len).sum();
        self.total
    }

    /// The line count of the last layout.
    pub fn total_lines(&self) -> usize {
        self.total
    }

    /// The largest useful scroll offset (from the bottom) for a window of `height` rows.
    pub fn max_scroll(&self, height: u16) -> usize {
        self.total.saturating_sub(usize::from(height))
    }

    /// All lines of the last layout, top to bottom.
    pub fn lines(&self) -> impl Iterator<Item = &Line<'static>> {
        self.turns.iter().flat_map(TurnLines::lines)
    }

    /// The index of the first line shown in a window of `height` rows scrolled
    /// `scroll_from_bottom` lines up (clamped); a transcript shorter than the window starts
    /// at its top row.
    pub fn window_start(&self, height: u16, scroll_from_bottom: usize) -> usize {
        let scroll = scroll_from_bottom.min(self.max_scroll(height));
        self.total.saturating_sub(usize::from(height) + scroll)
    }

    /// Draws the window `scroll_from_bottom` lines up from the bottom into `area`; returns
    /// the scroll offset actually used (clamped to [`Transcript::max_scroll`]).
    pub fn render(&self, area: Rect, buf: &mut Buffer, scroll_from_bottom: usize) -> usize {
        let area = area.intersection(buf.area);
        let start = self.window_start(area.height, scroll_from_bottom);
        let mut skip = start;
        let mut rows = (area.top()..area.bottom()).peekable();
        for turn in &self.turns {
            if rows.peek().is_none() {
                break;
            }
            let n = turn.len();
            if skip >= n {
                skip -= n;
                continue;
            }
            for (line, y) in turn.lines().skip(skip).zip(rows.by_ref()) {
                buf.set_line(area.x, y, line, area.width);
            }
            skip = 0;
        }
        scroll_from_bottom.min(self.max_scroll(area.height))
    }
}

/// The transcript as a widget, for `Frame::render_widget`.
pub struct TranscriptWidget<'a> {
    pub transcript: &'a Transcript,
    pub scroll_from_bottom: usize,
}

impl Widget for TranscriptWidget<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        self.transcript.render(area, buf, self.scroll_from_bottom);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &Transcript) -> Vec<String> {
        t.lines().map(|l| l.to_string()).collect()
    }

    #[test]
    fn turns_get_headers_markers_and_separators() {
        let p = Palette::plain();
        let mut answer = TurnView::new(Role::Assistant, "Hi **there**");
        answer.stopped = true;
        answer.partial = true;
        let mut failed = TurnView::new(Role::Assistant, "");
        failed.error = Some("model crashed".into());
        let turns = [
            TurnView::new(Role::Notice, "session resumed"),
            TurnView::new(Role::User, "hello"),
            answer,
            failed,
        ];
        let mut t = Transcript::new();
        let n = t.layout(&turns, 40, &p);
        assert_eq!(
            texts(&t),
            [
                "session resumed",
                "",
                "you",
                "hello",
                "",
                "assistant",
                "Hi there",
                "[stopped]",
                "",
                "assistant",
                "error: model crashed",
            ]
        );
        assert_eq!(n, 11);
        assert_eq!(t.total_lines(), 11);
    }

    #[test]
    fn a_generating_answer_is_marked_and_updates() {
        let p = Palette::plain();
        let mut turns = vec![TurnView::new(Role::User, "q"), TurnView::new(Role::Assistant, "one")];
        turns[1].partial = true;
        let mut t = Transcript::new();
        t.layout(&turns, 20, &p);
        assert_eq!(texts(&t)[3], "assistant …");
        turns[1].text.push_str(" two\nthree");
        turns[1].partial = false;
        t.layout(&turns, 20, &p);
        assert_eq!(texts(&t)[3..], ["assistant", "one two", "three"]);
        // A shorter list (`/clear`) drops the cached turns.
        assert_eq!(t.layout(&turns[..1], 20, &p), 2);
    }

    #[test]
    fn window_is_clamped() {
        let p = Palette::plain();
        let body: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
        let turns = [TurnView::new(Role::Notice, body.join("\n"))];
        let mut t = Transcript::new();
        t.layout(&turns, 20, &p);
        assert_eq!(t.max_scroll(10), 20);
        assert_eq!(t.window_start(10, 0), 20);
        assert_eq!(t.window_start(10, 5), 15);
        assert_eq!(t.window_start(10, 999), 0);
        assert_eq!(t.window_start(50, 3), 0);
    }
}
