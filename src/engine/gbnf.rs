//! GBNF (the reference engine's grammar format) read and written out as llguidance's
//! Lark dialect, so `--grammar FILE` takes the grammars its users already have.
//!
//! GBNF: rules `name ::= alternatives` (the start rule is `root`), literals `"…"`,
//! character classes `[a-z]` / `[^…]`, `.` for any character, groups `( … )`, and the
//! postfix `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}`; `#` comments. A rule ends at the end of
//! its line, except inside parentheses and after `::=` or `|`. Each rule is written as
//! one Lark line; names become lowercase Lark rule names (`root` becomes `start`).

use std::collections::HashMap;

use crate::error::{Error, Result};

/// The Lark text of GBNF `text`; the error names the line and column of what is wrong.
pub fn to_lark(text: &str) -> Result<String> {
    let rules = Parser::new(text).rules()?;
    let names = lark_names(&rules)?;
    let mut out = String::new();
    for rule in &rules {
        let body = write_alt(&rule.body, &names)?;
        out.push_str(&format!("{}: {body}\n", names[&rule.name]));
    }
    Ok(out)
}

/// Whether `text` reads as GBNF rather than Lark: its first rule is written `name ::=`.
pub fn looks_like_gbnf(text: &str) -> bool {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.contains("::="))
}

struct Rule {
    name: String,
    body: Alt,
}

/// Alternatives, each a sequence of items.
type Alt = Vec<Vec<Item>>;

enum Item {
    Literal(String),
    Class { negated: bool, ranges: Vec<(char, char)> },
    Any,
    Ref { name: String, at: (usize, usize) },
    Group(Alt),
    Repeat { item: Box<Item>, min: u32, max: Option<u32> },
}

/// Lark names for the rules: lowercase, starting with a letter, distinct; `root` as
/// `start`. Fails when a referenced rule is not defined, or one is defined twice.
fn lark_names(rules: &[Rule]) -> Result<HashMap<String, String>> {
    if !rules.iter().any(|r| r.name == "root") {
        return Err(Error::bad_input("grammar: GBNF has no `root` rule"));
    }
    let mut names = HashMap::new();
    let mut taken: Vec<String> = vec!["start".into()];
    for r in rules {
        if names.contains_key(&r.name) {
            return Err(Error::bad_input(format!("grammar: rule `{}` defined twice", r.name)));
        }
        let lark = if r.name == "root" { "start".to_string() } else { unique(&r.name, &taken) };
        taken.push(lark.clone());
        names.insert(r.name.clone(), lark);
    }
    Ok(names)
}

fn unique(name: &str, taken: &[String]) -> String {
    let mut base = name.to_lowercase().replace('-', "_");
    if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        base.insert_str(0, "r_");
    }
    let mut candidate = base.clone();
    let mut n = 1;
    while taken.contains(&candidate) {
        n += 1;
        candidate = format!("{base}_{n}");
    }
    candidate
}

