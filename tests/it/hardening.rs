//! Regression tests of issue 16, the hostile user's probes: each is named after the
//! promise it broke and turns the reproduction into an assertion.

use std::io::Write;
use std::process::Stdio;

use crate::common::{self, assert_fails, model_path, stderr, SMOLLM2};

/// 16.2: `run -f /dev/zero`, `tokenize -f /dev/zero` and `yes | ask` read without limit
/// until the kernel killed them.
#[test]
fn endless_input_is_refused_at_the_input_limit() {
    let m = model_path(SMOLLM2);
    let m = m.to_str().unwrap();
    for args in [
        vec!["run", "-m", m, "-n", "8", "-f", "/dev/zero"],
        vec!["tokenize", "-m", m, "-f", "/dev/zero"],
        vec!["--max-input", "1M", "perplexity", "-m", m, "-f", "/dev/zero"],
    ] {
        let out = common::run(&args);
        assert_fails(&out, 2, "larger than the input limit");
    }
    let mut yes = std::process::Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    let pipe = yes.stdout.take().unwrap();
    let out = common::hearth().args(["ask", "-m", m, "hi"]).stdin(pipe).output().unwrap();
    // `yes` ends on the closed pipe.
    yes.wait().unwrap();
    assert_fails(&out, 2, "<stdin>: larger than the input limit of 64.0 MiB (--max-input");
}

/// 16.2, for the editor filter: text over the limit is not edited but comes back whole.
#[test]
fn an_edit_too_long_to_take_still_gives_the_text_back() {
    let input: Vec<u8> = (0..5000u32).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
    let mut child = common::hearth()
        .args(["--max-input", "1K", "edit", "-m", "/nonexistent.gguf", "reverse it"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feed = input.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&feed).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout == input, "{} of {} bytes came back", out.stdout.len(), input.len());
    assert!(stderr(&out).contains("input limit of 1.0 KiB"), "{}", stderr(&out));
}

/// 16.7: `-m DIR` said "No such device (os error 19)", exit 1; `-f DIR` "Is a directory",
/// exit 2.
#[test]
fn a_directory_where_a_file_is_wanted_is_one_error_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let m = model_path(SMOLLM2);
    let m = m.to_str().unwrap();
    for args in [
        vec!["run", "-m", d, "-p", "hi"],
        vec!["inspect", d],
        vec!["run", "-m", m, "-f", d],
        vec!["ask", "-m", m, "-f", d, "hi"],
    ] {
        assert_fails(&common::run(&args), 2, &format!("{d}: is a directory, not a file"));
    }
}

