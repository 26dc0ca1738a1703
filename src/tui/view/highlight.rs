//! Code blocks: the language from a fence label, syntect highlighting line by line (state
//! carried across lines, so a block can grow while streaming), syntect styles mapped to the
//! palette's color depth, and the block's rows: a header with language and path, then the
//! code behind a `│` gutter on the block background, wrapped without losing a token's style.
//!
//! The syntax and theme sets load once, lazily, on first use (`OnceLock`); with the plain
//! palette nothing is highlighted and they are never loaded.

use std::sync::OnceLock;

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::highlighting::{
    FontStyle, HighlightIterator, HighlightState, Highlighter, Style as SynStyle, Theme, ThemeSet,
};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};

use super::palette::Palette;
use super::wrap::{self, Prefix, WrapMode};

/// Columns per tab stop in code.
pub const TAB_WIDTH: usize = 4;

/// syntect's bundled syntaxes (the "newlines" variant: lines are parsed with their `\n`).
pub fn syntax_set() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// A theme from syntect's bundled set, by name.
pub fn theme(name: &str) -> Option<&'static Theme> {
    static SET: OnceLock<ThemeSet> = OnceLock::new();
    SET.get_or_init(ThemeSet::load_defaults).themes.get(name)
}

/// Fence labels that name a language the bundled set knows under another token.
const ALIASES: &[(&str, &str)] = &[
    ("rust", "rs"),
    ("python", "py"),
    ("python3", "py"),
    ("py3", "py"),
    ("javascript", "js"),
    ("jsx", "js"),
    ("mjs", "js"),
    ("cjs", "js"),
    ("node", "js"),
    // No TypeScript grammar is bundled; JavaScript's covers most of its syntax.
    ("ts", "js"),
    ("tsx", "js"),
    ("typescript", "js"),
    ("shell", "sh"),
    ("bash", "sh"),
    ("zsh", "sh"),
    ("console", "sh"),
    ("shellsession", "sh"),
    ("golang", "go"),
    ("c++", "cpp"),
    ("cxx", "cpp"),
    ("hpp", "cpp"),
    ("hh", "cpp"),
    ("cc", "cpp"),
    ("h", "c"),
    ("yml", "yaml"),
    ("jsonc", "json"),
    ("json5", "json"),
    ("md", "markdown"),
    ("make", "Makefile"),
    ("makefile", "Makefile"),
    ("patch", "diff"),
    ("csharp", "cs"),
    ("c#", "cs"),
];

/// The syntax for a fence label (`rust`, `rs`, `py`, `src/main.rs`, `Makefile`…), or `None`
/// for plain text (no label, `text`, or a language the bundled set lacks, such as TOML).
pub fn find_syntax(label: &str) -> Option<&'static SyntaxReference> {
    let label = label.trim();
    if label.is_empty() {
        return None;
    }
    let ss = syntax_set();
    let lower = label.to_ascii_lowercase();
    let by_token = |t: &str| -> Option<&'static SyntaxReference> {
        let t = ALIASES.iter().find(|(alias, _)| *alias == t).map_or(t, |(_, target)| *target);
        ss.find_syntax_by_token(t)
    };
    let file_name = lower.rsplit('/').next().unwrap_or(&lower);
    let found = by_token(&lower)
        .or_else(|| by_token(file_name))
        .or_else(|| file_name.rsplit_once('.').and_then(|(_, ext)| by_token(ext)));
    found.filter(|s| s.name != "Plain Text")
}

/// The highlighting state of one code block, carried from line to line. Cloning it is how
/// a streaming render highlights an unfinished last line without committing to it.
#[derive(Clone)]
pub struct CodeHighlighter {
    /// `None`: plain code (no theme, unknown language, or a syntect error earlier).
    state: Option<(ParseState, HighlightState, &'static Theme)>,
}

impl CodeHighlighter {
    /// The highlighter for a block with this fence label under this palette.
    pub fn new(label: &str, palette: &Palette) -> CodeHighlighter {
        let state = palette.code_theme.and_then(theme).and_then(|theme| {
            let syntax = find_syntax(label)?;
            let hl = HighlightState::new(&Highlighter::new(theme), ScopeStack::new());
            Some((ParseState::new(syntax), hl, theme))
        });
        CodeHighlighter { state }
    }

