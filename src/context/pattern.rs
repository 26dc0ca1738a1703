//! Glob patterns over `/`-separated relative paths: `*`, `?`, `[abc]`/`[!a-z]` classes,
//! `\` escapes and `**` segments. Shared by `.gitignore` rules and user globs (`src/**/*.rs`).

/// One element of a path segment's pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: any one character but `/`.
    One,
    /// `*`: any run of characters but `/`.
    Star,
    /// `[...]`: one character in (or, negated, not in) the inclusive ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One `/`-separated piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of whole path segments.
    AnyDirs,
    Glob(Vec<Token>),
}

/// A compiled glob matched against a whole relative path (`a/b/c.rs`), segment by segment:
/// `*` and `?` never cross a `/`; a `**` segment matches zero or more segments, except
/// at the end of the pattern where it matches one or more (`a/**` is what is inside `a`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    segments: Vec<Segment>,
}

/// Whether `s` contains glob syntax (`*`, `?` or `[`).
pub fn has_wildcards(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Glob {
    /// Compiles `pattern`; empty segments (from `a//b` or a leading `/`) are dropped.
    pub fn new(pattern: &str) -> Glob {
        let segments = pattern
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| if s == "**" { Segment::AnyDirs } else { Segment::Glob(tokenize(s)) })
            .collect();
        Glob { segments }
    }

    /// Whether the pattern matches all of `path` (a relative path, `/`-separated).
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.matches_parts(&parts)
    }

    /// Whether the pattern matches the path given as its segments.
    pub fn matches_parts(&self, parts: &[&str]) -> bool {
        let (np, ns) = (self.segments.len(), parts.len());
        // ok[i][j]: segments[i..] match parts[j..]. Filled backwards, O(np * ns).
        let mut ok = vec![vec![false; ns + 1]; np + 1];
        ok[np][ns] = true;
        for i in (0..np).rev() {
            for j in (0..=ns).rev() {
                ok[i][j] = match &self.segments[i] {
                    Segment::AnyDirs if i + 1 == np => j < ns,
                    Segment::AnyDirs => ok[i + 1][j] || (j < ns && ok[i][j + 1]),
                    Segment::Glob(tokens) => {
                        j < ns && ok[i + 1][j + 1] && match_segment(tokens, parts[j])
                    }
                };
            }
        }
        ok[0][0]
    }
}

/// Splits one segment's pattern into tokens. An unclosed `[` is a literal `[`.
fn tokenize(s: &str) -> Vec<Token> {
    let chars: Vec<char> = s.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                tokens.push(Token::Literal(chars[i + 1]));
                i += 2;
                continue;
            }
            '*' => {
                // `a**b` is two stars, i.e. one.
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::One),
            '[' => {
                if let Some((class, next)) = parse_class(&chars, i) {
                    tokens.push(class);
                    i = next;
                    continue;
                }
                tokens.push(Token::Literal('['));
            }
            c => tokens.push(Token::Literal(c)),
        }
        i += 1;
    }
    tokens
}

/// Parses a `[...]` class starting at `chars[start] == '['`; returns it and the index
/// after the closing `]`, or `None` when there is no closing `]`.
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let mut c = chars[i];
        if c == ']' && !first {
            return Some((Token::Class { negated, ranges }, i + 1));
        }
        first = false;
        if c == '\\' && i + 1 < chars.len() {
            i += 1;
            c = chars[i];
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            ranges.push((c, chars[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

/// Matches one path segment against its tokens; `*` backtracks to the last star only.
fn match_segment(tokens: &[Token], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < text.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, s));
                t += 1;
                continue;
            }
            Some(tok) if token_matches(tok, text[s]) => {
                t += 1;
                s += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((st, ss)) => {
                t = st + 1;
                s = ss + 1;
                star = Some((st, ss + 1));
            }
            None => return false,
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::Star)
}

fn token_matches(token: &Token, c: char) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::One => true,
        Token::Star => true,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Glob::new(pattern).matches(path)
    }

    #[test]
    fn star_and_question_stay_in_one_segment() {
        assert!(m("*.rs", "main.rs"));
        assert!(m("*.rs", ".rs"));
        assert!(!m("*.rs", "src/main.rs"));
        assert!(m("src/*.rs", "src/main.rs"));
        assert!(!m("src/*.rs", "src/a/main.rs"));
        assert!(m("ma?n.rs", "main.rs"));
        assert!(!m("ma?n.rs", "man.rs"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*", "anything"));
        assert!(m("a**b", "aXYb"));
    }

    #[test]
    fn classes() {
        assert!(m("file[0-9].txt", "file7.txt"));
        assert!(!m("file[0-9].txt", "fileA.txt"));
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[!abc]", "d"));
        assert!(m("[^abc]", "d"));
        assert!(!m("[!abc]", "a"));
        assert!(m("[]x]", "]"));
        assert!(m("[a-]", "-"));
        // An unclosed class is a literal bracket.
        assert!(m("a[b", "a[b"));
        assert!(!m("a[b", "ab"));
    }

    #[test]
    fn escapes() {
        assert!(m(r"\*.rs", "*.rs"));
        assert!(!m(r"\*.rs", "main.rs"));
        assert!(m(r"a\?", "a?"));
        assert!(!m(r"a\?", "ab"));
    }

    #[test]
    fn double_star_segments() {
        // Leading: any depth, including none.
        assert!(m("**/foo", "foo"));
        assert!(m("**/foo", "a/b/foo"));
        assert!(!m("**/foo", "a/foox"));
        // Middle: zero or more directories.
        assert!(m("a/**/b", "a/b"));
        assert!(m("a/**/b", "a/x/b"));
        assert!(m("a/**/b", "a/x/y/b"));
        assert!(!m("a/**/b", "a/x/y/c"));
        assert!(m("src/**/*.rs", "src/main.rs"));
        assert!(m("src/**/*.rs", "src/a/b/c.rs"));
        assert!(!m("src/**/*.rs", "tests/a.rs"));
        // Trailing: everything inside, not the directory itself.
        assert!(m("a/**", "a/x"));
        assert!(m("a/**", "a/x/y"));
        assert!(!m("a/**", "a"));
        assert!(m("**", "a/b"));
    }

    #[test]
    fn wildcard_detection() {
        assert!(has_wildcards("src/*.rs"));
        assert!(has_wildcards("a?"));
        assert!(has_wildcards("[ab]"));
        assert!(!has_wildcards("src/main.rs"));
    }
}