/// 16.8: `-t 1000` on 2 cores took 68 s for 8 tokens.
#[test]
fn more_threads_than_cores_are_capped_with_one_warning() {
    let m = model_path(SMOLLM2);
    let out = common::run(&["run", "-m", m.to_str().unwrap(), "-p", "Hi", "-n", "2", "-t", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("-t 1000: this machine has"), "{}", warnings[0]);
}

/// 16.10: clap's usage errors were multi-line `error:` blocks.
#[test]
fn a_usage_error_is_one_hearth_line_and_the_usage_hint() {
    for args in [vec!["run", "--bogus"], vec!["run", "-n", "abc", "-p", "x"], vec!["frobnicate"]] {
        let out = common::run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(lines[0].starts_with("hearth: ") && lines[1].contains("--help"), "{err}");
    }
    let help = common::run(&["edit", "--help"]);
    assert!(help.status.success() && common::stdout(&help).contains("INSTRUCTION"));
}

/// 16.10: with `HOME` unset, the models dir was relative to the working directory.
#[test]
fn without_home_the_models_dir_is_an_error_not_a_relative_path() {
    let out = common::hearth()
        .env_remove("HOME")
        .env_remove("HEARTH_MODELS_DIR")
        .args(["run", "-p", "hi"])
        .output()
        .unwrap();
    assert_fails(&out, 2, "no models dir: set HEARTH_MODELS_DIR or HOME");
}

/// SmolLM2 as a writer: its metadata and tensors, each tensor's bytes passed to `edit`.
fn smollm2_copy(
    mut edit: impl FnMut(&hearth::gguf::TensorInfo, &mut Vec<u8>),
) -> hearth::gguf::GgufWriter {
    let src = hearth::gguf::GgufFile::open(model_path(SMOLLM2)).unwrap();
    let mut w = hearth::gguf::GgufWriter::new();
    for (key, value) in src.metadata().iter() {
        w.set(key, value.clone());
    }
    for info in src.tensors() {
        let mut data = src.tensor_data(info).to_vec();
        edit(info, &mut data);
        w.add_tensor(info.name.clone(), &info.dims, info.ty, data).unwrap();
    }
    w
}

/// 16.6: `hearth perplexity` on a model with NaN weights printed `PPL = NaN`, exit 0.
#[test]
fn perplexity_of_a_model_with_nan_weights_fails_naming_the_chunk() {
    let w = smollm2_copy(|info, data| {
        if info.name == "output_norm.weight" {
            assert_eq!(info.ty, hearth::quant::GgmlType::F32);
            *data = f32::NAN.to_le_bytes().repeat(data.len() / 4);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("nan.gguf");
    w.write(&model).unwrap();
    let text = dir.path().join("text.txt");
    std::fs::write(&text, "The quick brown fox jumps over the lazy dog. ".repeat(20)).unwrap();
    let out = common::run(&[
        "perplexity",
        "-m",
        model.to_str().unwrap(),
        "-f",
        text.to_str().unwrap(),
        "-c",
        "64",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("chunk 1 of") && err.contains("non-finite"), "{err}");
    assert!(common::stdout(&out).is_empty());
}

/// 16.1: `run -c 10000000` was killed by the OOM killer at 20 GB, and `-c 100000` cost
/// 2.4 GB for a 2-token run: the CPU cache was zero-filled for the whole context.
#[test]
fn a_huge_context_is_refused_and_a_large_one_costs_only_what_it_uses() {
    let m = model_path(SMOLLM2);
    let m = m.to_str().unwrap();
    let out = common::run(&["run", "-m", m, "-p", "Hello", "-n", "8", "-c", "10000000"]);
    assert_fails(&out, 2, "-c 10000000: a full KV cache would need 214.6 GiB");
    let out = common::run(&["run", "-m", m, "-p", "Hello", "-n", "8", "-c", "100000", "-v"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("-c 100000 is past the 8192 tokens the model was trained on"), "{err}");
    let line = err.lines().find_map(|l| l.strip_prefix("peak resident memory: ")).expect(&err);
    // The model file is 94 MiB; the whole cache would be 2.3 GiB.
    assert!(line.ends_with(" MiB"), "peak resident memory: {line}");
    let mib: f64 = line.trim_end_matches(" MiB").parse().unwrap();
    assert!(mib < 512.0, "peak resident memory: {line}");
}

/// 16.9: a non-UTF-8 model path was stored lossily in the session row, and a later
/// `ask --session` quietly used the default model instead.
#[test]
fn a_model_path_that_is_not_utf8_is_refused_for_sessions() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join(std::ffi::OsStr::from_bytes(b"model-\xff.gguf"));
    // A file of that name (a symlink would resolve to the model's own UTF-8 path).
    let model = model_path(SMOLLM2);
    if std::fs::hard_link(&model, &link).is_err() {
        std::fs::copy(&model, &link).unwrap();
    }
    let data = dir.path().join("data");
    let ask = |session: bool| {
        let mut cmd = common::hearth();
        cmd.env("HEARTH_DATA_DIR", &data).arg("ask").arg("-m").arg(&link);
        if session {
            cmd.args(["--session", "s"]);
        }
        cmd.args(["-n", "2", "hi"]).output().unwrap()
    };
    assert!(ask(false).status.success(), "without a session the path is fine");
    let out = ask(true);
    assert_fails(&out, 2, "the model's path is not valid UTF-8, so a session cannot record it");
    assert!(common::stdout(&out).is_empty(), "refused before the answer");
}

/// 16.10: with stdout closed, `run` kept generating to `-n`.
#[test]
fn run_stops_when_its_reader_goes_away() {
    use std::io::Read;
    let m = model_path(SMOLLM2);
    let args = ["run", "-m", m.to_str().unwrap(), "-p", "Once upon a time", "-n", "20000"];
    let mut child = common::hearth()
        .args(args)
        .args(["--ignore-eos", "-c", "24000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 20];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then the pipe closes
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    // 20,000 tokens take minutes on any of our machines; a stop takes well under a second.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "it kept generating");
    assert!(out.status.success(), "{}", stderr(&out));
}

/// 16.12: a llama file carrying `attn_q.bias` loaded, and its biases were dropped.
#[test]
fn tensors_the_architecture_does_not_take_fail_the_load_by_name() {
    let mut w = smollm2_copy(|_, _| {});
    w.add_f32("blk.0.attn_q.bias", &[576], &[0.5; 576]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("biased.gguf");
    w.write(&model).unwrap();
    let out = common::run(&["run", "-m", model.to_str().unwrap(), "-p", "Hi", "-n", "2"]);
    assert_fails(&out, 2, "1 tensor that the llama architecture does not use (blk.0.attn_q.bias)");
}

/// Pseudo-random bytes (xorshift64) from `seed`.
fn noise_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A page in the middle of the last stored snapshot segment's data (SQLite's `dbstat`
/// places every page).
fn snapshot_data_page(db: &std::path::Path) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let page: i64 = conn
        .query_row(
            "SELECT pageno FROM dbstat WHERE name = 'kv_segments' AND pagetype = 'overflow'
             ORDER BY path DESC LIMIT 1 OFFSET 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    page as u64 - 1
}

/// 16.3: with 4096 random bytes written at offset 10 × 4096 of `hearth.db` (a store
/// holding one session and its KV snapshot), `sessions list`, `show`, `export`, `rm`,
/// `gc` and `ask --session` all exited 2 "database disk image is malformed", while
/// `sqlite3` still read every message. The same with a page of the snapshot's data.
#[test]
fn a_damaged_snapshot_page_does_not_lock_out_the_sessions() {
    let m = model_path(SMOLLM2);
    for exact_reproduction in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let db = data.join("hearth.db");
        let run = |args: &[&str]| {
            common::hearth().env("HEARTH_DATA_DIR", &data).args(args).output().unwrap()
        };
        let ask =
            |q: &str| run(&["ask", "-m", m.to_str().unwrap(), "--session", "x", "-n", "8", q]);
        assert!(ask("hi").status.success());
        let page = if exact_reproduction { 10 } else { snapshot_data_page(&db) };
        let mut bytes = std::fs::read(&db).unwrap();
        let at = page as usize * 4096;
        bytes[at..at + 4096].copy_from_slice(&noise_bytes(page, 4096));
        std::fs::write(&db, &bytes).unwrap();
        let case = if exact_reproduction { "offset 10 × 4096" } else { "snapshot data" };

        let list = run(&["sessions", "list"]);
        assert!(list.status.success(), "{case}: {}", stderr(&list));
        assert!(common::stdout(&list).contains(" x "), "{case}");
        let show = run(&["sessions", "show", "x"]);
        assert!(show.status.success() && common::stdout(&show).contains("\nhi\n"), "{case}");
        let export = run(&["sessions", "export", "x", "--format", "json"]);
        assert!(export.status.success(), "{case}: {}", stderr(&export));
        let json: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
        assert_eq!(json["messages"].as_array().unwrap().len(), 3, "{case}");

        let out = ask("again");
        let err = stderr(&out);
        assert!(out.status.success(), "{case}: {err}");
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warnings.len(), 1, "{case}: {err}");
        assert!(warnings[0].starts_with("hearth: warning: the session's KV snapshot is damaged"));
        assert!(warnings[0].contains("was dropped"), "{case}: {err}");
        assert!(!common::stdout(&out).trim().is_empty());

        // gc does what it can and says what it could not; repair rebuilds the store.
        let gc = run(&["sessions", "gc"]);
        assert_eq!(gc.status.code(), Some(2), "{case}: {}", stderr(&gc));
        assert!(stderr(&gc).contains("could not be removed"), "{case}: {}", stderr(&gc));
        let repair = run(&["sessions", "repair"]);
        let report = stderr(&repair);
        assert!(repair.status.success(), "{case}: {report}");
        assert!(report.contains("kept: 1 session(s), 5 message(s)"), "{case}: {report}");
        assert!(report.contains("the old file is kept as "), "{case}: {report}");
        let out = ask("and again");
        assert!(out.status.success() && !stderr(&out).contains("warning"), "{}", stderr(&out));
        assert!(run(&["sessions", "gc"]).status.success());
        let healthy = run(&["sessions", "repair"]);
        assert!(healthy.status.success() && stderr(&healthy).contains("healthy"));
        assert!(run(&["sessions", "rm", "x"]).status.success());
    }
}
