//! The status bar: one row with the model, backend and session on the left, context use
//! and generation speed on the right, dropping the least important parts first when the
//! terminal is narrow (the backend always at 80 columns and below) and never overflowing.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use unicode_segmentation::UnicodeSegmentation;

use super::palette::Palette;
use super::wrap::display_width;

/// What the status bar shows, as plain data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusView {
    pub model: String,
    /// `cpu`, `vulkan: <device>`…
    pub backend: String,
    /// Tokens in the context now, and its size (`n_ctx`).
    pub ctx_used: usize,
    pub ctx_total: usize,
    /// Tokens per second while generating.
    pub tok_per_s: Option<f64>,
    pub session: Option<String>,
    /// The remote engine turns go to now (`/escalate`), shown apart.
    pub remote: Option<String>,
}

/// At this width and below the backend is left out.
pub const NARROW: u16 = 80;

/// A token count in short form: `950`, `1.2k`, `12k`, `1.5M`; sizes that are whole
/// multiples of 1024 read as such (`8192` is `8k`, `131072` is `128k`).
pub fn format_count(n: usize) -> String {
    if n >= 1024 && n.is_multiple_of(1024) && n < 1024 * 1024 * 1024 {
        return format!("{}k", n / 1024);
    }
    match n {
        0..=999 => n.to_string(),
        1_000..=9_999 => trim_zero(format!("{:.1}", n as f64 / 1e3)) + "k",
        10_000..=999_999 => format!("{}k", (n as f64 / 1e3).round() as usize),
        _ => trim_zero(format!("{:.1}", n as f64 / 1e6)) + "M",
    }
}

fn trim_zero(s: String) -> String {
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// One part of the bar; the lower `rank`, the longer it stays.
struct Part {
    text: String,
    style: Style,
    rank: u8,
    right: bool,
}

fn parts(s: &StatusView, width: u16, p: &Palette) -> Vec<Part> {
    let mut parts = match &s.remote {
        Some(remote) => {
            vec![Part {
                text: format!("remote: {remote}"),
                style: p.status_warn,
                rank: 0,
                right: false,
            }]
        }
        None => vec![Part { text: s.model.clone(), style: p.status_model, rank: 0, right: false }],
    };
    if width > NARROW && !s.backend.is_empty() {
        parts.push(Part { text: s.backend.clone(), style: p.status_dim, rank: 4, right: false });
    }
    if let Some(session) = s.session.as_ref().filter(|s| !s.is_empty()) {
        parts.push(Part { text: session.clone(), style: p.status_dim, rank: 3, right: false });
    }
    if s.ctx_total > 0 {
        let full = s.ctx_used.saturating_mul(10) >= s.ctx_total.saturating_mul(9);
        parts.push(Part {
            text: format!("ctx {}/{}", format_count(s.ctx_used), format_count(s.ctx_total)),
            style: if full { p.status_warn } else { p.status_bar },
            rank: 1,
            right: true,
        });
    }
    if let Some(rate) = s.tok_per_s.filter(|r| r.is_finite() && *r >= 0.0) {
        parts.push(Part {
            text: format!("{rate:.1} tok/s"),
            style: p.status_bar,
            rank: 2,
            right: true,
        });
    }
    parts
}

const SEP: &str = " · ";
const MARGIN: usize = 1;

/// The width the parts take: a margin at each end, separators within each side, and at
/// least two spaces between the sides.
fn needed(parts: &[Part]) -> usize {
    let side = |right: bool| {
        let mut n = 0usize;
        let mut w = 0;
        for part in parts.iter().filter(|p| p.right == right) {
            n += 1;
            w += display_width(&part.text);
        }
        w + display_width(SEP) * n.saturating_sub(1)
    };
    let (l, r) = (side(false), side(true));
    2 * MARGIN + l + r + if l > 0 && r > 0 { 2 } else { 0 }
}

/// `text` cut to at most `max` cells, ending in `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if display_width(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = display_width(g);
        if used + w + 1 > max {
            break;
        }
        out.push_str(g);
        used += w;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// The status bar as one line of exactly `width` cells.
pub fn status_line(s: &StatusView, width: u16, p: &Palette) -> Line<'static> {
    let width = usize::from(width);
    let mut parts = parts(s, width as u16, p);
    while parts.len() > 1 && needed(&parts) > width {
        let Some(worst) = parts.iter().enumerate().max_by_key(|(_, p)| p.rank).map(|(i, _)| i)
        else {
            break;
        };
        parts.remove(worst);
    }
    if let [only] = parts.as_mut_slice() {
        only.text = truncate(&only.text, width.saturating_sub(2 * MARGIN));
    }
    let side = |right: bool| -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for part in parts.iter().filter(|q| q.right == right) {
            if !spans.is_empty() {
                spans.push(Span::styled(SEP, p.status_dim));
            }
            spans.push(Span::styled(part.text.clone(), part.style));
        }
        spans
    };
    let (left, right) = (side(false), side(true));
    let w = |spans: &[Span<'_>]| spans.iter().map(|s| display_width(&s.content)).sum::<usize>();
    let gap = width.saturating_sub(2 * MARGIN + w(&left) + w(&right));
    let mut spans = vec![Span::raw(" ".repeat(MARGIN.min(width)))];
    spans.extend(left);
    spans.push(Span::raw(" ".repeat(gap)));
    spans.extend(right);
    spans.push(Span::raw(" ".repeat(MARGIN.min(width.saturating_sub(MARGIN)))));
    let mut line = Line::from(spans).style(p.status_bar);
    // Whatever did not fit (only at the tiniest widths) is cut off, never drawn past the end.
    if super::wrap::line_width(&line) > width {
        let mut kept = Vec::new();
        let mut used = 0;
        for span in line.spans {
            let room = width - used;
            if room == 0 {
                break;
            }
            let text = if display_width(&span.content) > room {
                truncate_plain(&span.content, room)
            } else {
                span.content.to_string()
            };
            used += display_width(&text);
            kept.push(Span::styled(text, span.style));
        }
        line = Line::from(kept).style(p.status_bar);
    }
    line
}

