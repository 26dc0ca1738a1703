//! The project root (the git root above the working directory, else the working
//! directory) and the relative, `/`-separated paths of files under it.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The canonical directory that bounds which files hearth reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// The git root above `cwd` (the first directory, `cwd` included, holding a `.git`
    /// directory or file), else `cwd` itself.
    pub fn discover(cwd: &Path) -> Result<Root> {
        let cwd = canonical_dir(cwd)?;
        let git_root = cwd.ancestors().find(|dir| dir.join(".git").exists());
        Ok(Root { path: git_root.unwrap_or(&cwd).to_path_buf() })
    }

    /// Exactly `dir` as the root.
    pub fn new(dir: &Path) -> Result<Root> {
        Ok(Root { path: canonical_dir(dir)? })
    }

    /// The canonical path of the root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The absolute path of `rel` (relative to the root).
    pub fn join(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// The `/`-separated path of `abs` relative to the root (`""` for the root itself),
    /// or `None` when `abs` is not under the root or is not valid UTF-8. `abs` should be
    /// canonical (symlinks resolved) for the answer to mean "really inside".
    pub fn relative(&self, abs: &Path) -> Option<String> {
        let rest = abs.strip_prefix(&self.path).ok()?;
        let parts: Option<Vec<&str>> = rest
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        Some(parts?.join("/"))
    }

    /// Resolves the user's `input` (relative to the directory `base`, itself relative to
    /// the root, or absolute) to a path relative to the root, lexically: `.` and `..`
    /// are applied without touching the disk. `None` when it leaves the root.
    pub fn normalize(&self, base: &str, input: &str) -> Option<String> {
        let input_path = Path::new(input);
        if input_path.is_absolute() {
            let abs = lexical(input_path)?;
            // The root is canonical; the user may name it through a symlink.
            return self.relative(&abs).or_else(|| self.relative(&abs.canonicalize().ok()?));
        }
        let mut parts: Vec<String> =
            base.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect();
        for c in input_path.components() {
            match c {
                Component::Normal(s) => parts.push(s.to_str()?.to_string()),
                Component::CurDir => {}
                Component::ParentDir => {
                    parts.pop()?;
                }
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        Some(parts.join("/"))
    }

    /// The canonical path of `rel` when it exists and, symlinks resolved, is still under
    /// the root; `Ok(None)` when it resolves outside.
    pub fn canonical_inside(&self, rel: &str) -> std::io::Result<Option<PathBuf>> {
        let canonical = self.join(rel).canonicalize()?;
        Ok(canonical.starts_with(&self.path).then_some(canonical))
    }
}

/// `path` with `.` and `..` applied lexically; `None` if `..` climbs above `/`.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

fn canonical_dir(dir: &Path) -> Result<PathBuf> {
    let path = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    if !path.is_dir() {
        return Err(Error::bad_input("not a directory").with_file(dir));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn discover_finds_git_root_or_uses_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().canonicalize().unwrap();
        fs::create_dir_all(top.join("repo/src/deep")).unwrap();
        fs::create_dir_all(top.join("plain/sub")).unwrap();
        fs::create_dir(top.join("repo/.git")).unwrap();
        assert_eq!(Root::discover(&top.join("repo/src/deep")).unwrap().path(), top.join("repo"));
        assert_eq!(Root::discover(&top.join("repo")).unwrap().path(), top.join("repo"));
        // A .git file (worktrees, submodules) counts too.
        fs::create_dir_all(top.join("wt/a")).unwrap();
        fs::write(top.join("wt/.git"), "gitdir: /elsewhere\n").unwrap();
        assert_eq!(Root::discover(&top.join("wt/a")).unwrap().path(), top.join("wt"));
        // No git anywhere below the temp dir: the working directory itself (assuming the
        // temp dir is not inside a repository).
        if !top.ancestors().any(|d| d.join(".git").exists()) {
            assert_eq!(
                Root::discover(&top.join("plain/sub")).unwrap().path(),
                top.join("plain/sub")
            );
        }
        assert!(Root::discover(&top.join("missing")).is_err());
    }

    #[test]
    fn relative_and_normalize() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        assert_eq!(root.relative(&root.join("a/b.rs")).as_deref(), Some("a/b.rs"));
        assert_eq!(root.relative(root.path()).as_deref(), Some(""));
        assert_eq!(root.relative(Path::new("/etc/passwd")), None);
        assert_eq!(root.normalize("", "src/./main.rs").as_deref(), Some("src/main.rs"));
        assert_eq!(root.normalize("src", "../README.md").as_deref(), Some("README.md"));
        assert_eq!(root.normalize("src", "a/../../b").as_deref(), Some("b"));
        assert_eq!(root.normalize("", "../x"), None);
        assert_eq!(root.normalize("src", "../../x"), None);
        let abs = root.join("src/x.rs");
        assert_eq!(root.normalize("", abs.to_str().unwrap()).as_deref(), Some("src/x.rs"));
        assert_eq!(root.normalize("", "/etc/passwd"), None);
    }
}
