//! Wrapping styled spans at a display width: by words for prose, by grapheme for code,
//! splitting spans so each piece keeps its style, with a prefix (gutter, bullet, hanging
//! indent) on every row.
//!
//! Widths are counted per grapheme cluster with ratatui's own [`CellWidth`], the measure the
//! `Buffer` uses when it draws, so a wrapped row never spills: CJK and emoji count 2.
//! Control characters are dropped (the buffer would drop them too), tabs in prose count as
//! one space; code expands its tabs before wrapping ([`expand_tabs`]). A grapheme wider than
//! the whole row still gets a row of its own (the buffer clips it), so no width, not even 0,
//! makes the wrapper loop or panic.

use ratatui::buffer::CellWidth;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;

/// Where rows may break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapMode {
    /// At spaces; a word longer than a row is split.
    Words,
    /// Anywhere (code: the text is shown exactly, whitespace included).
    Chars,
}

/// What goes in front of the rows of one wrapped line.
#[derive(Clone, Debug, Default)]
pub struct Prefix {
    /// Before the first row (a bullet, a gutter).
    pub first: Vec<Span<'static>>,
    /// Before every following row (the hanging indent).
    pub rest: Vec<Span<'static>>,
}

impl Prefix {
    /// The same spans before every row.
    pub fn same(spans: Vec<Span<'static>>) -> Prefix {
        Prefix { first: spans.clone(), rest: spans }
    }
}

/// The display width of a string, as the buffer counts it.
pub fn display_width(s: &str) -> usize {
    s.graphemes(true)
        .filter(|g| !g.contains(char::is_control))
        .map(|g| usize::from(g.cell_width()))
        .sum()
}

/// The display width of a line's spans.
pub fn line_width(line: &Line<'_>) -> usize {
    line.spans.iter().map(|s| display_width(&s.content)).sum()
}

/// Tabs replaced by spaces up to the next multiple of `tab` columns, counted from the start
/// of the spans.
pub fn expand_tabs(spans: Vec<(Style, String)>, tab: usize) -> Vec<(Style, String)> {
    let tab = tab.max(1);
    let mut col = 0;
    let mut out = Vec::with_capacity(spans.len());
    for (style, text) in spans {
        if !text.contains('\t') {
            col += display_width(&text);
            out.push((style, text));
            continue;
        }
        let mut expanded = String::with_capacity(text.len() + tab);
        for g in text.graphemes(true) {
            if g == "\t" {
                let n = tab - col % tab;
                expanded.extend(std::iter::repeat_n(' ', n));
                col += n;
            } else {
                expanded.push_str(g);
                col += display_width(g);
            }
        }
        out.push((style, expanded));
    }
    out
}

/// One grapheme of the input with its style and width.
struct Piece<'a> {
    text: &'a str,
    style: Style,
    width: usize,
    space: bool,
}

fn flatten<'a>(spans: &'a [Span<'a>], base: Style) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    for span in spans {
        let style = base.patch(span.style);
        for g in span.content.graphemes(true) {
            if g == "\t" {
                out.push(Piece { text: " ", style, width: 1, space: true });
            } else if !g.contains(char::is_control) {
                out.push(Piece {
                    text: g,
                    style,
                    width: usize::from(g.cell_width()),
                    space: g == " ",
                });
            }
        }
    }
    out
}

/// Builds rows of pieces, each with its prefix.
struct Rows<'p> {
    width: usize,
    prefix: &'p Prefix,
    fill: Option<Style>,
    done: Vec<Line<'static>>,
    row: Vec<Span<'static>>,
    /// Width of the text on the current row, without the prefix.
    used: usize,
    /// Room for text on the current row.
    avail: usize,
    /// Trailing spaces pushed on the current row (removed if the row breaks there).
    trailing_spaces: usize,
}

