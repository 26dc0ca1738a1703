//! Reading the text a mode works on: a file, an argument, or stdin when it is piped —
//! never more than the input limit (`--max-input`), so endless input (`/dev/zero`,
//! `yes |`) is an error, not a machine out of memory.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::grammar::Grammar;
use crate::error::{Error, Result, IS_A_DIRECTORY};

/// The input limit unless `--max-input` says otherwise: 64 MiB.
pub const DEFAULT_MAX_INPUT: u64 = 64 << 20;

static MAX_INPUT: AtomicU64 = AtomicU64::new(DEFAULT_MAX_INPUT);

/// Sets the most bytes a file or stdin may hold (`--max-input`).
pub fn set_max_input(bytes: u64) {
    MAX_INPUT.store(bytes, Ordering::Relaxed);
}

/// Reads all of `reader`, failing once it holds more than the input limit; reads at
/// most the limit + 1 byte.
fn read_capped(reader: impl Read, what: &Path) -> Result<Vec<u8>> {
    let (bytes, over) = read_up_to_cap(reader, what)?;
    match over {
        true => Err(over_cap(what)),
        false => Ok(bytes),
    }
}

/// Up to the input limit + 1 byte of `reader`, and whether there was more than the limit.
fn read_up_to_cap(reader: impl Read, what: &Path) -> Result<(Vec<u8>, bool)> {
    let cap = MAX_INPUT.load(Ordering::Relaxed);
    let mut bytes = Vec::new();
    reader.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io(what, e))?;
    let over = bytes.len() as u64 > cap;
    Ok((bytes, over))
}

/// The error of an input over the limit.
pub fn over_cap(what: &Path) -> Error {
    let cap = MAX_INPUT.load(Ordering::Relaxed);
    Error::bad_input(format!(
        "larger than the input limit of {} (--max-input SIZE raises it)",
        crate::context::human_size(cap)
    ))
    .with_file(what)
}

/// Stdin up to the input limit + 1 byte when it is piped, and whether there was more;
/// `None` on a terminal. For a filter that must give back what it cannot take.
pub fn read_piped_stdin_up_to_cap() -> Result<Option<(Vec<u8>, bool)>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    read_up_to_cap(stdin.lock(), Path::new("<stdin>")).map(Some)
}

/// Reads a whole file as UTF-8; invalid UTF-8 is bad input naming the file and offset.
pub fn read_text_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(Error::bad_input(IS_A_DIRECTORY).with_file(path));
    }
    let bytes = read_capped(file, path)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::bad_input(format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()))
            .with_file(path)
    })
}

/// Stdin as UTF-8 when it is not a terminal; `None` when it is one.
pub fn read_piped_stdin() -> Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let bytes = read_capped(stdin.lock(), Path::new("<stdin>"))?;
    String::from_utf8(bytes).map(Some).map_err(|e| {
        Error::bad_input(format!(
            "stdin is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The text of `-p`, else `-f`, else piped stdin; an error naming the flags otherwise.
pub fn prompt_text(prompt: &Option<String>, file: &Option<std::path::PathBuf>) -> Result<String> {
    if let Some(p) = prompt {
        return Ok(p.clone());
    }
    if let Some(f) = file {
        return read_text_file(f);
    }
    read_piped_stdin()?
        .ok_or_else(|| Error::usage("give the text with -p TEXT or -f FILE, or pipe it to stdin"))
}

/// A JSON file (a schema, say); a parse error names the file, line and column.
pub fn read_json_file(path: &Path) -> Result<serde_json::Value> {
    let text = read_text_file(path)?;
    serde_json::from_str(&text)
        .map_err(|e| Error::bad_input(format!("not valid JSON: {e}")).with_file(path))
}

/// The output grammar `--json-schema FILE` or `--grammar FILE` asks for, with its file
/// (to name in errors).
pub fn output_grammar<'a>(
    json_schema: &'a Option<PathBuf>,
    grammar: &'a Option<PathBuf>,
) -> Result<Option<(Grammar, &'a Path)>> {
    if let Some(path) = json_schema {
        return Ok(Some((Grammar::JsonSchema(read_json_file(path)?), path)));
    }
    match grammar {
        Some(path) => {
            let text = read_text_file(path)?;
            Ok(Some((Grammar::from_text(&text).map_err(|e| e.with_file(path))?, path)))
        }
        None => Ok(None),
    }
}
