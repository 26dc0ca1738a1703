//! hearth's error type: a kind that decides the exit code, a message, and the context
//! (file, metadata key, tensor) it happened in.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, in the terms of the exit-code policy (see `ErrorKind::exit_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Wrong arguments or a combination of them that makes no sense.
    Usage,
    /// An input (file, model, text) that is malformed or inconsistent.
    BadInput,
    /// A well-formed input that uses something hearth does not support.
    Unsupported,
    /// An operating-system failure while reading or writing.
    Io,
    /// The model or task failed while running.
    Failed,
    /// The user interrupted the work.
    Interrupted,
}

/// What every command says of a directory given where a file is wanted.
pub const IS_A_DIRECTORY: &str = "is a directory, not a file";

impl ErrorKind {
    /// The process exit code: 2 bad input or usage, 1 the task failed, 130 interrupted.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage | ErrorKind::BadInput | ErrorKind::Unsupported => 2,
            ErrorKind::Io | ErrorKind::Failed => 1,
            ErrorKind::Interrupted => 130,
        }
    }
}

/// An error with its context. Displays as `file: key 'k': tensor 't': message`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    msg: String,
    file: Option<PathBuf>,
    key: Option<String>,
    tensor: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Error {
        Error { kind, msg: msg.into(), file: None, key: None, tensor: None }
    }

    pub fn usage(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Usage, msg)
    }

    pub fn bad_input(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadInput, msg)
    }

    pub fn unsupported(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, msg)
    }

    pub fn failed(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Failed, msg)
    }

    /// An I/O error on `path`. A missing or unreadable input is bad input (exit 2);
    /// anything else is an I/O failure (exit 1).
    pub fn io(path: &Path, err: io::Error) -> Error {
        let kind = match err.kind() {
            io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::InvalidData
            | io::ErrorKind::UnexpectedEof => ErrorKind::BadInput,
            _ => ErrorKind::Io,
        };
        Error::new(kind, err.to_string()).with_file(path)
    }

    /// Sets the file, unless a file is already named.
    pub fn with_file(mut self, path: impl AsRef<Path>) -> Error {
        self.file.get_or_insert_with(|| path.as_ref().to_path_buf());
        self
    }

    /// Sets the metadata key, unless a key is already named.
    pub fn with_key(mut self, key: impl Into<String>) -> Error {
        self.key.get_or_insert_with(|| key.into());
        self
    }

    /// Sets the tensor name, unless a tensor is already named.
    pub fn with_tensor(mut self, tensor: impl Into<String>) -> Error {
        self.tensor.get_or_insert_with(|| tensor.into());
        self
    }

    /// The same error (kind and context kept) with its message rewritten by `f`.
    pub fn map_message(mut self, f: impl FnOnce(&str) -> String) -> Error {
        self.msg = f(&self.msg);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.msg
    }

    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub fn tensor(&self) -> Option<&str> {
        self.tensor.as_deref()
    }

    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        let mut out = OneLine(f);
        if let Some(file) = &self.file {
            write!(out, "{}: ", file.display())?;
        }
        if let Some(key) = &self.key {
            write!(out, "key '{key}': ")?;
        }
        if let Some(tensor) = &self.tensor {
            write!(out, "tensor '{tensor}': ")?;
        }
        out.write_str(&self.msg)
    }
}

/// Writes text with its control characters escaped (`\n`, `\r`, `\u{1b}`), so that an
/// error is one line whatever names or text from an input it quotes (a GGUF key may hold
/// a newline or a terminal escape).
struct OneLine<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for OneLine<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(char::is_control) {
            self.0.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(self.0, "{}", c.escape_debug())?;
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_key_and_tensor() {
        let e = Error::bad_input("expected u32, found string")
            .with_key("qwen2.block_count")
            .with_file("m.gguf");
        assert_eq!(e.to_string(), "m.gguf: key 'qwen2.block_count': expected u32, found string");
        let e = Error::unsupported("unknown type id 99").with_tensor("blk.0.attn_q.weight");
        assert_eq!(e.to_string(), "tensor 'blk.0.attn_q.weight': unknown type id 99");
    }

    #[test]
    fn errors_are_one_line_whatever_the_names_hold() {
        let e = Error::bad_input("unknown type\t7")
            .with_key("a\r\nb\u{1b}[31m")
            .with_tensor("t\0")
            .with_file("dir\n/m.gguf");
        assert_eq!(
            e.to_string(),
            "dir\\n/m.gguf: key 'a\\r\\nb\\u{1b}[31m': tensor 't\\0': unknown type\\t7"
        );
    }

    #[test]
    fn inner_context_wins() {
        let e = Error::bad_input("x").with_file("inner").with_file("outer");
        assert_eq!(e.file(), Some(Path::new("inner")));
    }

    #[test]
    fn exit_codes_follow_policy() {
        assert_eq!(Error::usage("u").exit_code(), 2);
        assert_eq!(Error::bad_input("b").exit_code(), 2);
        assert_eq!(Error::failed("f").exit_code(), 1);
        let missing = Error::io(Path::new("x"), io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(missing.exit_code(), 2);
        assert_eq!(Error::new(ErrorKind::Interrupted, "^C").exit_code(), 130);
    }
}
