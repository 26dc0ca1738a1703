//! Tests of proposed edits: parsing both formats, applying in memory, diffs checked
//! against hunks derived by hand, and atomic writes with undo on temp-dir projects.

use std::fs;

use super::*;
use crate::context::tests::{project, words, write};
use crate::context::ContextFiles;

fn parse(answer: &str) -> ParsedEdits {
    parse_edits(answer, &|_| false)
}

fn whole(path: &str, content: &str) -> Edit {
    Edit { path: path.into(), kind: EditKind::Whole(content.into()) }
}

fn sr(path: &str, search: &str, replace: &str) -> Edit {
    Edit {
        path: path.into(),
        kind: EditKind::SearchReplace { search: search.into(), replace: replace.into() },
    }
}

#[test]
fn whole_file_blocks_named_by_the_fence_label_or_the_line_before() {
    let answer = "Here:\n\n```rust src/main.rs\nfn main() {\n    println!(\"hi\");\n}\n```\nDone.";
    assert_eq!(
        parse(answer).edits,
        [whole("src/main.rs", "fn main() {\n    println!(\"hi\");\n}\n")]
    );
    for label in
        ["src/lib.rs", "**src/lib.rs**", "`src/lib.rs`:", "### ./src/lib.rs", "src/lib.rs:"]
    {
        let answer = format!("{label}\n```rust\npub fn f() {{}}\n```\n");
        assert_eq!(parse(&answer).edits, [whole("src/lib.rs", "pub fn f() {}\n")], "{label}");
    }
    // A blank line between the path and the fence is fine; tildes fence too.
    assert_eq!(
        parse("Cargo.toml\n\n~~~toml\n[package]\n~~~\n").edits,
        [whole("Cargo.toml", "[package]\n")]
    );
}

#[test]
fn code_blocks_without_a_path_are_not_edits() {
    for answer in [
        "```rust\nfn x() {}\n```",
        "Look at this:\n```python\nprint(1)\n```",
        "e.g.\n```\nx\n```",
        "version 3.14\n```\nx\n```",
        "See https://example.com/a.rs\n```\nx\n```",
        "In `src/main.rs`:\n```rust\nfn x() {}\n```",
    ] {
        let parsed = parse(answer);
        assert!(parsed.edits.is_empty() && parsed.problems.is_empty(), "{answer:?}: {parsed:?}");
    }
    // A name that does not look like a path counts when it is in context.
    let answer = "Makefile\n```make\nall:\n\tcc x.c\n```\n";
    assert!(parse(answer).edits.is_empty());
    let parsed = parse_edits(answer, &|p| p == "Makefile");
    assert_eq!(parsed.edits, [whole("Makefile", "all:\n\tcc x.c\n")]);
}

#[test]
fn search_replace_outside_and_inside_fences() {
    let bare = "src/main.rs\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n";
    assert_eq!(parse(bare).edits, [sr("src/main.rs", "old\n", "new\n")]);
    let before_fence =
        "Change it:\n\nsrc/main.rs\n```rust\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n";
    assert_eq!(parse(before_fence).edits, [sr("src/main.rs", "a\n", "b\n")]);
    let inside = "```rust\nsrc/main.rs\n<<<<<<< SEARCH\na\n  b\n=======\nc\n>>>>>>> REPLACE\n```";
    assert_eq!(parse(inside).edits, [sr("src/main.rs", "a\n  b\n", "c\n")]);
    let in_label = "```rust src/x.rs\n<<<<<<< SEARCH\na\n=======\n>>>>>>> REPLACE\n```";
    assert_eq!(parse(in_label).edits, [sr("src/x.rs", "a\n", "")]);
}

#[test]
fn several_blocks_and_formats_in_one_answer() {
    let answer = "\
I'll make three changes.

src/a.rs
```rust
<<<<<<< SEARCH
one
=======
uno
>>>>>>> REPLACE

<<<<<<< SEARCH
two
=======
dos
>>>>>>> REPLACE

src/b.rs
<<<<<<< SEARCH
three
=======
tres
>>>>>>> REPLACE
```

And the README, whole:

README.md
```markdown
# Title
```

Then once more in b.rs, outside any fence:

<<<<<<< SEARCH
uno
=======
eins
>>>>>>> REPLACE
";
    let parsed = parse(answer);
    assert_eq!(
        parsed.edits,
        [
            sr("src/a.rs", "one\n", "uno\n"),
            sr("src/a.rs", "two\n", "dos\n"),
            sr("src/b.rs", "three\n", "tres\n"),
            whole("README.md", "# Title\n"),
            // The previous block's file: the whole-file edit of README.md does not count.
            sr("src/b.rs", "uno\n", "eins\n"),
        ]
    );
    assert!(parsed.problems.is_empty());
}

