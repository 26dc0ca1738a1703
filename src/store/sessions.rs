//! Sessions and their messages: create, find by id or name, list, rename, remove, and
//! commit a completed turn (its messages and the session's new KV snapshot in one
//! transaction).

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::snapshots::{self, PreparedSnapshot};
use super::{is_corrupt, now, Store};
use crate::error::{Error, Result};

/// A session as listed: its row plus counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: i64,
    pub name: Option<String>,
    pub model_id: Option<i64>,
    /// The model file's path, when the session has one.
    pub model_path: Option<String>,
    pub created: i64,
    pub updated: i64,
    pub title: String,
    pub settings: serde_json::Value,
    pub n_messages: usize,
    /// Tokens in the KV snapshot (0: none, or its header is unreadable).
    pub snapshot_tokens: usize,
    /// Compressed bytes of the KV snapshot.
    pub snapshot_bytes: u64,
}

impl SessionRow {
    /// The name, or `#id` for an unnamed session.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("#{}", self.id))
    }
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub seq: i64,
    pub role: String,
    pub content: String,
    pub n_tokens: usize,
    pub created: i64,
}

/// What a completed turn adds to a session.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// (role, content, tokens) in order, usually the user's message and the answer.
    pub messages: Vec<(String, String, usize)>,
    /// Replaces the session's settings when set.
    pub settings: Option<serde_json::Value>,
    /// Replaces the session's model when set.
    pub model_id: Option<i64>,
}

/// A session's row and message count; its snapshot's figures come apart (see
/// `snapshot_figures`), so that no page of a snapshot is needed to list sessions.
const SESSION_COLUMNS: &str = "s.id, s.name, s.model_id, m.path, s.created, s.updated, s.title,
    s.settings,
    (SELECT count(*) FROM messages WHERE session_id = s.id)
    FROM sessions s LEFT JOIN models m ON m.id = s.model_id";

fn session_row(r: &Row) -> rusqlite::Result<SessionRow> {
    let settings: String = r.get(7)?;
    Ok(SessionRow {
        id: r.get(0)?,
        name: r.get(1)?,
        model_id: r.get(2)?,
        model_path: r.get(3)?,
        created: r.get(4)?,
        updated: r.get(5)?,
        title: r.get(6)?,
        settings: serde_json::from_str(&settings).unwrap_or(serde_json::Value::Null),
        n_messages: r.get::<_, i64>(8)? as usize,
        snapshot_tokens: 0,
        snapshot_bytes: 0,
    })
}

/// A title from the first line of a message, at most 60 characters.
pub(super) fn title_of(content: &str) -> String {
    let line = content.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    title
}

impl Store {
    /// A new session named `name` (unnamed when `None`).
    pub fn create_session(
        &mut self,
        name: Option<&str>,
        model_id: Option<i64>,
        settings: &serde_json::Value,
    ) -> Result<SessionRow> {
        if let Some(n) = name {
            self.check_new_name(n, None)?;
        }
        let t = now();
        let id = self.write(|tx| {
            tx.execute(
                "INSERT INTO sessions (name, model_id, created, updated, settings)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
                params![name, model_id, t, settings.to_string()],
            )?;
            Ok(tx.last_insert_rowid())
        })?;
        self.session(id)
    }

    /// The session with this id.
    pub fn session(&self, id: i64) -> Result<SessionRow> {
        let sql = format!("SELECT {SESSION_COLUMNS} WHERE s.id = ?1");
        let row = self.conn.query_row(&sql, [id], session_row).map_err(|e| self.err(e))?;
        Ok(self.with_snapshot_figures(row))
    }

    /// The session named `key`, or else with id `key` (`#` optional).
    pub fn find_session(&self, key: &str) -> Result<Option<SessionRow>> {
        let sql = format!("SELECT {SESSION_COLUMNS} WHERE s.name = ?1");
        let by_name = self.conn.query_row(&sql, [key], session_row).optional();
        if let Some(row) = by_name.map_err(|e| self.err(e))? {
            return Ok(Some(self.with_snapshot_figures(row)));
        }
        let Ok(id) = key.trim_start_matches('#').parse::<i64>() else { return Ok(None) };
        let sql = format!("SELECT {SESSION_COLUMNS} WHERE s.id = ?1");
        let row = self.conn.query_row(&sql, [id], session_row).optional();
        Ok(row.map_err(|e| self.err(e))?.map(|r| self.with_snapshot_figures(r)))
    }

    /// `row` with its snapshot's tokens and stored bytes; none when the snapshot's
    /// header cannot be read (a damaged page there leaves the session usable).
    fn with_snapshot_figures(&self, mut row: SessionRow) -> SessionRow {
        let figures = self.snapshot_figures(Some(row.id)).unwrap_or_default();
        (row.snapshot_tokens, row.snapshot_bytes) = figures.get(&row.id).copied().unwrap_or((0, 0));
        row
    }

