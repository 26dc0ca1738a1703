//! Files as a session reaches them: paths and `file://` URIs resolved against the
//! session's `cwd` (anything outside it refused), read and written through the client's
//! `fs/read_text_file` / `fs/write_text_file` when it offers them (the editor's buffers
//! and undo see the change), else on disk (writes atomic).

use std::path::{Component, Path, PathBuf};
use std::sync::atomic::AtomicBool;

use agent_client_protocol_schema::v1 as acp;

use super::rpc::Peer;
use super::server::ClientCaps;
use crate::context::edits::write_atomic;

/// Where a session's files are, and how to reach them.
pub struct Fs<'a> {
    pub peer: &'a Peer,
    pub caps: ClientCaps,
    pub session_id: &'a str,
    /// Canonical.
    pub cwd: &'a Path,
    pub cancel: &'a AtomicBool,
}

impl Fs<'_> {
    /// The absolute path `path` (absolute, relative to `cwd`, or a `file://` URI) names,
    /// when it lies inside `cwd`.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, String> {
        inside(self.cwd, path)
    }

    /// `abs` relative to `cwd`, `/`-separated.
    pub fn relative(&self, abs: &Path) -> String {
        let rel = abs.strip_prefix(self.cwd).unwrap_or(abs);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The text of `abs`: the client's copy when it offers one, else the disk's. `None`
    /// when there is no such file.
    pub fn read(&self, abs: &Path) -> Result<Option<String>, String> {
        if self.caps.read_text_file {
            let req = acp::ReadTextFileRequest::new(self.session_id.to_string(), abs);
            let answer = self.peer.request("fs/read_text_file", &req, self.cancel);
            match answer {
                Ok(v) => {
                    let resp: acp::ReadTextFileResponse = serde_json::from_value(v)
                        .map_err(|e| format!("fs/read_text_file answered badly: {e}"))?;
                    return Ok(Some(resp.content));
                }
                // The client may not know a file that is not there yet; the disk decides.
                Err(_) if !abs.exists() => return Ok(None),
                Err(e) => return Err(format!("fs/read_text_file: {}", e.message)),
            }
        }
        match std::fs::read(abs) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| format!("{}: not UTF-8 text", abs.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", abs.display())),
        }
    }

    /// Writes `content` to `abs` (inside `cwd`): through the client when it offers to,
    /// else atomically on disk. Returns how it was written.
    pub fn write(&self, abs: &Path, content: &str) -> Result<&'static str, String> {
        if self.caps.write_text_file {
            let req = acp::WriteTextFileRequest::new(self.session_id.to_string(), abs, content);
            return match self.peer.request("fs/write_text_file", &req, self.cancel) {
                Ok(_) => Ok("written by the client"),
                Err(e) => Err(format!("fs/write_text_file: {}", e.message)),
            };
        }
        let dir = abs.parent().ok_or_else(|| format!("{}: no directory", abs.display()))?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // The directory chain may hold a symlink out of the project: check it resolved.
        let real = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
        if !real.starts_with(self.cwd) {
            return Err(format!("{}: outside the session's directory, not written", abs.display()));
        }
        write_atomic(abs, content).map_err(|e| format!("{}: {e}", abs.display()))?;
        Ok("written to disk")
    }
}

/// The absolute path `path` names under `cwd` (canonical), refused when it leads
/// outside (by `..`, an absolute path elsewhere, or a symlink).
pub fn inside(cwd: &Path, path: &str) -> Result<PathBuf, String> {
    let raw = match path.strip_prefix("file://") {
        Some(rest) => percent_decode(rest.strip_prefix("localhost").unwrap_or(rest)),
        None if path.contains("://") => return Err(format!("{path}: not a file URI")),
        None => path.to_string(),
    };
    if raw.is_empty() || raw.contains('\0') {
        return Err(format!("{path:?}: not a path"));
    }
    let joined = cwd.join(&raw);
    let mut normal = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    let outside = || format!("{raw}: outside the session's directory {}", cwd.display());
    if !normal.starts_with(cwd) || normal == cwd {
        return Err(outside());
    }
    // Where it exists, its real place counts (a symlink may point out).
    if let Ok(real) = normal.canonicalize() {
        if !real.starts_with(cwd) {
            return Err(outside());
        }
    }
    Ok(normal)
}

/// `%XX` escapes of a URI path decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_cwd_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(inside(&cwd, "src/a.rs").unwrap(), cwd.join("src/a.rs"));
        assert_eq!(inside(&cwd, "./x/../b.rs").unwrap(), cwd.join("b.rs"));
        let uri = format!("file://{}/my%20file.rs", cwd.display());
        assert_eq!(inside(&cwd, &uri).unwrap(), cwd.join("my file.rs"));
        for bad in ["../x.rs", "/etc/passwd", "file:///etc/passwd", "https://x/y", "", "."] {
            assert!(inside(&cwd, bad).is_err(), "{bad}");
        }
        std::os::unix::fs::symlink("/etc", cwd.join("link")).unwrap();
        assert!(inside(&cwd, "link/passwd").is_err());
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("a%20b%zz%2"), "a b%zz%2");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }
}
