//! Inline markdown within one source line: `code`, **strong**, *emphasis* / _emphasis_,
//! ***both***, [links](url) and <autolinks>, backslash escapes.
//!
//! Streaming rule: a delimiter without its closer on the same line is shown literally, so a
//! half-streamed `**bold` reads `**bold` until the closing `**` arrives and then turns bold.
//! (Showing it bold early would flash bold for every lone `*` in `2 * 3`.) An underscore
//! inside a word (`snake_case`) is never emphasis. Spans do not continue across lines.

use ratatui::style::Style;
use ratatui::text::Span;

use super::palette::Palette;

/// Nesting deeper than this (`***a **b *c* b** a***`…) is shown literally.
const MAX_DEPTH: usize = 8;

/// The styled spans of one line of inline markdown, every style patched over `base`.
pub fn parse_inline(text: &str, base: Style, palette: &Palette) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    parse_into(text, base, palette, &mut out, 0);
    out
}

/// Appends `text` in `style`, merged into the last span when the style is the same.
fn push(out: &mut Vec<Span<'static>>, text: &str, style: Style) {
    if text.is_empty() {
        return;
    }
    match out.last_mut() {
        Some(last) if last.style == style => last.content.to_mut().push_str(text),
        _ => out.push(Span::styled(text.to_string(), style)),
    }
}

fn run_len(b: &[u8], i: usize, ch: u8) -> usize {
    b[i..].iter().take_while(|&&c| c == ch).count()
}

fn is_space(b: Option<&u8>) -> bool {
    b.is_none_or(|c| c.is_ascii_whitespace())
}

