//! Tests of files in context on temp-dir projects: resolving and refusing, ordering,
//! dropping, refreshing, mentions, completion, prompt assembly and the budget.

use std::fs;
use std::path::Path;

use super::*;

/// A token counter for tests: one token per whitespace-separated word.
pub(crate) fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

/// A temp project holding `files` (parent directories created).
pub(crate) fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, ContextFiles) {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        write(dir.path(), path, content.as_bytes());
    }
    let root = Root::new(dir.path()).unwrap();
    (dir, ContextFiles::new(root))
}

pub(crate) fn write(root: &Path, path: &str, bytes: &[u8]) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

fn paths(files: &ContextFiles) -> Vec<&str> {
    files.list().iter().map(|f| f.path.as_str()).collect()
}

fn reasons(report: &AddReport) -> Vec<(&str, &RefusalReason)> {
    report.refused.iter().map(|r| (r.path.as_str(), &r.reason)).collect()
}

const TREE: &[(&str, &str)] = &[
    ("README.md", "# demo\n"),
    ("src/main.rs", "fn main() {}\n"),
    ("src/lib.rs", "pub fn f() {}\n"),
    ("src/notes.txt", "text\n"),
    ("src/sub/deep.rs", "// deep\n"),
    ("tests/t.rs", "#[test] fn t() {}\n"),
];

#[test]
fn globs_expand_in_name_order() {
    let (_dir, mut files) = project(TREE);
    let report = files.add(&["src/*.rs"], false, &words);
    assert_eq!(report.added, ["src/lib.rs", "src/main.rs"]);
    assert!(report.refused.is_empty() && report.already.is_empty());
    let report = files.add(&["src/**/*.rs"], false, &words);
    assert_eq!(report.added, ["src/sub/deep.rs"]);
    assert_eq!(report.already, ["src/lib.rs", "src/main.rs"]);
    let report = files.add(&["**/*.rs", "README.md"], false, &words);
    assert_eq!(report.added, ["tests/t.rs", "README.md"]);
    assert_eq!(
        paths(&files),
        ["src/lib.rs", "src/main.rs", "src/sub/deep.rs", "tests/t.rs", "README.md"]
    );
    let report = files.add(&["src/*.py"], false, &words);
    assert_eq!(reasons(&report), [("src/*.py", &RefusalReason::NoMatch)]);
    assert_eq!(report.refused[0].message(), "src/*.py: no files match");
}

#[test]
fn an_existing_name_with_glob_characters_is_taken_literally() {
    let (dir, mut files) = project(TREE);
    write(dir.path(), "data[1].txt", b"one\n");
    write(dir.path(), "data1.txt", b"also one\n");
    assert_eq!(files.add(&["data[1].txt"], false, &words).added, ["data[1].txt"]);
    assert_eq!(files.add(&["data[0-9].txt"], false, &words).added, ["data1.txt"]);
}

#[test]
fn a_directory_adds_the_files_below_it() {
    let (_dir, mut files) = project(TREE);
    let report = files.add(&["src/"], true, &words);
    assert_eq!(report.added, ["src/lib.rs", "src/main.rs", "src/notes.txt", "src/sub/deep.rs"]);
    assert!(files.list().iter().all(|f| f.read_only));
}

#[test]
fn ignored_files_are_skipped_by_globs_and_refused_by_name() {
    let mut tree = TREE.to_vec();
    tree.extend([
        (".gitignore", "*.log\ntarget/\n!keep.log\n"),
        ("src/debug.log", "log\n"),
        ("src/keep.log", "kept\n"),
        ("target/gen.rs", "// generated\n"),
        (".hearthignore", "secret.rs\n"),
        ("src/secret.rs", "key\n"),
        (".git/config", "[core]\n"),
    ]);
    let (_dir, mut files) = project(&tree);
    let report = files.add(&["**/*.rs"], false, &words);
    assert_eq!(report.added, ["src/lib.rs", "src/main.rs", "src/sub/deep.rs", "tests/t.rs"]);
    assert!(report.refused.is_empty());
    let report = files.add(&["src/*.log"], false, &words);
    assert_eq!(report.added, ["src/keep.log"]);
    for name in ["src/debug.log", "target/gen.rs", "src/secret.rs", ".git/config", "target"] {
        let report = files.add(&[name], false, &words);
        assert_eq!(reasons(&report), [(name, &RefusalReason::Ignored)], "{name}");
    }
    let report = files.add(&["src/debug.log"], false, &words);
    assert_eq!(
        report.refused[0].message(),
        "src/debug.log: ignored by .gitignore or .hearthignore, not added"
    );
    // A nested .gitignore applies below it.
    write(files.root().path(), "tests/.gitignore", b"t.rs\n");
    let report = files.add(&["tests/t.rs"], false, &words);
    assert_eq!(reasons(&report), [("tests/t.rs", &RefusalReason::Ignored)]);
}

