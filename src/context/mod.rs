//! Files of the project pulled into a chat prompt — the root, ignore rules, paths and
//! globs, `@path` mentions, prompt assembly with its token budget — and the assistant's
//! proposed edits to them, parsed, diffed and applied with undo.
//!
//! A pure library: nothing here prints, and nothing is written to disk unless the caller
//! calls `edits::EditLog::apply`.

pub mod edits;
mod files;
mod ignore;
mod mentions;
mod pattern;
mod prompt;
mod resolve;
mod root;

#[cfg(test)]
mod tests;

pub use files::{AddReport, Change, ContextFile, ContextFiles, Refreshed, TokenCounter};
pub use ignore::{Ignore, Rule, GITIGNORE, HEARTHIGNORE};
pub use mentions::{complete_path, parse_mentions, Mention, Mentions};
pub use pattern::{has_wildcards, Glob};
pub use prompt::{
    fence_for, language_for, largest_files, load_notes, render_context, render_file, render_notes,
    Budget, BudgetStatus, Notes, NOTES_FILES, WARN_FRACTION,
};
pub use resolve::{
    human_size, Expansion, Limits, ReadFile, Refusal, RefusalReason, Resolver, Stamp,
    DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_GLOB_MATCHES,
};
pub use root::Root;