#[test]
fn fences_inside_a_search_replace_block_belong_to_it() {
    let answer = "README.md\n```markdown\n<<<<<<< SEARCH\n```sh\nmake\n```\n=======\n```sh\njust\n```\n>>>>>>> REPLACE\n```\n";
    assert_eq!(parse(answer).edits, [sr("README.md", "```sh\nmake\n```\n", "```sh\njust\n```\n")]);
}

#[test]
fn unfinished_and_unnamed_blocks_are_problems() {
    let parsed = parse("src/a.rs\n<<<<<<< SEARCH\nx\n=======\ny\n");
    assert!(parsed.edits.is_empty());
    assert_eq!(parsed.problems, ["src/a.rs: the SEARCH/REPLACE block is not finished"]);
    let parsed = parse("Some prose.\n<<<<<<< SEARCH\nfn x()\n=======\nfn y()\n>>>>>>> REPLACE\n");
    assert!(parsed.edits.is_empty());
    assert_eq!(parsed.problems, ["a SEARCH/REPLACE block names no file (first line: `fn x()`)"]);
    let parsed = parse("src/a.rs\n```rust\nfn x() {}\n");
    assert!(parsed.edits.is_empty());
    assert_eq!(parsed.problems, ["src/a.rs: the code block is not finished"]);
    // An empty SEARCH (a new file) is a block like any other.
    let parsed = parse("new.rs\n<<<<<<< SEARCH\n=======\nfn x() {}\n>>>>>>> REPLACE");
    assert_eq!(parsed.edits, [sr("new.rs", "", "fn x() {}\n")]);
}

#[test]
fn search_must_match_whole_lines_exactly_once() {
    let apply = |content: &str, search: &str, replace: &str| {
        apply_search_replace("src/x.rs", content, search, replace)
    };
    assert_eq!(apply("a\nb\nc\n", "b\n", "B\nB2\n").unwrap(), "a\nB\nB2\nc\n");
    assert_eq!(apply("a\nb\nc\n", "b\n", "").unwrap(), "a\nc\n");
    assert_eq!(apply("a\nb", "b", "c").unwrap(), "a\nc", "no newline added at EOF");
    assert_eq!(apply("a\nb", "a\nb", "x\ny\n").unwrap(), "x\ny");
    let err = apply("abc\n", "b\n", "x\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "src/x.rs: the SEARCH block does not match the file (first line: `b`)"
    );
    let err = apply("x\ny\nx\n", "x\n", "z\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "src/x.rs: the SEARCH block matches 2 places (first line: `x`); it must match one"
    );
    assert_eq!(err.kind(), crate::ErrorKind::BadInput);
}

#[test]
fn trailing_whitespace_is_forgiven_when_nothing_matches_exactly() {
    let content = "fn x() {   \n    y();\t\n}\n";
    let out = apply_search_replace("f.rs", content, "fn x() {\n    y();\n", "fn x() {\n    z();\n");
    assert_eq!(out.unwrap(), "fn x() {\n    z();\n}\n");
    // CRLF files keep their line endings.
    let out = apply_search_replace("f.rs", "a\r\nb\r\nc\r\n", "b\n", "B\nB2\n");
    assert_eq!(out.unwrap(), "a\r\nB\r\nB2\r\nc\r\n");
    // An exact match wins over the tolerant ones.
    assert_eq!(apply_search_replace("f.rs", "x \nx\n", "x\n", "X\n").unwrap(), "x \nX\n");
    // Leading whitespace is not forgiven.
    assert!(apply_search_replace("f.rs", "  a\n", "a\n", "b\n").is_err());
}

#[test]
fn empty_search_creates_only_empty_files() {
    assert_eq!(apply_search_replace("n.rs", "", "", "fn x() {}\n").unwrap(), "fn x() {}\n");
    assert_eq!(apply_search_replace("n.rs", "\n", "\n", "x\n").unwrap(), "x\n");
    let err = apply_search_replace("n.rs", "old\n", "", "x\n").unwrap_err();
    assert!(err.to_string().starts_with("n.rs: the SEARCH block is empty"), "{err}");
}

fn text(lines: &[DiffLine]) -> String {
    diff_text(lines)
}

