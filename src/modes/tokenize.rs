//! `hearth tokenize`: text to token ids with a model's tokenizer, printed as a JSON array
//! (`--json`) or as a table of id and piece with invisible characters escaped.

use std::fmt::Write as _;

use crate::cli::{resolve_model, TokenizeArgs};
use crate::error::Result;
use crate::gguf::GgufFile;
use crate::modes::{input, output};
use crate::tokenizer::Tokenizer;

pub fn run(args: &TokenizeArgs) -> Result<()> {
    let path = resolve_model(&args.model)?;
    let text = input::prompt_text(&args.prompt, &args.file)?;
    let file = GgufFile::open(&path)?;
    let tok = Tokenizer::from_gguf(file.metadata()).map_err(|e| e.with_file(&path))?;
    let ids =
        tok.encode(&text, args.bos, !args.no_parse_special).map_err(|e| e.with_file(&path))?;
    if args.json {
        output::print(&format!("{}\n", json_ids(&ids)))
    } else {
        output::print(&table(&tok, &ids))
    }
}

/// `[1,2,3]`: only the ids.
fn json_ids(ids: &[u32]) -> String {
    let mut s = String::with_capacity(ids.len() * 7 + 2);
    s.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{id}");
    }
    s.push(']');
    s
}

/// One line per token: the id, right-aligned, and its piece in quotes.
fn table(tok: &Tokenizer, ids: &[u32]) -> String {
    let width = ids.iter().map(|id| id.to_string().len()).max().unwrap_or(1);
    let mut s = String::with_capacity(ids.len() * (width + 12));
    for &id in ids {
        let piece = tok.token_to_piece(id, true).unwrap_or(&[]);
        let _ = writeln!(s, "{id:>width$}  '{}'", escape_piece(piece));
    }
    s
}

/// A piece made visible: `\n`, `\t`, `\r`, `\\` and `\'` escaped, other control and
/// invisible characters as `\u{…}`, bytes that are no UTF-8 (part of a character split
/// across tokens) as `\xNN`.
pub fn escape_piece(bytes: &[u8]) -> String {
    let mut s = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                '\r' => s.push_str("\\r"),
                '\\' => s.push_str("\\\\"),
                '\'' => s.push_str("\\'"),
                ' ' => s.push(' '),
                c if c.is_control() || c.is_whitespace() || is_invisible(c) => {
                    let _ = write!(s, "\\u{{{:x}}}", c as u32);
                }
                c => s.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

/// Format characters that print as nothing: joiners, marks of direction, BOM.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_show_what_is_invisible() {
        assert_eq!(escape_piece(b"a b"), "a b");
        assert_eq!(escape_piece(b"\n\t\r'\\"), "\\n\\t\\r\\'\\\\");
        assert_eq!(escape_piece("\u{a0}\u{200d}\u{1}".as_bytes()), "\\u{a0}\\u{200d}\\u{1}");
        assert_eq!(escape_piece(&[0xF0, 0x9F]), "\\xf0\\x9f");
    }

    #[test]
    fn json_is_a_bare_array() {
        assert_eq!(json_ids(&[]), "[]");
        assert_eq!(json_ids(&[1, 22, 333]), "[1,22,333]");
    }
}