    /// (tokens, stored bytes) of the snapshot of session `id`, or of every session.
    fn snapshot_figures(&self, id: Option<i64>) -> rusqlite::Result<HashMap<i64, (usize, u64)>> {
        let sql = match id {
            Some(_) => {
                "SELECT session_id, n_tokens, stored_bytes FROM kv_snapshots WHERE session_id = ?1"
            }
            None => "SELECT session_id, n_tokens, stored_bytes FROM kv_snapshots WHERE ?1 IS NULL",
        };
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([id], |r| {
            Ok((r.get(0)?, (r.get::<_, i64>(1)? as usize, r.get::<_, i64>(2)? as u64)))
        })?;
        rows.collect()
    }

    /// As `find_session`, failing with a usage error when there is none.
    pub fn resolve_session(&self, key: &str) -> Result<SessionRow> {
        self.find_session(key)?.ok_or_else(|| {
            Error::usage(format!("no session '{key}' (`hearth sessions list` shows them)"))
        })
    }

    /// Every session, most recently updated first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        let sql = format!("SELECT {SESSION_COLUMNS} ORDER BY s.updated DESC, s.id DESC");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], session_row).map_err(|e| self.err(e))?;
        let mut rows: Vec<SessionRow> =
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?;
        let figures = self.snapshot_figures(None).unwrap_or_default();
        for row in &mut rows {
            (row.snapshot_tokens, row.snapshot_bytes) =
                figures.get(&row.id).copied().unwrap_or((0, 0));
        }
        Ok(rows)
    }

    /// The messages of a session in order.
    pub fn messages(&self, session_id: i64) -> Result<Vec<MessageRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, role, content, n_tokens, created FROM messages
                 WHERE session_id = ?1 ORDER BY seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([session_id], |r| {
                Ok(MessageRow {
                    seq: r.get(0)?,
                    role: r.get(1)?,
                    content: r.get(2)?,
                    n_tokens: r.get::<_, i64>(3)? as usize,
                    created: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))
    }

    pub fn rename_session(&mut self, id: i64, new_name: &str) -> Result<()> {
        self.check_new_name(new_name, Some(id))?;
        self.write(|tx| {
            tx.execute("UPDATE sessions SET name = ?2 WHERE id = ?1", params![id, new_name])
        })?;
        Ok(())
    }

    /// Deletes a session with its messages and snapshot; returns how many snapshot
    /// segments a damaged page kept from being freed (see `drop_snapshot`).
    pub fn remove_session(&mut self, id: i64) -> Result<usize> {
        let delete = |tx: &Transaction| tx.execute("DELETE FROM sessions WHERE id = ?1", [id]);
        match self.write_raw(delete) {
            Ok(_) => Ok(0),
            Err(e) if is_corrupt(&e) => {
                let stuck = self.drop_snapshot(id)?;
                self.write(delete)?;
                Ok(stuck)
            }
            Err(e) => Err(self.err(e)),
        }
    }

    /// A copy of a session (messages and snapshot) under a new name: a branch to keep
    /// while the original goes on.
    pub fn fork_session(&mut self, id: i64, new_name: &str) -> Result<SessionRow> {
        self.check_new_name(new_name, None)?;
        let t = now();
        let new_id = self.write(|tx| {
            tx.execute(
                "INSERT INTO sessions (name, model_id, created, updated, title, settings)
                 SELECT ?2, model_id, ?3, ?3, title, settings FROM sessions WHERE id = ?1",
                params![id, new_name, t],
            )?;
            let new_id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO messages (session_id, seq, role, content, n_tokens, created)
                 SELECT ?2, seq, role, content, n_tokens, created FROM messages
                 WHERE session_id = ?1",
                params![id, new_id],
            )?;
            snapshots::copy(tx, id, new_id)?;
            Ok(new_id)
        })?;
        self.session(new_id)
    }

    /// Refuses a name people could not type or that another session (than `owner`)
    /// already has.
    fn check_new_name(&self, name: &str, owner: Option<i64>) -> Result<()> {
        check_name(name)?;
        if self.find_session(name)?.is_some_and(|s| Some(s.id) != owner) {
            return Err(Error::usage(format!("a session named '{name}' already exists")));
        }
        Ok(())
    }

    /// Refuses, before any work, a name that could never be stored: `key` must name a
    /// stored session or be a valid new name.
    pub fn check_session_key(&self, key: &str) -> Result<()> {
        if self.find_session(key)?.is_some() {
            return Ok(());
        }
        if !key.is_empty() && key.trim_start_matches('#').chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::usage(format!(
                "no session {key} (`hearth sessions list` shows them; a new session's name needs a letter)"
            )));
        }
        check_name(key)
    }

    /// The first turn of the session named `name`: the session is created in the turn's
    /// own transaction, or — when another process created it meanwhile — the turn joins
    /// it (its system message dropped when the session already has one). Both turns are
    /// kept. Returns the session's id.
    pub fn commit_first_turn(
        &mut self,
        name: &str,
        turn: &Turn,
        snapshot: Option<&PreparedSnapshot>,
    ) -> Result<i64> {
        check_name(name)?;
        let t = now();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sessions (name, model_id, created, updated, settings)
                 VALUES (?1, ?2, ?3, ?3, '{}') ON CONFLICT(name) DO NOTHING",
                params![name, turn.model_id, t],
            )?;
            let id: i64 =
                tx.query_row("SELECT id FROM sessions WHERE name = ?1", [name], |r| r.get(0))?;
            let has: i64 = tx.query_row(
                "SELECT count(*) FROM messages WHERE session_id = ?1 AND role = 'system'",
                [id],
                |r| r.get(0),
            )?;
            let skip =
                usize::from(has > 0 && turn.messages.first().is_some_and(|m| m.0 == "system"));
            let joined = Turn { messages: turn.messages[skip..].to_vec(), ..turn.clone() };
            write_turn(tx, id, &joined, snapshot, t)?;
            Ok(id)
        })
    }

    /// Adds a completed turn's messages and, when given, replaces the session's KV
    /// snapshot — all in one transaction, so a crash keeps the turn whole or not at all.
    /// An old snapshot on a damaged page is dropped first (see `drop_snapshot`).
    pub fn commit_turn(
        &mut self,
        session_id: i64,
        turn: &Turn,
        snapshot: Option<&PreparedSnapshot>,
    ) -> Result<()> {
        let t = now();
        match self.write_raw(|tx| write_turn(tx, session_id, turn, snapshot, t)) {
            Err(e) if is_corrupt(&e) && snapshot.is_some() => {
                self.drop_snapshot(session_id)?;
                self.write(|tx| write_turn(tx, session_id, turn, snapshot, t))
            }
            r => r.map_err(|e| self.err(e)),
        }
    }
}

