//! The whole REPL screen from `&State`: the transcript (or a diff pane over it), the
//! input box under a rule that carries the mode and hints, and the status bar; where the
//! terminal cursor goes. The transcript's render cache is the caller's ([`Screen`]).

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::palette::Palette;
use super::status::StatusBar;
use super::transcript::Transcript;
use super::wrap::display_width;
use super::DiffWidget;
use crate::tui::state::{DiffPane, Mode, State};

/// The prompt in front of the input's first line, and the indent of the others.
const PROMPT: &str = "> ";
const INDENT: &str = "  ";

/// What drawing keeps between frames: the transcript cache and the palette.
pub struct Screen {
    pub transcript: Transcript,
    pub palette: Palette,
}

/// The screen's areas for a terminal of `area`, given the input box height.
struct Areas {
    transcript: Rect,
    rule: Rect,
    input: Rect,
    status: Rect,
}

fn areas(area: Rect, input_rows: u16) -> Areas {
    let status_h = area.height.min(1);
    let input_h = input_rows.saturating_sub(1).min(area.height.saturating_sub(status_h));
    let rule_h = area.height.saturating_sub(status_h + input_h).min(1);
    let transcript_h = area.height - status_h - input_h - rule_h;
    let row = |y: u16, h: u16| Rect { x: area.x, y: area.y + y, width: area.width, height: h };
    Areas {
        transcript: row(0, transcript_h),
        rule: row(transcript_h, rule_h),
        input: row(transcript_h + rule_h, input_h),
        status: row(transcript_h + rule_h + input_h, status_h),
    }
}

impl Screen {
    pub fn new(palette: Palette) -> Screen {
        Screen { transcript: Transcript::new(), palette }
    }

    /// Draws `state` into the frame and places the cursor; returns the transcript's
    /// largest scroll offset, for the caller to clamp `state.scroll`.
    pub fn draw(&mut self, state: &State, frame: &mut Frame) -> usize {
        let area = frame.area();
        let (max_scroll, cursor) = self.draw_buffer(state, area, frame.buffer_mut());
        if let Some((x, y)) = cursor {
            frame.set_cursor_position(Position { x, y });
        }
        max_scroll
    }

    /// As [`Screen::draw`], into a plain buffer; returns the largest scroll offset and
    /// the cursor position (none while a diff pane has the keys).
    pub fn draw_buffer(
        &mut self,
        state: &State,
        area: Rect,
        buf: &mut Buffer,
    ) -> (usize, Option<(u16, u16)>) {
        let a = areas(area, state.input_rows());
        let p = &self.palette;
        self.transcript.layout(&state.turns, a.transcript.width, p);
        let max_scroll = self.transcript.max_scroll(a.transcript.height);
        match &state.diff {
            Some(pane) => draw_diff(pane, a.transcript, buf, p),
            None => {
                self.transcript.render(a.transcript, buf, state.scroll);
            }
        }
        draw_rule(state, a.rule, buf, p);
        let cursor = draw_input(state, a.input, buf);
        StatusBar { status: &state.status, palette: p }.render_into(a.status, buf);
        (max_scroll, if state.diff.is_some() { None } else { cursor })
    }
}

trait RenderInto {
    fn render_into(self, area: Rect, buf: &mut Buffer);
}

impl<W: ratatui::widgets::Widget> RenderInto for W {
    fn render_into(self, area: Rect, buf: &mut Buffer) {
        if !area.is_empty() {
            self.render(area, buf);
        }
    }
}

fn draw_diff(pane: &DiffPane, area: Rect, buf: &mut Buffer, p: &Palette) {
    if area.is_empty() {
        return;
    }
    let title = Line::from(Span::styled(pane.title.clone(), p.diff_header));
    buf.set_line(area.x, area.y, &title, area.width);
    let body = Rect { y: area.y + 1, height: area.height - 1, ..area };
    let rows = super::render_diff(&pane.lines, body.width, p).len();
    let offset = pane.scroll.min(rows.saturating_sub(usize::from(body.height)));
    DiffWidget { lines: &pane.lines, palette: p, offset }.render_into(body, buf);
}

/// The text on the rule above the input: what is going on, or the hint.
fn rule_text(state: &State) -> String {
    if let Some(pane) = &state.diff {
        return if pane.confirm {
            " apply these changes? y: write them  n: cancel ".into()
        } else {
            " Esc: close  PageUp/PageDown: scroll ".into()
        };
    }
    if let Some(hint) = &state.hint {
        return format!(" {hint} ");
    }
    match &state.mode {
        Mode::Generating { stopping: true } => " stopping… ".into(),
        Mode::Generating { stopping: false } => match &state.forming {
            Some(tool) => format!(" writing a {tool} call… Esc stops "),
            None => " answering… Esc stops ".into(),
        },
        Mode::Busy(what) => format!(" {what}… "),
        Mode::Idle if state.scroll > 0 => {
            format!(" scrolled up {} lines — PageDown ", state.scroll)
        }
        Mode::Idle => String::new(),
    }
}

