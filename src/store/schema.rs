//! The database schema: the current one, which a new database gets in one step, and
//! the ordered list of migrations that brings an older database up to it; `PRAGMA
//! user_version` records which version a database has, and opening one applies the
//! missing steps in one transaction each.

use rusqlite::Connection;

/// The current schema. Tables holding conversations come first, then snapshots, so in
/// a new database the pages that organise messages lie apart from snapshot data.
///
/// Rows with big values live in rowid tables found through small indexes: SQLite
/// compares a key that overflows its page by reading it whole, so in a `WITHOUT ROWID`
/// table one damaged overflow page broke every search that passed it. A snapshot's
/// stored size is in its header, written with it, so listing sessions reads no
/// segment; its token list comes last there, so reading the other columns never walks
/// the list's overflow pages. Snapshot ids are chosen past every id a snapshot or a
/// segment has (see `snapshots::NEW_ID`), so segments a damaged page keeps from being
/// deleted never join a later snapshot.
pub const SCHEMA: &str = "
    CREATE TABLE models (
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
    CREATE INDEX sessions_by_updated ON sessions(updated);
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        role       TEXT NOT NULL,
        content    TEXT NOT NULL,
        n_tokens   INTEGER NOT NULL,
        created    INTEGER NOT NULL,
        UNIQUE (session_id, seq)
    );
    CREATE TABLE kv_snapshots (
        id           INTEGER PRIMARY KEY,
        session_id   INTEGER NOT NULL UNIQUE REFERENCES sessions(id) ON DELETE CASCADE,
        model_sha256 TEXT NOT NULL,
        arch         TEXT NOT NULL,
        n_ctx        INTEGER NOT NULL,
        kv_dtype     TEXT NOT NULL,
        n_tokens     INTEGER NOT NULL,
        stored_bytes INTEGER NOT NULL,
        tokens_hash  TEXT NOT NULL,
        created      INTEGER NOT NULL,
        tokens       BLOB NOT NULL
    );
    CREATE TABLE kv_segments (
        id          INTEGER PRIMARY KEY,
        snapshot_id INTEGER NOT NULL REFERENCES kv_snapshots(id) ON DELETE CASCADE,
        start       INTEGER NOT NULL,
        n_tokens    INTEGER NOT NULL,
        n_bytes     INTEGER NOT NULL,
        checksum    TEXT NOT NULL,
        compression TEXT NOT NULL,
        data        BLOB NOT NULL,
        UNIQUE (snapshot_id, start)
    );";

/// Each step takes the schema from version `i` to `i + 1`; the last leaves it as
/// `SCHEMA`. Steps are never edited once released: a change is a new step at the end
/// (and the same change to `SCHEMA`).
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
    // 2: messages and segments in rowid tables, the snapshot's size in its header, its
    // token list last (see `SCHEMA`). The old tables are renamed out of the way, the new
    // ones created as `SCHEMA` has them, the rows copied, the old tables dropped.
    "ALTER TABLE messages RENAME TO messages_v1;
    ALTER TABLE kv_segments RENAME TO kv_segments_v1;
    ALTER TABLE kv_snapshots RENAME TO kv_snapshots_v1;
    CREATE TABLE messages (
        id         INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        role       TEXT NOT NULL,
        content    TEXT NOT NULL,
        n_tokens   INTEGER NOT NULL,
        created    INTEGER NOT NULL,
        UNIQUE (session_id, seq)
    );
    CREATE TABLE kv_snapshots (
        id           INTEGER PRIMARY KEY,
        session_id   INTEGER NOT NULL UNIQUE REFERENCES sessions(id) ON DELETE CASCADE,
        model_sha256 TEXT NOT NULL,
        arch         TEXT NOT NULL,
        n_ctx        INTEGER NOT NULL,
        kv_dtype     TEXT NOT NULL,
        n_tokens     INTEGER NOT NULL,
        stored_bytes INTEGER NOT NULL,
        tokens_hash  TEXT NOT NULL,
        created      INTEGER NOT NULL,
        tokens       BLOB NOT NULL
    );
    CREATE TABLE kv_segments (
        id          INTEGER PRIMARY KEY,
        snapshot_id INTEGER NOT NULL REFERENCES kv_snapshots(id) ON DELETE CASCADE,
        start       INTEGER NOT NULL,
        n_tokens    INTEGER NOT NULL,
        n_bytes     INTEGER NOT NULL,
        checksum    TEXT NOT NULL,
        compression TEXT NOT NULL,
        data        BLOB NOT NULL,
        UNIQUE (snapshot_id, start)
    );
    INSERT INTO messages (session_id, seq, role, content, n_tokens, created)
    SELECT session_id, seq, role, content, n_tokens, created FROM messages_v1
    ORDER BY session_id, seq;
    INSERT INTO kv_segments (snapshot_id, start, n_tokens, n_bytes, checksum, compression, data)
    SELECT snapshot_id, start, n_tokens, n_bytes, checksum, compression, data
    FROM kv_segments_v1 ORDER BY snapshot_id, start;
    INSERT INTO kv_snapshots (id, session_id, model_sha256, arch, n_ctx, kv_dtype, n_tokens,
        stored_bytes, tokens_hash, created, tokens)
    SELECT id, session_id, model_sha256, arch, n_ctx, kv_dtype, n_tokens,
        coalesce((SELECT sum(length(g.data)) FROM kv_segments g WHERE g.snapshot_id = k.id), 0),
        tokens_hash, created, tokens
    FROM kv_snapshots_v1 k;
    DROP TABLE messages_v1;
    DROP TABLE kv_segments_v1;
    DROP TABLE kv_snapshots_v1;",
];

