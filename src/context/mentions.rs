//! `@path` mentions in a user's message, and completion of partial paths under the root
//! (for `@` mentions and `/add`), ignore rules respected.

use std::fs;
use std::ops::Range;

use super::ignore::Ignore;
use super::root::Root;

/// Characters stripped from the end of a mention when the path without them exists:
/// `see @src/main.rs, then…` mentions `src/main.rs`.
const TRAILING_PUNCTUATION: &[char] = &[',', '.', ';', ':', ')', ']', '!', '?', '\'', '"'];

/// One `@path` in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    /// The path as written, trailing punctuation stripped.
    pub path: String,
    /// The byte range of `@path` in the original message.
    pub span: Range<usize>,
}

/// A message and the mentions found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mentions {
    /// The message with the `@` of each mention removed (`look at src/x.rs`), which
    /// reads naturally to the model once the file is in context.
    pub message: String,
    pub mentions: Vec<Mention>,
}

/// Finds the `@path` mentions of `message`: an `@` at the start or after whitespace,
/// then the path up to the next whitespace. Trailing punctuation is stripped as long as
/// the path with it does not exist while a shorter one does (`exists` answers for a
/// path as written); when none exists all of it is stripped. `@@…`, a bare `@` and
/// `a@b` (an email, a decorator call) are not mentions.
pub fn parse_mentions(message: &str, exists: &dyn Fn(&str) -> bool) -> Mentions {
    let mut mentions = Vec::new();
    let mut prev: Option<char> = None;
    for (i, c) in message.char_indices() {
        let at_word_start = prev.is_none_or(char::is_whitespace);
        prev = Some(c);
        if c != '@' || !at_word_start {
            continue;
        }
        let rest = &message[i + 1..];
        let token = &rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())];
        if token.is_empty() || token.starts_with('@') {
            continue;
        }
        let path = mention_path(token, exists);
        if path.is_empty() {
            continue;
        }
        mentions.push(Mention { path: path.to_string(), span: i..i + 1 + path.len() });
    }
    let mut text = String::with_capacity(message.len());
    let mut last = 0;
    for m in &mentions {
        text.push_str(&message[last..m.span.start]);
        last = m.span.start + 1;
    }
    text.push_str(&message[last..]);
    Mentions { message: text, mentions }
}

/// The longest existing prefix of `token` that only drops trailing punctuation, else
/// `token` with all trailing punctuation dropped.
fn mention_path<'t>(token: &'t str, exists: &dyn Fn(&str) -> bool) -> &'t str {
    let mut candidate = token;
    loop {
        if exists(candidate) {
            return candidate;
        }
        match candidate.strip_suffix(TRAILING_PUNCTUATION) {
            Some(shorter) => candidate = shorter,
            None => return candidate,
        }
    }
}

/// Completions of `partial` (relative to `cwd`, itself relative to the root): the
/// entries of its directory whose names start with its last part, as `partial` would
/// read completed, sorted, directories with a trailing `/`. Ignored entries are left
/// out, and so are hidden ones unless the last part starts with `.`. Nothing is
/// offered outside the root.
pub fn complete_path(root: &Root, cwd: &str, partial: &str) -> Vec<String> {
    let (dir_part, name_prefix) = match partial.rfind('/') {
        Some(i) => partial.split_at(i + 1),
        None => ("", partial),
    };
    let Some(dir_rel) = root.normalize(cwd, if dir_part.is_empty() { "." } else { dir_part })
    else {
        return Vec::new();
    };
    let Ok(Some(dir)) = root.canonical_inside(&dir_rel) else { return Vec::new() };
    let Ok(entries) = fs::read_dir(&dir) else { return Vec::new() };
    let ignore = Ignore::load(root.path());
    let show_hidden = name_prefix.starts_with('.');
    let mut out: Vec<String> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            if !name.starts_with(name_prefix) || (name.starts_with('.') && !show_hidden) {
                return None;
            }
            let is_dir = fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
            let rel = if dir_rel.is_empty() { name.clone() } else { format!("{dir_rel}/{name}") };
            if ignore.is_ignored(&rel, is_dir) {
                return None;
            }
            Some(format!("{dir_part}{name}{}", if is_dir { "/" } else { "" }))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(message: &str, files: &[&str]) -> Mentions {
        parse_mentions(message, &|p| files.contains(&p))
    }

    fn paths(m: &Mentions) -> Vec<&str> {
        m.mentions.iter().map(|m| m.path.as_str()).collect()
    }

    #[test]
    fn mentions_at_start_and_after_whitespace() {
        let m = parse("@src/main.rs and\t@README.md\n@Cargo.toml", &[]);
        assert_eq!(paths(&m), ["src/main.rs", "README.md", "Cargo.toml"]);
        assert_eq!(m.message, "src/main.rs and\tREADME.md\nCargo.toml");
        assert_eq!(m.mentions[1].span, 17..27);
        assert_eq!(&"@src/main.rs and\t@README.md\n@Cargo.toml"[17..27], "@README.md");
    }

    #[test]
    fn not_mentions() {
        for text in ["mail me at a@b.com", "@@decorator", "just @ alone", "x@y", "(@paren)", "@"] {
            let m = parse(text, &[]);
            assert!(m.mentions.is_empty(), "{text:?} has no mention: {:?}", m.mentions);
            assert_eq!(m.message, text);
        }
    }

    #[test]
    fn trailing_punctuation_stripped_when_the_shorter_file_exists() {
        let files = ["src/x.rs", "notes.txt)", "v1.2"];
        let m = parse("see @src/x.rs, then @notes.txt) and (@nope) @v1.2.", &files);
        assert_eq!(paths(&m), ["src/x.rs", "notes.txt)", "v1.2"]);
        // A path that exists with its punctuation keeps it.
        let m = parse("@a.rs.", &["a.rs."]);
        assert_eq!(paths(&m), ["a.rs."]);
        // Several trailing characters.
        let m = parse("(look at @lib.rs).", &["lib.rs"]);
        assert_eq!(paths(&m), ["lib.rs"]);
        assert_eq!(m.message, "(look at lib.rs).");
        // Nothing exists: all trailing punctuation goes.
        let m = parse("create @new.rs!", &[]);
        assert_eq!(paths(&m), ["new.rs"]);
        // Only punctuation: not a mention.
        assert!(parse("wow @...", &[]).mentions.is_empty());
    }

    #[test]
    fn unicode_around_mentions() {
        let m = parse("é @ü.rs ok", &[]);
        assert_eq!(paths(&m), ["ü.rs"]);
        assert_eq!(m.message, "é ü.rs ok");
    }
}
