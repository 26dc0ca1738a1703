//! KV snapshots in the database: a session's cache as token-range segments, each
//! compressed and checksummed on its own, so a turn that extends the conversation writes
//! only its new tokens, and a damaged segment is found before anything is restored.
//!
//! A hybrid model's recurrent state is kept beside its cache as checkpoints: rows of
//! the same table with `n_tokens` 0 and `start` −1 − the position they are the state
//! after (so they sort first and never collide with a token range). Every turn rewrites
//! them; they are checked and copied as the segments are.

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use super::models::hex;
use super::{is_corrupt, Store};
use crate::error::{Error, Result};

/// Most tokens in one segment (about 6 MiB of f16 cache for a 0.5B model, 48 MiB for a
/// 30B-A3B one: well under SQLite's 1 GB value limit).
pub const SEGMENT_TOKENS: usize = 512;

/// zstd level for new segments. Measured on the f16 cache of 1,000 tokens of English
/// text (Qwen2.5-Coder-0.5B, SmolLM2-135M): LZ4 saves 1%; zstd 9%; zstd after splitting
/// each f16 into a plane of low and a plane of high bytes saves 16%, at 530 MB/s to
/// compress and 1 GB/s to decompress with level 1 (levels 3 and 9: the same ratio,
/// 2–10× slower).
const ZSTD_LEVEL: i32 = 1;

/// What a snapshot was made for; a snapshot restores only into the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub model_sha256: String,
    pub arch: String,
    pub n_ctx: usize,
    /// `K/V` cache types, e.g. `f16/f16`.
    pub kv_dtype: String,
}

/// A stored snapshot's header: what it is bound to, its tokens, its segments' ranges.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotInfo {
    pub binding: Binding,
    pub tokens: Vec<u32>,
    tokens_hash: String,
    created: i64,
    /// (start, n_tokens) in order.
    pub segments: Vec<(usize, usize)>,
}

impl SnapshotInfo {
    #[cfg(test)]
    pub(super) fn for_test(
        binding: Binding,
        tokens: Vec<u32>,
        segments: Vec<(usize, usize)>,
    ) -> Self {
        SnapshotInfo { binding, tokens, tokens_hash: String::new(), created: 0, segments }
    }
}

/// A snapshot read back, decompressed and verified: cache bytes per token range.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedSnapshot {
    pub binding: Binding,
    pub tokens: Vec<u32>,
    /// (start, n_tokens, cache bytes) covering `0..tokens.len()` in order.
    pub segments: Vec<(usize, usize, Vec<u8>)>,
    /// (position, recurrent state after it), in order (hybrid models).
    pub states: Vec<(usize, Vec<u8>)>,
}

/// A row of `kv_segments`: a token range of the cache, or (`n_tokens` 0) a checkpoint
/// of the recurrent state.
struct Segment {
    /// The `start` column: a token position, or −1 − the checkpoint's position.
    start: i64,
    n_tokens: usize,
    n_bytes: usize,
    checksum: String,
    compression: String,
    data: Vec<u8>,
}

/// A snapshot ready to write: segments compressed outside any transaction.
pub struct PreparedSnapshot {
    binding: Binding,
    tokens: Vec<u32>,
    /// Leading tokens whose stored segments stay as they are.
    keep: usize,
    /// The tokens hash of the snapshot the plan kept segments of.
    base_hash: Option<String>,
    segments: Vec<Segment>,
    /// The recurrent-state checkpoints (all rewritten each turn).
    states: Vec<Segment>,
}

impl Segment {
    /// The checkpoint position of a state row.
    fn state_pos(&self) -> Option<usize> {
        (self.n_tokens == 0 && self.start < 0).then(|| (-1 - self.start) as usize)
    }

    /// What the row holds, for messages.
    fn label(&self) -> String {
        match self.state_pos() {
            Some(pos) => format!("state checkpoint at token {pos}"),
            None => format!("segment at token {}", self.start),
        }
    }

