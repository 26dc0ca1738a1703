//! Tests of the view drawn into ratatui `TestBackend` buffers: colors per cell, wrapping,
//! streaming, `NO_COLOR`, sizes from 0 to 250 columns, scrolling, status bar and diffs.

use ratatui::backend::TestBackend;
use ratatui::buffer::{Buffer, CellWidth};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

use super::*;

/// The rows of a buffer as strings; the cell hidden behind a wide character is skipped.
fn rows(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    let mut out = Vec::new();
    for y in area.top()..area.bottom() {
        let mut row = String::new();
        let mut x = area.left();
        while x < area.right() {
            let symbol = buf[(x, y)].symbol();
            row.push_str(symbol);
            x += symbol.cell_width().max(1);
        }
        out.push(row);
    }
    out
}

/// Where `text` starts in the buffer (column, row), for single-width text.
fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    rows(buf).iter().enumerate().find_map(|(y, row)| {
        let byte = row.find(text)?;
        let x = row[..byte].chars().count();
        Some((x as u16, y as u16))
    })
}

/// The transcript of `turns` drawn in a `width`×`height` terminal.
fn draw(turns: &[TurnView], width: u16, height: u16, p: &Palette, scroll: usize) -> Buffer {
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(t) => t,
        Err(e) => panic!("test terminal: {e}"),
    };
    let mut transcript = Transcript::new();
    transcript.layout(turns, width, p);
    let drawn = terminal.draw(|f| {
        let widget = TranscriptWidget { transcript: &transcript, scroll_from_bottom: scroll };
        f.render_widget(widget, f.area());
    });
    if let Err(e) = drawn {
        panic!("draw: {e}");
    }
    terminal.backend().buffer().clone()
}

fn answer(text: &str) -> Vec<TurnView> {
    vec![TurnView::new(Role::User, "show me"), TurnView::new(Role::Assistant, text)]
}

#[test]
fn rust_keywords_and_identifiers_get_different_colors() {
    let p = Palette::dark();
    let buf = draw(
        &answer("Here:\n```rust\nfn main() {\n    let answer = compute();\n}\n```\n"),
        60,
        10,
        &p,
        0,
    );
    let at = |t: &str| find(&buf, t).unwrap_or_else(|| panic!("{t:?} not in {:#?}", rows(&buf)));
    let (fx, fy) = at("fn main");
    let (mx, my) = (fx + 3, fy);
    let (lx, ly) = at("let answer");
    let kw = buf[(fx, fy)].fg;
    assert!(matches!(kw, Color::Rgb(..)), "{kw:?}");
    assert_ne!(kw, buf[(mx, my)].fg, "fn vs main");
    assert_ne!(buf[(lx, ly)].fg, buf[(lx + 4, ly)].fg, "let vs answer");
    // The code rows are on the block background up to the last column, gutter included.
    let bg = p.code_bg.unwrap_or(Color::Reset);
    assert_eq!(buf[(0, fy)].bg, bg);
    assert_eq!(buf[(59, fy)].bg, bg);
    assert_eq!(rows(&buf)[fy as usize - 1].trim_end(), "┌ rust");
    assert_eq!(buf[(0, 0)].symbol(), "y", "the user header comes first");
}

#[test]
fn a_wrapped_code_line_keeps_the_style_of_the_split_token() {
    let p = Palette::dark();
    let code = "let s = \"a string literal long enough to wrap\";";
    let buf = draw(&answer(&format!("```rust\n{code}\n```")), 30, 8, &p, 0);
    let (_, y) = find(&buf, "let s").unwrap_or_default();
    let all = rows(&buf);
    // Row y ends inside the string; row y+1 continues it right after the gutter.
    let joined = format!("{}{}", &all[y as usize][4..], all[y as usize + 1][4..].trim_end());
    assert_eq!(joined, code);
    let last = buf[(29, y)].fg;
    let next = buf[(2, y + 1)].fg;
    assert_eq!(last, next, "the string's color carries over the break");
    assert_ne!(last, buf[(2, y)].fg, "string vs keyword");
    assert_eq!(buf[(0, y + 1)].symbol(), "│");
}

