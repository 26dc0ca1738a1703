//! `hearth sessions repair`: the readable sessions, messages and models of a damaged
//! database (read page by page, see `salvage`) and its snapshots that check whole,
//! copied into a fresh database that then takes its place; the old file stays beside
//! it, and the report says what was kept and what was lost.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, Transaction};

use super::salvage::{self, Record};
use super::sessions::title_of;
use super::snapshots::insert_stored;
use super::{newer_schema, schema, Store};
use crate::error::{Error, ErrorKind, Result};

/// What `repair` did.
#[derive(Debug)]
pub enum Repair {
    /// There is no database to repair.
    Missing,
    /// SQLite's check found nothing wrong, and no rebuild was asked for.
    Healthy,
    Repaired(Report),
}

/// What a rebuild kept and lost.
#[derive(Debug, Default)]
pub struct Report {
    /// What SQLite's check said of the old file ("ok" when rebuilt on request).
    pub problem: String,
    pub sessions: usize,
    /// Sessions whose own row was lost, rebuilt from their messages (name, settings and
    /// model lost): their new names.
    pub recreated: Vec<String>,
    pub messages: usize,
    /// Messages known lost: gaps in the sessions' numbering, or fewer than SQLite
    /// counted in the old file.
    pub lost_messages: usize,
    /// Sessions SQLite counted in the old file and that were not found.
    pub lost_sessions: usize,
    pub snapshots: usize,
    pub dropped_snapshots: usize,
    /// Where the old file is kept.
    pub kept_as: PathBuf,
}

/// Rows SQLite could count in the old file (each `None` when it could not).
#[derive(Debug, Default)]
struct Before {
    sessions: Option<usize>,
    messages: Option<usize>,
    snapshots: Option<usize>,
}

/// The rows found, by key; the first copy of a key wins.
#[derive(Debug, Default)]
struct Rescued {
    models: BTreeMap<i64, Vec<Value>>,
    sessions: BTreeMap<i64, Vec<Value>>,
    messages: BTreeMap<(i64, i64), Vec<Value>>,
    /// Sessions a snapshot header was found for.
    snapshots: HashSet<i64>,
}

/// Checks the database at `path` and, when it is damaged (or `force`), rebuilds it.
pub fn repair(path: &Path, force: bool) -> Result<Repair> {
    if !path.exists() {
        return Ok(Repair::Missing);
    }
    let old = open_old(path)?;
    let problem = check(old.as_ref());
    if problem == "ok" && !force {
        return Ok(Repair::Healthy);
    }
    let before = old.as_ref().map(count).unwrap_or_default();
    let rescued = classify(salvage::scan(path)?);
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let tmp = beside(path, &format!(".repair-{stamp}"));
    let mut report = match write_new(&tmp, &rescued, old.as_ref()) {
        Ok(report) => report,
        Err(e) => {
            remove_with_sidecars(&tmp);
            return Err(e);
        }
    };
    // Closing the old file's connection lets go of its lock before the swap.
    drop(old);
    let label = if problem == "ok" { "old" } else { "damaged" };
    report.kept_as = swap(path, &tmp, &beside(path, &format!(".{label}-{stamp}")))?;
    report.lost_sessions = before.sessions.unwrap_or(0).saturating_sub(report.sessions);
    report.lost_messages =
        report.lost_messages.max(before.messages.unwrap_or(0).saturating_sub(report.messages));
    report.dropped_snapshots = report
        .dropped_snapshots
        .max(before.snapshots.unwrap_or(0).saturating_sub(report.snapshots));
    report.problem = problem;
    Ok(Repair::Repaired(report))
}

/// The old database through SQLite, its log checkpointed into it and its write lock
/// held, so that the file read page by page is whole and stays so; `None` when SQLite
/// cannot open it at all.
fn open_old(path: &Path) -> Result<Option<Store>> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = Connection::open_with_flags(path, flags) else { return Ok(None) };
    let _ = conn.busy_timeout(Duration::from_secs(5));
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        if matches!(
            e.sqlite_error_code(),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        ) {
            return Err(Error::new(
                ErrorKind::Io,
                "another hearth process is writing the session database; repair it when that is done",
            )
            .with_file(path));
        }
    }
    let version = conn.pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0));
    if let Some(v) = version.ok().filter(|&v| v > schema::latest()) {
        return Err(newer_schema(path, v));
    }
    Ok(Some(Store { conn, path: path.to_path_buf() }))
}

