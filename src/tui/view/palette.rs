//! The colors and text styles of the transcript, chosen once by the caller (truecolor, 256,
//! 16 colors, or `plain` for `NO_COLOR`) and passed to every render function.
//!
//! Render functions never read the environment: the caller decides (see
//! [`Palette::from_env_values`], a pure function of the variables' values) and passes the
//! palette in. Under [`Palette::plain`] no cell gets a foreground or background color;
//! modifiers that carry meaning without color (bold headings, italic emphasis, a reversed
//! status bar) stay, as the `NO_COLOR` convention allows.

use ratatui::style::{Color, Modifier, Style};

/// How many colors the terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorDepth {
    /// 24-bit RGB (`COLORTERM=truecolor`).
    TrueColor,
    /// The xterm 256-color palette.
    Ansi256,
    /// The 16 basic ANSI colors.
    Ansi16,
}

impl ColorDepth {
    /// The nearest color this depth can show for an RGB value.
    pub fn rgb(self, r: u8, g: u8, b: u8) -> Color {
        match self {
            ColorDepth::TrueColor => Color::Rgb(r, g, b),
            ColorDepth::Ansi256 => Color::Indexed(nearest_xterm256(r, g, b)),
            ColorDepth::Ansi16 => nearest_ansi16(r, g, b),
        }
    }
}

/// The syntect theme used for code blocks when colors are on.
pub const DEFAULT_CODE_THEME: &str = "base16-ocean.dark";

/// Every style the view uses. Fields are public so a caller can adjust single entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Palette {
    /// `None` for the plain palette: no colors at all, code is not highlighted.
    pub depth: Option<ColorDepth>,
    /// The syntect theme for code blocks (a name in syntect's default theme set); `None`
    /// shows code unhighlighted.
    pub code_theme: Option<&'static str>,
    /// Under the plain palette inline code keeps its backticks, as nothing else marks it.
    pub inline_code_ticks: bool,
    pub text: Style,
    /// `#`, `##`, and `###`..`######`.
    pub heading: [Style; 3],
    pub strong: Style,
    pub emphasis: Style,
    pub inline_code: Style,
    pub link: Style,
    pub link_url: Style,
    pub quote: Style,
    pub quote_bar: Style,
    pub rule: Style,
    pub bullet: Style,
    /// The line above a code block with its language and path.
    pub code_header: Style,
    /// The `│` left of each code row.
    pub code_gutter: Style,
    /// Code rows are padded to the full width with this background (the theme's own, so
    /// the theme's colors stay legible on light terminals too).
    pub code_bg: Option<Color>,
    /// Code without a theme (plain palette, unknown language).
    pub code_text: Style,
    pub user_header: Style,
    pub assistant_header: Style,
    pub notice: Style,
    pub error: Style,
    pub stopped: Style,
    pub diff_header: Style,
    pub diff_hunk: Style,
    pub diff_added: Style,
    pub diff_removed: Style,
    pub diff_context: Style,
    pub status_bar: Style,
    pub status_model: Style,
    pub status_dim: Style,
    /// The context figure once the context is nearly full.
    pub status_warn: Style,
}

impl Palette {
    /// The default colors for a dark terminal, in 24-bit color.
    pub fn dark() -> Palette {
        Palette::with_depth(ColorDepth::TrueColor)
    }

