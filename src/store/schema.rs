//! The database schema as an ordered list of migrations; `PRAGMA user_version` records
//! how many have been applied, and opening a database applies the rest in one
//! transaction each.

use rusqlite::Connection;

/// Each step takes the schema from version `i` to `i + 1`. Steps are never edited once
/// released: a change is a new step at the end.
pub const MIGRATIONS: &[&str] = &[
    // 1: models, sessions, messages, KV snapshots stored as token-range segments.
    "CREATE TABLE models (
        id         INTEGER PRIMARY KEY,
        path       TEXT NOT NULL UNIQUE,
        sha256     TEXT NOT NULL,
        size       INTEGER NOT NULL,
        mtime_ns   INTEGER NOT NULL,
        arch       TEXT NOT NULL,
        first_used INTEGER NOT NULL,
        last_used  INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        id       INTEGER PRIMARY KEY,
        name     TEXT UNIQUE,
        model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
        created  INTEGER NOT NULL,
        updated  INTEGER NOT NULL,
        title    TEXT NOT NULL DEFAULT '',
        settings TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE messages (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        role       TEXT NOT NULL,
        content    TEXT NOT NULL,
        n_tokens   INTEGER NOT NULL,
        created    INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE kv_snapshots (
        id           INTEGER PRIMARY KEY,
        session_id   INTEGER NOT NULL UNIQUE REFERENCES sessions(id) ON DELETE CASCADE,
        model_sha256 TEXT NOT NULL,
        arch         TEXT NOT NULL,
        n_ctx        INTEGER NOT NULL,
        kv_dtype     TEXT NOT NULL,
        n_tokens     INTEGER NOT NULL,
        tokens       BLOB NOT NULL,
        tokens_hash  TEXT NOT NULL,
        created      INTEGER NOT NULL
    );
    CREATE TABLE kv_segments (
        snapshot_id INTEGER NOT NULL REFERENCES kv_snapshots(id) ON DELETE CASCADE,
        start       INTEGER NOT NULL,
        n_tokens    INTEGER NOT NULL,
        n_bytes     INTEGER NOT NULL,
        checksum    TEXT NOT NULL,
        compression TEXT NOT NULL,
        data        BLOB NOT NULL,
        PRIMARY KEY (snapshot_id, start)
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_updated ON sessions(updated);",
];

/// The schema version this build writes.
pub fn latest() -> u32 {
    MIGRATIONS.len() as u32
}

/// Applies the migrations past the database's `user_version`, one transaction each.
/// The version is read inside each write transaction, so two processes opening a new
/// database at once apply every step exactly once. A database from a newer hearth is
/// refused rather than guessed at.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), u32>> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > latest() {
            return Ok(Err(version));
        }
        let Some(step) = MIGRATIONS.get(version as usize) else { return Ok(Ok(())) };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables and columns of a schema, to compare databases built different ways.
    fn shape(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name",
            )
            .unwrap();
        let rows = stmt.query_map([], |r| {
            Ok(format!(
                "{} {} {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?
            ))
        });
        rows.unwrap().map(|r| r.unwrap()).collect()
    }

    fn at_version(v: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for (i, step) in MIGRATIONS[..v].iter().enumerate() {
            conn.execute_batch(step).unwrap();
            conn.pragma_update(None, "user_version", i as u32 + 1).unwrap();
        }
        conn
    }

    #[test]
    fn every_earlier_version_upgrades_to_the_latest_schema() {
        let fresh = shape(&at_version(MIGRATIONS.len()));
        for v in 0..MIGRATIONS.len() {
            let mut conn = at_version(v);
            migrate(&mut conn).unwrap().unwrap();
            let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
            assert_eq!(version, latest(), "from {v}");
            assert_eq!(shape(&conn), fresh, "from {v}");
            // Applying again changes nothing.
            migrate(&mut conn).unwrap().unwrap();
            assert_eq!(shape(&conn), fresh);
        }
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = at_version(MIGRATIONS.len());
        conn.pragma_update(None, "user_version", latest() + 1).unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), Err(latest() + 1));
    }
}
