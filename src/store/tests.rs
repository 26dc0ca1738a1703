//! Store tests on temporary databases: sessions, turns, snapshots by segment, damage
//! detection, a full database, two writers at once.

use super::snapshots::{prepare, reusable_prefix, Binding, SEGMENT_TOKENS};
use super::*;

pub(super) fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join(DB_FILE)).unwrap();
    (dir, store)
}

pub(super) fn binding() -> Binding {
    Binding {
        model_sha256: "ab".repeat(32),
        arch: "llama".into(),
        n_ctx: 4096,
        kv_dtype: "f16/f16".into(),
    }
}

/// A stand-in cache: 8 bytes per token derived from the token's position and id.
fn cache_of(tokens: &[u32]) -> impl Fn(usize, usize) -> Result<Vec<u8>> + '_ {
    move |a, b| {
        Ok((a..b)
            .flat_map(|i| [(i as u32).to_le_bytes(), tokens[i].to_le_bytes()])
            .flatten()
            .collect())
    }
}

pub(super) fn turn(user: &str, answer: &str) -> Turn {
    Turn {
        messages: vec![("user".into(), user.into(), 3), ("assistant".into(), answer.into(), 5)],
        ..Turn::default()
    }
}

pub(super) fn save(store: &mut Store, id: i64, tokens: &[u32]) -> u64 {
    let info = store.snapshot_info(id).unwrap();
    let prepared =
        prepare(info.as_ref(), binding(), tokens.to_vec(), cache_of(tokens), &[]).unwrap();
    let new = prepared.new_tokens() as u64;
    store.commit_turn(id, &turn("q", "a"), Some(&prepared)).unwrap();
    new
}

pub(super) fn restored(store: &Store, id: i64) -> Vec<u8> {
    let snap = store.load_snapshot(id).unwrap().unwrap();
    snap.segments.into_iter().flat_map(|s| s.2).collect()
}

#[test]
fn sessions_are_found_by_name_or_id_and_keep_their_messages_in_order() {
    let (_d, mut store) = temp_store();
    let s = store.create_session(Some("work"), None, &serde_json::json!({"n_ctx": 64})).unwrap();
    assert_eq!(store.find_session("work").unwrap().unwrap().id, s.id);
    assert_eq!(store.find_session(&s.id.to_string()).unwrap().unwrap().id, s.id);
    assert_eq!(store.find_session(&format!("#{}", s.id)).unwrap().unwrap().id, s.id);
    assert!(store.find_session("other").unwrap().is_none());
    assert!(store.create_session(Some("work"), None, &serde_json::json!({})).is_err());
    assert!(store.create_session(Some("42"), None, &serde_json::json!({})).is_err());
    store.commit_turn(s.id, &turn("What is Rust?\nmore", "A language."), None).unwrap();
    store.commit_turn(s.id, &turn("And Go?", "Another."), None).unwrap();
    let msgs = store.messages(s.id).unwrap();
    let seen: Vec<_> = msgs.iter().map(|m| (m.seq, m.role.as_str(), m.content.as_str())).collect();
    assert_eq!(
        seen,
        [
            (1, "user", "What is Rust?\nmore"),
            (2, "assistant", "A language."),
            (3, "user", "And Go?"),
            (4, "assistant", "Another.")
        ]
    );
    let row = store.session(s.id).unwrap();
    assert_eq!((row.title.as_str(), row.n_messages), ("What is Rust?", 4));
    assert_eq!(row.settings["n_ctx"], 64);
}

#[test]
fn rename_fork_and_remove() {
    let (_d, mut store) = temp_store();
    let a = store.create_session(Some("a"), None, &serde_json::json!({})).unwrap();
    let b = store.create_session(Some("b"), None, &serde_json::json!({})).unwrap();
    assert!(store.rename_session(a.id, "b").is_err());
    store.rename_session(a.id, "alpha").unwrap();
    let tokens: Vec<u32> = (0..700).collect();
    save(&mut store, a.id, &tokens);
    let fork = store.fork_session(a.id, "alpha-2").unwrap();
    assert_eq!(fork.n_messages, 2);
    assert_eq!(restored(&store, fork.id), restored(&store, a.id));
    store.remove_session(a.id).unwrap();
    assert!(store.find_session("alpha").unwrap().is_none());
    assert_eq!(restored(&store, fork.id), cache_of(&tokens)(0, 700).unwrap());
    let names: Vec<_> = store.sessions().unwrap().into_iter().map(|s| s.label()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"b".to_string()) && names.contains(&"alpha-2".to_string()));
    let orphans: i64 = store.conn().query_row("SELECT count(*) FROM kv_segments g WHERE NOT EXISTS (SELECT 1 FROM kv_snapshots k WHERE k.id = g.snapshot_id)", [], |r| r.get(0)).unwrap();
    assert_eq!(orphans, 0);
    let _ = b;
}