#[test]
fn markdown_styles_reach_the_cells() {
    let p = Palette::dark();
    let md = "# Heading\n- item with `code`\n1. **bold** and *em*\n[docs](https://x.dev)";
    let buf = draw(&answer(md), 40, 8, &p, 0);
    let (hx, hy) = find(&buf, "Heading").unwrap_or_default();
    let h = &buf[(hx, hy)];
    assert!(h.modifier.contains(Modifier::BOLD) && h.fg == p.heading[0].fg.unwrap_or_default());
    let (bx, by) = find(&buf, "• item").unwrap_or_default();
    assert_eq!(buf[(bx, by)].fg, p.bullet.fg.unwrap_or_default());
    let (cx, cy) = find(&buf, "code").unwrap_or_default();
    assert_eq!(buf[(cx, cy)].fg, p.inline_code.fg.unwrap_or_default());
    assert_eq!(buf[(cx, cy)].bg, p.inline_code.bg.unwrap_or_default());
    assert_eq!(buf[(cx - 1, cy)].bg, Color::Reset, "the space before the code span");
    let (sx, sy) = find(&buf, "bold").unwrap_or_default();
    assert!(buf[(sx, sy)].modifier.contains(Modifier::BOLD));
    assert_eq!(rows(&buf)[sy as usize].trim_end(), "1. bold and em");
    let (ex, ey) = find(&buf, "and em").map(|(x, y)| (x + 4, y)).unwrap_or_default();
    assert!(buf[(ex, ey)].modifier.contains(Modifier::ITALIC));
    let (ux, uy) = find(&buf, "(https://x.dev)").unwrap_or_default();
    assert!(buf[(ux, uy)].modifier.contains(Modifier::DIM));
    assert!(buf[(ux - 2, uy)].modifier.contains(Modifier::UNDERLINED), "the link text");
}

#[test]
fn a_streaming_fence_is_code_in_progress() {
    let p = Palette::dark();
    let mut turns = answer("Sure:\n```rust\nfn main() {\n    let x");
    turns[1].partial = true;
    let buf = draw(&turns, 40, 8, &p, 0);
    let text = rows(&buf);
    let trimmed: Vec<&str> = text.iter().map(|r| r.trim_end()).collect();
    assert_eq!(trimmed[3..8], ["assistant …", "Sure:", "┌ rust", "│ fn main() {", "│     let x"]);
    let (fx, fy) = find(&buf, "fn main").unwrap_or_default();
    assert_ne!(buf[(fx, fy)].fg, buf[(fx + 3, fy)].fg);

    // The same cache carried through the rest of the stream ends where a fresh one does.
    let mut cached = Transcript::new();
    cached.layout(&turns, 40, &p);
    for piece in [" = 1;", "\n}", "\n```", "\nDone."] {
        turns[1].text.push_str(piece);
        cached.layout(&turns, 40, &p);
    }
    turns[1].partial = false;
    cached.layout(&turns, 40, &p);
    let mut fresh = Transcript::new();
    fresh.layout(&turns, 40, &p);
    let a: Vec<_> = cached.lines().cloned().collect();
    let b: Vec<_> = fresh.lines().cloned().collect();
    assert_eq!(a, b);
    assert_eq!(b.last().map(|l| l.to_string()).as_deref(), Some("Done."));
}