fn is_alnum(b: Option<&u8>) -> bool {
    b.is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Where the backtick run of length `n` opened at `i` closes: the next run of exactly `n`.
fn find_code_close(b: &[u8], i: usize, n: usize) -> Option<usize> {
    let mut j = i + n;
    while j < b.len() {
        if b[j] == b'`' {
            let m = run_len(b, j, b'`');
            if m == n {
                return Some(j);
            }
            j += m;
        } else {
            j += 1;
        }
    }
    None
}

/// The closer of an emphasis run of `d` × `ch` opened before `from`: a run of exactly `d`
/// that follows a non-space (and, for `_`, is not followed by a letter or digit). Code
/// spans are skipped over.
fn find_emph_close(b: &[u8], from: usize, ch: u8, d: usize) -> Option<usize> {
    let mut j = from;
    while j < b.len() {
        match b[j] {
            b'`' => {
                let n = run_len(b, j, b'`');
                j = find_code_close(b, j, n).map_or(j + n, |k| k + n);
            }
            b'\\' => j += 2,
            c if c == ch => {
                let m = run_len(b, j, ch);
                let after = b.get(j + m);
                let before_ok = j > from && !is_space(b.get(j - 1));
                if m == d && before_ok && (ch != b'_' || !is_alnum(after)) {
                    return Some(j);
                }
                j += m;
            }
            _ => j += 1,
        }
    }
    None
}

/// A `[text](url)` at `i`: the end of the text, the url, and the index after the `)`.
fn find_link(b: &[u8], text: &str, i: usize) -> Option<(usize, String, usize)> {
    let mut depth = 0usize;
    let mut close = None;
    for (k, &c) in b.iter().enumerate().skip(i + 1) {
        match c {
            b'[' => depth += 1,
            b']' if depth == 0 => {
                close = Some(k);
                break;
            }
            b']' => depth -= 1,
            _ => {}
        }
    }
    let close = close?;
    if b.get(close + 1) != Some(&b'(') {
        return None;
    }
    let mut parens = 0usize;
    for (k, &c) in b.iter().enumerate().skip(close + 2) {
        match c {
            b'(' => parens += 1,
            b')' if parens == 0 => {
                let inner = text[close + 2..k].trim();
                // An optional title after the url (`(url "title")`) is not shown.
                let url = inner.split_whitespace().next().unwrap_or("");
                let url = url.trim_start_matches('<').trim_end_matches('>');
                return Some((close, url.to_string(), k + 1));
            }
            b')' => parens -= 1,
            _ => {}
        }
    }
    None
}

fn parse_into(text: &str, style: Style, p: &Palette, out: &mut Vec<Span<'static>>, depth: usize) {
    if depth > MAX_DEPTH {
        push(out, text, style);
        return;
    }
    let b = text.as_bytes();
    let mut lit = 0; // start of the pending literal text
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if b.get(i + 1).is_some_and(|c| c.is_ascii_punctuation()) => {
                push(out, &text[lit..i], style);
                lit = i + 1;
                i += 2;
            }
            b'`' => {
                let n = run_len(b, i, b'`');
                let Some(j) = find_code_close(b, i, n) else {
                    i += n;
                    continue;
                };
                push(out, &text[lit..i], style);
                let mut code = &text[i + n..j];
                if code.len() >= 2
                    && code.starts_with(' ')
                    && code.ends_with(' ')
                    && !code.trim().is_empty()
                {
                    code = &code[1..code.len() - 1];
                }
                let code_style = style.patch(p.inline_code);
                if p.inline_code_ticks {
                    let ticks = &text[i..i + n];
                    push(out, &format!("{ticks}{code}{ticks}"), code_style);
                } else {
                    push(out, code, code_style);
                }
                i = j + n;
                lit = i;
            }
            c @ (b'*' | b'_') => {
                let n = run_len(b, i, c);
                let d = n.min(3);
                let opens = !is_space(b.get(i + n))
                    && (c != b'_' || !is_alnum(i.checked_sub(1).and_then(|k| b.get(k))));
                let close = if opens { find_emph_close(b, i + n, c, d) } else { None };
                match close {
                    Some(j) if n == d => {
                        push(out, &text[lit..i], style);
                        let inner = match d {
                            1 => style.patch(p.emphasis),
                            2 => style.patch(p.strong),
                            _ => style.patch(p.strong).patch(p.emphasis),
                        };
                        parse_into(&text[i + n..j], inner, p, out, depth + 1);
                        i = j + d;
                        lit = i;
                    }
                    _ => i += n,
                }
            }
            b'[' | b'!' => {
                let at = if b[i] == b'!' { i + 1 } else { i };
                let link = if b.get(at) == Some(&b'[') { find_link(b, text, at) } else { None };
                let Some((close, url, end)) = link else {
                    i += 1;
                    continue;
                };
                push(out, &text[lit..i], style);
                let label = &text[at + 1..close];
                parse_into(label, style.patch(p.link), p, out, depth + 1);
                if !url.is_empty() && url != label {
                    push(out, " ", style);
                    push(out, &format!("({url})"), style.patch(p.link_url));
                }
                i = end;
                lit = i;
            }
            b'<' => {
                let rest = &text[i + 1..];
                let auto = (rest.starts_with("http://") || rest.starts_with("https://"))
                    .then(|| rest.find(|c: char| c == '>' || c.is_whitespace()))
                    .flatten()
                    .filter(|&k| rest.as_bytes()[k] == b'>');
                let Some(k) = auto else {
                    i += 1;
                    continue;
                };
                push(out, &text[lit..i], style);
                push(out, &rest[..k], style.patch(p.link));
                i += k + 2;
                lit = i;
            }
            _ => i += 1,
        }
    }
    push(out, &text[lit..], style);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

    /// (text, bold, italic, is-code) per span.
    fn shape(text: &str, p: &Palette) -> Vec<(String, bool, bool, bool)> {
        parse_inline(text, Style::new(), p)
            .into_iter()
            .map(|s| {
                let m = s.style.add_modifier;
                let code = p.inline_code != Style::new() && s.style.fg == p.inline_code.fg;
                let bold = m.contains(Modifier::BOLD);
                (s.content.into_owned(), bold, m.contains(Modifier::ITALIC), code)
            })
            .collect()
    }

    fn s(t: &str, bold: bool, italic: bool, code: bool) -> (String, bool, bool, bool) {
        (t.to_string(), bold, italic, code)
    }

    #[test]
    fn strong_emphasis_and_code() {
        let p = Palette::dark();
        assert_eq!(
            shape("a **b** *c* _d_ `e` ***f***", &p),
            [
                s("a ", false, false, false),
                s("b", true, false, false),
                s(" ", false, false, false),
                s("c", false, true, false),
                s(" ", false, false, false),
                s("d", false, true, false),
                s(" ", false, false, false),
                s("e", false, false, true),
                s(" ", false, false, false),
                s("f", true, true, false),
            ]
        );
    }

    #[test]
    fn unclosed_delimiters_stay_literal() {
        let p = Palette::dark();
        assert_eq!(shape("so **bold", &p), [s("so **bold", false, false, false)]);
        assert_eq!(shape("run `cargo", &p), [s("run `cargo", false, false, false)]);
        assert_eq!(shape("2 * 3 * 4", &p), [s("2 * 3 * 4", false, false, false)]);
        assert_eq!(shape("snake_case_name", &p), [s("snake_case_name", false, false, false)]);
        assert_eq!(shape(r"\*not\*", &p), [s("*not*", false, false, false)]);
    }

    #[test]
    fn code_spans_hide_delimiters() {
        let p = Palette::dark();
        assert_eq!(
            shape("**use `a*b`**", &p),
            [s("use ", true, false, false), s("a*b", true, false, true)]
        );
        assert_eq!(shape("``a ` b``", &p), [s("a ` b", false, false, true)]);
    }

    #[test]
    fn links_show_text_and_url() {
        let p = Palette::dark();
        let spans = parse_inline("see [the docs](https://x.rs/a_(b)) now", Style::new(), &p);
        let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "see the docs (https://x.rs/a_(b)) now");
        assert_eq!(spans[1].style, p.link);
        assert_eq!(spans[3].style, p.link_url);
        let spans = parse_inline("<https://a.b/c>", Style::new(), &p);
        assert_eq!(spans[0].content, "https://a.b/c");
    }

    #[test]
    fn plain_palette_keeps_backticks() {
        let p = Palette::plain();
        let spans = parse_inline("run `ls`", Style::new(), &p);
        let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "run `ls`");
    }
}
