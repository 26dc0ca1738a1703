//! The assistant's proposed edits: parsed from its answer (`parse`), applied in memory
//! to the files in context (`apply`), shown as a unified diff (`diff`), and written to
//! disk atomically with an undo stack (`disk`) — only when the caller asks.

mod apply;
mod diff;
mod disk;
mod merge;
mod parse;

#[cfg(test)]
mod tests;

pub use apply::{apply_search_replace, plan, FileChange, Plan};
pub use diff::{diff_text, unified_diff, DiffKind, DiffLine};
pub use disk::{write_atomic, EditLog, UndoEntry};
pub use merge::merge_rewrite;
pub use parse::parse_edits;

/// What an edit does to its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditKind {
    /// The whole new content of the file.
    Whole(String),
    /// Replace the one place holding `search` (whole lines) with `replace`; an empty
    /// `search` creates a new (or fills an empty) file.
    SearchReplace { search: String, replace: String },
}

/// One proposed edit to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// As the assistant wrote it: relative to the project root.
    pub path: String,
    pub kind: EditKind,
}

/// The edits of an answer, and what could not be read as one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParsedEdits {
    pub edits: Vec<Edit>,
    /// One line each: an unfinished block, a block naming no file.
    pub problems: Vec<String>,
}
