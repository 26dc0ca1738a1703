//! Reading the text a mode works on: a file, an argument, or stdin when it is piped.

use std::io::{IsTerminal, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Reads a whole file as UTF-8; invalid UTF-8 is bad input naming the file and offset.
pub fn read_text_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        Error::bad_input(format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to()))
            .with_file(path)
    })
}

/// Stdin as UTF-8 when it is not a terminal; `None` when it is one.
pub fn read_piped_stdin() -> Result<Option<String>> {
    let Some(bytes) = read_piped_stdin_bytes()? else { return Ok(None) };
    String::from_utf8(bytes).map(Some).map_err(|e| {
        Error::bad_input(format!(
            "stdin is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Stdin's bytes when it is not a terminal; `None` when it is one.
pub fn read_piped_stdin_bytes() -> Result<Option<Vec<u8>>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    stdin.lock().read_to_end(&mut bytes).map_err(|e| Error::io(Path::new("<stdin>"), e))?;
    Ok(Some(bytes))
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
