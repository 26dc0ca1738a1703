//! Turning what the user names (`README.md`, `src/*.rs`, `src/**/*.rs`, a directory) into
//! readable text files under the root, with a typed reason for each one refused.

use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io;
use std::time::{Duration, SystemTime};

use super::ignore::Ignore;
use super::pattern::{has_wildcards, Glob};
use super::root::Root;

/// Files larger than this are refused unless the limit is raised.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024;
/// A glob or directory naming more files than this is refused as a whole.
pub const DEFAULT_MAX_GLOB_MATCHES: usize = 500;
/// A NUL byte in this many leading bytes makes a file binary.
const BINARY_SNIFF_BYTES: usize = 8192;

/// What may be pulled into context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file read, in bytes.
    pub max_file_bytes: u64,
    /// The most files one glob or directory may expand to.
    pub max_glob_matches: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_glob_matches: DEFAULT_MAX_GLOB_MATCHES,
        }
    }
}

/// Why a path was not taken into context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    NotFound,
    /// Outside the project root, by `..`, an absolute path or a symlink.
    OutsideRoot,
    /// Named explicitly but ignored by `.gitignore`/`.hearthignore` (or inside `.git/`).
    Ignored,
    /// A NUL byte in the first 8 KiB, or not valid UTF-8.
    Binary,
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// Not a regular file (a socket, a device).
    NotAFile,
    /// A glob or directory with no (non-ignored) file in it.
    NoMatch,
    /// A glob or directory naming more than `limit` files.
    TooManyMatches {
        limit: usize,
    },
    /// An operating-system error while reading.
    Unreadable(String),
}

/// A refused path (as the user wrote it, or as found by a glob) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: String,
    pub reason: RefusalReason,
}

impl Refusal {
    pub fn new(path: impl Into<String>, reason: RefusalReason) -> Refusal {
        Refusal { path: path.into(), reason }
    }

    /// One line for the user, naming the path.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = &self.path;
        match &self.reason {
            RefusalReason::NotFound => write!(f, "{path}: no such file"),
            RefusalReason::OutsideRoot => write!(f, "{path}: outside the project root"),
            RefusalReason::Ignored => {
                write!(f, "{path}: ignored by .gitignore or .hearthignore, not added")
            }
            RefusalReason::Binary => write!(f, "{path}: binary file (not UTF-8 text), not added"),
            RefusalReason::TooLarge { size, limit } => write!(
                f,
                "{path}: too large ({}, the limit is {})",
                human_size(*size),
                human_size(*limit)
            ),
            RefusalReason::NotAFile => write!(f, "{path}: not a regular file"),
            RefusalReason::NoMatch => write!(f, "{path}: no files match"),
            RefusalReason::TooManyMatches { limit } => {
                write!(f, "{path}: matches more than {limit} files, name fewer")
            }
            RefusalReason::Unreadable(msg) => write!(f, "{path}: cannot read: {msg}"),
        }
    }
}

/// `300 B`, `12.5 KiB`, `3.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / (KIB * KIB))
    }
}

/// What a file looked like when it was read: enough to tell later whether it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub mtime: Option<SystemTime>,
    /// A hash of the content, to tell a touched file from an edited one.
    pub hash: u64,
    /// When it was read.
    pub read_at: SystemTime,
}

/// A file modified this close to its reading may have changed again within the
/// file system's timestamp granularity (git's "racily clean" case).
const RACY_WINDOW: Duration = Duration::from_secs(2);

impl Stamp {
    pub fn new(meta: &fs::Metadata, content: &str) -> Stamp {
        Stamp {
            len: content.len() as u64,
            mtime: meta.modified().ok(),
            hash: content_hash(content),
            read_at: SystemTime::now(),
        }
    }

    /// Whether `meta` (of the same file, now) proves it unchanged without reading it:
    /// same length and mtime, and that mtime well before the read.
    pub fn unchanged(&self, meta: &fs::Metadata) -> bool {
        let (Some(mtime), Ok(now_mtime)) = (self.mtime, meta.modified()) else { return false };
        self.len == meta.len() && mtime == now_mtime && mtime + RACY_WINDOW < self.read_at
    }
}

