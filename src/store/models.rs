//! The models table: each model file hearth has used, its SHA-256 computed once and
//! reused while the file keeps its path, size and modification time.

use std::path::Path;
use std::time::UNIX_EPOCH;

use rusqlite::{params, OptionalExtension};

use super::{now, Store};
use crate::error::{Error, Result};

/// A model file as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    pub id: i64,
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub arch: String,
}

/// Size and modification time (ns since the epoch) of a file.
fn stamp(path: &Path) -> Result<(u64, i64)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Ok((meta.len(), mtime))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// The SHA-256 (hex) of the model file at `path`, from the cache while the file's
    /// size and mtime are unchanged, else computed by `hash` and recorded.
    pub fn model_sha256(
        &mut self,
        path: &Path,
        arch: &str,
        hash: impl FnOnce() -> [u8; 32],
    ) -> Result<ModelRow> {
        // A lossy key would name another file when read back: such paths are refused.
        let key = path.to_str().map(str::to_owned).ok_or_else(|| {
            Error::bad_input(
                "the model's path is not valid UTF-8, so a session cannot record it; \
                 rename the file or give a link to it with a UTF-8 name",
            )
            .with_file(path)
        })?;
        let (size, mtime) = stamp(path)?;
        let cached: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT id, sha256 FROM models WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3",
                params![key, size as i64, mtime],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let sha256 = match &cached {
            Some((_, sha)) => sha.clone(),
            None => hex(&hash()),
        };
        let t = now();
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO models (path, sha256, size, mtime_ns, arch, first_used, last_used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT(path) DO UPDATE SET sha256 = ?2, size = ?3, mtime_ns = ?4,
                     arch = ?5, last_used = ?6",
                params![key, sha256, size as i64, mtime, arch, t],
            )?;
            tx.query_row("SELECT id FROM models WHERE path = ?1", [&key], |r| r.get(0))
        })?;
        Ok(ModelRow { id, path: key, sha256, size, arch: arch.to_string() })
    }

    /// Every model row, with whether its file is still there unchanged.
    pub fn models(&self) -> Result<Vec<(ModelRow, bool)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, path, sha256, size, arch, mtime_ns FROM models ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let row = ModelRow {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    sha256: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    arch: r.get(4)?,
                };
                Ok((row, r.get::<_, i64>(5)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (row, mtime) = row.map_err(|e| self.err(e))?;
            let present = stamp(Path::new(&row.path)).is_ok_and(|s| s == (row.size, mtime));
            out.push((row, present));
        }
        Ok(out)
    }
}
