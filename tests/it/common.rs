//! Shared helpers for the integration tests: the real models, the binary, temp files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const QWEN25_CODER: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
pub const GEMMA3: &str = "gemma3-270m-q4_k_m.gguf";
pub const REAL_MODELS: [&str; 3] = [SMOLLM2, QWEN25_CODER, GEMMA3];

/// The models dir, as `scripts/fetch-models` and hearth resolve it.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("HEARTH_MODELS_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hearth/models")
        }
    }
}

/// The path of a real model. A missing model fails the test: it never passes silently.
pub fn model_path(file_name: &str) -> PathBuf {
    let path = models_dir().join(file_name);
    assert!(
        path.exists(),
        "real model {} is missing: run scripts/fetch-models first",
        path.display()
    );
    path
}

/// A file under tests/ (fixtures, golden data).
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(rel)
}

pub fn golden_json(name: &str) -> serde_json::Value {
    let path = fixture(&format!("golden/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `hearth` binary under test, on the CPU unless a test names a backend with
/// `--backend`: what a test prints must not depend on whether the machine has a Vulkan
/// loader (without one, `auto` says so in a warning line).
pub fn hearth() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth"));
    cmd.env("NO_COLOR", "1").env("HEARTH_BACKEND", "cpu").stdin(Stdio::null());
    cmd
}

/// Runs hearth with `args`, returning its output.
pub fn run(args: &[&str]) -> Output {
    hearth().args(args).output().expect("spawn hearth")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a failed run: the exit code, and exactly one `hearth: ` line on stderr that
/// contains `needle`.
pub fn assert_fails(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.starts_with("hearth: "), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}
