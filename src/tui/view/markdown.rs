//! Markdown of chat answers as wrapped ratatui lines, line by line, cached per message so a
//! streaming answer re-renders only its unfinished last line on each token.
//!
//! The parser is line-oriented and keeps the source's line breaks (chat answers put one
//! paragraph per line; reflowing would only move words around while streaming). Blocks:
//! ATX headings, `-`/`*`/`+` and numbered lists (hanging indent when wrapped, nested by
//! indentation), `>` quotes (nestable, holding any of these), horizontal rules, pipe-table
//! rows (shown as they are, the `|---|` row dimmed), paragraphs (indentation kept as a
//! hanging indent), and fenced code blocks (``` or ~~~, the label `rust src/main.rs` giving
//! language and path; a fence may be indented, as inside list items). Inline markup is
//! [`super::inline`]'s. Setext headings, indented code blocks and HTML are plain text.
//!
//! Streaming: an unterminated fence is a code block in progress, highlighted as far as it
//! goes; an unfinished last line is rendered from a clone of the block state and thrown
//! away on the next update. [`Rendered`] keeps the lines of the complete source lines with
//! the block state after them (the syntect state of an open fence included), keyed by
//! (width, palette) and by the text it has seen: an update whose text extends the cached
//! text renders only the new lines; any other change (an edit, a new width or palette)
//! renders from scratch. A finished message costs one prefix comparison per frame.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::highlight::{self, CodeHighlighter};
use super::inline::parse_inline;
use super::palette::Palette;
use super::wrap::{self, display_width, Prefix, WrapMode};

/// What carries from one source line to the next.
#[derive(Clone)]
enum Block {
    Text,
    /// Inside a fenced code block opened by `len` × `marker`, indented by `indent`.
    Fence {
        marker: char,
        len: usize,
        indent: usize,
        hl: Box<CodeHighlighter>,
    },
}

/// The rendered lines of one message, kept between frames (see the module docs).
#[derive(Clone)]
pub struct Rendered {
    width: usize,
    palette: Option<Palette>,
    /// The complete source lines rendered so far, and the lines they gave.
    source: String,
    committed: usize,
    state: Block,
    /// The unfinished last line the tail lines were rendered from.
    tail: String,
    lines: Vec<Line<'static>>,
}

impl Default for Rendered {
    fn default() -> Self {
        Rendered::new()
    }
}

impl Rendered {
    pub fn new() -> Rendered {
        Rendered {
            width: 0,
            palette: None,
            source: String::new(),
            committed: 0,
            state: Block::Text,
            tail: String::new(),
            lines: Vec::new(),
        }
    }

    /// The lines of `text` at `width` (clamped to at least 1), rendering only what changed
    /// since the last call.
    pub fn update(&mut self, text: &str, width: u16, palette: &Palette) -> &[Line<'static>] {
        let width = usize::from(width.max(1));
        let same_key = self.width == width && self.palette.as_ref() == Some(palette);
        if !same_key || !text.starts_with(self.source.as_str()) {
            *self = Rendered::new();
            self.width = width;
            self.palette = Some(palette.clone());
        } else if text.len() == self.source.len() + self.tail.len()
            && text.ends_with(self.tail.as_str())
        {
            return &self.lines;
        }
        self.lines.truncate(self.committed);
        let rest = &text[self.source.len()..];
        let complete = rest.rfind('\n').map_or(0, |k| k + 1);
        for line in rest[..complete].split_inclusive('\n') {
            render_line(line, &mut self.state, width, palette, &mut self.lines);
        }
        self.source.push_str(&rest[..complete]);
        self.committed = self.lines.len();
        let tail = &rest[complete..];
        self.tail = tail.to_string();
        if !tail.is_empty() {
            let mut state = self.state.clone();
            render_line(tail, &mut state, width, palette, &mut self.lines);
        }
        &self.lines
    }

    /// The lines of the last update.
    pub fn lines(&self) -> &[Line<'static>] {
        &self.lines
    }
}

