//! `ContextFiles`: the ordered set of project files in the chat's context — adding by
//! path or glob, dropping, read-only marks, and re-reading what changed on disk.

use std::fs;
use std::path::Path;

use super::mentions::{complete_path, parse_mentions, Mentions};
use super::pattern::has_wildcards;
use super::prompt::{render_file, render_notes, Budget, Notes};
use super::resolve::{root_glob, Limits, ReadFile, Refusal, RefusalReason, Resolver, Stamp};
use super::root::Root;
use crate::error::{Error, Result};

/// Counts the tokens of a text (the REPL passes the model tokenizer's count).
pub type TokenCounter<'a> = &'a dyn Fn(&str) -> usize;

/// One file in context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub content: String,
    /// Shown to the model but never edited.
    pub read_only: bool,
    /// Length, mtime and content hash when it was read.
    pub stamp: Stamp,
    /// Tokens of the file's block in the prompt (label and fences included).
    pub tokens: usize,
}

/// What `ContextFiles::add` did, path by path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AddReport {
    pub added: Vec<String>,
    pub already: Vec<String>,
    pub refused: Vec<Refusal>,
}

/// How a file in context changed on disk, as found by `refresh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Re-read: "re-read src/x.rs (changed on disk)".
    Reread,
    /// Gone from disk, so dropped from context.
    Deleted,
    /// Changed into something that cannot stay (binary, too large): dropped.
    Refused(RefusalReason),
}

/// A file `refresh` found changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    pub path: String,
    pub change: Change,
}

impl Refreshed {
    /// One line for the user.
    pub fn message(&self) -> String {
        match &self.change {
            Change::Reread => format!("re-read {} (changed on disk)", self.path),
            Change::Deleted => format!("dropped {} (deleted on disk)", self.path),
            Change::Refused(reason) => {
                format!("dropped {}", Refusal::new(self.path.clone(), reason.clone()))
            }
        }
    }
}

/// The files of the project in the chat's context, in the order they were added (the
/// order of the prompt, so its prefix and the KV cache stay reusable turn after turn).
#[derive(Debug, Clone)]
pub struct ContextFiles {
    root: Root,
    /// The working directory, relative to the root; user paths are relative to it.
    cwd: String,
    limits: Limits,
    entries: Vec<ContextFile>,
}

impl ContextFiles {
    /// An empty set whose working directory is the root.
    pub fn new(root: Root) -> ContextFiles {
        ContextFiles { root, cwd: String::new(), limits: Limits::default(), entries: Vec::new() }
    }

    /// An empty set for the root above `cwd` (see `Root::discover`), paths relative to `cwd`.
    pub fn discover(cwd: &Path) -> Result<ContextFiles> {
        let root = Root::discover(cwd)?;
        let mut files = ContextFiles::new(root);
        files.set_cwd(cwd)?;
        Ok(files)
    }

    /// Sets the directory user paths are relative to; it must be under the root.
    pub fn set_cwd(&mut self, cwd: &Path) -> Result<()> {
        let canonical = cwd.canonicalize().map_err(|e| Error::io(cwd, e))?;
        self.cwd = self.root.relative(&canonical).ok_or_else(|| {
            Error::usage("the working directory is outside the project root").with_file(cwd)
        })?;
        Ok(())
    }

    pub fn with_limits(mut self, limits: Limits) -> ContextFiles {
        self.limits = limits;
        self
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The working directory relative to the root (`""` at the root).
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// The files, in prompt order.
    pub fn list(&self) -> &[ContextFile] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file at `path` (relative to the root).
    pub fn get(&self, path: &str) -> Option<&ContextFile> {
        self.entries.iter().find(|e| e.path == path)
    }

    pub(crate) fn resolver(&self) -> Resolver<'_> {
        Resolver::new(&self.root, &self.cwd, self.limits)
    }

    /// Adds the files each spec names (a path, a directory or a glob, relative to the
    /// working directory), at the end, in walk order. A file already in context keeps
    /// its place and flag; `read_only` applies to the files added.
    pub fn add(&mut self, specs: &[&str], read_only: bool, count: TokenCounter) -> AddReport {
        let resolver = self.resolver();
        let mut report = AddReport::default();
        let mut new_entries = Vec::new();
        for spec in specs.iter().filter(|s| !s.trim().is_empty()) {
            let expansion = resolver.expand(spec);
            report.refused.extend(expansion.refused);
            for path in expansion.paths {
                let known = self.get(&path).is_some()
                    || new_entries.iter().any(|e: &ContextFile| e.path == path);
                if known {
                    if !report.already.contains(&path) {
                        report.already.push(path);
                    }
                    continue;
                }
                match resolver.read(&path) {
                    Ok(file) => {
                        report.added.push(path);
                        new_entries.push(entry(file, read_only, count));
                    }
                    Err(reason) => report.refused.push(Refusal::new(path, reason)),
                }
            }
        }
        self.entries.extend(new_entries);
        report
    }