fn draw_rule(state: &State, area: Rect, buf: &mut Buffer, p: &Palette) {
    if area.is_empty() {
        return;
    }
    let text = rule_text(state);
    let width = usize::from(area.width);
    let fill = width.saturating_sub(display_width(&text) + 2);
    let line = Line::from(vec![
        Span::styled("──", p.rule),
        Span::styled(text, p.notice.remove_modifier(Modifier::ITALIC).add_modifier(Modifier::BOLD)),
        Span::styled("─".repeat(fill), p.rule),
    ]);
    buf.set_line(area.x, area.y, &line, area.width);
}

/// The input's rows, wrapped by character at `width` behind the prompt or the indent,
/// and the cursor's (row, column) among them.
pub fn input_rows(text: &str, cursor: usize, width: u16) -> (Vec<String>, (usize, usize)) {
    let avail = usize::from(width).saturating_sub(PROMPT.len()).max(1);
    let mut rows = Vec::new();
    let mut at = (0, PROMPT.len());
    let mut offset = 0;
    for (i, line) in text.split('\n').enumerate() {
        let lead = if i == 0 { PROMPT } else { INDENT };
        let mut row = String::from(lead);
        let mut col = 0;
        for (j, c) in line.char_indices() {
            let w = display_width(c.encode_utf8(&mut [0; 4])).max(usize::from(c == '\t'));
            if col + w > avail && col > 0 {
                rows.push(std::mem::replace(&mut row, String::from(INDENT)));
                col = 0;
            }
            if offset + j == cursor {
                at = (rows.len(), lead.len() + col);
            }
            row.push(if c == '\t' { ' ' } else { c });
            col += w;
        }
        if offset + line.len() == cursor {
            if col >= avail {
                rows.push(std::mem::replace(&mut row, String::from(INDENT)));
                col = 0;
            }
            at = (rows.len(), lead.len() + col);
        }
        rows.push(row);
        offset += line.len() + 1;
    }
    (rows, at)
}

/// Draws the input; returns where the terminal cursor goes.
fn draw_input(state: &State, area: Rect, buf: &mut Buffer) -> Option<(u16, u16)> {
    if area.is_empty() {
        return None;
    }
    let (rows, (crow, ccol)) = input_rows(state.input.text(), state.input.cursor(), area.width);
    let height = usize::from(area.height);
    // Scroll the input so the cursor's row shows.
    let first = (crow + 1).saturating_sub(height);
    let dim = Style::new().add_modifier(Modifier::DIM);
    for (i, row) in rows.iter().skip(first).take(height).enumerate() {
        let (lead, rest) = row.split_at(PROMPT.len().min(row.len()));
        let line =
            Line::from(vec![Span::styled(lead.to_string(), dim), Span::raw(rest.to_string())]);
        buf.set_line(area.x, area.y + i as u16, &line, area.width);
    }
    let x = area.x + (ccol as u16).min(area.width.saturating_sub(1));
    Some((x, area.y + (crow - first) as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_rows_wrap_and_place_the_cursor() {
        let (rows, at) = input_rows("hello", 5, 20);
        assert_eq!(rows, ["> hello"]);
        assert_eq!(at, (0, 7));
        let (rows, at) = input_rows("abcdefgh\nxy", 2, 6);
        assert_eq!(rows, ["> abcd", "  efgh", "  xy"]);
        assert_eq!(at, (0, 4));
        // At the end of a full row the cursor starts the next one.
        let (rows, at) = input_rows("abcd", 4, 6);
        assert_eq!(rows, ["> abcd", "  "]);
        assert_eq!(at, (1, 2));
        let (_, at) = input_rows("ab\n", 3, 6);
        assert_eq!(at, (1, 2));
    }

    #[test]
    fn areas_fit_any_height() {
        for h in 0..6 {
            let a = areas(Rect::new(0, 0, 10, h), 3);
            let total = a.transcript.height + a.rule.height + a.input.height + a.status.height;
            assert_eq!(total, h);
        }
        let a = areas(Rect::new(0, 0, 80, 24), 3);
        assert_eq!((a.transcript.height, a.input.height, a.status.y), (20, 2, 23));
    }
}