    /// Whether the block is being highlighted (a known language and a theme).
    pub fn is_highlighting(&self) -> bool {
        self.state.is_some()
    }

    /// The styled pieces of one line of code (given without its newline). A syntect error
    /// turns highlighting off for the rest of the block rather than failing the render.
    pub fn highlight_line(&mut self, line: &str, palette: &Palette) -> Vec<(Style, String)> {
        let Some((parse, hl, theme)) = &mut self.state else {
            return vec![(palette.code_text, line.to_string())];
        };
        let with_newline = format!("{line}\n");
        let ops = match parse.parse_line(&with_newline, syntax_set()) {
            Ok(ops) => ops,
            Err(_) => {
                self.state = None;
                return vec![(palette.code_text, line.to_string())];
            }
        };
        let highlighter = Highlighter::new(theme);
        let mut out: Vec<(Style, String)> = Vec::new();
        for (style, text) in HighlightIterator::new(hl, &ops, &with_newline, &highlighter) {
            let text = text.strip_suffix('\n').unwrap_or(text);
            if !text.is_empty() {
                out.push((map_style(style, palette), text.to_string()));
            }
        }
        out
    }
}

/// A syntect style as a ratatui style: the foreground at the palette's depth and the font
/// style; the theme's background is left to the block (`Palette::code_bg`).
pub fn map_style(style: SynStyle, palette: &Palette) -> Style {
    let mut out = Style::new();
    if let Some(fg) = palette.rgb(style.foreground.r, style.foreground.g, style.foreground.b) {
        out = out.fg(fg);
    }
    let fs = style.font_style;
    for (flag, modifier) in [
        (FontStyle::BOLD, Modifier::BOLD),
        (FontStyle::ITALIC, Modifier::ITALIC),
        (FontStyle::UNDERLINE, Modifier::UNDERLINED),
    ] {
        if fs.contains(flag) {
            out = out.add_modifier(modifier);
        }
    }
    out
}

/// The base style of code rows: the code text color on the block background.
fn code_base(palette: &Palette) -> Style {
    match palette.code_bg {
        Some(bg) => palette.code_text.bg(bg),
        None => palette.code_text,
    }
}

/// The header row of a code block: `┌ lang · path`, on the block background.
pub fn header_line(lang: &str, path: &str, width: usize, palette: &Palette) -> Vec<Line<'static>> {
    let label = match (lang.is_empty(), path.is_empty()) {
        (true, true) => "code".to_string(),
        (false, true) => lang.to_string(),
        (true, false) => path.to_string(),
        (false, false) => format!("{lang} · {path}"),
    };
    let spans = [Span::styled(label, palette.code_header)];
    let prefix = Prefix {
        first: vec![Span::styled("┌ ", palette.code_gutter)],
        rest: vec![Span::styled("  ", palette.code_gutter)],
    };
    let fill = palette.code_bg.map(|bg| Style::new().bg(bg));
    wrap::wrap(&spans, width, WrapMode::Chars, &prefix, code_base(palette), fill)
}

/// The rows of one line of highlighted code: tabs expanded, behind the gutter, wrapped at
/// `width` by splitting pieces (each keeps its style), padded with the block background.
pub fn code_rows(
    pieces: Vec<(Style, String)>,
    width: usize,
    palette: &Palette,
) -> Vec<Line<'static>> {
    let spans: Vec<Span<'static>> = wrap::expand_tabs(pieces, TAB_WIDTH)
        .into_iter()
        .map(|(style, text)| Span::styled(text, style))
        .collect();
    let prefix = Prefix::same(vec![Span::styled("│ ", palette.code_gutter)]);
    let fill = palette.code_bg.map(|bg| Style::new().bg(bg));
    wrap::wrap(&spans, width, WrapMode::Chars, &prefix, code_base(palette), fill)
}