/// `PRAGMA quick_check`'s verdict in one line: "ok", or the first thing it found wrong.
fn check(old: Option<&Store>) -> String {
    let Some(old) = old else { return "SQLite cannot open it".into() };
    let first = old.conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0));
    match first {
        Ok(text) => {
            let mut lines = text.lines().filter(|l| !l.starts_with("***"));
            lines.next().unwrap_or("").to_string()
        }
        Err(e) => e.to_string(),
    }
}

fn count(old: &Store) -> Before {
    let n = |table: &str| {
        let sql = format!("SELECT count(*) FROM {table}");
        old.conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).ok().map(|n| n as usize)
    };
    Before { sessions: n("sessions"), messages: n("messages"), snapshots: n("kv_snapshots") }
}

/// Sorts records into the tables they belong to by their shape (a row's id, its rowid,
/// is stored as NULL): a session (id, name, model_id, created, updated, title,
/// settings), a model (id, path, sha256, size, mtime_ns, arch, first_used, last_used),
/// a message (id, session_id, seq, role, content, n_tokens, created) — or, in a
/// version 1 file, the same without the id as an index record — and a snapshot header
/// (id, session_id, model_sha256, arch, n_ctx, kv_dtype, n_tokens, …), only noted.
/// Index entries and segments are left out. Messages are kept as (session_id, seq, …).
fn classify(records: Vec<Record>) -> Rescued {
    use Value::{Integer as I, Null, Text as T};
    let mut out = Rescued::default();
    for mut r in records {
        let v = &r.values;
        let text_or_null = |i: usize| matches!(v[i], T(_) | Null);
        let int_or_null = |i: usize| matches!(v[i], I(_) | Null);
        match (r.rowid, v.as_slice()) {
            (Some(id), [Null, _, _, I(_), I(_), T(_), T(_)])
                if text_or_null(1) && int_or_null(2) =>
            {
                out.sessions.entry(id).or_insert(r.values);
            }
            (Some(id), [Null, T(_), T(_), I(_), I(_), T(_), I(_), I(_)]) => {
                out.models.entry(id).or_insert(r.values);
            }
            (Some(_), [Null, I(session), I(seq), T(_), T(_), I(_), I(_)]) => {
                let key = (*session, *seq);
                r.values.remove(0);
                out.messages.entry(key).or_insert(r.values);
            }
            (None, [I(session), I(seq), T(_), T(_), I(_), I(_)]) => {
                out.messages.entry((*session, *seq)).or_insert(r.values);
            }
            (Some(_), [Null, I(session), T(_), T(_), I(_), T(_), I(_), rest @ ..])
                if (3..=4).contains(&rest.len()) =>
            {
                out.snapshots.insert(*session);
            }
            _ => {}
        }
    }
    out
}

/// Writes the rescued rows and the snapshots that check whole into a new database at
/// `tmp`; the report's counts of what is kept.
fn write_new(tmp: &Path, rescued: &Rescued, old: Option<&Store>) -> Result<Report> {
    remove_with_sidecars(tmp);
    let mut new = Store::open(tmp)?;
    let mut report = Report::default();
    new.write(|tx| write_rows(tx, rescued, &mut report))?;
    // Snapshots whose session kept its row and every message, and that check whole.
    let mut had = rescued.snapshots.clone();
    for &id in rescued.sessions.keys() {
        let Some(Ok(Some(stored))) = old.map(|o| o.read_stored(id)) else { continue };
        had.insert(id);
        if gaps(rescued, id) == 0 {
            new.write(|tx| insert_stored(tx, id, &stored))?;
            report.snapshots += 1;
        }
    }
    report.dropped_snapshots = had.len() - report.snapshots;
    drop(new);
    Ok(report)
}

/// Messages missing from the numbering (1, 2, …) of session `id`'s rescued messages.
fn gaps(rescued: &Rescued, id: i64) -> usize {
    let seqs: Vec<i64> =
        rescued.messages.range((id, i64::MIN)..=(id, i64::MAX)).map(|(k, _)| k.1).collect();
    let last = seqs.last().copied().unwrap_or(0).max(0) as usize;
    last.saturating_sub(seqs.len())
}