#[test]
fn paths_outside_the_root_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    write(outer.path(), "secret.txt", b"outside\n");
    write(outer.path(), "proj/inside.txt", b"inside\n");
    let root = Root::new(&outer.path().join("proj")).unwrap();
    let mut files = ContextFiles::new(root);
    let outside = outer.path().join("secret.txt").canonicalize().unwrap();
    let abs = outside.to_str().unwrap().to_string();
    for spec in ["../secret.txt", abs.as_str(), "sub/../../secret.txt", "../*.txt"] {
        let report = files.add(&[spec], false, &words);
        assert_eq!(reasons(&report), [(spec, &RefusalReason::OutsideRoot)], "{spec}");
    }
    assert_eq!(
        Refusal::new("../secret.txt", RefusalReason::OutsideRoot).message(),
        "../secret.txt: outside the project root"
    );
    // An absolute path inside the root is fine.
    let inside = files.root().join("inside.txt");
    let report = files.add(&[inside.to_str().unwrap()], false, &words);
    assert_eq!(report.added, ["inside.txt"]);
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_root_are_refused() {
    use std::os::unix::fs::symlink;
    let outer = tempfile::tempdir().unwrap();
    write(outer.path(), "secret.txt", b"outside\n");
    write(outer.path(), "proj/real.txt", b"real\n");
    fs::create_dir(outer.path().join("elsewhere")).unwrap();
    let proj = outer.path().join("proj");
    symlink(outer.path().join("secret.txt"), proj.join("escape.txt")).unwrap();
    symlink(proj.join("real.txt"), proj.join("alias.txt")).unwrap();
    symlink(outer.path().join("elsewhere"), proj.join("linkdir")).unwrap();
    let mut files = ContextFiles::new(Root::new(&proj).unwrap());
    let report = files.add(&["escape.txt"], false, &words);
    assert_eq!(reasons(&report), [("escape.txt", &RefusalReason::OutsideRoot)]);
    let report = files.add(&["linkdir"], false, &words);
    assert_eq!(reasons(&report), [("linkdir", &RefusalReason::OutsideRoot)]);
    // A glob reports the escaping link and takes the rest, the inside link included.
    let report = files.add(&["*.txt"], false, &words);
    assert_eq!(report.added, ["alias.txt", "real.txt"]);
    assert_eq!(reasons(&report), [("escape.txt", &RefusalReason::OutsideRoot)]);
    assert_eq!(files.get("alias.txt").unwrap().content, "real\n");
}