    /// The default colors, reduced to what `depth` can show.
    pub fn with_depth(depth: ColorDepth) -> Palette {
        let c = |r, g, b| depth.rgb(r, g, b);
        let fg = |r, g, b| Style::new().fg(c(r, g, b));
        let bold = Modifier::BOLD;
        Palette {
            depth: Some(depth),
            code_theme: Some(DEFAULT_CODE_THEME),
            inline_code_ticks: false,
            text: Style::new(),
            heading: [
                fg(0x61, 0xaf, 0xef).add_modifier(bold | Modifier::UNDERLINED),
                fg(0x61, 0xaf, 0xef).add_modifier(bold),
                fg(0x56, 0xb6, 0xc2).add_modifier(bold),
            ],
            strong: Style::new().add_modifier(bold),
            emphasis: Style::new().add_modifier(Modifier::ITALIC),
            inline_code: fg(0xe5, 0xc0, 0x7b).bg(c(0x2b, 0x30, 0x3b)),
            link: fg(0x61, 0xaf, 0xef).add_modifier(Modifier::UNDERLINED),
            link_url: fg(0x7f, 0x84, 0x8e).add_modifier(Modifier::DIM),
            quote: fg(0x9d, 0xa5, 0xb4).add_modifier(Modifier::ITALIC),
            quote_bar: fg(0x5c, 0x63, 0x70),
            rule: fg(0x5c, 0x63, 0x70),
            bullet: fg(0xc6, 0x78, 0xdd),
            code_header: fg(0x9d, 0xa5, 0xb4).bg(c(0x2b, 0x30, 0x3b)),
            code_gutter: fg(0x5c, 0x63, 0x70).bg(c(0x2b, 0x30, 0x3b)),
            code_bg: Some(c(0x2b, 0x30, 0x3b)),
            code_text: fg(0xc0, 0xc5, 0xce),
            user_header: fg(0x98, 0xc3, 0x79).add_modifier(bold),
            assistant_header: fg(0xc6, 0x78, 0xdd).add_modifier(bold),
            notice: fg(0x7f, 0x84, 0x8e).add_modifier(Modifier::ITALIC),
            error: fg(0xe0, 0x6c, 0x75).add_modifier(bold),
            stopped: fg(0xd1, 0x9a, 0x66),
            diff_header: Style::new().add_modifier(bold),
            diff_hunk: fg(0x56, 0xb6, 0xc2),
            diff_added: fg(0x98, 0xc3, 0x79),
            diff_removed: fg(0xe0, 0x6c, 0x75),
            diff_context: Style::new(),
            status_bar: fg(0xab, 0xb2, 0xbf).bg(c(0x21, 0x25, 0x2b)),
            status_model: fg(0x61, 0xaf, 0xef).add_modifier(bold),
            status_dim: fg(0x7f, 0x84, 0x8e),
            status_warn: fg(0xe0, 0x6c, 0x75).add_modifier(bold),
        }
    }

    /// No colors (`NO_COLOR`): structure is shown by modifiers, markers and gutters only.
    pub fn plain() -> Palette {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let italic = Style::new().add_modifier(Modifier::ITALIC);
        Palette {
            depth: None,
            code_theme: None,
            inline_code_ticks: true,
            text: Style::new(),
            heading: [bold.add_modifier(Modifier::UNDERLINED), bold, bold],
            strong: bold,
            emphasis: italic,
            inline_code: Style::new(),
            link: Style::new().add_modifier(Modifier::UNDERLINED),
            link_url: Style::new(),
            quote: italic,
            quote_bar: Style::new(),
            rule: Style::new(),
            bullet: Style::new(),
            code_header: Style::new(),
            code_gutter: Style::new(),
            code_bg: None,
            code_text: Style::new(),
            user_header: bold,
            assistant_header: bold,
            notice: italic,
            error: bold,
            stopped: Style::new(),
            diff_header: bold,
            diff_hunk: Style::new(),
            diff_added: Style::new(),
            diff_removed: Style::new(),
            diff_context: Style::new(),
            status_bar: Style::new().add_modifier(Modifier::REVERSED),
            status_model: bold,
            status_dim: Style::new(),
            status_warn: bold,
        }
    }

    /// The palette for these environment values (`NO_COLOR`, `COLORTERM`, `TERM`), passed
    /// in by the caller: `NO_COLOR` set and non-empty gives [`Palette::plain`], so does
    /// `TERM=dumb`; `COLORTERM=truecolor|24bit` gives 24-bit color; a `TERM` naming
    /// 256 colors gives the 256-color palette; anything else the 16 basic colors.
    pub fn from_env_values(
        no_color: Option<&str>,
        colorterm: Option<&str>,
        term: Option<&str>,
    ) -> Palette {
        if no_color.is_some_and(|v| !v.is_empty()) || term == Some("dumb") {
            return Palette::plain();
        }
        if matches!(colorterm, Some("truecolor" | "24bit")) {
            return Palette::with_depth(ColorDepth::TrueColor);
        }
        if term.is_some_and(|t| t.contains("256color")) {
            return Palette::with_depth(ColorDepth::Ansi256);
        }
        Palette::with_depth(ColorDepth::Ansi16)
    }

    /// An RGB color (from a syntect theme) at this palette's depth; `None` when plain.
    pub fn rgb(&self, r: u8, g: u8, b: u8) -> Option<Color> {
        self.depth.map(|d| d.rgb(r, g, b))
    }
}

