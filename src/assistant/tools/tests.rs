//! The tools on a scratch project: confinement (outside paths, symlinks out, ignored
//! files), caps, schema errors naming the field, edits through the undo log, commands
//! that fail, hang or flood.

use std::fs;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::context::{ContextFiles, Root};

struct Project {
    _dir: tempfile::TempDir,
    files: ContextFiles,
    log: EditLog,
}

fn project() -> Project {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::create_dir_all(p.join("src")).unwrap();
    fs::create_dir_all(p.join("target/debug")).unwrap();
    fs::write(p.join(".gitignore"), "target/\n*.log\n").unwrap();
    fs::write(p.join("src/main.rs"), "fn main() {\n    println!(\"hi\");\n}\n").unwrap();
    fs::write(p.join("src/lib.rs"), "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n").unwrap();
    fs::write(p.join("target/debug/out.rs"), "fn hidden() {}\n").unwrap();
    fs::write(p.join("build.log"), "fn logged() {}\n").unwrap();
    fs::write(p.join("README.md"), "# demo\n").unwrap();
    let files = ContextFiles::new(Root::new(p).unwrap());
    Project { _dir: dir, files, log: EditLog::new() }
}

fn call(p: &mut Project, name: &str, args: serde_json::Value) -> Result<Outcome, String> {
    let count = |s: &str| s.len() / 4;
    let mut ws = Workspace {
        files: &mut p.files,
        log: &mut p.log,
        count: &count,
        limits: Limits::default(),
    };
    let c = ToolCall::new(0, name, &args);
    let action = Action::prepare(&c, &ws).map_err(|r| r.message().to_string())?;
    Ok(action.run(&mut ws))
}

#[test]
fn list_files_respects_ignore_rules_and_globs() {
    let mut p = project();
    let all = call(&mut p, "list_files", json!({})).unwrap();
    assert_eq!(all.text, "README.md\nsrc/lib.rs\nsrc/main.rs");
    let rs = call(&mut p, "list_files", json!({"glob": "*.rs"})).unwrap();
    assert_eq!(rs.text, "src/lib.rs\nsrc/main.rs");
    let src = call(&mut p, "list_files", json!({"path": "src", "glob": "src/m*.rs"})).unwrap();
    assert_eq!(src.text, "src/main.rs");
    assert!(call(&mut p, "list_files", json!({"path": "../"}))
        .unwrap_err()
        .contains("outside the project root"));
}

#[test]
fn read_file_by_lines_and_capped() {
    let mut p = project();
    let whole = call(&mut p, "read_file", json!({"path": "src/lib.rs"})).unwrap();
    assert_eq!(
        whole.text,
        "src/lib.rs, lines 1-3 of 3:\npub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
    );
    let two =
        call(&mut p, "read_file", json!({"path": "src/lib.rs", "start_line": 2, "end_line": 2}))
            .unwrap();
    assert_eq!(two.text, "src/lib.rs, lines 2-2 of 3:\n    a + b\n");
    let past = call(&mut p, "read_file", json!({"path": "src/lib.rs", "start_line": 9})).unwrap();
    assert!(past.failed && past.text.contains("has 3 lines"));
    // A named ignored file may be read; a big one is cut with a notice.
    assert!(!call(&mut p, "read_file", json!({"path": "build.log"})).unwrap().failed);
    let big: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    fs::write(p.files.root().join("big.txt"), big).unwrap();
    let cut = call(&mut p, "read_file", json!({"path": "big.txt"})).unwrap();
    assert!(
        cut.text.starts_with("big.txt, lines 1-") && cut.text.contains("read on from start_line="),
        "{}",
        &cut.text[..100]
    );
    assert!(cut.text.len() < Limits::default().read_bytes + 200);
}

#[test]
fn paths_outside_the_root_are_refused_symlinks_too() {
    let mut p = project();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "key").unwrap();
    std::os::unix::fs::symlink(outside.path(), p.files.root().join("link")).unwrap();
    for path in ["/etc/passwd", "../x", "link/secret"] {
        let err = call(&mut p, "read_file", json!({"path": path})).unwrap_err();
        assert!(err.contains("outside the project root"), "{path}: {err}");
    }
    let err = call(&mut p, "edit_file", json!({"path": "link/new", "content": "x"})).unwrap_err();
    assert!(err.contains("outside the project root"), "{err}");
}

#[test]
fn search_finds_lines_and_skips_ignored_files() {
    let mut p = project();
    let hits = call(&mut p, "search", json!({"pattern": "fn \\w+"})).unwrap();
    assert_eq!(
        hits.text,
        "src/lib.rs:1: pub fn add(a: i32, b: i32) -> i32 {\nsrc/main.rs:1: fn main() {"
    );
    let none = call(&mut p, "search", json!({"pattern": "PRINTLN"})).unwrap();
    assert_eq!(none.text, "no matches");
    let ci =
        call(&mut p, "search", json!({"pattern": "PRINTLN", "case_insensitive": true})).unwrap();
    assert!(ci.text.starts_with("src/main.rs:2:"));
    let bad = call(&mut p, "search", json!({"pattern": "("})).unwrap_err();
    assert!(bad.contains("bad pattern"), "{bad}");
}