/// The lines of a whole markdown text at `width`, without a cache.
pub fn render_markdown(text: &str, width: u16, palette: &Palette) -> Vec<Line<'static>> {
    let mut r = Rendered::new();
    r.update(text, width, palette);
    r.lines
}

/// Text shown as typed (a user's prompt): line breaks kept, wrapped by words, each line's
/// indentation kept as its hanging indent; no markup.
pub fn render_plain(text: &str, width: u16, style: Style) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let body = line.trim_start();
        let indent = " ".repeat(display_width(&line[..line.len() - body.len()]));
        let prefix = Prefix::same(vec![Span::raw(indent)]);
        let spans = [Span::raw(body.to_string())];
        out.extend(wrap::wrap(&spans, width, WrapMode::Words, &prefix, style, None));
    }
    out
}

/// Renders one source line (with or without its `\n`) and moves the block state on.
fn render_line(
    raw: &str,
    state: &mut Block,
    width: usize,
    p: &Palette,
    out: &mut Vec<Line<'static>>,
) {
    let line = raw.strip_suffix('\n').unwrap_or(raw);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if let Block::Fence { marker, len, indent, hl } = state {
        if is_fence_close(line, *marker, *len) {
            *state = Block::Text;
            return;
        }
        let code = strip_indent(line, *indent);
        let pieces = hl.highlight_line(code, p);
        out.extend(highlight::code_rows(pieces, width, p));
        return;
    }
    if let Some((marker, len, indent, info)) = fence_open(line) {
        let (lang, path) = split_label(info);
        out.extend(highlight::header_line(lang, path, width, p));
        // The language names the syntax; failing that, the path's extension.
        let label = if highlight::find_syntax(lang).is_some() { lang } else { path };
        let hl = Box::new(CodeHighlighter::new(label, p));
        *state = Block::Fence { marker, len, indent, hl };
        return;
    }
    text_line(line, &Prefix::default(), p.text, width, p, out);
}

/// An opening fence: (marker, run length, indentation, info string).
fn fence_open(line: &str) -> Option<(char, usize, usize, &str)> {
    let body = line.trim_start_matches(' ');
    let indent = line.len() - body.len();
    let marker = body.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = body.chars().take_while(|c| *c == marker).count();
    if len < 3 {
        return None;
    }
    let info = body[len..].trim();
    if marker == '`' && info.contains('`') {
        return None; // inline code like ```a``` on one line
    }
    Some((marker, len, indent, info))
}

fn is_fence_close(line: &str, marker: char, len: usize) -> bool {
    let body = line.trim_start_matches(' ');
    let run = body.chars().take_while(|c| *c == marker).count();
    run >= len && body[run * marker.len_utf8()..].trim().is_empty()
}

/// Removes up to `n` leading spaces (a fence's indentation from its content lines).
fn strip_indent(line: &str, n: usize) -> &str {
    let spaces = line.bytes().take(n).take_while(|b| *b == b' ').count();
    &line[spaces..]
}

/// A fence label as (language, path): `rust src/main.rs`, `rust`, or a lone `src/main.rs`.
fn split_label(info: &str) -> (&str, &str) {
    let mut words = info.splitn(2, char::is_whitespace);
    let first = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim();
    let looks_like_path = first.contains('/') || (first.contains('.') && !first.starts_with('.'));
    if rest.is_empty() && looks_like_path {
        ("", first)
    } else {
        (first, rest)
    }
}