impl Default for Palette {
    fn default() -> Self {
        Palette::dark()
    }
}

/// The xterm-256 index nearest to an RGB value: the 6×6×6 cube or the 24-step gray ramp.
fn nearest_xterm256(r: u8, g: u8, b: u8) -> u8 {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let level = |v: u8| -> usize {
        let mut best = 0;
        for (i, l) in LEVELS.iter().enumerate() {
            if v.abs_diff(*l) < v.abs_diff(LEVELS[best]) {
                best = i;
            }
        }
        best
    };
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let cube = (LEVELS[ri], LEVELS[gi], LEVELS[bi]);
    let cube_index = 16 + 36 * ri + 6 * gi + bi;
    let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    let gray_step = (avg.saturating_sub(8) / 10).min(23);
    let gray = (8 + 10 * gray_step) as u8;
    let gray_index = 232 + gray_step as usize;
    if dist((r, g, b), (gray, gray, gray)) < dist((r, g, b), cube) {
        gray_index as u8
    } else {
        cube_index as u8
    }
}

fn dist(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| u32::from(x.abs_diff(y)).pow(2);
    d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2)
}

/// The nearest of the 16 basic colors, by their usual xterm values.
fn nearest_ansi16(r: u8, g: u8, b: u8) -> Color {
    const TABLE: [((u8, u8, u8), Color); 16] = [
        ((0, 0, 0), Color::Black),
        ((205, 0, 0), Color::Red),
        ((0, 205, 0), Color::Green),
        ((205, 205, 0), Color::Yellow),
        ((0, 0, 238), Color::Blue),
        ((205, 0, 205), Color::Magenta),
        ((0, 205, 205), Color::Cyan),
        ((229, 229, 229), Color::Gray),
        ((127, 127, 127), Color::DarkGray),
        ((255, 0, 0), Color::LightRed),
        ((0, 255, 0), Color::LightGreen),
        ((255, 255, 0), Color::LightYellow),
        ((92, 92, 255), Color::LightBlue),
        ((255, 0, 255), Color::LightMagenta),
        ((0, 255, 255), Color::LightCyan),
        ((255, 255, 255), Color::White),
    ];
    let mut best = TABLE[0];
    for entry in TABLE {
        if dist((r, g, b), entry.0) < dist((r, g, b), best.0) {
            best = entry;
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_reduces_colors() {
        assert_eq!(ColorDepth::TrueColor.rgb(1, 2, 3), Color::Rgb(1, 2, 3));
        assert_eq!(ColorDepth::Ansi256.rgb(255, 0, 0), Color::Indexed(196));
        assert_eq!(ColorDepth::Ansi256.rgb(128, 128, 128), Color::Indexed(244));
        assert_eq!(ColorDepth::Ansi256.rgb(0, 0, 0), Color::Indexed(16));
        assert_eq!(ColorDepth::Ansi16.rgb(250, 10, 10), Color::LightRed);
        assert_eq!(ColorDepth::Ansi16.rgb(10, 190, 20), Color::Green);
    }

    #[test]
    fn env_values_choose_the_palette() {
        let p = Palette::from_env_values(Some("1"), Some("truecolor"), Some("xterm-256color"));
        assert_eq!(p, Palette::plain());
        // An empty NO_COLOR does not count, per the convention.
        let p = Palette::from_env_values(Some(""), Some("truecolor"), None);
        assert_eq!(p.depth, Some(ColorDepth::TrueColor));
        let p = Palette::from_env_values(None, None, Some("xterm-256color"));
        assert_eq!(p.depth, Some(ColorDepth::Ansi256));
        let p = Palette::from_env_values(None, None, Some("xterm"));
        assert_eq!(p.depth, Some(ColorDepth::Ansi16));
        assert_eq!(Palette::from_env_values(None, None, Some("dumb")).depth, None);
    }

    #[test]
    fn plain_palette_has_no_colors() {
        let p = Palette::plain();
        let styles = [p.text, p.strong, p.inline_code, p.link_url, p.code_gutter, p.status_bar];
        for s in styles.iter().chain(p.heading.iter()) {
            assert_eq!((s.fg, s.bg), (None, None));
        }
        assert_eq!(p.rgb(1, 2, 3), None);
    }
}
