//! `hearth serve` driven by clients we did not write: the `openai` Python package's own
//! client (tests/serve/client.py: chat whole and streamed, a conversation extended with
//! its prefix from the cache, a tool call and its result, a text completion, a wrong key
//! refused), and `hearth ask --remote` pointed at it.

use std::process::{Command, Stdio};

use crate::common::{self, fixture, hearth, model_path, QWEN25_CODER};
use crate::remote::{free_port, wait_until_answers, Server};

const KEY: &str = "test-key";

/// `hearth serve` with the default test model on `port`, ready.
fn serve(port: u16) -> Server {
    let child = hearth()
        .args(["serve", "-t", "2", "--api-key", KEY, "--port", &port.to_string(), "-m"])
        .arg(model_path(QWEN25_CODER))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hearth serve");
    let server = Server(child);
    wait_until_answers(port, "/health", 60, "hearth serve");
    server
}

#[test]
fn serve_answers_the_openai_client_and_reuses_a_conversations_prefix() {
    let has = Command::new("python3").args(["-c", "import openai"]).output();
    if !has.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: the openai package is needed"
        );
        eprintln!("serve: skipped (the openai Python package is not installed)");
        return;
    }
    let port = free_port();
    let _server = serve(port);
    let base = format!("http://127.0.0.1:{port}/v1");
    let out = Command::new("python3")
        .arg(fixture("serve/client.py"))
        .args([&base, KEY])
        .output()
        .unwrap();
    let (text, err) = (common::stdout(&out), common::stderr(&out));
    assert!(out.status.success(), "client.py failed:\n{err}\n{text}");
    let figures: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let first = figures["first_prompt_tokens"].as_u64().unwrap();
    assert!(figures["cached_tokens"].as_u64().unwrap() >= first, "{figures}");
    // hearth itself as the client.
    let out = hearth()
        .args(["ask", "--remote", &base, "-n", "12", "--temp", "0", "Say hello."])
        .env("HEARTH_REMOTE_API_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(!common::stdout(&out).trim().is_empty());
    // Tools over the API: the remote model's call comes back as `tool_calls` and runs
    // here, with the permission given.
    let project = tempfile::tempdir().unwrap();
    let out = hearth()
        .args(["ask", "--remote", &base, "--temp", "0", "-n", "80", "--max-steps", "2"])
        .args(["--tools", "--allow", "run", "Use run_command to run: touch made-by-tool"])
        .env("HEARTH_REMOTE_API_KEY", KEY)
        .env("HEARTH_DATA_DIR", project.path().join(".data"))
        .current_dir(project.path())
        .output()
        .unwrap();
    assert!(project.path().join("made-by-tool").exists(), "{}", common::stderr(&out));
    // `edit --remote NAME` through the config file, the key from the variable it names:
    // greedy on the same model, the remote edit is the local one.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = format!("[remotes.box]\nurl = \"{base}\"\napi_key_env = \"BOX_KEY\"\n");
    std::fs::write(&config, text).unwrap();
    let input = b"def add(a, b):\n    return a - b\n";
    let edit = |remote: bool| {
        let mut cmd = hearth();
        cmd.args(["edit", "--temp", "0", "fix the bug"]).env("HEARTH_DATA_DIR", dir.path());
        if remote {
            cmd.args(["--remote", "box"]).env("HEARTH_CONFIG", &config).env("BOX_KEY", KEY);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        child.wait_with_output().unwrap()
    };
    let (local, remote) = (edit(false), edit(true));
    assert!(remote.status.success(), "{}", common::stderr(&remote));
    assert_eq!(common::stdout(&remote), common::stdout(&local));
    assert_eq!(common::stdout(&remote), "def add(a, b):\n    return a + b\n");
}