#[test]
fn binary_and_oversized_files_are_refused() {
    let (dir, files) = project(TREE);
    write(dir.path(), "img.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    write(dir.path(), "latin1.txt", b"caf\xe9\n");
    write(dir.path(), "big.txt", &[b'a'; 150]);
    write(dir.path(), "ok.txt", &[b'a'; 100]);
    let mut files = files.with_limits(Limits { max_file_bytes: 100, ..Limits::default() });
    let report =
        files.add(&["img.png", "latin1.txt", "big.txt", "ok.txt", "nope.rs"], false, &words);
    assert_eq!(report.added, ["ok.txt"]);
    assert_eq!(
        reasons(&report),
        [
            ("img.png", &RefusalReason::Binary),
            ("latin1.txt", &RefusalReason::Binary),
            ("big.txt", &RefusalReason::TooLarge { size: 150, limit: 100 }),
            ("nope.rs", &RefusalReason::NotFound),
        ]
    );
    let messages: Vec<String> = report.refused.iter().map(Refusal::message).collect();
    assert_eq!(messages[0], "img.png: binary file (not UTF-8 text), not added");
    assert_eq!(messages[2], "big.txt: too large (150 B, the limit is 100 B)");
    assert_eq!(messages[3], "nope.rs: no such file");
    assert_eq!(
        Refusal::new(
            "x",
            RefusalReason::TooLarge { size: 300 * 1024, limit: DEFAULT_MAX_FILE_BYTES }
        )
        .message(),
        "x: too large (300.0 KiB, the limit is 256.0 KiB)"
    );
    // A glob reports the binary files it meets.
    let report = files.add(&["*.png"], false, &words);
    assert_eq!(reasons(&report), [("img.png", &RefusalReason::Binary)]);
}

#[test]
fn globs_naming_too_many_files_are_refused() {
    let (_dir, files) = project(TREE);
    let mut files = files.with_limits(Limits { max_glob_matches: 2, ..Limits::default() });
    let report = files.add(&["src/**"], false, &words);
    assert!(report.added.is_empty());
    assert_eq!(reasons(&report), [("src/**", &RefusalReason::TooManyMatches { limit: 2 })]);
    assert_eq!(files.add(&["src/*.rs"], false, &words).added.len(), 2);
}

#[test]
fn paths_are_relative_to_the_working_directory() {
    let (dir, mut files) = project(TREE);
    files.set_cwd(&dir.path().join("src")).unwrap();
    assert_eq!(files.cwd(), "src");
    let report = files.add(&["main.rs", "../README.md", "sub/*.rs"], false, &words);
    assert_eq!(report.added, ["src/main.rs", "README.md", "src/sub/deep.rs"]);
    assert_eq!(files.drop("main.rs"), ["src/main.rs"]);
    assert_eq!(files.drop("sub/*.rs"), ["src/sub/deep.rs"]);
    assert!(files.set_cwd(Path::new("/")).is_err());
}

#[test]
fn discover_uses_the_git_root() {
    let (dir, _) = project(TREE);
    fs::create_dir(dir.path().join(".git")).unwrap();
    let mut files = ContextFiles::discover(&dir.path().join("src/sub")).unwrap();
    assert_eq!(files.root().path(), dir.path().canonicalize().unwrap());
    assert_eq!(files.cwd(), "src/sub");
    assert_eq!(files.add(&["deep.rs"], false, &words).added, ["src/sub/deep.rs"]);
}

#[test]
fn order_is_kept_and_drop_removes_by_path_glob_or_directory() {
    let (_dir, mut files) = project(TREE);
    files.add(&["tests/t.rs", "src/main.rs", "README.md", "src/sub/deep.rs"], false, &words);
    let report = files.add(&["README.md", "src/lib.rs"], false, &words);
    assert_eq!(report.already, ["README.md"]);
    assert_eq!(
        paths(&files),
        ["tests/t.rs", "src/main.rs", "README.md", "src/sub/deep.rs", "src/lib.rs"]
    );
    assert_eq!(files.drop("README.md"), ["README.md"]);
    assert_eq!(files.drop("nothing.rs"), Vec::<String>::new());
    assert_eq!(files.drop(""), Vec::<String>::new());
    assert_eq!(files.drop("src/*.rs"), ["src/main.rs", "src/lib.rs"]);
    assert_eq!(paths(&files), ["tests/t.rs", "src/sub/deep.rs"]);
    // A file dropped and added again goes to the end.
    files.add(&["src/main.rs"], false, &words);
    assert_eq!(files.drop("src"), ["src/sub/deep.rs", "src/main.rs"]);
    files.add(&["README.md"], false, &words);
    assert_eq!(files.drop_all(), ["tests/t.rs", "README.md"]);
    assert!(files.is_empty());
}

#[test]
fn read_only_flags_and_token_counts() {
    let (_dir, mut files) = project(TREE);
    files.add(&["src/main.rs"], false, &words);
    files.add(&["README.md"], true, &words);
    let main = files.get("src/main.rs").unwrap();
    assert!(!main.read_only);
    // "src/main.rs" "```rust" "fn" "main()" "{}" "```"
    assert_eq!(main.tokens, 6);
    assert!(files.get("README.md").unwrap().read_only);
    assert_eq!(files.set_read_only("src/*.rs", true, &words), ["src/main.rs"]);
    let main = files.get("src/main.rs").unwrap();
    assert!(main.read_only);
    assert_eq!(main.tokens, 7, "the label gains `(read-only)`");
    assert_eq!(files.set_read_only("README.md", false, &words), ["README.md"]);
    assert!(!files.get("README.md").unwrap().read_only);
}

#[test]
fn refresh_rereads_changed_files_and_drops_deleted_ones() {
    let (dir, mut files) = project(TREE);
    files.add(&["src/main.rs", "src/lib.rs", "README.md", "tests/t.rs"], true, &words);
    assert!(files.refresh(&words).is_empty(), "nothing changed");
    // Same length, right after reading: the racy window makes refresh look at content.
    write(dir.path(), "src/main.rs", b"fn niam() {}\n");
    fs::remove_file(dir.path().join("src/lib.rs")).unwrap();
    write(dir.path(), "tests/t.rs", b"\0binary now");
    let changes = files.refresh(&words);
    assert_eq!(
        changes,
        [
            Refreshed { path: "src/main.rs".into(), change: Change::Reread },
            Refreshed { path: "src/lib.rs".into(), change: Change::Deleted },
            Refreshed { path: "tests/t.rs".into(), change: Change::Refused(RefusalReason::Binary) },
        ]
    );
    assert_eq!(changes[0].message(), "re-read src/main.rs (changed on disk)");
    assert_eq!(changes[1].message(), "dropped src/lib.rs (deleted on disk)");
    assert_eq!(changes[2].message(), "dropped tests/t.rs: binary file (not UTF-8 text), not added");
    assert_eq!(paths(&files), ["src/main.rs", "README.md"]);
    let main = files.get("src/main.rs").unwrap();
    assert_eq!(main.content, "fn niam() {}\n");
    assert!(main.read_only, "the flag survives a re-read");
    // Rewriting the same content is not a change.
    write(dir.path(), "README.md", b"# demo\n");
    assert!(files.refresh(&words).is_empty());
}

#[test]
fn mentions_resolve_against_the_working_directory() {
    let (dir, mut files) = project(TREE);
    files.set_cwd(&dir.path().join("src")).unwrap();
    let m = files.parse_mentions("compare @main.rs, @../README.md: and mail a@b.c");
    let got: Vec<&str> = m.mentions.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(got, ["main.rs", "../README.md"]);
    assert_eq!(m.message, "compare main.rs, ../README.md: and mail a@b.c");
}

#[test]
fn completion_lists_entries_under_the_root() {
    let mut tree = TREE.to_vec();
    tree.extend([
        (".gitignore", "target/\n*.log\n"),
        ("target/x.rs", ""),
        ("src/a.log", ""),
        ("src/.hidden.rs", ""),
        ("srcgen/x.rs", ""),
    ]);
    let (dir, mut files) = project(&tree);
    assert_eq!(files.complete("sr"), ["src/", "srcgen/"]);
    assert_eq!(files.complete("src/"), ["src/lib.rs", "src/main.rs", "src/notes.txt", "src/sub/"]);
    assert_eq!(files.complete("src/m"), ["src/main.rs"]);
    assert_eq!(files.complete("src/."), ["src/.hidden.rs"]);
    assert_eq!(files.complete("t"), ["tests/"], "target/ is ignored");
    assert_eq!(files.complete(""), ["README.md", "src/", "srcgen/", "tests/"]);
    assert_eq!(files.complete("./src/s"), ["./src/sub/"]);
    assert!(files.complete("../").is_empty(), "nothing outside the root");
    assert!(files.complete("nope/").is_empty());
    files.set_cwd(&dir.path().join("src")).unwrap();
    assert_eq!(files.complete("../R"), ["../README.md"]);
    assert_eq!(files.complete("s"), ["sub/"]);
}

#[test]
fn fences_are_longer_than_any_backtick_run() {
    assert_eq!(fence_for("plain"), "```");
    assert_eq!(fence_for("a `b` c"), "```");
    assert_eq!(fence_for("```rust\nx\n```\n"), "````");
    assert_eq!(fence_for("x ````` y"), "``````");
    let block = render_file("doc.md", "```\ncode\n```", false);
    assert_eq!(block, "doc.md\n````markdown\n```\ncode\n```\n````\n");
}

#[test]
fn languages_from_names_and_extensions() {
    assert_eq!(language_for("src/main.rs"), "rust");
    assert_eq!(language_for("a/b.PY"), "python");
    assert_eq!(language_for("Makefile"), "make");
    assert_eq!(language_for("web/app.tsx"), "tsx");
    assert_eq!(language_for("kernels/matmul.comp"), "glsl");
    assert_eq!(language_for("LICENSE"), "");
    assert_eq!(language_for("x.unknownext"), "");
}

#[test]
fn notes_come_first_then_files_in_order() {
    let mut tree = TREE.to_vec();
    tree.extend([("AGENTS.md", "Use tabs.\n"), ("CLAUDE.md", "ignored: AGENTS.md wins\n")]);
    let (dir, mut files) = project(&tree);
    let notes = load_notes(files.root(), Limits::default()).unwrap().unwrap();
    assert_eq!(notes, Notes { path: "AGENTS.md".into(), content: "Use tabs.\n".into() });
    files.add(&["src/main.rs"], false, &words);
    files.add(&["README.md"], true, &words);
    let text = render_context(Some(&notes), files.list());
    assert_eq!(
        text,
        "Project notes (AGENTS.md):\n\nUse tabs.\n\nFiles in context:\n\n\
         src/main.rs\n```rust\nfn main() {}\n```\n\n\
         README.md (read-only)\n```markdown\n# demo\n```\n"
    );
    assert_eq!(render_context(None, &[]), "");
    // HEARTH.md is preferred; one that cannot be read is reported.
    write(dir.path(), "HEARTH.md", b"hearth notes");
    let notes = load_notes(files.root(), Limits::default()).unwrap().unwrap();
    assert_eq!(notes.path, "HEARTH.md");
    assert_eq!(render_notes(&notes), "Project notes (HEARTH.md):\n\nhearth notes\n");
    write(dir.path(), "HEARTH.md", &[b'x'; 64]);
    let err =
        load_notes(files.root(), Limits { max_file_bytes: 10, ..Limits::default() }).unwrap_err();
    assert_eq!(err.reason, RefusalReason::TooLarge { size: 64, limit: 10 });
    let (_empty, none) = project(&[]);
    assert_eq!(load_notes(none.root(), Limits::default()).unwrap(), None);
}

#[test]
fn budget_warns_before_overflow_and_refuses_what_does_not_fit() {
    let (_dir, mut files) = project(TREE);
    files.add(&["src/main.rs", "src/lib.rs"], false, &words);
    let notes = Notes { path: "AGENTS.md".into(), content: "one two three".into() };
    // notes: "Project notes (AGENTS.md):" + 3 words = 6; main.rs 6; lib.rs 7.
    let budget = files.budget(100, 10, Some(&notes), 20, 30, &words);
    assert_eq!(budget.notes, 6);
    assert_eq!(budget.files, [("src/main.rs".to_string(), 6), ("src/lib.rs".to_string(), 7)]);
    assert_eq!(budget.needed(), 10 + 6 + 13 + 20 + 30);
    assert_eq!(budget.check().unwrap(), BudgetStatus::Fits { needed: 79, n_ctx: 100 });
    assert_eq!(budget.check().unwrap().warning(), None);
    let tight = Budget { n_ctx: 85, ..budget.clone() };
    let status = tight.check().unwrap();
    assert_eq!(status, BudgetStatus::NearlyFull { needed: 79, n_ctx: 85 });
    assert_eq!(
        status.warning().unwrap(),
        "context nearly full: 79 of 85 tokens (92%); /drop files or /clear"
    );
    assert!(Budget { n_ctx: 79, ..budget.clone() }.check().is_ok(), "exactly full still fits");
    let err = Budget { n_ctx: 78, ..budget.clone() }.check().unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::BadInput);
    assert_eq!(
        err.to_string(),
        "the prompt would not fit: it needs 79 tokens and the context holds 78; largest files: \
         src/lib.rs 7, src/main.rs 6; /drop files, /clear the history or raise -c"
    );
    let table = budget.to_string();
    assert!(table.starts_with("system"), "{table}");
    assert!(table.contains("src/lib.rs"), "{table}");
    assert!(table.ends_with("total 79 of 100 tokens (79%)"), "{table}");
}