#[test]
fn diff_of_one_changed_line_has_three_lines_of_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
    let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\n";
    let lines = unified_diff("x.txt", Some(old), Some(new));
    assert_eq!(
        text(&lines),
        "--- a/x.txt\n+++ b/x.txt\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
    );
    let kinds: Vec<DiffKind> = lines.iter().map(|l| l.kind).collect();
    use DiffKind::*;
    assert_eq!(
        kinds,
        [
            Header, Header, Hunk, Context, Context, Context, Removed, Added, Context, Context,
            Context
        ]
    );
    assert!(unified_diff("x.txt", Some(old), Some(old)).is_empty());
    assert_eq!(
        text(&unified_diff("y", Some("a\n"), Some("b\n"))),
        "--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n"
    );
}

fn numbered(n: usize, changed: &[(usize, &str)]) -> String {
    (1..=n)
        .map(|i| {
            changed.iter().find(|c| c.0 == i).map_or(format!("L{i}\n"), |c| format!("{}\n", c.1))
        })
        .collect()
}

#[test]
fn hunks_merge_when_their_context_touches() {
    let old = numbered(20, &[]);
    // Seven unchanged lines between the changes: two hunks.
    let new = numbered(20, &[(5, "X"), (13, "Y")]);
    assert_eq!(
        text(&unified_diff("f", Some(&old), Some(&new))),
        "--- a/f\n+++ b/f\n\
         @@ -2,7 +2,7 @@\n L2\n L3\n L4\n-L5\n+X\n L6\n L7\n L8\n\
         @@ -10,7 +10,7 @@\n L10\n L11\n L12\n-L13\n+Y\n L14\n L15\n L16\n"
    );
    // Five unchanged lines between: one hunk.
    let new = numbered(20, &[(5, "X"), (11, "Y")]);
    let diff = text(&unified_diff("f", Some(&old), Some(&new)));
    assert!(diff.contains("@@ -2,13 +2,13 @@\n"), "{diff}");
    assert_eq!(diff.matches("@@ -").count(), 1);
    // Changes at the edges have less context.
    let new = numbered(20, &[(1, "X")]);
    let diff = text(&unified_diff("f", Some(&old), Some(&new)));
    assert_eq!(diff, "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n-L1\n+X\n L2\n L3\n L4\n");
}

#[test]
fn diff_of_insertions_deletions_and_new_files() {
    let diff = text(&unified_diff("n.txt", None, Some("x\ny\n")));
    assert_eq!(diff, "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,2 @@\n+x\n+y\n");
    let diff = text(&unified_diff("n.txt", Some("x\n"), None));
    assert_eq!(diff, "--- a/n.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n");
    let diff = text(&unified_diff("f", Some("a\nb\nc\n"), Some("a\nb\nnew\nc\n")));
    assert_eq!(diff, "--- a/f\n+++ b/f\n@@ -1,3 +1,4 @@\n a\n b\n+new\n c\n");
    let diff = text(&unified_diff("f", Some("a\nb"), Some("a\nc")));
    assert_eq!(
        diff,
        "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
    );
    // Myers finds a shortest script: abcabba -> cbabac takes 5 line edits.
    let a = "a\nb\nc\na\nb\nb\na\n";
    let b = "c\nb\na\nb\na\nc\n";
    let lines = unified_diff("f", Some(a), Some(b));
    let edits =
        lines.iter().filter(|l| matches!(l.kind, DiffKind::Added | DiffKind::Removed)).count();
    assert_eq!(edits, 5);
    // Replaying the diff gives the new text back.
    let rebuilt: String = lines
        .iter()
        .filter(|l| matches!(l.kind, DiffKind::Context | DiffKind::Added))
        .map(|l| format!("{}\n", &l.text[1..]))
        .collect();
    assert_eq!(rebuilt, b);
}

/// A project with `src/main.rs` in context, `src/ro.rs` read-only, `other.rs` on disk only.
fn edit_project() -> (tempfile::TempDir, ContextFiles) {
    let (dir, mut files) = project(&[
        ("src/main.rs", "fn main() {\n    old();\n}\n"),
        ("src/ro.rs", "// read-only\n"),
        ("other.rs", "// not in context\n"),
    ]);
    files.add(&["src/main.rs"], false, &words);
    files.add(&["src/ro.rs"], true, &words);
    (dir, files)
}