    /// Compresses `raw` as `width`-byte values.
    fn new(start: i64, n_tokens: usize, raw: &[u8], width: usize) -> Result<Segment> {
        let data = zstd::bulk::compress(&split_planes(raw, width), ZSTD_LEVEL)
            .map_err(|e| Error::failed(format!("compressing the KV snapshot: {e}")))?;
        Ok(Segment {
            start,
            n_tokens,
            n_bytes: raw.len(),
            checksum: sha256_hex(raw),
            compression: compression_name(width),
            data,
        })
    }
}

impl PreparedSnapshot {
    /// Compressed bytes this write adds.
    pub fn new_bytes(&self) -> u64 {
        self.segments.iter().chain(&self.states).map(|s| s.data.len() as u64).sum()
    }

    /// Tokens whose cache this write adds.
    pub fn new_tokens(&self) -> usize {
        self.tokens.len() - self.keep
    }
}

/// The byte planes to split a cache of these `K/V` types into: 4 for f32, 2 where f16
/// values are, 1 (no split) for q8_0 blocks.
fn plane_width(kv_dtype: &str) -> usize {
    match kv_dtype {
        "f32/f32" => 4,
        "q8_0/q8_0" => 1,
        _ => 2,
    }
}

/// Byte `j` of every `width`-byte value together, plane after plane (a tail shorter
/// than `width` stays last, as it was).
fn split_planes(raw: &[u8], width: usize) -> Vec<u8> {
    let n = raw.len() / width;
    let mut out = Vec::with_capacity(raw.len());
    for j in 0..width {
        out.extend((0..n).map(|i| raw[i * width + j]));
    }
    out.extend_from_slice(&raw[n * width..]);
    out
}

/// Undoes `split_planes`.
fn join_planes(planes: &[u8], width: usize) -> Vec<u8> {
    let n = planes.len() / width;
    let mut out = vec![0; planes.len()];
    for j in 0..width {
        for i in 0..n {
            out[i * width + j] = planes[j * n + i];
        }
    }
    out[n * width..].copy_from_slice(&planes[n * width..]);
    out
}