/// The schema version this build writes.
pub fn latest() -> u32 {
    MIGRATIONS.len() as u32
}

/// Brings the database up to `SCHEMA`: a new (empty, version 0) one in one step, an
/// older one by the migrations past its `user_version`, one transaction each. The
/// version is read inside each write transaction, so two processes opening a new
/// database at once apply every step exactly once. A database from a newer hearth is
/// refused rather than guessed at. Foreign keys are turned off (a step may rebuild a
/// table others refer to, and dropping a table would cascade); the caller turns them
/// back on.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Result<(), u32>> {
    conn.pragma_update(None, "foreign_keys", false)?;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > latest() {
            return Ok(Err(version));
        }
        let (step, next) = match version {
            0 => (SCHEMA, latest()),
            v => match MIGRATIONS.get(v as usize) {
                Some(step) => (*step, v + 1),
                None => return Ok(Ok(())),
            },
        };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables and columns of a schema (blanks folded), to compare databases built
    /// different ways.
    fn shape(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name",
            )
            .unwrap();
        let rows = stmt.query_map([], |r| {
            let sql = r.get::<_, String>(2)?;
            let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            Ok(format!("{} {} {sql}", r.get::<_, String>(0)?, r.get::<_, String>(1)?))
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

    fn fresh() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap().unwrap();
        conn
    }

    #[test]
    fn every_earlier_version_upgrades_to_the_current_schema() {
        let fresh = shape(&fresh());
        assert_eq!(shape(&at_version(MIGRATIONS.len())), fresh, "the last step leaves SCHEMA");
        for v in 1..MIGRATIONS.len() {
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

    /// A version 1 database's rows come through the rebuild of version 2, and each
    /// snapshot gets its stored size.
    #[test]
    fn version_1_rows_survive_the_rebuild() {
        let mut conn = at_version(1);
        conn.execute_batch(
            "INSERT INTO sessions (id, name, created, updated) VALUES (4, 'old', 1, 2);
             INSERT INTO messages VALUES (4, 1, 'user', 'hi', 1, 1), (4, 2, 'assistant', 'yo', 1, 2);
             INSERT INTO kv_snapshots VALUES (9, 4, 'ab', 'llama', 64, 'f16/f16', 2, x'0100000002000000', 'h', 3);
             INSERT INTO kv_segments VALUES (9, 0, 1, 10, 'c', 'zstd', x'00112233'),
                                            (9, 1, 1, 10, 'c', 'zstd', x'4455');",
        )
        .unwrap();
        migrate(&mut conn).unwrap().unwrap();
        let messages: Vec<(i64, String)> = {
            let mut st = conn
                .prepare("SELECT seq, content FROM messages WHERE session_id = 4 ORDER BY seq")
                .unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect()
        };
        assert_eq!(messages, [(1, "hi".to_string()), (2, "yo".to_string())]);
        let head: (i64, i64, i64, Vec<u8>) = conn
            .query_row("SELECT id, session_id, stored_bytes, tokens FROM kv_snapshots", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!(head, (9, 4, 6, vec![1, 0, 0, 0, 2, 0, 0, 0]));
        let segments: i64 = conn
            .query_row("SELECT count(*) FROM kv_segments WHERE snapshot_id = 9", [], |r| r.get(0))
            .unwrap();
        assert_eq!(segments, 2);
        let check: String =
            conn.query_row("PRAGMA foreign_key_check", [], |r| r.get(0)).unwrap_or_default();
        assert_eq!(check, "");
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = at_version(MIGRATIONS.len());
        conn.pragma_update(None, "user_version", latest() + 1).unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), Err(latest() + 1));
    }
}
