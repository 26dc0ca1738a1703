//! Applying edits in memory: SEARCH/REPLACE matching (exact, then ignoring trailing
//! whitespace), and the plan of new contents an answer's edits give the files in context.

use super::diff::{unified_diff, DiffLine};
use super::{Edit, EditKind};
use crate::context::files::ContextFiles;
use crate::error::{Error, Result};

/// The new content of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Relative to the root, normalized.
    pub path: String,
    /// The content the edits were applied to; `None` when the file is created.
    pub before: Option<String>,
    pub after: String,
}

impl FileChange {
    pub fn is_creation(&self) -> bool {
        self.before.is_none()
    }

    /// The change as a unified diff.
    pub fn diff(&self) -> Vec<DiffLine> {
        unified_diff(&self.path, self.before.as_deref(), Some(&self.after))
    }
}

/// What an answer's edits would do, file by file, before anything is written.
#[derive(Debug, Default)]
pub struct Plan {
    /// One change per file, in the order each file was first edited; files the edits
    /// leave unchanged are left out.
    pub changes: Vec<FileChange>,
    /// The edits that cannot apply, each naming its file.
    pub failed: Vec<Error>,
}

/// Applies `edits` in memory to the files in context, in order (several edits to a
/// file apply one after the other). Refused: paths outside the root, read-only files,
/// and existing files not in context (the assistant has not seen them). An edit to a
/// file that does not exist creates it.
pub fn plan(edits: &[Edit], files: &ContextFiles) -> Plan {
    let mut plan = Plan::default();
    let mut working: Vec<FileChange> = Vec::new();
    for edit in edits {
        let Some(path) = files.root().normalize("", &edit.path).filter(|p| !p.is_empty()) else {
            plan.failed.push(Error::bad_input("outside the project root").with_file(&edit.path));
            continue;
        };
        let index = match working.iter().position(|c| c.path == path) {
            Some(i) => i,
            None => match current(files, &path) {
                Ok(before) => {
                    let after = before.clone().unwrap_or_default();
                    working.push(FileChange { path: path.clone(), before, after });
                    working.len() - 1
                }
                Err(e) => {
                    plan.failed.push(e);
                    continue;
                }
            },
        };
        let change = &mut working[index];
        let result = match &edit.kind {
            EditKind::Whole(content) => Ok(content.clone()),
            EditKind::SearchReplace { search, replace } => {
                apply_search_replace(&path, &change.after, search, replace)
            }
        };
        match result {
            Ok(after) => change.after = after,
            Err(e) => plan.failed.push(e),
        }
    }
    plan.changes = working.into_iter().filter(|c| c.before.as_deref() != Some(&c.after)).collect();
    plan
}

/// The content edits to `path` start from: the context's copy, or `None` for a file
/// that does not exist yet.
fn current(files: &ContextFiles, path: &str) -> Result<Option<String>> {
    if let Some(file) = files.get(path) {
        if file.read_only {
            return Err(Error::bad_input("read-only in context, not edited").with_file(path));
        }
        return Ok(Some(file.content.clone()));
    }
    if files.root().join(path).symlink_metadata().is_ok() {
        return Err(Error::bad_input("not in context; /add it so the assistant sees it first")
            .with_file(path));
    }
    Ok(None)
}

/// Replaces the one run of whole lines of `content` equal to `search` with `replace`.
/// Lines are compared exactly first, then with trailing whitespace ignored (which also
/// forgives CRLF against LF). The replacement takes the line ending of the lines it
/// replaces. An empty `search` on an empty file gives `replace`.
pub fn apply_search_replace(
    path: &str,
    content: &str,
    search: &str,
    replace: &str,
) -> Result<String> {
    if search.trim().is_empty() {
        if content.trim().is_empty() {
            return Ok(replace.to_string());
        }
        return Err(Error::bad_input(
            "the SEARCH block is empty but the file is not; quote the lines to replace",
        )
        .with_file(path));
    }
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let needle: Vec<&str> = search.lines().collect();
    let first = needle.iter().find(|l| !l.trim().is_empty()).unwrap_or(&needle[0]).trim();
    let exact = find_runs(&lines, &needle, |a, b| a.strip_suffix('\n').unwrap_or(a) == b);
    let found = if exact.is_empty() {
        find_runs(&lines, &needle, |a, b| a.trim_end() == b.trim_end())
    } else {
        exact
    };
    let at = match found[..] {
        [at] => at,
        [] => {
            return Err(Error::bad_input(format!(
                "the SEARCH block does not match the file (first line: `{first}`)"
            ))
            .with_file(path))
        }
        _ => {
            return Err(Error::bad_input(format!(
                "the SEARCH block matches {} places (first line: `{first}`); it must match one",
                found.len()
            ))
            .with_file(path))
        }
    };
    let replaced = &lines[at..at + needle.len()];
    let eol = if replaced[0].ends_with("\r\n") { "\r\n" } else { "\n" };
    let ends_with_newline = replaced.last().is_some_and(|l| l.ends_with('\n'));
    let mut out: String = lines[..at].concat();
    let new_lines: Vec<&str> = replace.lines().collect();
    for (k, line) in new_lines.iter().enumerate() {
        out.push_str(line);
        if k + 1 < new_lines.len() || ends_with_newline {
            out.push_str(eol);
        }
    }
    out.push_str(&lines[at + needle.len()..].concat());
    Ok(out)
}

/// The start of every run of `lines` equal to `needle` under `eq`.
fn find_runs(lines: &[&str], needle: &[&str], eq: impl Fn(&str, &str) -> bool) -> Vec<usize> {
    if needle.len() > lines.len() {
        return Vec::new();
    }
    (0..=lines.len() - needle.len())
        .filter(|&i| needle.iter().enumerate().all(|(k, n)| eq(lines[i + k], n)))
        .collect()
}