/// The `compression` column's name for zstd over `width` byte planes.
fn compression_name(width: usize) -> String {
    match width {
        1 => "zstd".to_string(),
        w => format!("zstd+planes{w}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn token_bytes(tokens: &[u32]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
}

/// How many leading tokens of an existing snapshot can stay: those of its first
/// segments that lie wholly inside the prefix it shares with `tokens`, when it is bound
/// to the same model, context and cache types.
pub fn reusable_prefix(
    existing: Option<&SnapshotInfo>,
    binding: &Binding,
    tokens: &[u32],
) -> usize {
    let Some(old) = existing.filter(|o| &o.binding == binding) else { return 0 };
    let common = old.tokens.iter().zip(tokens).take_while(|(a, b)| a == b).count();
    let mut keep = 0;
    for &(start, n) in &old.segments {
        if start != keep || start + n > common {
            break;
        }
        keep = start + n;
    }
    keep
}

/// Compresses the cache of `tokens[keep..]`, read through `export(start, end)`, into
/// segments of at most `SEGMENT_TOKENS`, and the recurrent `states` (position, f32
/// bytes) of a hybrid model.
pub fn prepare(
    existing: Option<&SnapshotInfo>,
    binding: Binding,
    tokens: Vec<u32>,
    export: impl Fn(usize, usize) -> Result<Vec<u8>>,
    states: &[(usize, Vec<u8>)],
) -> Result<PreparedSnapshot> {
    let keep = reusable_prefix(existing, &binding, &tokens);
    let base_hash = (keep > 0).then(|| existing.map(|e| e.tokens_hash.clone())).flatten();
    let width = plane_width(&binding.kv_dtype);
    let mut segments = Vec::new();
    let mut start = keep;
    while start < tokens.len() {
        let end = (start + SEGMENT_TOKENS).min(tokens.len());
        segments.push(Segment::new(start as i64, end - start, &export(start, end)?, width)?);
        start = end;
    }
    let states = states
        .iter()
        .map(|(pos, raw)| Segment::new(-1 - *pos as i64, 0, raw, 4))
        .collect::<Result<_>>()?;
    Ok(PreparedSnapshot { binding, tokens, keep, base_hash, segments, states })
}

/// Writes a prepared snapshot as the session's one snapshot. When the stored one is no
/// longer the one the plan kept segments of (another process wrote meanwhile), the
/// session is left without a snapshot rather than with a wrong one.
pub(super) fn write(
    tx: &Transaction,
    session_id: i64,
    s: &PreparedSnapshot,
) -> rusqlite::Result<()> {
    let current: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, tokens_hash FROM kv_snapshots WHERE session_id = ?1",
            [session_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let reuse = match (&current, &s.base_hash) {
        (Some((id, hash)), Some(base)) if hash == base => Some(*id),
        _ => None,
    };
    let tokens = token_bytes(&s.tokens);
    let hash = sha256_hex(&tokens);
    if let Some(id) = reuse {
        return extend(tx, id, s, &tokens, &hash);
    }
    tx.execute("DELETE FROM kv_snapshots WHERE session_id = ?1", [session_id])?;
    if s.keep > 0 {
        // The kept prefix is gone: no snapshot beats a partial one.
        return Ok(());
    }
    let head = Head {
        binding: &s.binding,
        n_tokens: s.tokens.len(),
        tokens: &tokens,
        tokens_hash: &hash,
        stored_bytes: s.new_bytes(),
        created: super::now(),
    };
    let id = insert_header(tx, session_id, &head)?;
    insert_segments(tx, id, &s.segments)?;
    insert_segments(tx, id, &s.states)
}

/// Rewrites snapshot `id` as `s`: its kept segments stay, the rest are replaced.
fn extend(
    tx: &Transaction,
    id: i64,
    s: &PreparedSnapshot,
    tokens: &[u8],
    hash: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE kv_snapshots SET n_tokens = ?2, tokens = ?3, tokens_hash = ?4, created = ?5
         WHERE id = ?1",
        params![id, s.tokens.len() as i64, tokens, hash, super::now()],
    )?;
    tx.execute(
        "DELETE FROM kv_segments WHERE snapshot_id = ?1 AND (start + n_tokens > ?2 OR start < 0)",
        params![id, s.keep as i64],
    )?;
    insert_segments(tx, id, &s.segments)?;
    insert_segments(tx, id, &s.states)?;
    // The kept segments were read whole by the restore that let them stay.
    tx.execute(
        "UPDATE kv_snapshots SET stored_bytes = (SELECT coalesce(sum(length(data)), 0)
             FROM kv_segments WHERE snapshot_id = ?1) WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

fn insert_segments(tx: &Transaction, id: i64, segments: &[Segment]) -> rusqlite::Result<()> {
    for g in segments {
        tx.execute(
            "INSERT INTO kv_segments (snapshot_id, start, n_tokens, n_bytes, checksum,
                 compression, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                g.start,
                g.n_tokens as i64,
                g.n_bytes as i64,
                g.checksum,
                g.compression,
                g.data
            ],
        )?;
    }
    Ok(())
}

/// The id of a new snapshot: past every id a snapshot or a segment has, so that
/// segments left behind by a damaged page (see `Store::drop_snapshot`) never belong to
/// it.
const NEW_ID: &str = "(SELECT max(coalesce((SELECT max(id) FROM kv_snapshots), 0),
    coalesce((SELECT max(snapshot_id) FROM kv_segments), 0)) + 1)";

/// A snapshot header's columns.
struct Head<'a> {
    binding: &'a Binding,
    n_tokens: usize,
    /// The token ids, 4 little-endian bytes each.
    tokens: &'a [u8],
    tokens_hash: &'a str,
    stored_bytes: u64,
    created: i64,
}