fn write_alt(alt: &Alt, names: &HashMap<String, String>) -> Result<String> {
    let seqs = alt
        .iter()
        .map(|seq| match seq.is_empty() {
            true => Ok("\"\"".to_string()),
            false => {
                Ok(seq.iter().map(|i| write_item(i, names)).collect::<Result<Vec<_>>>()?.join(" "))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(seqs.join(" | "))
}

fn write_item(item: &Item, names: &HashMap<String, String>) -> Result<String> {
    Ok(match item {
        Item::Literal(s) => serde_json::to_string(s).expect("strings serialize"),
        Item::Class { negated, ranges } => class_regex(*negated, ranges),
        Item::Any => "/(?s:.)/".to_string(),
        Item::Ref { name, at } => match names.get(name) {
            Some(n) => n.clone(),
            None => {
                return Err(Error::bad_input(format!(
                    "grammar: line {}, column {}: no rule `{name}`",
                    at.0, at.1
                )))
            }
        },
        Item::Group(alt) => format!("({})", write_alt(alt, names)?),
        Item::Repeat { item, min, max } => {
            let inner = write_item(item, names)?;
            match (min, max) {
                (0, None) => format!("{inner}*"),
                (1, None) => format!("{inner}+"),
                (0, Some(1)) => format!("{inner}?"),
                (m, None) => format!("{inner}{{{m},}}"),
                (m, Some(n)) => format!("{inner}{{{m},{n}}}"),
            }
        }
    })
}

/// A one-character regex for a class: letters and digits as they are, every other
/// character escaped by its code point.
fn class_regex(negated: bool, ranges: &[(char, char)]) -> String {
    let ch = |c: char| match c.is_ascii_alphanumeric() {
        true => c.to_string(),
        false => format!("\\x{{{:X}}}", c as u32),
    };
    let body: String = ranges
        .iter()
        .map(|&(a, b)| if a == b { ch(a) } else { format!("{}-{}", ch(a), ch(b)) })
        .collect();
    format!("/[{}{body}]/", if negated { "^" } else { "" })
}

/// A recursive-descent reader of GBNF text.
struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser { chars: text.chars().collect(), pos: 0 }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// (line, column), both from 1, of the current position.
    fn at(&self) -> (usize, usize) {
        let before = &self.chars[..self.pos];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let col = before.iter().rev().take_while(|&&c| c != '\n').count() + 1;
        (line, col)
    }

    fn error(&self, what: &str) -> Error {
        let (line, col) = self.at();
        Error::bad_input(format!("grammar: line {line}, column {col}: {what}"))
    }

    /// Skips blanks and comments; newlines too when `newlines`.
    fn space(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                '\n' | '\r' if !newlines => return,
                c if c.is_whitespace() => self.pos += 1,
                _ => return,
            }
        }
    }

    fn rules(mut self) -> Result<Vec<Rule>> {
        let mut rules = Vec::new();
        self.space(true);
        while self.peek().is_some() {
            rules.push(self.rule()?);
            self.space(true);
        }
        Ok(rules)
    }

    fn rule(&mut self) -> Result<Rule> {
        let name = self.name().ok_or_else(|| self.error("expected a rule name"))?;
        self.space(false);
        if !self.eat("::=") {
            return Err(self.error(&format!("expected `::=` after `{name}`")));
        }
        self.space(true);
        let body = self.alternatives(false)?;
        match self.peek() {
            None | Some('\n' | '\r') => Ok(Rule { name, body }),
            Some(c) => Err(self.error(&format!("unexpected `{c}`"))),
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        let here: String = self.chars[self.pos..].iter().take(n).collect();
        if here == s {
            self.pos += n;
        }
        here == s
    }

    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars[start..self.pos].iter().collect())
    }

    /// Sequences separated by `|`; inside parentheses (`nested`) newlines are blanks.
    fn alternatives(&mut self, nested: bool) -> Result<Alt> {
        let mut alt = vec![self.sequence(nested)?];
        while self.peek() == Some('|') {
            self.pos += 1;
            self.space(true);
            alt.push(self.sequence(nested)?);
        }
        Ok(alt)
    }

    fn sequence(&mut self, nested: bool) -> Result<Vec<Item>> {
        let mut seq = Vec::new();
        loop {
            let item = match self.peek() {
                Some('"') => self.literal()?,
                Some('[') => self.class()?,
                Some('.') => {
                    self.pos += 1;
                    Item::Any
                }
                Some('(') => self.group()?,
                Some('<') => return Err(self.error("token references (`<…>`) are not supported")),
                Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                    let at = self.at();
                    let name = self.name().expect("a name character");
                    self.space(nested);
                    if self.chars[self.pos..].starts_with(&[':', ':', '=']) {
                        return Err(self.error(&format!(
                            "`{name} ::=` starts a new rule on the same line as the last"
                        )));
                    }
                    Item::Ref { name, at }
                }
                _ => return Ok(seq),
            };
            let item = self.postfix(item)?;
            seq.push(item);
            self.space(nested);
        }
    }

    fn group(&mut self) -> Result<Item> {
        self.pos += 1;
        self.space(true);
        let alt = self.alternatives(true)?;
        if self.peek() != Some(')') {
            return Err(self.error("expected `)`"));
        }
        self.pos += 1;
        Ok(Item::Group(alt))
    }

    fn postfix(&mut self, mut item: Item) -> Result<Item> {
        loop {
            let (min, max) = match self.peek() {
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('?') => (0, Some(1)),
                Some('{') => {
                    item = self.braces(item)?;
                    continue;
                }
                _ => return Ok(item),
            };
            self.pos += 1;
            item = Item::Repeat { item: Box::new(item), min, max };
        }
    }

    /// `{m}`, `{m,}`, `{m,n}`.
    fn braces(&mut self, item: Item) -> Result<Item> {
        self.pos += 1;
        self.space(true);
        let min = self.number()?;
        self.space(true);
        let max = match self.peek() {
            Some('}') => Some(min),
            Some(',') => {
                self.pos += 1;
                self.space(true);
                match self.peek() {
                    Some('}') => None,
                    _ => Some(self.number()?),
                }
            }
            _ => return Err(self.error("expected `,` or `}` in a repetition")),
        };
        self.space(true);
        if self.peek() != Some('}') {
            return Err(self.error("expected `}`"));
        }
        self.pos += 1;
        if max.is_some_and(|n| n < min) {
            return Err(
                self.error(&format!("repetition {{{min},{}}} counts down", max.unwrap_or(0)))
            );
        }
        Ok(Item::Repeat { item: Box::new(item), min, max })
    }

    fn number(&mut self) -> Result<u32> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        digits.parse().map_err(|_| self.error("expected a number"))
    }

    fn literal(&mut self) -> Result<Item> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => return Err(self.error("unterminated string")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(Item::Literal(s));
                }
                Some(_) => s.push(self.char_in()?),
            }
        }
    }

    fn class(&mut self) -> Result<Item> {
        self.pos += 1;
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated character class")),
                Some(']') => {
                    self.pos += 1;
                    return Ok(Item::Class { negated, ranges });
                }
                Some(_) => {
                    let a = self.char_in()?;
                    let b = match (self.peek(), self.chars.get(self.pos + 1)) {
                        (Some('-'), Some(&c)) if c != ']' => {
                            self.pos += 1;
                            self.char_in()?
                        }
                        _ => a,
                    };
                    if b < a {
                        return Err(self.error(&format!("class range `{a}-{b}` counts down")));
                    }
                    ranges.push((a, b));
                }
            }
        }
    }

    /// One character of a literal or class, escapes read: `\n \r \t \\ \" \[ \] \-`,
    /// `\xHH`, `\uHHHH`, `\UHHHHHHHH`.
    fn char_in(&mut self) -> Result<char> {
        let c = self.peek().ok_or_else(|| self.error("unexpected end"))?;
        self.pos += 1;
        if c != '\\' {
            return Ok(c);
        }
        let e = self.peek().ok_or_else(|| self.error("unexpected end after `\\`"))?;
        self.pos += 1;
        let hex = |p: &mut Self, n: usize| -> Result<char> {
            let digits: String = p.chars[p.pos..].iter().take(n).collect();
            let v = u32::from_str_radix(&digits, 16)
                .ok()
                .filter(|_| digits.len() == n)
                .and_then(char::from_u32)
                .ok_or_else(|| p.error(&format!("bad escape `\\{e}{digits}`")))?;
            p.pos += n;
            Ok(v)
        };
        match e {
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'x' => hex(self, 2),
            'u' => hex(self, 4),
            'U' => hex(self, 8),
            '\\' | '"' | '[' | ']' | '-' | '^' => Ok(e),
            _ => Err(self.error(&format!("unknown escape `\\{e}`"))),
        }
    }
}

#[cfg(test)]
mod tests;