#[test]
fn a_growing_conversation_writes_only_its_new_tokens() {
    let (_d, mut store) = temp_store();
    let s = store.create_session(Some("s"), None, &serde_json::json!({})).unwrap();
    let mut tokens: Vec<u32> = (0..(SEGMENT_TOKENS as u32 + 100)).collect();
    assert_eq!(save(&mut store, s.id, &tokens), tokens.len() as u64);
    tokens.extend(5000..5040);
    // The first full segment stays; the 100-token tail segment is whole inside the
    // common prefix too, so only the 40 new tokens are written.
    assert_eq!(save(&mut store, s.id, &tokens), 40);
    assert_eq!(restored(&store, s.id), cache_of(&tokens)(0, tokens.len()).unwrap());
    // A change inside the second segment rewrites from that segment on.
    tokens[SEGMENT_TOKENS + 50] = 9;
    assert_eq!(save(&mut store, s.id, &tokens), (tokens.len() - SEGMENT_TOKENS) as u64);
    assert_eq!(restored(&store, s.id), cache_of(&tokens)(0, tokens.len()).unwrap());
    let info = store.snapshot_info(s.id).unwrap().unwrap();
    assert_eq!(info.tokens, tokens);
    // The header's size is the segments' stored size, kept ones included.
    let stored: i64 = store
        .conn()
        .query_row("SELECT sum(length(data)) FROM kv_segments", [], |r| r.get(0))
        .unwrap();
    assert_eq!(store.session(s.id).unwrap().snapshot_bytes, stored as u64);
    assert_eq!(store.sessions().unwrap()[0].snapshot_tokens, tokens.len());
}

/// Issue 16.10: `sessions gc` said the database grew when it shrank, counting the
/// write-ahead log that VACUUM had just filled.
#[test]
fn gc_reports_the_compacted_size_not_the_log_vacuum_filled() {
    let (_d, mut store) = temp_store();
    let s = store.create_session(Some("s"), None, &serde_json::json!({})).unwrap();
    let tokens: Vec<u32> = (0..(4 * SEGMENT_TOKENS as u32)).collect();
    save(&mut store, s.id, &tokens);
    store.remove_session(s.id).unwrap();
    let before = store.file_bytes();
    store.vacuum().unwrap();
    let after = store.file_bytes();
    assert!(after < before / 2, "{before} -> {after} bytes");
}

#[test]
fn another_binding_replaces_the_whole_snapshot() {
    let old = super::SnapshotInfo::for_test(binding(), (0..10).collect(), vec![(0, 10)]);
    let tokens: Vec<u32> = (0..20).collect();
    assert_eq!(reusable_prefix(Some(&old), &binding(), &tokens), 10);
    let other = Binding { n_ctx: 2048, ..binding() };
    assert_eq!(reusable_prefix(Some(&old), &other, &tokens), 0);
    let other = Binding { model_sha256: "cd".repeat(32), ..binding() };
    assert_eq!(reusable_prefix(Some(&old), &other, &tokens), 0);
    assert_eq!(reusable_prefix(None, &binding(), &tokens), 0);
    assert_eq!(reusable_prefix(Some(&old), &binding(), &tokens[..9]), 0);
}

/// Runs `sql` on the snapshot data, then expects loading to fail naming `what`.
fn damaged(sql: &str, what: &str) {
    let (_d, mut store) = temp_store();
    let s = store.create_session(Some("s"), None, &serde_json::json!({})).unwrap();
    let tokens: Vec<u32> = (0..1100).collect();
    save(&mut store, s.id, &tokens);
    store.conn().execute_batch(sql).unwrap();
    let err = store.load_snapshot(s.id).unwrap_err().to_string();
    assert!(err.contains(what), "{sql}: {err}");
    // The messages are untouched.
    assert_eq!(store.messages(s.id).unwrap().len(), 2);
}