fn write_rows(tx: &Transaction, rescued: &Rescued, report: &mut Report) -> rusqlite::Result<()> {
    let mut models = HashSet::new();
    for (&id, v) in &rescued.models {
        let n = tx.execute(
            "INSERT INTO models (id, path, sha256, size, mtime_ns, arch, first_used, last_used)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
            params![id, v[1], v[2], v[3], v[4], v[5], v[6], v[7]],
        )?;
        if n == 1 {
            models.insert(id);
        }
    }
    for (&id, v) in &rescued.sessions {
        let model = match &v[2] {
            Value::Integer(m) if models.contains(m) => Some(*m),
            _ => None,
        };
        let name = free_name(tx, &v[1])?;
        tx.execute(
            "INSERT INTO sessions (id, name, model_id, created, updated, title, settings)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, name, model, v[3], v[4], v[5], v[6]],
        )?;
        report.sessions += 1;
    }
    recreate_sessions(tx, rescued, report)?;
    for (&(session, seq), v) in &rescued.messages {
        tx.execute(
            "INSERT INTO messages (session_id, seq, role, content, n_tokens, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![session, seq, v[2], v[3], v[4], v[5]],
        )?;
        report.messages += 1;
    }
    let ids: HashSet<i64> = rescued.messages.keys().map(|k| k.0).collect();
    report.lost_messages = ids.into_iter().map(|id| gaps(rescued, id)).sum();
    Ok(())
}

/// A session for each set of messages whose session row was lost, named
/// `recovered-ID`, titled after its first user message.
fn recreate_sessions(
    tx: &Transaction,
    rescued: &Rescued,
    report: &mut Report,
) -> rusqlite::Result<()> {
    let mut orphans: BTreeMap<i64, Vec<&Vec<Value>>> = BTreeMap::new();
    for (&(session, _), v) in &rescued.messages {
        if !rescued.sessions.contains_key(&session) {
            orphans.entry(session).or_default().push(v);
        }
    }
    for (id, msgs) in orphans {
        let time = |v: &Vec<Value>| match v[5] {
            Value::Integer(t) => t,
            _ => 0,
        };
        let created = msgs.iter().map(|v| time(v)).min().unwrap_or(0);
        let updated = msgs.iter().map(|v| time(v)).max().unwrap_or(0);
        let title = msgs
            .iter()
            .find(|v| v[2] == Value::Text("user".into()))
            .and_then(|v| match &v[3] {
                Value::Text(t) => Some(title_of(t)),
                _ => None,
            })
            .unwrap_or_default();
        let wanted = format!("recovered-{id}");
        let name = free_name(tx, &Value::Text(wanted.clone()))?;
        tx.execute(
            "INSERT INTO sessions (id, name, created, updated, title) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, name, created, updated, title],
        )?;
        report.sessions += 1;
        report.recreated.push(match name {
            Value::Text(n) => n,
            _ => format!("#{id}"),
        });
    }
    Ok(())
}

/// `name`, or NULL (the session goes by its id) when another session has it already.
fn free_name(tx: &Transaction, name: &Value) -> rusqlite::Result<Value> {
    let taken: i64 =
        tx.query_row("SELECT count(*) FROM sessions WHERE name = ?1", [name], |r| r.get(0))?;
    Ok(if taken > 0 { Value::Null } else { name.clone() })
}

/// `path` with `suffix` added to its file name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_with_sidecars(path: &Path) {
    for p in [path.to_path_buf(), beside(path, "-wal"), beside(path, "-shm")] {
        let _ = std::fs::remove_file(p);
    }
}

/// Puts the new database `tmp` in the place of `path`, in one rename, once the old
/// file is kept as `kept_as` (a hard link, else a copy) and its log moved beside it (a
/// log left behind would be replayed into the new file).
fn swap(path: &Path, tmp: &Path, kept_as: &Path) -> Result<PathBuf> {
    if std::fs::hard_link(path, kept_as).is_err() {
        std::fs::copy(path, kept_as).map_err(|e| Error::io(kept_as, e))?;
    }
    let wal = beside(path, "-wal");
    match std::fs::metadata(&wal) {
        Ok(m) if m.len() > 0 => {
            let to = beside(kept_as, "-wal");
            std::fs::rename(&wal, &to).map_err(|e| Error::io(&wal, e))?;
        }
        Ok(_) => std::fs::remove_file(&wal).map_err(|e| Error::io(&wal, e))?,
        Err(_) => {}
    }
    let _ = std::fs::remove_file(beside(path, "-shm"));
    std::fs::rename(tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(kept_as.to_path_buf())
}
