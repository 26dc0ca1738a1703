//! Unified diffs as lines: file headers bold, hunk headers tinted, added lines green and
//! removed lines red behind their `+`/`-` marker (the markers alone under `NO_COLOR`),
//! wrapped by character with the marker column kept free on continuation rows.
//!
//! The context module's diffs (`context::edits::DiffLine`) convert into [`DiffLine`]s.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::highlight::TAB_WIDTH;
use super::palette::Palette;
use super::wrap::{self, Prefix, WrapMode};

/// What one line of a unified diff is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffLineKind {
    /// `diff --git`, `index`, `--- a/…`, `+++ b/…`, `\ No newline at end of file`.
    Header,
    /// `@@ -1,4 +1,5 @@ fn main`.
    Hunk,
    Context,
    Added,
    Removed,
}

/// One line of a diff: its kind and its text; for context, added and removed lines the
/// text is without the leading ` `/`+`/`-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub kind: DiffLineKind,
    pub text: String,
}

impl From<&crate::context::edits::DiffLine> for DiffLine {
    fn from(line: &crate::context::edits::DiffLine) -> DiffLine {
        use crate::context::edits::DiffKind;
        let kind = match line.kind {
            DiffKind::Header | DiffKind::NoNewline => DiffLineKind::Header,
            DiffKind::Hunk => DiffLineKind::Hunk,
            DiffKind::Context => DiffLineKind::Context,
            DiffKind::Added => DiffLineKind::Added,
            DiffKind::Removed => DiffLineKind::Removed,
        };
        let text = match kind {
            DiffLineKind::Context | DiffLineKind::Added | DiffLineKind::Removed => {
                line.text.get(1..).unwrap_or("").to_string()
            }
            _ => line.text.clone(),
        };
        DiffLine { kind, text }
    }
}

/// The marker column and style of each kind.
fn look(kind: DiffLineKind, p: &Palette) -> (&'static str, Style) {
    match kind {
        DiffLineKind::Header => ("", p.diff_header),
        DiffLineKind::Hunk => ("", p.diff_hunk),
        DiffLineKind::Context => (" ", p.diff_context),
        DiffLineKind::Added => ("+", p.diff_added),
        DiffLineKind::Removed => ("-", p.diff_removed),
    }
}

/// The old and new line counts of a hunk header `@@ -l[,s] +l[,s] @@`.
fn hunk_counts(line: &str) -> Option<(usize, usize)> {
    let mut parts = line.split_whitespace().skip(1);
    let count = |part: Option<&str>, sign: char| -> Option<usize> {
        let range = part?.strip_prefix(sign)?;
        match range.split_once(',') {
            Some((_, n)) => n.parse().ok(),
            None => range.parse::<usize>().ok().map(|_| 1),
        }
    };
    Some((count(parts.next(), '-')?, count(parts.next(), '+')?))
}

/// The lines of a unified diff's text, classified. Inside a hunk its header's line counts
/// decide where it ends, so a removed line that reads `--- x` stays a removed line.
pub fn parse_unified(diff: &str) -> Vec<DiffLine> {
    // Lines left in the current hunk (old side, new side); `None` outside a hunk, or in a
    // hunk whose header did not parse (which then lasts until the next header).
    let mut left: Option<(usize, usize)> = None;
    let mut in_hunk = false;
    let mut out = Vec::new();
    for line in diff.lines() {
        let (kind, text) = if line.starts_with("@@") {
            in_hunk = true;
            left = hunk_counts(line);
            (DiffLineKind::Hunk, line)
        } else if !in_hunk
            || line.starts_with('\\')
            || (left.is_none() && line.starts_with("diff "))
        {
            in_hunk = false;
            (DiffLineKind::Header, line)
        } else if let Some(rest) = line.strip_prefix('+') {
            (DiffLineKind::Added, rest)
        } else if let Some(rest) = line.strip_prefix('-') {
            (DiffLineKind::Removed, rest)
        } else {
            (DiffLineKind::Context, line.strip_prefix(' ').unwrap_or(line))
        };
        if let Some((old, new)) = &mut left {
            match kind {
                DiffLineKind::Added => *new = new.saturating_sub(1),
                DiffLineKind::Removed => *old = old.saturating_sub(1),
                DiffLineKind::Context => {
                    *old = old.saturating_sub(1);
                    *new = new.saturating_sub(1);
                }
                DiffLineKind::Header | DiffLineKind::Hunk => {}
            }
            if (*old, *new) == (0, 0) {
                in_hunk = false;
                left = None;
            }
        }
        out.push(DiffLine { kind, text: text.to_string() });
    }
    out
}