fn insert_header(tx: &Transaction, session_id: i64, h: &Head) -> rusqlite::Result<i64> {
    let b = h.binding;
    let sql = format!(
        "INSERT INTO kv_snapshots (id, session_id, model_sha256, arch, n_ctx, kv_dtype,
             n_tokens, stored_bytes, tokens_hash, created, tokens)
         VALUES ({NEW_ID}, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    );
    tx.execute(
        &sql,
        params![
            session_id,
            b.model_sha256,
            b.arch,
            b.n_ctx as i64,
            b.kv_dtype,
            h.n_tokens as i64,
            h.stored_bytes as i64,
            h.tokens_hash,
            h.created,
            h.tokens
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Copies a session's snapshot to another session (for a fork).
pub(super) fn copy(tx: &Transaction, from: i64, to: i64) -> rusqlite::Result<()> {
    let sql = format!(
        "INSERT INTO kv_snapshots (id, session_id, model_sha256, arch, n_ctx, kv_dtype,
             n_tokens, stored_bytes, tokens_hash, created, tokens)
         SELECT {NEW_ID}, ?2, model_sha256, arch, n_ctx, kv_dtype, n_tokens, stored_bytes,
             tokens_hash, created, tokens
         FROM kv_snapshots WHERE session_id = ?1"
    );
    let n = tx.execute(&sql, params![from, to])?;
    if n == 0 {
        return Ok(());
    }
    let new_id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO kv_segments (snapshot_id, start, n_tokens, n_bytes, checksum, compression, data)
         SELECT ?2, g.start, g.n_tokens, g.n_bytes, g.checksum, g.compression, g.data
         FROM kv_segments g JOIN kv_snapshots k ON g.snapshot_id = k.id WHERE k.session_id = ?1",
        params![from, new_id],
    )?;
    Ok(())
}

/// Decompresses and checks one stored segment (`what` names it in errors).
fn open_segment(
    what: &str,
    n_bytes: usize,
    checksum: &str,
    compression: &str,
    data: &[u8],
) -> Result<Vec<u8>> {
    let unzstd = |data: &[u8]| {
        zstd::bulk::decompress(data, n_bytes)
            .map_err(|e| Error::bad_input(format!("{what} does not decompress: {e}")))
    };
    let width = compression.strip_prefix("zstd+planes").map(str::parse::<usize>);
    let raw = match (compression, width) {
        ("zstd", _) => unzstd(data)?,
        ("none", _) => data.to_vec(),
        (_, Some(Ok(w @ 2..=8))) => join_planes(&unzstd(data)?, w),
        _ => return Err(Error::unsupported(format!("segment compression '{compression}'"))),
    };
    if raw.len() != n_bytes || sha256_hex(&raw) != checksum {
        return Err(Error::bad_input(format!("{what} fails its checksum")));
    }
    Ok(raw)
}

impl Store {
    /// The header of a session's snapshot, without its data.
    pub fn snapshot_info(&self, session_id: i64) -> Result<Option<SnapshotInfo>> {
        snapshot_info(&self.conn, session_id).map_err(|e| self.err(e))
    }

    /// A session's snapshot, decompressed and verified: its token list against its
    /// hash, its segments covering every token, each against its checksum. `Ok(None)`
    /// when the session has none; an error says what is wrong with it.
    pub fn load_snapshot(&self, session_id: i64) -> Result<Option<SavedSnapshot>> {
        let (mut segments, mut states) = (Vec::new(), Vec::new());
        let info = self.read_checked(session_id, |g, raw| match g.state_pos() {
            Some(pos) => states.push((pos, raw)),
            None => segments.push((g.start as usize, g.n_tokens, raw)),
        })?;
        Ok(info.map(|info| SavedSnapshot {
            binding: info.binding,
            tokens: info.tokens,
            segments,
            states,
        }))
    }

    /// Reads a session's snapshot and checks it whole; `each` gets every segment as
    /// stored, with its data decompressed, in order.
    fn read_checked(
        &self,
        session_id: i64,
        mut each: impl FnMut(Segment, Vec<u8>),
    ) -> Result<Option<SnapshotInfo>> {
        let Some(info) = self.snapshot_info(session_id)? else { return Ok(None) };
        if sha256_hex(&token_bytes(&info.tokens)) != info.tokens_hash {
            return Err(Error::bad_input("the snapshot's token list fails its checksum"));
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT g.start, g.n_tokens, g.n_bytes, g.checksum, g.compression, g.data
                 FROM kv_segments g JOIN kv_snapshots k ON g.snapshot_id = k.id
                 WHERE k.session_id = ?1 ORDER BY g.start",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([session_id]).map_err(|e| self.err(e))?;
        let mut next = 0;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let blob = matches!(r.get_ref(5), Ok(rusqlite::types::ValueRef::Blob(_)));
            if !blob {
                let start: i64 = r.get(0).map_err(|e| self.err(e))?;
                let what = format!("segment at token {start} does not hold binary data");
                return Err(Error::bad_input(what));
            }
            let g = segment(r).map_err(|e| self.err(e))?;
            let data = g.data.as_slice();
            if let Some(pos) = g.state_pos() {
                if pos > info.tokens.len() {
                    return Err(Error::bad_input(format!("{} is past its tokens", g.label())));
                }
                let raw = open_segment(&g.label(), g.n_bytes, &g.checksum, &g.compression, data)?;
                each(g, raw);
                continue;
            }
            if g.start != next as i64 {
                return Err(Error::bad_input(format!("the snapshot has no data for token {next}")));
            }
            let raw = open_segment(&g.label(), g.n_bytes, &g.checksum, &g.compression, data)?;
            next = g.start as usize + g.n_tokens;
            each(g, raw);
        }
        if next != info.tokens.len() {
            return Err(Error::bad_input(format!("the snapshot has no data for token {next}")));
        }
        Ok(Some(info))
    }

    /// A session's snapshot checked whole and kept as stored, to copy into another
    /// database with `insert_stored`. `Ok(None)` when it has none.
    pub(super) fn read_stored(&self, session_id: i64) -> Result<Option<StoredSnapshot>> {
        let mut segments = Vec::new();
        let info = self.read_checked(session_id, |g, _| segments.push(g))?;
        Ok(info.map(|info| StoredSnapshot { info, segments }))
    }

    /// Drops a session's snapshot (the messages stay). When a damaged page keeps SQLite
    /// from deleting its segments, the header goes alone (foreign keys off for that
    /// transaction) and each segment is then freed on its own; returns how many stay
    /// behind, unreadable, owned by no snapshot, until `hearth sessions repair`.
    pub fn drop_snapshot(&mut self, session_id: i64) -> Result<usize> {
        let delete = |tx: &Transaction| {
            tx.execute("DELETE FROM kv_snapshots WHERE session_id = ?1", [session_id])
        };
        match self.write_raw(delete) {
            Ok(_) => return Ok(0),
            Err(e) if !is_corrupt(&e) => return Err(self.err(e)),
            Err(_) => {}
        }
        self.set_foreign_keys(false).map_err(|e| self.err(e))?;
        let detached = self.write_raw(delete);
        self.set_foreign_keys(true).map_err(|e| self.err(e))?;
        detached.map_err(|e| self.err(e))?;
        Ok(self.free_orphan_segments()?.1)
    }

    /// Deletes the segments no snapshot owns, each in its own transaction so that one on
    /// a damaged page stays behind alone; returns (freed, left behind).
    pub fn free_orphan_segments(&mut self) -> Result<(usize, usize)> {
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT id FROM kv_segments
                     WHERE snapshot_id NOT IN (SELECT id FROM kv_snapshots)",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?
        };
        let (mut freed, mut stuck) = (0, 0);
        for id in ids {
            match self.write_raw(|tx| tx.execute("DELETE FROM kv_segments WHERE id = ?1", [id])) {
                Ok(_) => freed += 1,
                Err(e) if is_corrupt(&e) => stuck += 1,
                Err(e) => return Err(self.err(e)),
            }
        }
        Ok((freed, stuck))
    }

    /// Drops every snapshot made for a model whose SHA-256 is not in `present`; returns
    /// how many, and how many of their segments a damaged page kept (see `drop_snapshot`).
    pub fn drop_snapshots_except(&mut self, present: &[String]) -> Result<(usize, usize)> {
        let list = serde_json::to_string(present).expect("strings serialize");
        let sessions: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT session_id FROM kv_snapshots
                     WHERE model_sha256 NOT IN (SELECT value FROM json_each(?1))",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt.query_map([list], |r| r.get(0)).map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>().map_err(|e| self.err(e))?
        };
        let mut stuck = 0;
        for &id in &sessions {
            stuck += self.drop_snapshot(id)?;
        }
        Ok((sessions.len(), stuck))
    }
}

