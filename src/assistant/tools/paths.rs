//! A path a tool is given, resolved inside the project root: relative to the root (or
//! absolute under it), `..` never above it, and — when it exists — still under it with
//! symlinks resolved.

use std::path::PathBuf;

use crate::context::Root;

/// `arg` as a path relative to the root and its absolute form; the error says why not.
/// `""` and `.` name the root itself; a path that does not exist yet must lie under a
/// directory that is inside.
pub fn resolve(root: &Root, arg: &str) -> Result<(String, PathBuf), String> {
    let trimmed = arg.trim();
    let rel = root
        .normalize("", if trimmed.is_empty() { "." } else { trimmed })
        .ok_or_else(|| format!("`{arg}` is outside the project root"))?;
    let abs = root.join(&rel);
    if abs.symlink_metadata().is_ok() {
        match root.canonical_inside(&rel) {
            Ok(Some(canonical)) => return Ok((rel, canonical)),
            Ok(None) => return Err(format!("`{arg}` resolves outside the project root")),
            Err(e) => return Err(format!("`{arg}`: {e}")),
        }
    }
    // A path to be created: its nearest existing ancestor must be inside.
    let existing = abs.ancestors().find(|a| a.exists()).unwrap_or(root.path());
    match existing.canonicalize() {
        Ok(canonical) if canonical.starts_with(root.path()) => Ok((rel, abs)),
        Ok(_) => Err(format!("`{arg}` resolves outside the project root")),
        Err(e) => Err(format!("`{arg}`: {e}")),
    }
}

/// `rel` for messages: `.` for the root.
pub fn shown(rel: &str) -> &str {
    if rel.is_empty() {
        "."
    } else {
        rel
    }
}