/// The diff's rows at `width`.
pub fn render_diff(lines: &[DiffLine], width: u16, palette: &Palette) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let mut out = Vec::new();
    for line in lines {
        let (marker, style) = look(line.kind, palette);
        let text = wrap::expand_tabs(vec![(style, line.text.clone())], TAB_WIDTH);
        let spans: Vec<Span<'static>> = text.into_iter().map(|(s, t)| Span::styled(t, s)).collect();
        let prefix = Prefix {
            first: vec![Span::styled(marker, style)],
            rest: vec![Span::raw(" ".repeat(marker.len()))],
        };
        out.extend(wrap::wrap(&spans, width, WrapMode::Chars, &prefix, style, None));
    }
    out
}

/// A diff drawn into an area, from its `offset`-th row.
pub struct DiffWidget<'a> {
    pub lines: &'a [DiffLine],
    pub palette: &'a Palette,
    pub offset: usize,
}

impl Widget for DiffWidget<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let rows = render_diff(self.lines, area.width, self.palette);
        super::render_lines(&rows, area, buf, self.offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_diffs_convert_without_their_markers() {
        let diff = crate::context::edits::unified_diff("a.rs", Some("x\ny\n"), Some("x\nz"));
        let lines: Vec<DiffLine> = diff.iter().map(DiffLine::from).collect();
        let kinds: Vec<DiffLineKind> = lines.iter().map(|l| l.kind).collect();
        use DiffLineKind::*;
        assert_eq!(kinds, [Header, Header, Hunk, Context, Removed, Added, Header]);
        assert_eq!(lines[4].text, "y");
        assert_eq!(lines[5].text, "z");
    }

    const DIFF: &str = "diff --git a/x.rs b/x.rs\n--- a/x.rs\n+++ b/x.rs\n@@ -1,3 +1,2 @@\n fn a() {}\n-fn b() {}\n--- not a header\n+fn c() {}\n\\ No newline at end of file\n--- a/y.rs\n+++ b/y.rs\n@@ -1 +1 @@\n-x\n+y\n";

    #[test]
    fn unified_text_is_classified() {
        use DiffLineKind::*;
        let kinds: Vec<_> = parse_unified(DIFF).into_iter().map(|l| (l.kind, l.text)).collect();
        let k = |kind, t: &str| (kind, t.to_string());
        assert_eq!(
            kinds,
            [
                k(Header, "diff --git a/x.rs b/x.rs"),
                k(Header, "--- a/x.rs"),
                k(Header, "+++ b/x.rs"),
                k(Hunk, "@@ -1,3 +1,2 @@"),
                k(Context, "fn a() {}"),
                k(Removed, "fn b() {}"),
                k(Removed, "-- not a header"),
                k(Added, "fn c() {}"),
                k(Header, "\\ No newline at end of file"),
                k(Header, "--- a/y.rs"),
                k(Header, "+++ b/y.rs"),
                k(Hunk, "@@ -1 +1 @@"),
                k(Removed, "x"),
                k(Added, "y"),
            ]
        );
    }

    #[test]
    fn rows_carry_markers_and_wrap_under_them() {
        let p = Palette::dark();
        let lines = [DiffLine { kind: DiffLineKind::Added, text: "abcdefgh".into() }];
        let rows = render_diff(&lines, 5, &p);
        let texts: Vec<String> = rows.iter().map(|l| l.to_string()).collect();
        assert_eq!(texts, ["+abcd", " efgh"]);
        assert_eq!(rows[0].spans[0].style.fg, p.diff_added.fg);
        assert_eq!(rows[1].spans[1].style.fg, p.diff_added.fg);
    }
}
