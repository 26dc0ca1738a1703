//! `hearth edit`: the filter gives back only the new text, untouched lines byte for byte;
//! on every failure the input comes back unchanged, with one line on stderr and the exit
//! code of what failed.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::common::{self, model_path, stderr, QWEN25_CODER, SMOLLM2};

/// Runs `hearth edit ARGS` with `input` on stdin, in a fresh data dir.
fn edit(args: &[&str], input: &[u8]) -> Output {
    let data = tempfile::tempdir().unwrap();
    let mut child = edit_cmd(args, data.path()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn edit_cmd(args: &[&str], data: &std::path::Path) -> Command {
    let mut cmd = common::hearth();
    cmd.env("HEARTH_DATA_DIR", data)
        .arg("edit")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The failure contract: the input back on stdout, byte for byte, one `hearth:` line on
/// stderr containing `needle`, exit `code`.
fn assert_gives_back(out: &Output, input: &[u8], code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(out.stdout, input, "the input must come back unchanged; stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {err}");
    assert!(lines[0].starts_with("hearth: ") && lines[0].contains(needle), "stderr: {err}");
}

#[test]
fn the_default_model_fixes_the_bug_and_prints_the_function_only() {
    model_path(QWEN25_CODER);
    let out = edit(&["fix the bug"], b"def add(a, b):\n    return a - b\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "def add(a, b):\n    return a + b\n");
}

#[test]
fn a_buggy_file_changes_only_on_its_buggy_line_and_keeps_every_other_byte() {
    model_path(QWEN25_CODER);
    // CRLF endings, trailing blanks and a tab-indented line the fix does not touch,
    // unicode, and no final newline.
    let input = "import sys\r\n\r\n# Résumé: arithmetic helpers   \r\ndef add(a, b):\r\n    return a - b\r\n\r\ndef mul(a, b):\r\n\treturn a * b";
    let out = edit(&["--path", "calc.py", "fix the bug in add"], input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let want = input.replace("return a - b", "return a + b");
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    let diff = edit(&["--path", "calc.py", "--diff", "fix the bug in add"], input.as_bytes());
    let diff = String::from_utf8_lossy(&diff.stdout).into_owned();
    let changed: Vec<&str> =
        diff.split('\n').filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++")).collect();
    let changed: Vec<&str> = changed.into_iter().filter(|l| !l.starts_with("---")).collect();
    assert_eq!(changed, ["-    return a - b\r", "+    return a + b\r"], "{diff}");
}

#[test]
fn an_answer_without_an_edit_gives_the_input_back() {
    let m = model_path(SMOLLM2);
    let input = b"x = 1\r\ny = 2\tz\n\xc3\xa9";
    let out = edit(&["-m", m.to_str().unwrap(), "-n", "1", "rename x to count"], input);
    assert_gives_back(&out, input, 1, "no usable edit");
}

#[test]
fn a_model_that_does_not_load_gives_the_input_back() {
    let input = b"keep me\n";
    let out = edit(&["-m", "/nonexistent/model.gguf", "do something"], input);
    assert_gives_back(&out, input, 2, "no such file");
    let out = edit(&["-m", "/nonexistent/model.gguf", "   "], input);
    assert_gives_back(&out, input, 2, "the instruction is empty");
}

#[test]
fn text_that_is_not_utf8_comes_back_whole() {
    let input = b"caf\xe9 au lait\n";
    let out = edit(&["do something"], input);
    assert_gives_back(&out, input, 2, "not valid UTF-8");
}

#[test]
fn ctrl_c_stops_the_edit_and_gives_the_input_back() {
    let m = model_path(SMOLLM2);
    let data = tempfile::tempdir().unwrap();
    // Long enough that reading it takes well over the wait below on any machine, so the
    // signal always lands before the edit is done; a Ctrl-C at any point before the
    // output gives the input back.
    let input = "def f():\n    return 1\n".repeat(120);
    let args = ["-m", m.to_str().unwrap(), "-n", "4000", "--temp", "1", "rewrite it in rust"];
    let mut child = edit_cmd(&args, data.path()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "Ctrl-C must stop it promptly");
    assert_gives_back(&out, input.as_bytes(), 130, "interrupted");
}

#[test]
fn in_place_rewrites_the_file_and_leaves_it_alone_on_failure() {
    model_path(QWEN25_CODER);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calc.py");
    std::fs::write(&file, "def add(a, b):\n    return a - b\n").unwrap();
    let f = file.to_str().unwrap();
    let out = edit(&["--in-place", f, "fix the bug"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "def add(a, b):\n    return a + b\n");
    let before = std::fs::read(&file).unwrap();
    let out = edit(&["--in-place", f, "-n", "1", "rename add to plus"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), before);
}