/// A snapshot's header and its segments' ranges (no segment data is read).
fn snapshot_info(conn: &Connection, session_id: i64) -> rusqlite::Result<Option<SnapshotInfo>> {
    let head = conn
        .query_row(
            "SELECT id, model_sha256, arch, n_ctx, kv_dtype, tokens, tokens_hash, created
             FROM kv_snapshots WHERE session_id = ?1",
            [session_id],
            |r| {
                let binding = Binding {
                    model_sha256: r.get(1)?,
                    arch: r.get(2)?,
                    n_ctx: r.get::<_, i64>(3)? as usize,
                    kv_dtype: r.get(4)?,
                };
                Ok((r.get::<_, i64>(0)?, binding, r.get::<_, Vec<u8>>(5)?, r.get(6)?, r.get(7)?))
            },
        )
        .optional()?;
    let Some((id, binding, tokens, tokens_hash, created)) = head else { return Ok(None) };
    let mut stmt = conn
        .prepare("SELECT start, n_tokens FROM kv_segments WHERE snapshot_id = ?1 AND start >= 0 ORDER BY start")?;
    let segments = stmt
        .query_map([id], |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize)))?
        .collect::<rusqlite::Result<_>>()?;
    let tokens =
        tokens.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(Some(SnapshotInfo { binding, tokens, tokens_hash, created, segments }))
}