impl<'p> Rows<'p> {
    fn new(width: usize, prefix: &'p Prefix, fill: Option<Style>) -> Rows<'p> {
        let mut rows = Rows {
            width,
            prefix,
            fill,
            done: Vec::new(),
            row: Vec::new(),
            used: 0,
            avail: 1,
            trailing_spaces: 0,
        };
        rows.start_row();
        rows
    }

    /// Starts a row with the right prefix; a prefix that leaves no room is left out.
    fn start_row(&mut self) {
        let spans = if self.done.is_empty() { &self.prefix.first } else { &self.prefix.rest };
        let prefix_w: usize = spans.iter().map(|s| display_width(&s.content)).sum();
        if prefix_w < self.width {
            self.row = spans.clone();
            self.avail = self.width - prefix_w;
        } else {
            self.row = Vec::new();
            self.avail = self.width.max(1);
        }
        self.used = 0;
        self.trailing_spaces = 0;
    }

    fn push(&mut self, p: &Piece<'_>) {
        match self.row.last_mut() {
            Some(last) if last.style == p.style && self.used > 0 => {
                last.content.to_mut().push_str(p.text);
            }
            _ => self.row.push(Span::styled(p.text.to_string(), p.style)),
        }
        self.used += p.width;
        self.trailing_spaces = if p.space { self.trailing_spaces + p.width } else { 0 };
    }

    fn fits(&self, w: usize) -> bool {
        self.used + w <= self.avail
    }

    /// Ends the current row (dropping trailing spaces if `trim`) and starts the next.
    fn break_row(&mut self, trim: bool) {
        self.finish_row(trim);
        self.start_row();
    }

    fn finish_row(&mut self, trim: bool) {
        if trim && self.trailing_spaces > 0 {
            let mut n = self.trailing_spaces;
            while n > 0 {
                let Some(last) = self.row.last_mut() else {
                    break;
                };
                let content = last.content.to_mut();
                while n > 0 && content.ends_with(' ') {
                    content.pop();
                    n -= 1;
                    self.used -= 1;
                }
                if content.is_empty() {
                    self.row.pop();
                } else {
                    break;
                }
            }
        }
        let mut row = std::mem::take(&mut self.row);
        if let Some(fill) = self.fill {
            let used: usize = row.iter().map(|s| display_width(&s.content)).sum();
            if used < self.width {
                row.push(Span::styled(" ".repeat(self.width - used), fill));
            }
        }
        self.done.push(Line::from(row));
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        self.finish_row(true);
        self.done
    }
}

/// Wraps `spans` (their styles patched over `base`) into rows of at most `width` cells,
/// `prefix` included. With `fill`, every row is padded to `width` with spaces of that style
/// (a code block's background). An empty input gives one row holding the prefix.
pub fn wrap(
    spans: &[Span<'_>],
    width: usize,
    mode: WrapMode,
    prefix: &Prefix,
    base: Style,
    fill: Option<Style>,
) -> Vec<Line<'static>> {
    let pieces = flatten(spans, base);
    let mut rows = Rows::new(width, prefix, fill);
    match mode {
        WrapMode::Chars => {
            for p in &pieces {
                if !rows.fits(p.width) && rows.used > 0 {
                    rows.break_row(false);
                }
                rows.push(p);
            }
        }
        WrapMode::Words => wrap_words(&pieces, &mut rows),
    }
    rows.finish()
}

fn wrap_words(pieces: &[Piece<'_>], rows: &mut Rows<'_>) {
    let mut i = 0;
    while i < pieces.len() {
        let space = pieces[i].space;
        let mut j = i;
        let mut run_w = 0;
        while j < pieces.len() && pieces[j].space == space {
            run_w += pieces[j].width;
            j += 1;
        }
        let run = &pieces[i..j];
        if space {
            if rows.fits(run_w) {
                run.iter().for_each(|p| rows.push(p));
            } else {
                // The row breaks at these spaces; they are dropped.
                rows.break_row(true);
            }
        } else if rows.fits(run_w) {
            run.iter().for_each(|p| rows.push(p));
        } else {
            if rows.used > 0 {
                rows.break_row(true);
            }
            // A word longer than a row is split where the row is full.
            for p in run {
                if !rows.fits(p.width) && rows.used > 0 {
                    rows.break_row(false);
                }
                rows.push(p);
            }
        }
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn words_wrap_at_spaces_and_drop_them_at_the_break() {
        let spans = [Span::raw("the quick brown fox jumps")];
        let lines = wrap(&spans, 10, WrapMode::Words, &Prefix::default(), Style::new(), None);
        assert_eq!(texts(&lines), ["the quick", "brown fox", "jumps"]);
    }

    #[test]
    fn long_words_are_split_and_prefixes_hang() {
        let prefix = Prefix { first: vec![Span::raw("- ")], rest: vec![Span::raw("  ")] };
        let spans = [Span::raw("abcdefghij xy")];
        let lines = wrap(&spans, 6, WrapMode::Words, &prefix, Style::new(), None);
        assert_eq!(texts(&lines), ["- abcd", "  efgh", "  ij", "  xy"]);
    }

    #[test]
    fn split_spans_keep_their_style() {
        let red = Style::new().fg(Color::Red);
        let spans = [Span::raw("ab"), Span::styled("cdefgh", red)];
        let lines = wrap(&spans, 4, WrapMode::Chars, &Prefix::default(), Style::new(), None);
        assert_eq!(texts(&lines), ["abcd", "efgh"]);
        assert_eq!(lines[0].spans[1].style, red);
        assert_eq!(lines[1].spans[0].style, red);
    }

    #[test]
    fn wide_graphemes_count_two_cells() {
        let spans = [Span::raw("日本語のテキスト")];
        let lines = wrap(&spans, 5, WrapMode::Chars, &Prefix::default(), Style::new(), None);
        assert_eq!(texts(&lines), ["日本", "語の", "テキ", "スト"]);
        let spans = [Span::raw("ok 👍👍👍")];
        let lines = wrap(&spans, 4, WrapMode::Words, &Prefix::default(), Style::new(), None);
        assert_eq!(texts(&lines), ["ok", "👍👍", "👍"]);
        assert!(lines.iter().all(|l| line_width(l) <= 4));
    }

    #[test]
    fn tiny_widths_never_loop() {
        let prefix = Prefix::same(vec![Span::raw("│ ")]);
        for width in 0..4 {
            let spans = [Span::raw("a 日 b\tc\u{1b}[31m")];
            let lines = wrap(&spans, width, WrapMode::Words, &prefix, Style::new(), None);
            assert!(!lines.is_empty());
            let lines = wrap(&spans, width, WrapMode::Chars, &prefix, Style::new(), None);
            assert!(lines.len() <= 12, "{width}: {}", lines.len());
        }
    }

    #[test]
    fn fill_pads_rows_and_tabs_expand_to_stops() {
        let spans = expand_tabs(vec![(Style::new(), "\tx\ty".to_string())], 4);
        assert_eq!(spans[0].1, "    x   y");
        let bg = Style::new().bg(Color::Blue);
        let lines = wrap(
            &[Span::raw("ab")],
            5,
            WrapMode::Chars,
            &Prefix::default(),
            Style::new(),
            Some(bg),
        );
        assert_eq!(texts(&lines), ["ab   "]);
        assert_eq!(lines[0].spans[1].style, bg);
    }
}