/// Heading level and text of an ATX heading (`## Title ##`).
fn heading(body: &str) -> Option<(usize, &str)> {
    let level = body.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &body[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut text = rest.trim();
    let closing = text.trim_end_matches('#');
    if closing.is_empty() || closing.ends_with([' ', '\t']) {
        text = closing.trim_end();
    }
    Some((level, text))
}

/// `---`, `***`, `___` (three or more, spaces allowed between).
fn is_rule(body: &str) -> bool {
    let mut chars = body.chars().filter(|c| !c.is_whitespace());
    let Some(first) = chars.next() else {
        return false;
    };
    let count = 1 + chars.clone().count();
    matches!(first, '-' | '*' | '_') && count >= 3 && chars.all(|c| c == first)
}

/// A list item marker at the start of `body`: (marker as shown, bytes it takes).
fn list_marker(body: &str, indent: usize) -> Option<(String, usize)> {
    let b = body.as_bytes();
    let followed = |k: usize| matches!(b.get(k), Some(b' ' | b'\t'));
    if matches!(b.first(), Some(b'-' | b'*' | b'+')) && followed(1) {
        // Nesting by indentation, for both 2- and 4-space styles: 0, 1..=4, 5..=8, …
        let bullet = ["•", "◦", "▪"][indent.div_ceil(4) % 3];
        return Some((format!("{bullet} "), 2));
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=9).contains(&digits)
        && matches!(b.get(digits), Some(b'.' | b')'))
        && followed(digits + 1)
    {
        return Some((format!("{} ", &body[..=digits]), digits + 2));
    }
    None
}

/// Renders a line of text (no fence) behind `outer` (quote bars), in `base` style.
fn text_line(
    line: &str,
    outer: &Prefix,
    base: Style,
    width: usize,
    p: &Palette,
    out: &mut Vec<Line<'static>>,
) {
    let body = line.trim_start();
    let indent = display_width(&line[..line.len() - body.len()]);
    let with = |extra: &str, hang: &str| Prefix {
        first: [outer.first.clone(), vec![Span::raw(extra.to_string())]].concat(),
        rest: [outer.rest.clone(), vec![Span::raw(hang.to_string())]].concat(),
    };
    if body.is_empty() {
        out.push(Line::from(outer.first.clone()));
    } else if let Some(quoted) = body.strip_prefix('>') {
        let quoted = quoted.strip_prefix(' ').unwrap_or(quoted);
        let bar = Span::styled("▎ ", p.quote_bar);
        let prefix = Prefix {
            first: [outer.first.clone(), vec![bar.clone()]].concat(),
            rest: [outer.rest.clone(), vec![bar]].concat(),
        };
        text_line(quoted, &prefix, base.patch(p.quote), width, p, out);
    } else if let Some((level, text)) = heading(body) {
        let style = base.patch(p.heading[level.min(3) - 1]);
        let spans = parse_inline(text, style, p);
        out.extend(wrap::wrap(&spans, width, WrapMode::Words, outer, style, None));
    } else if is_rule(body) {
        let used: usize = outer.first.iter().map(|s| display_width(&s.content)).sum();
        let mut spans = outer.first.clone();
        spans.push(Span::styled("─".repeat(width.saturating_sub(used)), p.rule));
        out.push(Line::from(spans));
    } else if let Some((marker, taken)) = list_marker(body, indent) {
        let pad = " ".repeat(indent);
        let hang = " ".repeat(indent + display_width(&marker));
        let mut prefix = with(&pad, &hang);
        prefix.first.push(Span::styled(marker, base.patch(p.bullet)));
        let spans = parse_inline(body[taken..].trim_start(), base, p);
        out.extend(wrap::wrap(&spans, width, WrapMode::Words, &prefix, base, None));
    } else if body.starts_with('|') && body.trim_end().ends_with('|') && is_table_rule(body) {
        let spans = [Span::styled(body.to_string(), base.patch(p.rule))];
        out.extend(wrap::wrap(
            &spans,
            width,
            WrapMode::Chars,
            &with(&" ".repeat(indent), ""),
            base,
            None,
        ));
    } else {
        let pad = " ".repeat(indent);
        let spans = parse_inline(body, base, p);
        out.extend(wrap::wrap(&spans, width, WrapMode::Words, &with(&pad, &pad), base, None));
    }
}

/// The `|---|:--:|` row under a table's header.
fn is_table_rule(body: &str) -> bool {
    body.contains('-') && body.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string().trim_end().to_string()).collect()
    }

    #[test]
    fn blocks_render_as_lines() {
        let p = Palette::dark();
        let md = "# Title\n\nSome *text*.\n\n- one\n- two\n  1. nested\n\n> quoted\n\n---\n";
        let lines = render_markdown(md, 20, &p);
        assert_eq!(
            texts(&lines),
            [
                "Title",
                "",
                "Some text.",
                "",
                "• one",
                "• two",
                "  1. nested",
                "",
                "▎ quoted",
                "",
                "────────────────────",
            ]
        );
        assert!(lines[0].spans[0].style.add_modifier.contains(Modifier::BOLD));
        assert_eq!(lines[0].spans[0].style.fg, p.heading[0].fg);
    }

    #[test]
    fn list_items_hang_when_wrapped() {
        let p = Palette::dark();
        let lines = render_markdown(
            "- alpha beta gamma delta\n12. one two three four\n  - sub\n    * subsub",
            14,
            &p,
        );
        assert_eq!(
            texts(&lines),
            [
                "• alpha beta",
                "  gamma delta",
                "12. one two",
                "    three four",
                "  ◦ sub",
                "    ◦ subsub"
            ]
        );
    }

    #[test]
    fn fences_give_header_and_gutter() {
        let p = Palette::plain();
        let md = "```rust src/main.rs\nfn main() {}\n```\nafter";
        let lines = render_markdown(md, 30, &p);
        assert_eq!(texts(&lines), ["┌ rust · src/main.rs", "│ fn main() {}", "after"]);
        let lines = render_markdown("~~~\nx\n~~~", 30, &p);
        assert_eq!(texts(&lines), ["┌ code", "│ x"]);
        let lines = render_markdown("```src/lib.rs\nx\n```", 30, &p);
        assert_eq!(texts(&lines)[0], "┌ src/lib.rs");
    }

    #[test]
    fn streaming_matches_one_shot_at_every_prefix() {
        let p = Palette::dark();
        let md = "# Plan\n\nUse **bold** and `code`:\n\n```rust\nfn main() {\n    let s = \"日本\";\n}\n```\n- done\n";
        let mut cache = Rendered::new();
        for (end, _) in md.char_indices().chain([(md.len(), ' ')]) {
            let streamed = cache.update(&md[..end], 24, &p).to_vec();
            assert_eq!(streamed, render_markdown(&md[..end], 24, &p), "at {end}");
        }
        // Unchanged text is a cache hit; a changed width or an edit re-renders.
        assert_eq!(cache.update(md, 24, &p).len(), render_markdown(md, 24, &p).len());
        assert_eq!(cache.update(md, 10, &p), render_markdown(md, 10, &p).as_slice());
        let edited = md.replace("Plan", "Idea");
        assert_eq!(cache.update(&edited, 10, &p), render_markdown(&edited, 10, &p).as_slice());
    }

    #[test]
    fn unterminated_fence_is_code_in_progress() {
        let p = Palette::plain();
        let lines = render_markdown("text\n```py\nprint(1)\nx = ", 30, &p);
        assert_eq!(texts(&lines), ["text", "┌ py", "│ print(1)", "│ x ="]);
    }

    #[test]
    fn headings_and_rules_are_recognised_strictly() {
        assert_eq!(heading("## Title ##"), Some((2, "Title")));
        assert_eq!(heading("#hashtag"), None);
        assert_eq!(heading("####### seven"), None);
        assert_eq!(heading("# C#"), Some((1, "C#")));
        assert!(is_rule("- - -") && is_rule("***") && !is_rule("--") && !is_rule("-*-"));
        assert_eq!(split_label("rust src/main.rs"), ("rust", "src/main.rs"));
        assert_eq!(split_label("python"), ("python", ""));
    }

    #[test]
    fn plain_text_keeps_breaks_and_indent() {
        let lines = render_plain("hello world\n  indented words here", 10, Style::new());
        assert_eq!(texts(&lines), ["hello", "world", "  indented", "  words", "  here"]);
    }
}
