//! Store tests on real damage, pages of the file overwritten as a failing disk or a
//! stray write leaves them: a damaged snapshot is dropped and the next one written,
//! and `repair` rebuilds what is readable (and leaves a healthy store alone).

use std::path::{Path, PathBuf};

use serde_json::json;

use super::snapshots::prepare;
use super::tests::{binding, temp_store, turn};
use super::*;

const PAGE: u64 = 4096;

/// Overwrites page `n` (1-based) of the file at `path` with bytes that are no valid
/// page number, cell or header.
fn damage(path: &Path, n: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start((n - 1) * PAGE)).unwrap();
    f.write_all(&[0xa5; PAGE as usize]).unwrap();
}

/// A page in the middle of the overflow chain of the last segment written (SQLite's
/// `dbstat` names each page's place: the highest path is in the last cell's chain).
fn last_segment_page(path: &Path) -> u64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(
        "SELECT pageno FROM dbstat WHERE name = 'kv_segments' AND pagetype = 'overflow'
         ORDER BY path DESC LIMIT 1 OFFSET 2",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

/// 64 pseudo-random bytes per token (splitmix64), which no compressor shrinks.
fn noise(a: usize, b: usize) -> Vec<u8> {
    let mix = |i: u64| {
        let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (a as u64 * 8..b as u64 * 8).flat_map(|i| mix(i).to_le_bytes()).collect()
}

/// A turn in session `id` with a snapshot of `n` tokens of incompressible cache.
fn turn_with_snapshot(store: &mut Store, id: i64, n: u32) {
    let tokens: Vec<u32> = (0..n).collect();
    let prepared = prepare(None, binding(), tokens, |a, b| Ok(noise(a, b)), &[]).unwrap();
    store.commit_turn(id, &turn("q", "a"), Some(&prepared)).unwrap();
}

/// Sessions `a` and `b` with a turn and a two-segment snapshot each, `b`'s written last.
fn two_sessions() -> (tempfile::TempDir, PathBuf, i64, i64) {
    let (dir, mut store) = temp_store();
    let a = store.create_session(Some("a"), None, &json!({})).unwrap().id;
    let b = store.create_session(Some("b"), None, &json!({})).unwrap().id;
    turn_with_snapshot(&mut store, a, 1000);
    turn_with_snapshot(&mut store, b, 1000);
    let path = store.path().to_path_buf();
    (dir, path, a, b)
}

#[test]
fn a_snapshot_on_a_damaged_page_is_dropped_and_the_next_one_is_written() {
    let (_dir, path, a, b) = two_sessions();
    damage(&path, last_segment_page(&path));
    let mut store = Store::open(&path).unwrap();
    // Listing and reading messages never touch snapshot data.
    let rows = store.sessions().unwrap();
    assert_eq!(rows.iter().map(|r| r.snapshot_tokens).collect::<Vec<_>>(), [1000, 1000]);
    assert_eq!(store.messages(b).unwrap().len(), 2);
    let err = store.load_snapshot(b).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput, "{err}");
    // SQLite cannot delete the damaged segment: it stays behind, owned by nothing.
    assert_eq!(store.drop_snapshot(b).unwrap(), 1);
    assert!(store.load_snapshot(b).unwrap().is_none());
    assert_eq!(store.session(b).unwrap().snapshot_tokens, 0);
    turn_with_snapshot(&mut store, b, 700);
    assert_eq!(store.load_snapshot(b).unwrap().unwrap().tokens.len(), 700);
    assert_eq!(store.load_snapshot(a).unwrap().unwrap().tokens.len(), 1000);
    assert_eq!(store.free_orphan_segments().unwrap(), (0, 1));
    assert_eq!(store.remove_session(b).unwrap(), 0);
    assert_eq!(store.messages(a).unwrap().len(), 2);
}

#[test]
fn a_turn_over_a_damaged_snapshot_replaces_it() {
    let (_dir, path, a, b) = two_sessions();
    damage(&path, last_segment_page(&path));
    let mut store = Store::open(&path).unwrap();
    // No restore first: the turn's own replacement of the snapshot meets the damage.
    turn_with_snapshot(&mut store, b, 600);
    assert_eq!(store.messages(b).unwrap().len(), 4);
    assert_eq!(store.load_snapshot(b).unwrap().unwrap().tokens.len(), 600);
    // Removing a session whose snapshot is damaged frees what it can.
    let (_dir2, path2, _, b2) = two_sessions();
    damage(&path2, last_segment_page(&path2));
    let mut store2 = Store::open(&path2).unwrap();
    assert_eq!(store2.remove_session(b2).unwrap(), 1);
    assert!(store2.find_session("b").unwrap().is_none());
    assert_eq!(store2.sessions().unwrap().len(), 1);
    let _ = a;
}

#[test]
fn repair_leaves_a_healthy_store_alone_and_rebuilds_on_request() {
    let (dir, path, a, b) = two_sessions();
    let mut store = Store::open(&path).unwrap();
    let gone = store.create_session(Some("gone"), None, &json!({})).unwrap().id;
    store.commit_turn(gone, &turn("a secret", "forgotten"), None).unwrap();
    store.remove_session(gone).unwrap();
    drop(store);
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(repair(&path, false).unwrap(), Repair::Healthy));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no file beside it");
    let Repair::Repaired(r) = repair(&path, true).unwrap() else { panic!("not rebuilt") };
    assert_eq!((r.problem.as_str(), r.sessions, r.messages, r.snapshots), ("ok", 2, 4, 2));
    assert_eq!((r.lost_sessions, r.lost_messages, r.dropped_snapshots), (0, 0, 0));
    assert!(r.kept_as.to_string_lossy().contains(".old-"));
    assert_eq!(std::fs::read(&r.kept_as).unwrap(), before);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert!(store.find_session("gone").unwrap().is_none(), "a removed session stays removed");
    for id in [a, b] {
        assert_eq!(store.load_snapshot(id).unwrap().unwrap().tokens.len(), 1000);
        assert_eq!(store.session(id).unwrap().snapshot_tokens, 1000);
    }
}

