//! The SQLite store: one database file in the data dir holding models (SHA-256 cache),
//! sessions, their messages and their KV-cache snapshots. WAL mode, foreign keys on,
//! a busy timeout so that two hearth processes share it, short write transactions.

mod models;
mod repair;
mod salvage;
mod schema;
mod sessions;
pub mod snapshots;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::{Error, ErrorKind, Result};

pub use models::{hex, ModelRow};
pub use repair::{repair, Repair, Report};
pub use sessions::{MessageRow, SessionRow, Turn};
pub use snapshots::{SavedSnapshot, SnapshotInfo};

/// The database file's name inside the data dir.
pub const DB_FILE: &str = "hearth.db";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The data dir: `$HEARTH_DATA_DIR`, else `$XDG_DATA_HOME/hearth`, else
/// `~/.local/share/hearth`.
pub fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("HEARTH_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("hearth"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::usage("no data dir: set HEARTH_DATA_DIR or HOME"))?;
    Ok(PathBuf::from(home).join(".local/share/hearth"))
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating it and its folder if needed) the database of the data dir.
    pub fn open_default() -> Result<Store> {
        let dir = data_dir()?;
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot create the data dir: {e}")).with_file(&dir)
        })?;
        Store::open(&dir.join(DB_FILE))
    }

    /// Opens (creating it if needed) the database at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<Store> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| db_error(path, e))?;
        let mut store = Store { conn, path: path.to_path_buf() };
        store.configure().map_err(|e| db_error(path, e))?;
        match schema::migrate(&mut store.conn).map_err(|e| db_error(path, e))? {
            Ok(()) => {}
            Err(v) => return Err(newer_schema(path, v)),
        }
        store.set_foreign_keys(true).map_err(|e| db_error(path, e))?;
        Ok(store)
    }

    fn configure(&self) -> rusqlite::Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        self.set_wal()?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")
    }

    /// Foreign keys (and their cascades) on or off; only outside a transaction.
    fn set_foreign_keys(&self, on: bool) -> rusqlite::Result<()> {
        self.conn.pragma_update(None, "foreign_keys", on)
    }

    /// Switches the journal to WAL. Switching a new database needs it to oneself and
    /// does not wait on the busy timeout, so while another process holds it, retry.
    fn set_wal(&self) -> rusqlite::Result<()> {
        let started = std::time::Instant::now();
        loop {
            // journal_mode answers with the mode it set.
            let r: rusqlite::Result<String> =
                self.conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0));
            match r {
                Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => return other.map(drop),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in an immediate write transaction (the write lock taken up front, so a
    /// second process waits on the busy timeout instead of failing on a lock upgrade);
    /// anything `f` did is rolled back when it fails.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let path = self.path.clone();
        self.write_raw(f).map_err(|e| db_error(&path, e))
    }

    /// As `write`, with SQLite's own error, for callers that work around damage. A
    /// transaction that met a damaged page cannot commit: it is rolled back whole.
    fn write_raw<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    /// `PRAGMA integrity_check`: "ok", or what SQLite found wrong.
    pub fn integrity_check(&self) -> Result<String> {
        let rows: Vec<String> = {
            let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?
        };
        Ok(rows.join("; "))
    }

    /// Rebuilds the file without its free pages, then folds the write-ahead log (which
    /// VACUUM fills with the whole rebuilt file) back into it and empties the log, so
    /// the bytes on disk are the compacted size.
    pub fn vacuum(&self) -> Result<()> {
        self.conn.execute_batch("VACUUM").map_err(|e| self.err(e))?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    /// Bytes of the database file and its write-ahead log.
    pub fn file_bytes(&self) -> u64 {
        let len = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        len(self.path.clone()) + len(PathBuf::from(wal))
    }

    #[cfg(test)]
    fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// A database failure as one line naming the file; a full disk or a read-only
/// location says so.
fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    let code = e.sqlite_error_code();
    let msg = match code {
        Some(ErrorCode::DiskFull) => format!("the session database is full (no space left): {e}"),
        Some(ErrorCode::ReadOnly)
        | Some(ErrorCode::CannotOpen)
        | Some(ErrorCode::PermissionDenied) => {
            format!("cannot write the session database: {e}")
        }
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            format!("the session database stayed locked by another process: {e}")
        }
        Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => {
            format!("the session database is damaged: {e}; {REPAIR_HINT}")
        }
        _ => format!("session database: {e}"),
    };
    let kind = match code {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => ErrorKind::BadInput,
        _ => ErrorKind::Io,
    };
    Error::new(kind, msg).with_file(path)
}

/// What to do about a damaged database, as every message about one says it.
pub const REPAIR_HINT: &str = "`hearth sessions repair` rescues what is readable";

fn newer_schema(path: &Path, v: u32) -> Error {
    Error::unsupported(format!(
        "the session database has schema version {v}; this hearth knows up to {}",
        schema::latest()
    ))
    .with_file(path)
}

/// Whether SQLite met a damaged page (or a file that is no database at all).
fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// Seconds since the Unix epoch.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod damage_tests;
#[cfg(test)]
mod tests;