#[test]
fn damaged_snapshots_are_detected() {
    // A flipped byte inside the compressed data.
    damaged(
        "UPDATE kv_segments SET data = CAST(substr(data, 1, 20) || x'00' || substr(data, 22) AS BLOB)
         WHERE start = 512",
        "segment at token 512",
    );
    damaged("UPDATE kv_segments SET data = 'text' WHERE start = 512", "not hold binary data");
    damaged(
        "UPDATE kv_segments SET data = substr(data, 1, length(data) / 2) WHERE start = 0",
        "segment at token 0",
    );
    damaged("UPDATE kv_segments SET checksum = 'x' WHERE start = 1024", "checksum");
    damaged("DELETE FROM kv_segments WHERE start = 512", "no data for token 512");
    damaged("DELETE FROM kv_segments WHERE start = 1024", "no data for token 1024");
    damaged("UPDATE kv_snapshots SET tokens = substr(tokens, 5)", "token list");
    damaged("UPDATE kv_segments SET compression = 'lzma'", "compression 'lzma'");
    damaged("UPDATE kv_segments SET compression = 'zstd' WHERE start = 0", "segment at token 0");
}

#[test]
fn a_full_database_fails_the_turn_whole_and_keeps_what_was_there() {
    let (_d, mut store) = temp_store();
    let s = store.create_session(Some("s"), None, &serde_json::json!({})).unwrap();
    let small: Vec<u32> = (0..10).collect();
    save(&mut store, s.id, &small);
    let pages: i64 = store.conn().query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    store.conn().pragma_update(None, "max_page_count", pages + 2).unwrap();
    // Incompressible cache bytes, far more than two pages.
    let big: Vec<u32> = (0..4000).collect();
    let info = store.snapshot_info(s.id).unwrap();
    let prepared = prepare(info.as_ref(), binding(), big, noise_fn(), &[]).unwrap();
    let err = store.commit_turn(s.id, &turn("q2", "a2"), Some(&prepared)).unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(store.messages(s.id).unwrap().len(), 2);
    assert_eq!(restored(&store, s.id), cache_of(&small)(0, 10).unwrap());
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

/// Pseudo-random bytes, 64 per token, that zstd cannot shrink.
pub(super) fn noise_fn() -> impl Fn(usize, usize) -> Result<Vec<u8>> {
    |a, b| {
        Ok((a * 64..b * 64)
            .map(|i| (((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 56) as u8)
            .collect())
    }
}

#[test]
fn two_writers_at_once_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    Store::open(&path).unwrap();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).unwrap();
                let s = store
                    .create_session(Some(&format!("w{w}")), None, &serde_json::json!({}))
                    .unwrap();
                for i in 0..30u32 {
                    let tokens: Vec<u32> = (0..(50 + i * 10)).collect();
                    save(&mut store, s.id, &tokens);
                }
                s.id
            })
        })
        .collect();
    let ids: Vec<i64> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    let store = Store::open(&path).unwrap();
    for id in ids {
        assert_eq!(store.messages(id).unwrap().len(), 60);
        assert_eq!(store.snapshot_info(id).unwrap().unwrap().tokens.len(), 340);
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn model_hashes_are_cached_by_path_size_and_mtime() {
    let (dir, mut store) = temp_store();
    let model = dir.path().join("m.gguf");
    std::fs::write(&model, b"weights").unwrap();
    let calls = std::cell::Cell::new(0);
    let hash = || {
        calls.set(calls.get() + 1);
        [7u8; 32]
    };
    let a = store.model_sha256(&model, "llama", hash).unwrap();
    let b = store.model_sha256(&model, "llama", hash).unwrap();
    assert_eq!((a.id, &a.sha256, calls.get()), (b.id, &b.sha256, 1));
    std::fs::write(&model, b"other weights").unwrap();
    store.model_sha256(&model, "llama", || [8u8; 32]).unwrap();
    let models = store.models().unwrap();
    assert_eq!(models.len(), 1);
    assert!(models[0].1, "present and unchanged");
    assert_eq!(models[0].0.sha256, "08".repeat(32));
    std::fs::remove_file(&model).unwrap();
    assert!(!store.models().unwrap()[0].1);
}

#[test]
fn a_newer_schema_and_a_non_database_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
    std::fs::remove_file(&path).unwrap();
    let store = Store::open(&path).unwrap();
    store.conn().pragma_update(None, "user_version", 99).unwrap();
    drop(store);
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(err.contains("schema version 99"), "{err}");
}

#[test]
fn two_connections_creating_one_database_at_once_both_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let openers: Vec<_> = (0..2)
            .map(|w| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut store = Store::open(&path).map_err(|e| format!("open: {e}"))?;
                    let s = store
                        .create_session(Some(&format!("w{w}")), None, &serde_json::json!({}))
                        .map_err(|e| format!("create: {e}"))?;
                    store.commit_turn(s.id, &turn("q", "a"), None).map_err(|e| format!("turn: {e}"))
                })
            })
            .collect();
        for h in openers {
            h.join().unwrap().unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
}