#[test]
fn repair_keeps_what_a_damaged_store_still_holds() {
    let (_dir, path, a, b) = two_sessions();
    damage(&path, last_segment_page(&path));
    let Repair::Repaired(r) = repair(&path, false).unwrap() else { panic!("not rebuilt") };
    assert_ne!(r.problem, "ok");
    assert_eq!((r.sessions, r.messages, r.snapshots, r.dropped_snapshots), (2, 4, 1, 1));
    assert!(r.kept_as.to_string_lossy().contains(".damaged-"));
    let store = Store::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert!(store.load_snapshot(a).unwrap().is_some());
    assert!(store.load_snapshot(b).unwrap().is_none());
    assert_eq!(store.messages(b).unwrap().len(), 2);
    assert!(matches!(repair(&path, false).unwrap(), Repair::Healthy));
}

#[test]
fn a_store_whose_first_page_is_damaged_is_rebuilt_from_its_pages() {
    let (_dir, path, a, b) = two_sessions();
    damage(&path, 1);
    let err = Store::open(&path).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert!(err.to_string().contains("hearth sessions repair"), "{err}");
    let Repair::Repaired(r) = repair(&path, false).unwrap() else { panic!("not rebuilt") };
    // Without page 1 SQLite reads nothing: every row comes from the pages themselves.
    assert_eq!((r.sessions, r.messages, r.snapshots), (2, 4, 0));
    let store = Store::open(&path).unwrap();
    assert_eq!(store.find_session("a").unwrap().unwrap().id, a);
    let msgs = store.messages(b).unwrap();
    assert_eq!(msgs.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(), ["q", "a"]);
}

#[test]
fn a_missing_database_needs_no_repair() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(repair(&dir.path().join(DB_FILE), false).unwrap(), Repair::Missing));
}