/// The first graphemes of `text` that fit in `max` cells.
fn truncate_plain(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for g in text.graphemes(true) {
        let w = display_width(g);
        if used + w > max {
            break;
        }
        out.push_str(g);
        used += w;
    }
    out
}

/// The status bar as a widget: one row, filled with the bar's style.
pub struct StatusBar<'a> {
    pub status: &'a StatusView,
    pub palette: &'a Palette,
}

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let row = Rect { height: 1, ..area };
        buf.set_style(row, self.palette.status_bar);
        let line = status_line(self.status, area.width, self.palette);
        buf.set_line(area.x, area.y, &line, area.width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> StatusView {
        StatusView {
            model: "qwen3-coder-30b-a3b-q4_k_m".into(),
            backend: "vulkan: AMD Radeon 780M".into(),
            ctx_used: 1200,
            ctx_total: 8192,
            tok_per_s: Some(23.44),
            session: Some("refactor-parser".into()),
            remote: None,
        }
    }

    /// While turns go to a remote engine the bar says so first, in the warning colour.
    #[test]
    fn a_remote_engine_in_use_leads_the_bar() {
        let p = Palette::dark();
        let s = StatusView { remote: Some("gpu-box:8000".into()), ..status() };
        let parts = parts(&s, 120, &p);
        assert_eq!(parts[0].text, "remote: gpu-box:8000");
        assert_eq!(parts[0].style, p.status_warn);
        assert!(parts.iter().all(|part| part.text != s.model));
    }

    #[test]
    fn counts_are_short() {
        assert_eq!(format_count(950), "950");
        assert_eq!(format_count(1200), "1.2k");
        assert_eq!(format_count(1000), "1k");
        assert_eq!(format_count(8192), "8k");
        assert_eq!(format_count(131072), "128k");
        assert_eq!(format_count(12_345), "12k");
        assert_eq!(format_count(1_500_000), "1.5M");
    }

    #[test]
    fn parts_drop_in_order_of_importance() {
        let p = Palette::plain();
        let s = status();
        let at = |w: u16| status_line(&s, w, &p).to_string();
        let wide = at(120);
        assert!(wide.starts_with(
            " qwen3-coder-30b-a3b-q4_k_m · vulkan: AMD Radeon 780M · refactor-parser"
        ));
        assert!(wide.ends_with("ctx 1.2k/8k · 23.4 tok/s "), "{wide}");
        let eighty = at(80);
        assert!(!eighty.contains("vulkan") && eighty.contains("refactor-parser"), "{eighty}");
        let sixty = at(60);
        assert!(!sixty.contains("refactor") && sixty.contains("tok/s"), "{sixty}");
        let forty = at(45);
        assert!(forty.contains("ctx 1.2k/8k") && !forty.contains("tok/s"), "{forty}");
        let narrow = at(20);
        assert_eq!(narrow, " qwen3-coder-30b-a… ");
        for w in 0..=130 {
            let line = status_line(&s, w, &p);
            assert_eq!(super::super::wrap::line_width(&line), usize::from(w), "width {w}");
        }
    }
}
