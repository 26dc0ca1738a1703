//! Stored sessions end to end: `hearth ask --session` resumes from the KV snapshot,
//! falls back to re-reading the conversation when the snapshot is damaged or made for
//! another model file, survives being killed mid-answer, and `hearth sessions` manages
//! what is stored.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{self, assert_fails, model_path, stderr, stdout, SMOLLM2};

/// A data dir of its own and a model for one test.
struct Env {
    dir: tempfile::TempDir,
    model: PathBuf,
}

impl Env {
    fn new() -> Env {
        Env { dir: tempfile::tempdir().unwrap(), model: model_path(SMOLLM2) }
    }

    /// With a private copy of the model file, to change it.
    fn with_model_copy() -> Env {
        let env = Env::new();
        let copy = env.dir.path().join("model.gguf");
        std::fs::copy(&env.model, &copy).unwrap();
        Env { model: copy, ..env }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir().join("hearth.db")).unwrap()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = common::hearth();
        cmd.env("HEARTH_DATA_DIR", self.data_dir()).env("HEARTH_VERBOSE", "1").args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// A greedy `ask` of at most `n` tokens in session `name` with a context of `ctx`.
    fn ask_cmd(&self, name: &str, n: &str, ctx: &str, question: &str) -> Command {
        let m = self.model.to_str().unwrap();
        self.cmd(&["ask", "-m", m, "--temp", "0", "-n", n, "-c", ctx, "--session", name, question])
    }

    /// A greedy turn of at most `n` tokens in session `name`.
    fn ask(&self, name: &str, n: &str, question: &str) -> Output {
        let out = self.ask_cmd(name, n, "1024", question).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out
    }

    fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// The "(N reused)" figure of the timing line.
fn reused(out: &Output) -> usize {
    let err = stderr(out);
    let at = err.find(" reused)").unwrap_or_else(|| panic!("no timing line: {err}"));
    let digits: String = err[..at].chars().rev().take_while(|c| c.is_ascii_digit()).collect();
    digits.chars().rev().collect::<String>().parse().unwrap()
}

fn warnings(out: &Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.contains("warning")).map(String::from).collect()
}

#[test]
fn a_resumed_session_reuses_its_cache_and_answers_as_a_fresh_reading_does() {
    let env = Env::new();
    let first = env.ask("s", "24", "Write a Rust function that adds two numbers.");
    assert_eq!(reused(&first), 0);
    assert!(!stdout(&first).trim().is_empty());
    // Keep a copy of the conversation without its snapshot: it must be re-read.
    assert!(env.run(&["sessions", "fork", "s", "copy"]).status.success());
    env.db().execute("DELETE FROM kv_snapshots WHERE session_id = (SELECT id FROM sessions WHERE name = 'copy')", []).unwrap();
    let resumed = env.ask("s", "16", "Now make it generic.");
    let reread = env.ask("copy", "16", "Now make it generic.");
    assert!(reused(&resumed) > 50, "{}", stderr(&resumed));
    assert_eq!(reused(&reread), 0);
    assert!(warnings(&resumed).is_empty() && warnings(&reread).is_empty());
    assert_eq!(stdout(&resumed), stdout(&reread));
    assert_eq!(env.count("SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id WHERE s.name = 's'"), 5);
}

#[test]
fn a_damaged_snapshot_is_ignored_with_one_warning() {
    let env = Env::new();
    env.ask("s", "12", "What does `git rebase` do?");
    for (sql, what) in [
        ("UPDATE kv_segments SET data = CAST(substr(data, 1, 100) || x'ff' || substr(data, 102) AS BLOB)", "checksum"),
        ("UPDATE kv_segments SET data = substr(data, 1, length(data) / 2)", "segment"),
        ("DELETE FROM kv_segments", "no data"),
    ] {
        let fork = format!("f{}", env.count("SELECT count(*) FROM sessions"));
        assert!(env.run(&["sessions", "fork", "s", &fork]).status.success());
        let sql = format!("{} WHERE snapshot_id = (SELECT k.id FROM kv_snapshots k JOIN sessions s ON s.id = k.session_id WHERE s.name = '{fork}')", sql);
        env.db().execute(&sql, []).unwrap();
        let out = env.ask(&fork, "8", "And `git merge`?");
        let w = warnings(&out);
        assert_eq!(w.len(), 1, "{}", stderr(&out));
        assert!(w[0].contains("snapshot") && (w[0].contains(what) || w[0].contains("decompress")), "{w:?}");
        assert_eq!(reused(&out), 0);
        // The next turn has a good snapshot again.
        let next = env.ask(&fork, "4", "Thanks.");
        assert!(warnings(&next).is_empty() && reused(&next) > 0, "{}", stderr(&next));
    }
}

