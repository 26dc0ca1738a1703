//! Rendering of the REPL: markdown with syntect-highlighted code, diffs and the status bar,
//! as ratatui `Line`s and widgets, from plain data and a [`Palette`] chosen by the caller
//! (`NO_COLOR` included), and the whole screen from `&State` ([`screen`]). Nothing here
//! reads the environment or changes REPL state.

pub mod diff;
pub mod highlight;
pub mod inline;
pub mod markdown;
pub mod palette;
pub mod screen;
pub mod status;
pub mod transcript;
pub mod wrap;

#[cfg(test)]
mod tests;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;

pub use diff::{parse_unified, render_diff, DiffLine, DiffLineKind, DiffWidget};
pub use markdown::{render_markdown, render_plain, Rendered};
pub use palette::{ColorDepth, Palette};
pub use screen::Screen;
pub use status::{status_line, StatusBar, StatusView};
pub use transcript::{Role, ToolResultView, Transcript, TranscriptWidget, TurnView};

/// Draws `lines` into `area` top-aligned, starting at line `offset`; lines wider than the
/// area are clipped.
pub fn render_lines(lines: &[Line<'_>], area: Rect, buf: &mut Buffer, offset: usize) {
    let area = area.intersection(buf.area);
    for (line, y) in lines.iter().skip(offset).zip(area.top()..area.bottom()) {
        buf.set_line(area.x, y, line, area.width);
    }
}