/// The writes of one turn, inside the caller's transaction.
fn write_turn(
    tx: &Transaction,
    session_id: i64,
    turn: &Turn,
    snapshot: Option<&PreparedSnapshot>,
    t: i64,
) -> rusqlite::Result<()> {
    append_messages(tx, session_id, &turn.messages, t)?;
    if let Some(settings) = &turn.settings {
        tx.execute(
            "UPDATE sessions SET settings = ?2 WHERE id = ?1",
            params![session_id, settings.to_string()],
        )?;
    }
    if let Some(model_id) = turn.model_id {
        tx.execute(
            "UPDATE sessions SET model_id = ?2 WHERE id = ?1",
            params![session_id, model_id],
        )?;
    }
    let title = turn.messages.iter().find(|m| m.0 == "user").map(|m| title_of(&m.1));
    tx.execute(
        "UPDATE sessions SET updated = ?2,
             title = CASE WHEN title = '' THEN coalesce(?3, '') ELSE title END
         WHERE id = ?1",
        params![session_id, t, title],
    )?;
    match snapshot {
        Some(s) => snapshots::write(tx, session_id, s),
        None => Ok(()),
    }
}

fn append_messages(
    tx: &Transaction,
    session_id: i64,
    messages: &[(String, String, usize)],
    t: i64,
) -> rusqlite::Result<()> {
    let next: i64 = tx.query_row(
        "SELECT coalesce(max(seq), 0) + 1 FROM messages WHERE session_id = ?1",
        [session_id],
        |r| r.get(0),
    )?;
    for (i, (role, content, n)) in messages.iter().enumerate() {
        tx.execute(
            "INSERT INTO messages (session_id, seq, role, content, n_tokens, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![session_id, next + i as i64, role, content, *n as i64, t],
        )?;
    }
    Ok(())
}

/// The longest session name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Names are for people to type: not empty, not all digits (those are ids), no spaces
/// at the ends, no control characters (newlines), at most `MAX_NAME_CHARS` long.
fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.trim() != name
        || name.trim_start_matches('#').chars().all(|c| c.is_ascii_digit())
        || name.chars().any(char::is_control);
    let shown: String = name.chars().take(40).flat_map(char::escape_debug).collect();
    if bad {
        return Err(Error::usage(format!(
            "session name '{shown}': use a name with a letter in it, no spaces at the ends \
             and no control characters"
        )));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::usage(format!(
            "session name '{shown}…': at most {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(())
}