#[test]
fn a_changed_model_file_is_detected_and_gc_drops_snapshots_of_missing_models() {
    let env = Env::with_model_copy();
    env.ask("s", "8", "Name a sorting algorithm.");
    // Flip a byte near the end of the file (inside the last tensor's data).
    let mut bytes = std::fs::read(&env.model).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x01;
    std::fs::write(&env.model, &bytes).unwrap();
    let out = env.ask("s", "8", "Another one?");
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{}", stderr(&out));
    assert!(w[0].contains("another model file"), "{w:?}");
    assert_eq!(reused(&out), 0);
    // The model goes away: gc drops its snapshot, the messages stay.
    std::fs::remove_file(&env.model).unwrap();
    let gc = env.run(&["sessions", "gc"]);
    assert!(gc.status.success(), "{}", stderr(&gc));
    assert!(stderr(&gc).contains("dropped 1 snapshot"), "{}", stderr(&gc));
    assert_eq!(env.count("SELECT count(*) FROM kv_snapshots"), 0);
    assert_eq!(env.count("SELECT count(*) FROM messages"), 5);
}

/// Kills `hearth ask --session` at moments spread over load, prefill, generation and
/// saving; every turn that completed before a kill is intact and the session resumes.
#[test]
fn killed_mid_turn_the_store_keeps_every_completed_turn() {
    let env = Env::new();
    env.ask("k", "8", "Say hello.");
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..8 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_millis(50 + rng % 1200);
        let mut child = env
            .ask_cmd("k", "64", "1024", "Count to twenty.")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let db = env.db();
        let ok: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "round {round}");
        let roles: Vec<String> = {
            let mut st = db.prepare("SELECT role FROM messages ORDER BY seq").unwrap();
            st.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
        };
        assert_eq!(roles[0], "system");
        assert_eq!((roles.len() - 1) % 2, 0, "round {round} ({status}): {roles:?}");
        assert!(roles[1..].chunks(2).all(|p| p == ["user", "assistant"]), "{roles:?}");
    }
    let out = env.ask("k", "8", "Goodbye.");
    assert!(warnings(&out).is_empty(), "{}", stderr(&out));
    assert!(reused(&out) > 0);
}

#[test]
fn an_unwritable_data_dir_is_one_clear_error_and_nothing_is_written() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let under_file = file.path().join("data");
    let m = model_path(SMOLLM2);
    let out = common::hearth()
        .env("HEARTH_DATA_DIR", &under_file)
        .args(["ask", "-m", m.to_str().unwrap(), "-n", "4", "--session", "s", "hi"])
        .output()
        .unwrap();
    assert_fails(&out, 1, "cannot create the data dir");
    assert!(stderr(&out).contains(&under_file.display().to_string()));
    assert!(stdout(&out).is_empty(), "nothing was generated before the store opened");
    assert_eq!(std::fs::metadata(file.path()).unwrap().len(), 0);
}