/// A segment row (start, n_tokens, n_bytes, checksum, compression, data).
fn segment(r: &rusqlite::Row) -> rusqlite::Result<Segment> {
    Ok(Segment {
        start: r.get(0)?,
        n_tokens: r.get::<_, i64>(1)? as usize,
        n_bytes: r.get::<_, i64>(2)? as usize,
        checksum: r.get(3)?,
        compression: r.get(4)?,
        data: r.get(5)?,
    })
}

/// A snapshot as stored (segments compressed), checked, for another database.
pub(super) struct StoredSnapshot {
    info: SnapshotInfo,
    segments: Vec<Segment>,
}

/// Writes a snapshot read by `read_stored` as session `session_id`'s snapshot.
pub(super) fn insert_stored(
    tx: &Transaction,
    session_id: i64,
    s: &StoredSnapshot,
) -> rusqlite::Result<()> {
    let tokens = token_bytes(&s.info.tokens);
    let head = Head {
        binding: &s.info.binding,
        n_tokens: s.info.tokens.len(),
        tokens: &tokens,
        tokens_hash: &s.info.tokens_hash,
        stored_bytes: s.segments.iter().map(|g| g.data.len() as u64).sum(),
        created: s.info.created,
    };
    let id = insert_header(tx, session_id, &head)?;
    insert_segments(tx, id, &s.segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_planes_round_trip_with_tails() {
        let raw: Vec<u8> = (0..23).collect();
        for w in 1..=4 {
            let planes = split_planes(&raw, w);
            assert_eq!(join_planes(&planes, w), raw, "width {w}");
        }
        assert_eq!(split_planes(&[1, 2, 3, 4, 5], 2), [1, 3, 2, 4, 5]);
        assert_eq!(plane_width("f16/f16"), 2);
        assert_eq!(plane_width("f16/q8_0"), 2);
        assert_eq!(plane_width("q8_0/q8_0"), 1);
        assert_eq!(compression_name(2), "zstd+planes2");
    }

    #[test]
    fn every_compression_opens_what_it_wrote() {
        let raw: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 251) as u8).collect();
        for w in [1, 2, 4] {
            let data = zstd::bulk::compress(&split_planes(&raw, w), ZSTD_LEVEL).unwrap();
            let got = open_segment(
                "segment at token 0",
                raw.len(),
                &sha256_hex(&raw),
                &compression_name(w),
                &data,
            );
            assert_eq!(got.unwrap(), raw);
        }
        let err =
            open_segment("segment at token 0", 3, &sha256_hex(b"abc"), "zstd+planes99", b"abc")
                .unwrap_err();
        assert!(err.to_string().contains("zstd+planes99"));
    }
}
