//! Files of the project pulled into a chat prompt — the root, ignore rules, paths and
//! globs, `@path` mentions, prompt assembly with its token budget — and the assistant's
//! proposed edits to them, parsed, diffed and applied with undo.
//!
//! A pure library: nothing here prints, and nothing is written to disk unless the caller
//! calls `edits::EditLog::apply`.

mod ignore;
mod pattern;
mod root;

pub use ignore::{Ignore, Rule, GITIGNORE, HEARTHIGNORE};
pub use pattern::{has_wildcards, Glob};
pub use root::Root;