/// A hash of `text`, stable within one process.
pub fn content_hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

/// A text file read from under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFile {
    /// Relative to the root, `/`-separated.
    pub path: String,
    pub content: String,
    pub stamp: Stamp,
}

/// The files one spec names, and the ones it had to refuse.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// Paths relative to the root, in walk order (sorted by name, directories inline).
    pub paths: Vec<String>,
    pub refused: Vec<Refusal>,
}

/// Resolves user specs against a root, a working directory and the ignore rules.
#[derive(Debug)]
pub struct Resolver<'a> {
    root: &'a Root,
    /// The working directory, relative to the root.
    cwd: &'a str,
    ignore: Ignore,
    limits: Limits,
}

impl<'a> Resolver<'a> {
    /// Reads the ignore rules afresh, so edits to them take effect.
    pub fn new(root: &'a Root, cwd: &'a str, limits: Limits) -> Resolver<'a> {
        Resolver { root, cwd, ignore: Ignore::load(root.path()), limits }
    }

    pub fn ignore(&self) -> &Ignore {
        &self.ignore
    }

    /// The files `spec` names: itself when it is a file, the non-ignored files below it
    /// when it is a directory, the non-ignored files matching it when it is a glob (an
    /// existing path with `*?[` in its name is taken literally).
    pub fn expand(&self, spec: &str) -> Expansion {
        let spec = spec.trim();
        let literal_exists = self
            .root
            .normalize(self.cwd, spec)
            .is_some_and(|rel| self.root.join(&rel).symlink_metadata().is_ok());
        let result = if has_wildcards(spec) && !literal_exists {
            self.expand_glob(spec)
        } else {
            self.expand_path(spec)
        };
        match result {
            Ok(expansion) => expansion,
            Err(reason) => {
                Expansion { paths: Vec::new(), refused: vec![Refusal::new(spec, reason)] }
            }
        }
    }

    fn expand_path(&self, spec: &str) -> Result<Expansion, RefusalReason> {
        let rel = self.root.normalize(self.cwd, spec).ok_or(RefusalReason::OutsideRoot)?;
        let canonical = self.canonical(&rel)?;
        let meta = fs::metadata(&canonical).map_err(|e| io_reason(&e))?;
        let canonical_rel = self.root.relative(&canonical).unwrap_or_default();
        if self.ignore.is_ignored(&rel, meta.is_dir())
            || self.ignore.is_ignored(&canonical_rel, meta.is_dir())
        {
            return Err(RefusalReason::Ignored);
        }
        if meta.is_dir() {
            let mut expansion = Expansion::default();
            self.walk(&rel, &|_| true, &mut expansion);
            return self.checked(expansion);
        }
        if !meta.is_file() {
            return Err(RefusalReason::NotAFile);
        }
        Ok(Expansion { paths: vec![rel], refused: Vec::new() })
    }

    fn expand_glob(&self, spec: &str) -> Result<Expansion, RefusalReason> {
        let (base, glob) =
            root_glob(self.root, self.cwd, spec).ok_or(RefusalReason::OutsideRoot)?;
        let canonical = self.canonical(&base).map_err(|r| match r {
            RefusalReason::NotFound => RefusalReason::NoMatch,
            other => other,
        })?;
        if !canonical.is_dir() || self.ignore.is_ignored(&base, true) {
            return Err(RefusalReason::NoMatch);
        }
        let mut expansion = Expansion::default();
        self.walk(&base, &|rel| glob.matches(rel), &mut expansion);
        self.checked(expansion)
    }

    fn checked(&self, expansion: Expansion) -> Result<Expansion, RefusalReason> {
        if expansion.paths.len() > self.limits.max_glob_matches {
            Err(RefusalReason::TooManyMatches { limit: self.limits.max_glob_matches })
        } else if expansion.paths.is_empty() && expansion.refused.is_empty() {
            Err(RefusalReason::NoMatch)
        } else {
            Ok(expansion)
        }
    }

    /// The canonical path of `rel`, refused when it is missing or resolves outside.
    fn canonical(&self, rel: &str) -> Result<std::path::PathBuf, RefusalReason> {
        match self.root.canonical_inside(rel) {
            Ok(Some(path)) => Ok(path),
            Ok(None) => Err(RefusalReason::OutsideRoot),
            Err(e) => Err(io_reason(&e)),
        }
    }

    /// Collects the non-ignored files below `dir` (relative) that `keep` accepts, sorted
    /// by name, not following symlinked directories, stopping past the match limit.
    fn walk(&self, dir: &str, keep: &dyn Fn(&str) -> bool, out: &mut Expansion) {
        let Ok(entries) = fs::read_dir(self.root.join(dir)) else { return };
        let mut names: Vec<String> =
            entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
        names.sort();
        for name in names {
            if out.paths.len() > self.limits.max_glob_matches {
                return;
            }
            let rel = if dir.is_empty() { name } else { format!("{dir}/{name}") };
            let abs = self.root.join(&rel);
            let Ok(link_meta) = abs.symlink_metadata() else { continue };
            let is_dir = link_meta.is_dir();
            if self.ignore.is_ignored_entry(&rel, is_dir) {
                continue;
            }
            if is_dir {
                self.walk(&rel, keep, out);
                continue;
            }
            if !keep(&rel) {
                continue;
            }
            if link_meta.file_type().is_symlink() {
                match self.canonical(&rel) {
                    Ok(target) if target.is_file() => {}
                    Ok(_) => continue,
                    Err(reason) => {
                        out.refused.push(Refusal::new(rel, reason));
                        continue;
                    }
                }
            } else if !link_meta.is_file() {
                continue;
            }
            out.paths.push(rel);
        }
    }

    /// Reads `rel` (relative to the root) as text, refusing what resolves outside the
    /// root or into an ignored path, binary files and files over the size limit.
    pub fn read(&self, rel: &str) -> Result<ReadFile, RefusalReason> {
        let canonical = self.canonical(rel)?;
        if let Some(canonical_rel) = self.root.relative(&canonical) {
            if canonical_rel != rel && self.ignore.is_ignored(&canonical_rel, false) {
                return Err(RefusalReason::Ignored);
            }
        }
        read_text(&canonical, self.limits.max_file_bytes).map(|(content, stamp)| ReadFile {
            path: rel.to_string(),
            content,
            stamp,
        })
    }
}