#[test]
fn plan_applies_in_order_and_refuses_what_it_must() {
    let (_dir, files) = edit_project();
    let edits = [
        sr("src/main.rs", "    old();\n", "    new();\n"),
        sr("./src/main.rs", "    new();\n", "    newer();\n"),
        whole("src/ro.rs", "// changed\n"),
        sr("other.rs", "// not in context\n", "x\n"),
        sr("new/file.rs", "", "fn f() {}\n"),
        sr("../escape.rs", "", "x\n"),
        sr("src/main.rs", "missing\n", "x\n"),
    ];
    let plan = plan(&edits, &files);
    assert_eq!(
        plan.changes,
        [
            FileChange {
                path: "src/main.rs".into(),
                before: Some("fn main() {\n    old();\n}\n".into()),
                after: "fn main() {\n    newer();\n}\n".into(),
            },
            FileChange { path: "new/file.rs".into(), before: None, after: "fn f() {}\n".into() },
        ]
    );
    let failed: Vec<String> = plan.failed.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        failed,
        [
            "src/ro.rs: read-only in context, not edited",
            "other.rs: not in context; /add it so the assistant sees it first",
            "../escape.rs: outside the project root",
            "src/main.rs: the SEARCH block does not match the file (first line: `missing`)",
        ]
    );
    assert!(plan.changes[1].is_creation());
    assert_eq!(
        diff_text(&plan.changes[0].diff()),
        "--- a/src/main.rs\n+++ b/src/main.rs\n@@ -1,3 +1,3 @@\n fn main() {\n-    old();\n+    newer();\n }\n"
    );
    // An edit that changes nothing is left out; nothing was written.
    let noop = plan_of(&files, sr("src/main.rs", "}\n", "}\n"));
    assert!(noop.changes.is_empty() && noop.failed.is_empty());
    assert_eq!(
        fs::read_to_string(files.root().join("src/main.rs")).unwrap(),
        "fn main() {\n    old();\n}\n"
    );
    assert!(!files.root().join("new").exists());
}

fn plan_of(files: &ContextFiles, edit: Edit) -> Plan {
    plan(&[edit], files)
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(".hearth-"))
        .collect()
}

#[test]
fn apply_writes_atomically_and_undo_puts_everything_back() {
    let (_dir, mut files) = edit_project();
    let root = files.root().clone();
    let plan = plan(
        &[
            sr("src/main.rs", "    old();\n", "    new();\n"),
            sr("new/deep/file.rs", "", "fn f() {}\n"),
        ],
        &files,
    );
    assert!(plan.failed.is_empty());
    let mut log = EditLog::new();
    let written = log.apply(&plan.changes, &mut files, &words).unwrap();
    assert_eq!(written, ["src/main.rs", "new/deep/file.rs"]);
    assert_eq!(
        fs::read_to_string(root.join("src/main.rs")).unwrap(),
        "fn main() {\n    new();\n}\n"
    );
    assert_eq!(fs::read_to_string(root.join("new/deep/file.rs")).unwrap(), "fn f() {}\n");
    assert!(
        leftovers(&root.join("src")).is_empty() && leftovers(&root.join("new/deep")).is_empty()
    );
    // The context follows: new content in place, the new file at the end.
    let order: Vec<&str> = files.list().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(order, ["src/main.rs", "src/ro.rs", "new/deep/file.rs"]);
    assert_eq!(files.get("src/main.rs").unwrap().content, "fn main() {\n    new();\n}\n");
    assert!(files.refresh(&words).is_empty(), "the context knows what was written");
    assert_eq!(log.depth(), 1);
    assert_eq!(log.last().unwrap()[1].previous, None);

    let undone = log.undo(&mut files, &words).unwrap().unwrap();
    assert_eq!(undone, ["src/main.rs", "new/deep/file.rs"]);
    assert_eq!(
        fs::read_to_string(root.join("src/main.rs")).unwrap(),
        "fn main() {\n    old();\n}\n"
    );
    assert!(!root.join("new").exists(), "the created file and its directories are gone");
    assert_eq!(files.get("src/main.rs").unwrap().content, "fn main() {\n    old();\n}\n");
    assert!(files.get("new/deep/file.rs").is_none());
    assert_eq!(log.undo(&mut files, &words).unwrap(), None, "nothing left to undo");
}

