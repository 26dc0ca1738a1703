//! Finding proposed edits in an assistant's answer: fenced blocks labelled with a path
//! (the whole new content of that file) and aider-style SEARCH/REPLACE blocks.

use super::{Edit, EditKind, ParsedEdits};

/// Parses the edits proposed in `answer`, in the order they appear.
///
/// - A fenced block whose info string names a path (```` ```rust src/main.rs ````), or
///   right after a line holding just a path, is the whole new content of that file.
/// - A SEARCH/REPLACE block (`<<<<<<< SEARCH`, old lines, `=======`, new lines,
///   `>>>>>>> REPLACE`), inside a fence or not, edits the file named on the nearest
///   path line before it (inside the fence, on the fence's label, or on the line before
///   the fence); without one it edits the file of the previous block.
///
/// `in_context` tells whether a path names a file in context: such a path is accepted
/// even when it does not look like one (`Makefile`, `BUILD`); other paths need a file
/// name with an extension. Unfinished blocks (an
/// answer cut short) are reported in `problems` and skipped.
pub fn parse_edits(answer: &str, in_context: &dyn Fn(&str) -> bool) -> ParsedEdits {
    let lines: Vec<&str> = answer.lines().collect();
    let mut parser = Parser { in_context, last_path: None, out: ParsedEdits::default() };
    let mut i = 0;
    let mut region_start = 0;
    while i < lines.len() {
        let Some(fence) = Fence::open(lines[i]) else {
            i += 1;
            continue;
        };
        parser.scan_region(&lines[region_start..i], None);
        let end = fence.end(&lines, i + 1);
        let body = &lines[i + 1..end.unwrap_or(lines.len())];
        let hint = fence.info_path(&parser).or_else(|| parser.path_before(&lines[..i]));
        if body.iter().any(|l| Marker::of(l) == Some(Marker::Search)) {
            parser.scan_region(body, hint);
        } else if let Some(path) = hint {
            if end.is_some() {
                parser.push(path, EditKind::Whole(join_lines(body)));
            } else {
                parser.out.problems.push(format!("{path}: the code block is not finished"));
            }
        }
        i = end.map_or(lines.len(), |e| e + 1);
        region_start = i;
    }
    parser.scan_region(&lines[region_start.min(lines.len())..], None);
    parser.out
}

struct Parser<'a> {
    in_context: &'a dyn Fn(&str) -> bool,
    /// The file of the previous SEARCH/REPLACE block.
    last_path: Option<String>,
    out: ParsedEdits,
}

impl Parser<'_> {
    /// Records an edit; a SEARCH/REPLACE block's file becomes the default of the next.
    fn push(&mut self, path: String, kind: EditKind) {
        if matches!(kind, EditKind::SearchReplace { .. }) {
            self.last_path = Some(path.clone());
        }
        self.out.edits.push(Edit { path, kind });
    }

    /// Collects the SEARCH/REPLACE blocks of `lines`; a path line sets the file of the
    /// blocks after it, a line of prose forgets it (back to `hint`, then the last path).
    fn scan_region(&mut self, lines: &[&str], hint: Option<String>) {
        let mut path = hint.clone();
        let mut j = 0;
        while j < lines.len() {
            let line = lines[j];
            if Marker::of(line) == Some(Marker::Search) {
                let file = path.clone().or_else(|| self.last_path.clone());
                match parse_block(&lines[j + 1..]) {
                    Some((search, replace, used)) => {
                        match file {
                            Some(file) => {
                                self.push(file, EditKind::SearchReplace { search, replace })
                            }
                            None => self.out.problems.push(format!(
                                "a SEARCH/REPLACE block names no file (first line: `{}`)",
                                search.lines().next().unwrap_or("").trim()
                            )),
                        }
                        j += 1 + used;
                        path = None;
                        continue;
                    }
                    None => {
                        let name = file.unwrap_or_else(|| "a SEARCH/REPLACE block".into());
                        self.out
                            .problems
                            .push(format!("{name}: the SEARCH/REPLACE block is not finished"));
                        return;
                    }
                }
            }
            if let Some(p) = self.path_line(line) {
                path = Some(p);
            } else if !line.trim().is_empty() {
                path = hint.clone();
            }
            j += 1;
        }
    }

    /// The path on the last non-blank line of `before`, when that line is just a path.
    fn path_before(&self, before: &[&str]) -> Option<String> {
        let line = before.iter().rev().find(|l| !l.trim().is_empty())?;
        self.path_line(line)
    }

    /// `line` as a path: a path alone on its line, maybe in backticks or bold, maybe
    /// after a markdown heading mark or with a trailing colon.
    fn path_line(&self, line: &str) -> Option<String> {
        let mut s = line.trim();
        if Marker::of(s).is_some() || Fence::open(s).is_some() {
            return None;
        }
        s = s.trim_start_matches('#').trim_start();
        s = s.strip_suffix(':').unwrap_or(s);
        for wrap in ["**", "`", "*"] {
            if let Some(inner) = s.strip_prefix(wrap).and_then(|r| r.strip_suffix(wrap)) {
                s = inner;
            }
        }
        s = s.strip_suffix(':').unwrap_or(s);
        let s = s.strip_prefix("./").unwrap_or(s);
        self.is_path(s).then(|| s.to_string())
    }

    fn is_path(&self, s: &str) -> bool {
        if s.is_empty() || s.len() > 255 || s.contains(char::is_whitespace) {
            return false;
        }
        if (self.in_context)(s) {
            return true;
        }
        if s.contains("://") || s.contains(['<', '>', '|', '"', '`', '*', '?', '(', ')', ',', ';'])
        {
            return false;
        }
        let name = s.rsplit('/').next().unwrap_or(s);
        // A file name with an extension that has a letter in it: `main.rs`, `.gitignore`
        // (not `e.g.`, `3.14`).
        name.rsplit_once('.').is_some_and(|(_, ext)| {
            !ext.is_empty()
                && ext.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                && ext.chars().any(char::is_alphabetic)
        })
    }
}