/// A whole piece of code (a file, a snippet) as highlighted rows, without the header.
pub fn highlight_code(
    code: &str,
    label: &str,
    width: usize,
    palette: &Palette,
) -> Vec<Line<'static>> {
    let mut hl = CodeHighlighter::new(label, palette);
    let mut rows = Vec::new();
    for line in code.lines() {
        let pieces = hl.highlight_line(line, palette);
        rows.extend(code_rows(pieces, width, palette));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::super::palette::ColorDepth;
    use super::*;
    use ratatui::style::Color;

    #[test]
    fn labels_find_their_syntax() {
        let name = |l: &str| find_syntax(l).map(|s| s.name.clone());
        assert_eq!(name("rust").as_deref(), Some("Rust"));
        assert_eq!(name("rs").as_deref(), Some("Rust"));
        assert_eq!(name("RS").as_deref(), Some("Rust"));
        assert_eq!(name("py").as_deref(), Some("Python"));
        assert_eq!(name("python").as_deref(), Some("Python"));
        assert_eq!(name("src/lib.rs").as_deref(), Some("Rust"));
        assert_eq!(name("ts").as_deref(), Some("JavaScript"));
        assert_eq!(name("json").as_deref(), Some("JSON"));
        assert_eq!(name("go").as_deref(), Some("Go"));
        assert_eq!(name("cpp").as_deref(), Some("C++"));
        assert_eq!(name("c").as_deref(), Some("C"));
        assert!(name("bash").is_some_and(|n| n.contains("bash")));
        assert_eq!(name("sh"), name("bash"));
        assert_eq!(name("toml"), None, "no TOML grammar is bundled");
        assert_eq!(name(""), None);
        assert_eq!(name("text"), None);
        assert_eq!(name("no-such-language"), None);
    }

    #[test]
    fn keywords_and_identifiers_differ() {
        let palette = Palette::dark();
        let mut hl = CodeHighlighter::new("rust", &palette);
        assert!(hl.is_highlighting());
        let pieces = hl.highlight_line("fn main() { let x = 1; }", &palette);
        let style_of = |word: &str| pieces.iter().find(|(_, t)| t.trim() == word).map(|p| p.0);
        let (kw, ident) = (style_of("fn"), style_of("main"));
        assert!(kw.is_some() && ident.is_some());
        assert_ne!(kw.and_then(|s| s.fg), ident.and_then(|s| s.fg));
        let joined: String = pieces.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(joined, "fn main() { let x = 1; }");
    }

    #[test]
    fn reduced_depths_use_indexed_and_basic_colors() {
        for (depth, indexed) in [(ColorDepth::Ansi256, true), (ColorDepth::Ansi16, false)] {
            let palette = Palette::with_depth(depth);
            let mut hl = CodeHighlighter::new("rust", &palette);
            let pieces = hl.highlight_line("fn main() {}", &palette);
            for (style, _) in &pieces {
                let fg = style.fg.unwrap_or_default();
                assert_eq!(matches!(fg, Color::Indexed(_)), indexed, "{depth:?}: {fg:?}");
                assert!(!matches!(fg, Color::Rgb(..)), "{depth:?}: {fg:?}");
            }
        }
    }

    #[test]
    fn state_carries_across_lines() {
        let palette = Palette::dark();
        let mut hl = CodeHighlighter::new("rust", &palette);
        let open = hl.highlight_line("/* a comment", &palette);
        let inside = hl.highlight_line("fn still_comment()", &palette);
        assert_eq!(open[0].0.fg, inside[0].0.fg);
        let mut fresh = CodeHighlighter::new("rust", &palette);
        let outside = fresh.highlight_line("fn still_comment()", &palette);
        assert_ne!(outside[0].0.fg, inside[0].0.fg);
    }

    #[test]
    fn plain_palette_does_not_highlight() {
        let palette = Palette::plain();
        let mut hl = CodeHighlighter::new("rust", &palette);
        assert!(!hl.is_highlighting());
        let pieces = hl.highlight_line("fn main() {}", &palette);
        assert_eq!(pieces, vec![(Style::new(), "fn main() {}".to_string())]);
    }
}