#[test]
fn undo_goes_back_one_apply_at_a_time_and_refuses_over_later_edits() {
    let (_dir, mut files) = edit_project();
    let root = files.root().clone();
    let mut log = EditLog::new();
    for (from, to) in [("old", "one"), ("one", "two")] {
        let search = format!("    {from}();\n");
        let plan = plan(&[sr("src/main.rs", &search, &format!("    {to}();\n"))], &files);
        log.apply(&plan.changes, &mut files, &words).unwrap();
    }
    assert_eq!(log.depth(), 2);
    log.undo(&mut files, &words).unwrap().unwrap();
    assert_eq!(
        fs::read_to_string(root.join("src/main.rs")).unwrap(),
        "fn main() {\n    one();\n}\n"
    );
    // Someone edits the file: undo would lose their work, so it refuses.
    write(root.path(), "src/main.rs", b"mine\n");
    let err = log.undo(&mut files, &words).unwrap_err();
    assert_eq!(err.to_string(), "src/main.rs: changed since the edit was applied; not undone");
    assert_eq!(fs::read_to_string(root.join("src/main.rs")).unwrap(), "mine\n");
    assert_eq!(log.depth(), 1, "still undoable once the file is put back");
}

#[test]
fn apply_refuses_stale_read_only_outside_and_ignored_targets() {
    let (dir, mut files) = edit_project();
    let root = files.root().clone();
    let mut log = EditLog::new();
    let change = |path: &str, before: Option<&str>| FileChange {
        path: path.into(),
        before: before.map(Into::into),
        after: "evil\n".into(),
    };
    let stale_plan = plan(&[sr("src/main.rs", "    old();\n", "    new();\n")], &files);
    write(dir.path(), "src/main.rs", b"fn main() {\n    edited();\n}\n");
    let fresh = change("fresh.rs", None);
    // Checked before anything is written: the fresh file is not created either.
    let err = log.apply(&[fresh, stale_plan.changes[0].clone()], &mut files, &words).unwrap_err();
    assert_eq!(
        err.to_string(),
        "src/main.rs: changed on disk since it was read; refresh the context and ask again"
    );
    assert!(!root.join("fresh.rs").exists());
    let cases = [
        (
            change("src/ro.rs", Some("// read-only\n")),
            "src/ro.rs: read-only in context, not written",
        ),
        (change("../escape.rs", None), "../escape.rs: outside the project root, not written"),
        (
            change(".git/config", None),
            ".git/config: ignored by .gitignore or .hearthignore, not written",
        ),
        (
            change("exists.rs", None),
            "exists.rs: changed on disk since it was read; refresh the context and ask again",
        ),
    ];
    write(dir.path(), "exists.rs", b"already here\n");
    for (change, message) in cases {
        let err = log.apply(&[change], &mut files, &words).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    assert_eq!(fs::read_to_string(root.join("src/ro.rs")).unwrap(), "// read-only\n");
    assert_eq!(log.depth(), 0);
}

#[cfg(unix)]
#[test]
fn apply_refuses_symlink_escapes_and_keeps_permissions() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let outer = tempfile::tempdir().unwrap();
    write(outer.path(), "secret.txt", b"outside\n");
    write(outer.path(), "proj/run.sh", b"echo hi\n");
    fs::create_dir(outer.path().join("elsewhere")).unwrap();
    let proj = outer.path().join("proj");
    symlink(outer.path().join("secret.txt"), proj.join("link.txt")).unwrap();
    symlink(outer.path().join("elsewhere"), proj.join("linkdir")).unwrap();
    fs::set_permissions(proj.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let mut files = ContextFiles::new(crate::context::Root::new(&proj).unwrap());
    let mut log = EditLog::new();
    let escape = FileChange {
        path: "link.txt".into(),
        before: Some("outside\n".into()),
        after: "x\n".into(),
    };
    let err = log.apply(&[escape], &mut files, &words).unwrap_err();
    assert_eq!(err.to_string(), "link.txt: resolves outside the project root, not written");
    let through_dir =
        FileChange { path: "linkdir/new.txt".into(), before: None, after: "x\n".into() };
    assert!(log.apply(&[through_dir], &mut files, &words).is_err());
    assert_eq!(fs::read_to_string(outer.path().join("secret.txt")).unwrap(), "outside\n");
    assert!(!outer.path().join("elsewhere/new.txt").exists());

    files.add(&["run.sh"], false, &words);
    let plan = plan(&[whole("run.sh", "echo bye\n")], &files);
    log.apply(&plan.changes, &mut files, &words).unwrap();
    let mode = fs::metadata(proj.join("run.sh")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(fs::read_to_string(proj.join("run.sh")).unwrap(), "echo bye\n");
}