    /// The entries `spec` names: a path (relative to the working directory; a directory
    /// names every file below it) or a glob over the paths in context.
    fn select(&self, spec: &str) -> Vec<usize> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Vec::new();
        }
        let rel = self.root.normalize(&self.cwd, spec);
        let glob = if has_wildcards(spec) { root_glob(&self.root, &self.cwd, spec) } else { None };
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                let by_path = rel.as_deref().is_some_and(|r| {
                    r.is_empty() || e.path == r || e.path.starts_with(&format!("{r}/"))
                });
                let by_glob = glob.as_ref().is_some_and(|(_, g)| g.matches(&e.path));
                by_path || by_glob
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Drops the files `spec` names (a path, a directory or a glob); returns their paths.
    pub fn drop(&mut self, spec: &str) -> Vec<String> {
        let selected = self.select(spec);
        let mut dropped = Vec::new();
        let mut i = 0;
        self.entries.retain(|e| {
            let keep = !selected.contains(&i);
            i += 1;
            if !keep {
                dropped.push(e.path.clone());
            }
            keep
        });
        dropped
    }

    /// Drops every file; returns their paths.
    pub fn drop_all(&mut self) -> Vec<String> {
        self.entries.drain(..).map(|e| e.path).collect()
    }

    /// Sets the read-only flag of the files `spec` names; returns their paths. The
    /// token count is kept current (the label shows the flag).
    pub fn set_read_only(
        &mut self,
        spec: &str,
        read_only: bool,
        count: TokenCounter,
    ) -> Vec<String> {
        let selected = self.select(spec);
        let mut changed = Vec::new();
        for i in selected {
            let e = &mut self.entries[i];
            e.read_only = read_only;
            e.tokens = count(&render_file(&e.path, &e.content, e.read_only));
            changed.push(e.path.clone());
        }
        changed
    }

    /// Re-reads the files that changed on disk since they were read, in place; drops the
    /// ones deleted or no longer readable as text. Returns what changed, in prompt order.
    pub fn refresh(&mut self, count: TokenCounter) -> Vec<Refreshed> {
        let resolver = Resolver::new(&self.root, &self.cwd, self.limits);
        let mut changes = Vec::new();
        let mut keep = Vec::with_capacity(self.entries.len());
        for mut e in std::mem::take(&mut self.entries) {
            let meta = fs::metadata(self.root.join(&e.path));
            if meta.as_ref().is_ok_and(|m| e.stamp.unchanged(m)) {
                keep.push(e);
                continue;
            }
            match resolver.read(&e.path) {
                Ok(file) if file.stamp.hash == e.stamp.hash => {
                    e.stamp = file.stamp;
                    keep.push(e);
                }
                Ok(file) => {
                    changes.push(Refreshed { path: e.path.clone(), change: Change::Reread });
                    keep.push(entry(file, e.read_only, count));
                }
                Err(RefusalReason::NotFound) => {
                    changes.push(Refreshed { path: e.path, change: Change::Deleted });
                }
                Err(reason) => {
                    changes.push(Refreshed { path: e.path, change: Change::Refused(reason) });
                }
            }
        }
        self.entries = keep;
        changes
    }

    /// Records that `path` now holds `content` on disk (after an edit was applied):
    /// updates the entry in place, or adds it at the end when it is not in context.
    pub(crate) fn record_written(
        &mut self,
        path: &str,
        content: String,
        stamp: Stamp,
        count: TokenCounter,
    ) {
        let read_only = self.get(path).is_some_and(|e| e.read_only);
        let file = ReadFile { path: path.to_string(), content, stamp };
        let new = entry(file, read_only, count);
        match self.entries.iter_mut().find(|e| e.path == path) {
            Some(e) => *e = new,
            None => self.entries.push(new),
        }
    }

    /// Removes `path` from context without touching the disk.
    pub(crate) fn forget(&mut self, path: &str) {
        self.entries.retain(|e| e.path != path);
    }

    /// Parses `@path` mentions out of `message`, resolving paths against the working
    /// directory (see `mentions::parse_mentions`).
    pub fn parse_mentions(&self, message: &str) -> Mentions {
        let exists = |p: &str| {
            self.root.normalize(&self.cwd, p).is_some_and(|rel| self.root.join(&rel).exists())
        };
        parse_mentions(message, &exists)
    }

    /// Completions of a partial path (after `@` or in `/add`), relative to the working
    /// directory (see `mentions::complete_path`).
    pub fn complete(&self, partial: &str) -> Vec<String> {
        complete_path(&self.root, &self.cwd, partial)
    }

    /// The token budget of a prompt made of the caller's system prompt and history, the
    /// notes and these files, with `reserve` tokens kept for the answer.
    pub fn budget(
        &self,
        n_ctx: usize,
        system: usize,
        notes: Option<&Notes>,
        history: usize,
        reserve: usize,
        count: TokenCounter,
    ) -> Budget {
        Budget {
            n_ctx,
            system,
            notes: notes.map_or(0, |n| count(&render_notes(n))),
            files: self.entries.iter().map(|e| (e.path.clone(), e.tokens)).collect(),
            history,
            reserve,
        }
    }
}

fn entry(file: ReadFile, read_only: bool, count: TokenCounter) -> ContextFile {
    let tokens = count(&render_file(&file.path, &file.content, read_only));
    ContextFile { path: file.path, content: file.content, read_only, stamp: file.stamp, tokens }
}