#[test]
fn no_color_palette_colors_no_cell() {
    let p = Palette::plain();
    let md = "# T\n```rust\nfn main() { let x = 1; }\n```\n- `a` **b** [c](d)\n> q\n---";
    let mut turns = answer(md);
    turns[1].stopped = true;
    turns[1].error = Some("boom".into());
    turns.push(TurnView::new(Role::Notice, "note"));
    let mut buf = draw(&turns, 40, 20, &p, 0);
    let diff = parse_unified("@@ -1 +1 @@\n-a\n+b\n");
    DiffWidget { lines: &diff, palette: &p, offset: 0 }
        .render_into(Rect::new(0, 16, 40, 3), &mut buf);
    let status =
        StatusView { model: "m".into(), ctx_used: 8000, ctx_total: 8192, ..StatusView::default() };
    StatusBar { status: &status, palette: &p }.render_into(Rect::new(0, 19, 40, 1), &mut buf);
    for cell in buf.content() {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    let text = rows(&buf).join("\n");
    for expected in ["┌ rust", "│ fn main()", "`a`", "[stopped]", "error: boom", "-a", "+b"] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

trait RenderInto {
    fn render_into(self, area: Rect, buf: &mut Buffer);
}

impl<W: ratatui::widgets::Widget> RenderInto for W {
    fn render_into(self, area: Rect, buf: &mut Buffer) {
        self.render(area, buf);
    }
}

#[test]
fn wide_and_narrow_terminals_wrap_correctly() {
    let p = Palette::dark();
    let words: Vec<String> = (0..120).map(|i| format!("word{i}")).collect();
    let para = words.join(" ");
    let md = format!("{para}\n```rust\n{para}\n```\n- {para}");
    let turns = answer(&md);
    for (w, h) in [(250u16, 50u16), (80, 24), (20, 24), (7, 5), (1, 3), (0, 0), (3, 0)] {
        let buf = draw(&turns, w, h, &p, 0);
        assert_eq!(buf.area, Rect::new(0, 0, w, h));
        let mut t = Transcript::new();
        t.layout(&turns, w, &p);
        let lines: Vec<String> = t.lines().map(|l| l.to_string()).collect();
        for line in t.lines() {
            assert!(wrap::line_width(line) <= usize::from(w.max(1)), "{w}: {line:?}");
        }
        if w < 20 {
            continue;
        }
        // The paragraph's words come back in order, none split (each fits a row).
        let start = 4;
        let end = lines.iter().position(|l| l.starts_with("┌ rust")).unwrap_or(0);
        let flowed: Vec<&str> =
            lines[start..end].iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(flowed, words, "width {w}");
        let code: String = lines[end + 1..]
            .iter()
            .take_while(|l| l.starts_with('│'))
            .map(|l| l.trim_start_matches("│ ").trim_end())
            .collect::<Vec<_>>()
            .join("");
        assert_eq!(code.replace(' ', ""), para.replace(' ', ""), "width {w}");
        let item: Vec<&String> = lines.iter().skip_while(|l| !l.starts_with("• ")).collect();
        assert!(
            item.len() > 1 && item[1..].iter().all(|l| l.starts_with("  ")),
            "hanging indent at {w}"
        );
    }
    // At 250 columns a paragraph row uses most of the width.
    let t = draw(&turns, 250, 50, &p, 0);
    assert!(rows(&t)[4].trim_end().len() > 240);
}

#[test]
fn wide_characters_wrap_by_display_width() {
    let p = Palette::dark();
    let text = "日本語のテキストと絵文字👍🎉が混ざった長い行です";
    let md = format!("{text}\n```\n{text}\n```");
    let buf = draw(&answer(&md), 11, 20, &p, 0);
    let all = rows(&buf);
    let prose: String =
        all[4..].iter().take_while(|r| !r.starts_with('┌')).map(|r| r.trim_end()).collect();
    assert_eq!(prose, text);
    for row in &all {
        assert!(wrap::display_width(row) <= 11, "{row:?}");
    }
    // Each prose row holds as many double-width graphemes as fit: 5 in 11 columns.
    assert_eq!(wrap::display_width(all[4].trim_end()), 10);
    let code_rows: Vec<&String> = all.iter().filter(|r| r.starts_with('│')).collect();
    let code: String = code_rows.iter().map(|r| r[4..].trim_end()).collect();
    assert_eq!(code.replace(' ', ""), text);
}

#[test]
fn the_scroll_window_shows_the_right_lines() {
    let p = Palette::plain();
    let body: Vec<String> = (0..40).map(|i| format!("line {i}")).collect();
    let turns = [TurnView::new(Role::Notice, body.join("\n"))];
    let shown = |scroll| {
        let buf = draw(&turns, 20, 10, &p, scroll);
        rows(&buf).iter().map(|r| r.trim_end().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(shown(0).first().map(String::as_str), Some("line 30"));
    assert_eq!(shown(0).last().map(String::as_str), Some("line 39"));
    assert_eq!(shown(5)[0], "line 25");
    assert_eq!(shown(1000)[0], "line 0");
    assert_eq!(shown(1000)[9], "line 9");
    let mut t = Transcript::new();
    t.layout(&turns, 20, &p);
    let mut buf = Buffer::empty(Rect::new(0, 0, 20, 10));
    assert_eq!(t.render(buf.area, &mut buf, 1000), 30, "the scroll actually used");
    // A short transcript sits at the top of the window.
    let short = [TurnView::new(Role::Notice, "only")];
    let buf = draw(&short, 20, 10, &p, 3);
    assert_eq!(rows(&buf)[0].trim_end(), "only");
    assert_eq!(rows(&buf)[1].trim_end(), "");
}

#[test]
fn the_status_bar_degrades_in_narrow_terminals() {
    let p = Palette::dark();
    let s = StatusView {
        model: "qwen2.5-coder-7b".into(),
        backend: "vulkan: llvmpipe".into(),
        ctx_used: 1234,
        ctx_total: 32768,
        tok_per_s: Some(17.0),
        session: Some("main".into()),
        remote: None,
    };
    let bar = |w: u16| {
        let mut buf = Buffer::empty(Rect::new(0, 0, w, 1));
        StatusBar { status: &s, palette: &p }.render_into(buf.area, &mut buf);
        rows(&buf).concat()
    };
    for w in 0..=10 {
        assert_eq!(wrap::display_width(&bar(w)), usize::from(w));
    }
    assert!(bar(120).contains("vulkan: llvmpipe") && bar(120).contains("17.0 tok/s"));
    let eighty = bar(80);
    assert!(!eighty.contains("vulkan") && eighty.contains("ctx 1.2k/32k"), "{eighty}");
    let thirty = bar(34);
    assert!(thirty.contains("qwen2.5-coder-7b") && thirty.contains("ctx"), "{thirty}");
    assert!(!thirty.contains("tok/s"), "{thirty}");
    let mut buf = Buffer::empty(Rect::new(0, 0, 30, 1));
    StatusBar { status: &s, palette: &p }.render_into(buf.area, &mut buf);
    assert_eq!(buf[(29, 0)].bg, p.status_bar.bg.unwrap_or_default(), "the bar is filled");
}

#[test]
fn diffs_are_red_and_green() {
    let p = Palette::dark();
    let diff = parse_unified("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n same\n-old\n+new\n");
    let mut buf = Buffer::empty(Rect::new(0, 0, 20, 6));
    DiffWidget { lines: &diff, palette: &p, offset: 0 }.render_into(buf.area, &mut buf);
    let all = rows(&buf);
    assert_eq!(all[4].trim_end(), "-old");
    assert_eq!(all[5].trim_end(), "+new");
    let fg = |x, y| buf[(x, y)].fg;
    assert_eq!(fg(0, 4), p.diff_removed.fg.unwrap_or_default());
    assert_eq!(fg(1, 5), p.diff_added.fg.unwrap_or_default());
    assert_ne!(fg(1, 4), fg(1, 5));
    assert_eq!(fg(1, 3), Color::Reset, "context is uncolored");
    assert_eq!(fg(0, 2), p.diff_hunk.fg.unwrap_or_default());
    assert!(buf[(0, 0)].modifier.contains(Modifier::BOLD));
}