/// A glob `spec` (relative to `cwd`, itself relative to the root) as a glob over paths
/// relative to the root, with the directory to walk: the part before the first wildcard,
/// normalized. `None` when that directory is outside the root.
pub(crate) fn root_glob(root: &Root, cwd: &str, spec: &str) -> Option<(String, Glob)> {
    let first_wild = spec.find(['*', '?', '[']).unwrap_or(0);
    let cut = spec[..first_wild].rfind('/').map_or(0, |i| i + 1);
    let (prefix, rest) = spec.split_at(cut);
    let base = root.normalize(cwd, if prefix.is_empty() { "." } else { prefix })?;
    let pattern = if base.is_empty() { rest.to_string() } else { format!("{base}/{rest}") };
    Some((base, Glob::new(&pattern)))
}

/// Reads `path` as UTF-8 text of at most `max_bytes` bytes.
pub fn read_text(path: &std::path::Path, max_bytes: u64) -> Result<(String, Stamp), RefusalReason> {
    let meta = fs::metadata(path).map_err(|e| io_reason(&e))?;
    if !meta.is_file() {
        return Err(RefusalReason::NotAFile);
    }
    if meta.len() > max_bytes {
        return Err(RefusalReason::TooLarge { size: meta.len(), limit: max_bytes });
    }
    let bytes = fs::read(path).map_err(|e| io_reason(&e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(RefusalReason::TooLarge { size: bytes.len() as u64, limit: max_bytes });
    }
    if bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0) {
        return Err(RefusalReason::Binary);
    }
    let content = String::from_utf8(bytes).map_err(|_| RefusalReason::Binary)?;
    let stamp = Stamp::new(&meta, &content);
    Ok((content, stamp))
}

fn io_reason(e: &io::Error) -> RefusalReason {
    match e.kind() {
        io::ErrorKind::NotFound => RefusalReason::NotFound,
        _ => RefusalReason::Unreadable(e.to_string()),
    }
}