/// Parses the rest of a SEARCH/REPLACE block (the lines after `<<<<<<< SEARCH`): the
/// search text, the replacement and how many lines it used; `None` if unfinished.
fn parse_block(lines: &[&str]) -> Option<(String, String, usize)> {
    let divider = lines.iter().position(|l| Marker::of(l) == Some(Marker::Divider))?;
    let end = divider
        + 1
        + lines[divider + 1..].iter().position(|l| Marker::of(l) == Some(Marker::Replace))?;
    Some((join_lines(&lines[..divider]), join_lines(&lines[divider + 1..end]), end + 1))
}

/// Lines back into text, each ending with a newline.
fn join_lines(lines: &[&str]) -> String {
    let mut s = String::new();
    for line in lines {
        s.push_str(line);
        s.push('\n');
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Search,
    Divider,
    Replace,
}

impl Marker {
    /// `<<<<<<< SEARCH`, `=======`, `>>>>>>> REPLACE` (5 to 9 marker characters).
    fn of(line: &str) -> Option<Marker> {
        let line = line.trim();
        let run = |c: char| line.chars().take_while(|&x| x == c).count();
        if (5..=9).contains(&run('=')) && line.chars().all(|c| c == '=') {
            return Some(Marker::Divider);
        }
        let (n, marker, word) = if line.starts_with('<') {
            (run('<'), Marker::Search, "SEARCH")
        } else if line.starts_with('>') {
            (run('>'), Marker::Replace, "REPLACE")
        } else {
            return None;
        };
        ((5..=9).contains(&n) && line[n..].trim().eq_ignore_ascii_case(word)).then_some(marker)
    }
}

/// An opening code fence: three or more backticks or tildes, then an info string.
struct Fence<'l> {
    ch: char,
    len: usize,
    info: &'l str,
}

impl<'l> Fence<'l> {
    fn open(line: &'l str) -> Option<Fence<'l>> {
        let s = line.trim_start();
        let ch = s.chars().next().filter(|&c| c == '`' || c == '~')?;
        let len = s.chars().take_while(|&c| c == ch).count();
        let info = s[len..].trim();
        (len >= 3 && !(ch == '`' && info.contains('`'))).then_some(Fence { ch, len, info })
    }

    /// Whether `line` closes this fence: the same character, at least as many, no info.
    fn closes(&self, line: &str) -> bool {
        let s = line.trim();
        s.len() >= self.len && s.chars().all(|c| c == self.ch)
    }

    /// The index of the line closing this fence, searching from `from`. A fence line
    /// inside an open SEARCH/REPLACE block is part of the block (an edit to markdown).
    fn end(&self, lines: &[&str], from: usize) -> Option<usize> {
        let mut in_block = false;
        for (j, line) in lines.iter().enumerate().skip(from) {
            match Marker::of(line) {
                Some(Marker::Search) => in_block = true,
                Some(Marker::Replace) => in_block = false,
                _ if !in_block && self.closes(line) => return Some(j),
                _ => {}
            }
        }
        None
    }

    /// A path among the words of the info string (```` ```rust src/main.rs ````).
    fn info_path(&self, parser: &Parser) -> Option<String> {
        self.info.split_whitespace().find_map(|word| parser.path_line(word))
    }
}