#[test]
fn schema_errors_name_the_field_and_unknown_tools_the_tools() {
    let mut p = project();
    let err = call(&mut p, "read_file", json!({"file": "a"})).unwrap_err();
    assert!(err.contains("unknown field `file`"), "{err}");
    let err = call(&mut p, "read_file", json!({"path": "src/main.rs", "start_line": "one"}));
    let err = err.unwrap_err();
    assert!(err.contains("start_line") && err.contains("invalid type"), "{err}");
    // A number where the schema wants a string is its text (the XML form has no types).
    let found = call(&mut p, "search", json!({"pattern": 32})).unwrap();
    assert!(!found.text.contains("invalid type"), "{}", found.text);
    let err = call(&mut p, "read_file", json!({"path": 2024})).unwrap_err();
    assert!(err.contains("2024") && !err.contains("invalid type"), "{err}");
    let err = call(&mut p, "delete_everything", json!({})).unwrap_err();
    assert!(err.contains("unknown tool") && err.contains("read_file"), "{err}");
}

#[test]
fn edits_apply_through_the_undo_log_and_stay_out_of_context() {
    let mut p = project();
    let done = call(
        &mut p,
        "edit_file",
        json!({"path": "src/lib.rs", "search": "    a + b", "replace": "    a.wrapping_add(b)"}),
    )
    .unwrap();
    assert_eq!(done, Outcome::ok("edited src/lib.rs"));
    let on_disk = fs::read_to_string(p.files.root().join("src/lib.rs")).unwrap();
    assert!(on_disk.contains("a.wrapping_add(b)"));
    assert!(p.files.get("src/lib.rs").is_none());
    assert_eq!(p.log.depth(), 1);
    let missing =
        call(&mut p, "edit_file", json!({"path": "src/lib.rs", "search": "nope", "replace": "x"}))
            .unwrap_err();
    assert!(missing.contains("does not match"), "{missing}");
    let same =
        call(&mut p, "edit_file", json!({"path": "README.md", "content": "# demo\n"})).unwrap_err();
    assert!(same.contains("unchanged"));
    let ignored = call(&mut p, "edit_file", json!({"path": "new.log", "content": "x"})).unwrap();
    assert!(ignored.failed && ignored.text.contains("ignored"), "{}", ignored.text);
}

#[test]
fn a_prepared_edit_shows_its_diff_before_anything_is_written() {
    let p = project();
    let count = |s: &str| s.len();
    let mut files = p.files;
    let mut log = EditLog::new();
    let ws =
        Workspace { files: &mut files, log: &mut log, count: &count, limits: Limits::default() };
    let c =
        ToolCall::new(0, "edit_file", &json!({"path": "src/new.rs", "content": "pub fn x() {}\n"}));
    let action = Action::prepare(&c, &ws).unwrap();
    assert_eq!(action.prepared.title, "create src/new.rs");
    assert!(action.prepared.detail.as_deref().unwrap().contains("+pub fn x() {}"));
    assert_eq!(action.tool.class, Class::Edit);
    assert!(!ws.files.root().join("src/new.rs").exists());
}

#[test]
fn commands_report_status_and_output_and_are_stopped() {
    let p = project();
    let root = p.files.root();
    let ok =
        command::run_command(root, "echo out; echo err >&2; pwd", Duration::from_secs(10), 4096);
    assert!(!ok.failed);
    assert!(ok.text.starts_with("exit status 0; output:\nout\nerr\n"), "{}", ok.text);
    assert!(ok.text.trim_end().ends_with(root.path().to_str().unwrap()));
    let bad = command::run_command(root, "exit 3", Duration::from_secs(10), 4096);
    assert_eq!(bad, Outcome::error("exit status 3; no output"));
    let no_stdin = command::run_command(root, "cat", Duration::from_secs(10), 4096);
    assert_eq!(no_stdin.text, "exit status 0; no output");
    let t = std::time::Instant::now();
    let hang = command::run_command(root, "sleep 30 & sleep 30", Duration::from_millis(300), 4096);
    assert!(hang.failed && hang.text.starts_with("timed out after 0 s (killed)"), "{}", hang.text);
    assert!(t.elapsed() < Duration::from_secs(10));
    let flood = command::run_command(root, "seq 1 100000", Duration::from_secs(20), 1000);
    assert!(flood.text.contains("bytes of output left out"), "{}", flood.text);
    assert!(
        flood.text.starts_with("exit status 0; output:\n1\n2\n")
            && flood.text.trim_end().ends_with("100000")
    );
    assert!(flood.text.len() < 1200);
}

#[test]
fn permissions_free_reads_and_parse_the_allow_list() {
    let mut perms = Permissions::new(Permissions::parse_list("edit").unwrap());
    assert!(perms.allows(Class::Read) && perms.allows(Class::Edit) && !perms.allows(Class::Run));
    perms.allow(Class::Run);
    assert!(perms.allows(Class::Run));
    assert!(Permissions::parse_list("edit,delete").unwrap_err().contains("`delete`"));
    let defs = definitions();
    assert_eq!(defs.as_array().unwrap().len(), TOOLS.len());
    assert_eq!(defs[1]["function"]["name"], "read_file");
    assert_eq!(defs[1]["function"]["parameters"]["required"], json!(["path"]));
}
