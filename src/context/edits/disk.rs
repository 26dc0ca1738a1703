//! Writing planned changes to disk — atomically (a temp file renamed over the target in
//! the same directory), only under the root, never to read-only files — and undoing
//! them, last applied first.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::apply::FileChange;
use crate::context::files::{ContextFiles, TokenCounter};
use crate::context::ignore::Ignore;
use crate::context::resolve::Stamp;
use crate::context::root::Root;
use crate::error::{Error, Result};

/// What one file held before an applied change, to put it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoEntry {
    /// Relative to the root.
    pub path: String,
    /// The content before; `None` when the change created the file.
    pub previous: Option<String>,
    /// What the change wrote, to notice edits made since.
    written: String,
    /// Directories the change created for the file, outermost first.
    created_dirs: Vec<PathBuf>,
}

/// The undo stack of changes applied to disk: one group per `apply` call.
#[derive(Debug, Default, Clone)]
pub struct EditLog {
    groups: Vec<Vec<UndoEntry>>,
}

impl EditLog {
    pub fn new() -> EditLog {
        EditLog::default()
    }

    /// How many `apply` calls `undo` can take back.
    pub fn depth(&self) -> usize {
        self.groups.len()
    }

    /// The entries the next `undo` restores.
    pub fn last(&self) -> Option<&[UndoEntry]> {
        self.groups.last().map(Vec::as_slice)
    }

    /// Writes `changes` and records them for `undo`; the files in context take the new
    /// content (a created file joins the context). Everything is checked before the first
    /// write: each path must be under the root (symlinks resolved), not ignored, not
    /// read-only in context, and still hold on disk what the change was computed from.
    /// When a write fails, the files already written are put back. Returns the paths.
    pub fn apply(
        &mut self,
        changes: &[FileChange],
        files: &mut ContextFiles,
        count: TokenCounter,
    ) -> Result<Vec<String>> {
        let root = files.root().clone();
        let ignore = Ignore::load(root.path());
        let mut targets = Vec::with_capacity(changes.len());
        for change in changes {
            targets.push(check_target(&root, &ignore, files, change)?);
        }
        let mut group: Vec<UndoEntry> = Vec::new();
        for (change, target) in changes.iter().zip(&targets) {
            match write_change(change, target) {
                Ok(created_dirs) => group.push(UndoEntry {
                    path: change.path.clone(),
                    previous: change.before.clone(),
                    written: change.after.clone(),
                    created_dirs,
                }),
                Err(e) => {
                    // Best effort: the error that stopped us is the one to report.
                    let _ = restore_group(&root, &group, files, count);
                    return Err(Error::io(target, e));
                }
            }
        }
        for (change, target) in changes.iter().zip(&targets) {
            record(files, &change.path, target, change.after.clone(), count);
        }
        let paths = group.iter().map(|e| e.path.clone()).collect();
        if !group.is_empty() {
            self.groups.push(group);
        }
        Ok(paths)
    }

    /// Puts back the files of the last `apply` (deleting the files it created, and the
    /// directories it created for them when empty); the context follows. Refused, with
    /// nothing changed, when one of them was edited since. `Ok(None)`: nothing to undo.
    pub fn undo(
        &mut self,
        files: &mut ContextFiles,
        count: TokenCounter,
    ) -> Result<Option<Vec<String>>> {
        let Some(group) = self.groups.last() else { return Ok(None) };
        let root = files.root().clone();
        for entry in group {
            let target = root.join(&entry.path);
            let now = fs::read(&target).ok();
            if now.as_deref() != Some(entry.written.as_bytes()) {
                return Err(Error::bad_input("changed since the edit was applied; not undone")
                    .with_file(&entry.path));
            }
        }
        let group = self.groups.pop().unwrap_or_default();
        restore_group(&root, &group, files, count)?;
        Ok(Some(group.iter().map(|e| e.path.clone()).collect()))
    }
}

/// The path to write `change` to, after the checks `EditLog::apply` promises.
fn check_target(
    root: &Root,
    ignore: &Ignore,
    files: &ContextFiles,
    change: &FileChange,
) -> Result<PathBuf> {
    let path = &change.path;
    let refuse = |msg: &str| Err(Error::bad_input(msg.to_string()).with_file(path));
    if root.normalize("", path).as_deref() != Some(path.as_str()) || path.is_empty() {
        return refuse("outside the project root, not written");
    }
    if files.get(path).is_some_and(|f| f.read_only) {
        return refuse("read-only in context, not written");
    }
    if ignore.is_ignored(path, false) {
        return refuse("ignored by .gitignore or .hearthignore, not written");
    }
    let abs = root.join(path);
    let target = if abs.symlink_metadata().is_ok() {
        match root.canonical_inside(path) {
            Ok(Some(canonical)) => canonical,
            Ok(None) => return refuse("resolves outside the project root, not written"),
            Err(e) => return Err(Error::io(&abs, e).with_file(path)),
        }
    } else {
        // A new file: its nearest existing ancestor must be inside the root.
        let existing = abs.ancestors().find(|a| a.exists()).unwrap_or(root.path());
        let canonical = existing.canonicalize().map_err(|e| Error::io(existing, e))?;
        if !canonical.starts_with(root.path()) {
            return refuse("resolves outside the project root, not written");
        }
        abs
    };
    let on_disk = match fs::read(&target) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(&target, e).with_file(path)),
    };
    if on_disk.as_deref() != change.before.as_deref().map(str::as_bytes) {
        return refuse("changed on disk since it was read; refresh the context and ask again");
    }
    Ok(target)
}

/// Writes one change; returns the directories it had to create.
fn write_change(change: &FileChange, target: &Path) -> io::Result<Vec<PathBuf>> {
    let mut created = Vec::new();
    if let Some(parent) = target.parent() {
        let missing: Vec<&Path> = parent.ancestors().take_while(|a| !a.exists()).collect();
        fs::create_dir_all(parent)?;
        created.extend(missing.into_iter().rev().map(Path::to_path_buf));
    }
    write_atomic(target, &change.after)?;
    Ok(created)
}

/// Puts each entry's previous content back, last first.
fn restore_group(
    root: &Root,
    group: &[UndoEntry],
    files: &mut ContextFiles,
    count: TokenCounter,
) -> Result<()> {
    for entry in group.iter().rev() {
        let target = root
            .canonical_inside(&entry.path)
            .ok()
            .flatten()
            .unwrap_or_else(|| root.join(&entry.path));
        match &entry.previous {
            Some(previous) => {
                write_atomic(&target, previous).map_err(|e| Error::io(&target, e))?;
                record(files, &entry.path, &target, previous.clone(), count);
            }
            None => {
                match fs::remove_file(&target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&target, e)),
                }
                files.forget(&entry.path);
                for dir in entry.created_dirs.iter().rev() {
                    // Only while empty: something else may have been put there since.
                    let _ = fs::remove_dir(dir);
                }
            }
        }
    }
    Ok(())
}

/// Tells the context that `path` now holds `content`.
fn record(
    files: &mut ContextFiles,
    path: &str,
    target: &Path,
    content: String,
    count: TokenCounter,
) {
    let stamp = match fs::metadata(target) {
        Ok(meta) => Stamp::new(&meta, &content),
        Err(_) => return files.forget(path),
    };
    files.record_written(path, content, stamp, count);
}

/// Writes `content` to `path` through a temp file in the same directory renamed over it,
/// so readers see the old file or the new one, never half of one. Keeps the permissions.
pub fn write_atomic(path: &Path, content: &str) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.hearth-{}-{n}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions())?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