#[test]
fn sessions_list_show_export_rename_and_rm() {
    let env = Env::new();
    env.ask("notes", "6", "What is a monad?");
    let list = env.run(&["sessions", "list", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(rows[0]["name"], "notes");
    assert_eq!(rows[0]["messages"], 3);
    assert_eq!(rows[0]["title"], "What is a monad?");
    assert!(rows[0]["snapshot_tokens"].as_u64().unwrap() > 20);
    assert!(rows[0]["model"].as_str().unwrap().ends_with(SMOLLM2));
    let text = stdout(&env.run(&["sessions", "list"]));
    assert!(text.contains("notes") && text.contains("What is a monad?"), "{text}");
    let md = stdout(&env.run(&["sessions", "export", "notes", "--format", "md"]));
    assert!(
        md.starts_with("# What is a monad?\n")
            && md.contains("\n## User\n\nWhat is a monad?\n")
            && md.contains("\n## Assistant\n"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&env.run(&["sessions", "export", "1", "--format", "json"]).stdout)
            .unwrap();
    assert_eq!(json["messages"][1]["content"], "What is a monad?");
    assert!(env.run(&["sessions", "rename", "notes", "fp"]).status.success());
    assert!(stdout(&env.run(&["sessions", "show", "fp"])).contains("What is a monad?"));
    assert_fails(&env.run(&["sessions", "show", "notes"]), 2, "no session 'notes'");
    assert!(env.run(&["sessions", "rm", "fp"]).status.success());
    assert_eq!(env.count("SELECT count(*) FROM messages"), 0);
    assert_eq!(env.count("SELECT count(*) FROM kv_segments"), 0);
}

#[test]
fn a_session_keeps_its_context_size_and_refuses_a_second_system_prompt() {
    let env = Env::new();
    let out = env.ask_cmd("c", "4", "300", "hi").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // No -m and no -c: the session's model and context size, so the snapshot fits.
    let next = env.run(&["ask", "--temp", "0", "-n", "4", "--session", "c", "again"]);
    assert!(next.status.success(), "{}", stderr(&next));
    assert!(warnings(&next).is_empty() && reused(&next) > 0, "{}", stderr(&next));
    let sys = env.run(&["ask", "-sys", "Be terse.", "-n", "4", "--session", "c", "x"]);
    assert_fails(&sys, 2, "already has one");
}

#[test]
fn two_processes_write_one_database_at_once() {
    let env = Env::new();
    let spawn = |name: &str| {
        let mut cmd = env.ask_cmd(name, "24", "512", "Explain ownership.");
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The first round also creates the database from two processes at once.
    for _ in 0..2 {
        let (a, b) = (spawn("a"), spawn("b"));
        for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    let rows: serde_json::Value =
        serde_json::from_slice(&env.run(&["sessions", "list", "--json"]).stdout).unwrap();
    let msgs: Vec<_> =
        rows.as_array().unwrap().iter().map(|r| r["messages"].as_u64().unwrap()).collect();
    assert_eq!(msgs, [5, 5]);
}

/// Issue 16.4: `hearth ask --session fresh A & hearth ask --session fresh B` lost one
/// of the two first turns ("a session named 'fresh' already exists").
#[test]
fn two_processes_starting_one_new_session_both_keep_their_turns() {
    for round in 0..3 {
        let env = Env::new();
        // The database exists first, so both processes race on the session alone.
        env.run(&["sessions", "list"]);
        let spawn = |q: &str| {
            let mut cmd = env.ask_cmd("fresh", "8", "512", q);
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("Say A."), spawn("Say B."));
        for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
            assert!(out.status.success(), "round {round}: {}", stderr(&out));
        }
        assert_eq!(env.count("SELECT count(*) FROM sessions"), 1);
        assert_eq!(env.count("SELECT count(*) FROM messages WHERE role = 'system'"), 1);
        assert_eq!(env.count("SELECT count(*) FROM messages WHERE role = 'user'"), 2);
        assert_eq!(env.count("SELECT count(*) FROM messages WHERE role = 'assistant'"), 2);
    }
}

/// Issue 16.5: `--session ''`, `' lead'`, `99` (a missing id), a name with a newline and
/// a 100 KB name were refused only after the answer was generated, or accepted.
#[test]
fn a_bad_session_name_is_refused_before_any_model_work() {
    let env = Env::new();
    let long = "x".repeat(100_000);
    for name in ["", " lead", "99", "#7", "two\nlines", long.as_str()] {
        // A missing model shows that the name was checked first.
        let out = env.run(&["ask", "-m", "/nonexistent.gguf", "--session", name, "hi"]);
        assert_fails(&out, 2, "session");
        assert!(!stderr(&out).contains("nonexistent"), "{name:?}: {}", stderr(&out));
        assert!(stderr(&out).len() < 300, "the error quotes a short name");
    }
    assert_eq!(env.count("SELECT count(*) FROM sessions"), 0);
}

/// A store built through the library: three sessions of short messages and one long
/// message each (over several pages), and a snapshot of incompressible cache. Each
/// message's text carries a marker, `<session:seq>`, repeated in the long ones, so that
/// the pages holding part of a message can be told from the bytes. Returns the
/// messages as (session id, seq, content).
fn marked_store(db: &std::path::Path) -> Vec<(i64, i64, String)> {
    use hearth::store::snapshots::{prepare, Binding};
    use hearth::store::{Store, Turn};
    let mut store = Store::open(db).unwrap();
    for name in ["alpha", "beta", "gamma"] {
        let id = store.create_session(Some(name), None, &serde_json::json!({})).unwrap().id;
        for turn in 0..6i64 {
            let text = |seq: i64, long: bool| {
                let marker = format!("<{id}:{seq:02}>");
                match long {
                    true => marker.repeat(900),
                    false => format!("{marker} question {turn} of {name}"),
                }
            };
            let (q, a) = (text(2 * turn + 1, false), text(2 * turn + 2, turn == 3));
            let messages = vec![("user".into(), q, 3), ("assistant".into(), a, 5)];
            store.commit_turn(id, &Turn { messages, ..Turn::default() }, None).unwrap();
        }
    }
    let binding = Binding {
        model_sha256: "ab".repeat(32),
        arch: "llama".into(),
        n_ctx: 4096,
        kv_dtype: "f16/f16".into(),
    };
    let tokens: Vec<u32> = (0..1200).collect();
    let noise = |a: usize, b: usize| Ok(noise_of(a * 64, b * 64));
    let snapshot = prepare(None, binding, tokens, noise, &[]).unwrap();
    store.commit_turn(2, &Turn::default(), Some(&snapshot)).unwrap();
    let messages = (1..=3)
        .flat_map(|id| store.messages(id).unwrap().into_iter().map(move |m| (id, m.seq, m.content)))
        .collect();
    drop(store);
    messages
}

/// Bytes `a..b` of an endless pseudo-random stream (splitmix64), which no compressor
/// shrinks.
fn noise_of(a: usize, b: usize) -> Vec<u8> {
    let mix = |i: u64| {
        let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u8
    };
    (a..b).map(|i| mix(i as u64)).collect()
}

/// Every message in the database at `db` (a healthy one), as (session id, seq, content).
fn stored_messages(db: &std::path::Path) -> Vec<(i64, i64, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT session_id, seq, content FROM messages").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    rows.map(|r| r.unwrap()).collect()
}

/// Issue 16.3: one damaged page of `hearth.db` locked the user out of every session.
/// Each page of a small store is damaged in turn (random bytes, or zeros): `sessions
/// list` still works, or works after `sessions repair`, and every message with no byte
/// on the damaged page is still there, whole.
#[test]
fn a_damaged_page_anywhere_in_the_store_loses_no_readable_message() {
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.db");
    let messages = marked_store(&clean);
    let original = std::fs::read(&clean).unwrap();
    let n_pages = original.len() / 4096;
    assert!((20..300).contains(&n_pages), "{n_pages} pages");
    for page in 0..n_pages {
        let data = dir.path().join(format!("page{page}"));
        std::fs::create_dir(&data).unwrap();
        let mut bytes = original.clone();
        let held = &original[page * 4096..(page + 1) * 4096];
        let fill = match page % 2 {
            0 => noise_of(page * 4096 + 7, page * 4096 + 4103),
            _ => vec![0; 4096],
        };
        bytes[page * 4096..(page + 1) * 4096].copy_from_slice(&fill);
        std::fs::write(data.join("hearth.db"), &bytes).unwrap();
        let run = |args: &[&str]| {
            common::hearth().env("HEARTH_DATA_DIR", &data).args(args).output().unwrap()
        };
        let list = run(&["sessions", "list", "--json"]);
        if !list.status.success() {
            assert_fails(&list, 2, "hearth sessions repair");
        }
        let repair = run(&["sessions", "repair"]);
        assert!(repair.status.success(), "page {page}: {}", stderr(&repair));
        let list = run(&["sessions", "list", "--json"]);
        assert!(list.status.success(), "page {page}: {}", stderr(&list));
        let got = stored_messages(&data.join("hearth.db"));
        for (session, seq, content) in &messages {
            let marker = format!("<{session}:{seq:02}>");
            if held.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                continue;
            }
            let kept = got.iter().any(|m| (m.0, m.1, &m.2) == (*session, *seq, content));
            assert!(kept, "page {page}: message {session}/{seq} lost; {}", stderr(&repair));
        }
        std::fs::remove_dir_all(&data).unwrap();
    }
}
