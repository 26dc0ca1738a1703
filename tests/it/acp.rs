//! `hearth acp` end to end: a scripted client drives the real binary over stdin/stdout
//! (a turn streamed, edits put to permission and written or not, cancel, a stored session
//! loaded with its KV cache, malformed lines), 10,000 fuzzed lines, and the official
//! TypeScript SDK as the client. Stdout must hold nothing but JSON-RPC lines throughout.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{hearth, model_path, QWEN25_CODER, SMOLLM2};
use crate::testmodels::Rng;

/// How long any one message may take (model loads and turns included).
const WAIT: Duration = Duration::from_secs(120);

struct Agent {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    seen: Vec<Value>,
}

impl Agent {
    fn spawn(args: &[&str], data: &Path) -> Agent {
        let mut child = hearth()
            .arg("acp")
            .args(args)
            .env("HEARTH_DATA_DIR", data)
            .env("HEARTH_VERBOSE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hearth acp");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut pipe, sink) = (child.stderr.take().unwrap(), Arc::clone(&stderr));
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Agent { stdin: child.stdin.take(), child, lines, stderr, seen: Vec::new() }
    }

    fn send(&mut self, v: Value) {
        self.send_raw(&v.to_string());
    }

    fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to hearth acp");
    }

    /// The next line of stdout, which must be one JSON-RPC 2.0 object.
    fn next(&mut self) -> Value {
        let line = match self.lines.recv_timeout(WAIT) {
            Ok(line) => line,
            Err(e) => panic!("no message from hearth acp ({e}); stderr:\n{}", self.stderr()),
        };
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
        self.seen.push(v.clone());
        v
    }

    /// Reads until the response to `id`; requests from the agent get `answer`'s reply.
    fn until(&mut self, id: Value, answer: &dyn Fn(&Value) -> Value) -> Value {
        loop {
            let m = self.next();
            if m.get("method").is_some() && m.get("id").is_some() {
                let reply = answer(&m);
                self.send(reply);
            } else if m.get("method").is_none() && m["id"] == id {
                return m;
            }
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The text of the agent message chunks of session `sid` seen so far.
    fn said(&self, sid: &str, kind: &str) -> String {
        self.updates(sid, kind).iter().filter_map(|u| u["content"]["text"].as_str()).collect()
    }

    fn updates(&self, sid: &str, kind: &str) -> Vec<Value> {
        self.seen
            .iter()
            .filter(|m| m["method"] == "session/update" && m["params"]["sessionId"] == sid)
            .map(|m| m["params"]["update"].clone())
            .filter(|u| u["sessionUpdate"] == kind)
            .collect()
    }

    /// Closes stdin; the agent must exit 0 with nothing more than JSON lines on stdout.
    fn finish(mut self) -> (String, Vec<Value>) {
        drop(self.stdin.take());
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > WAIT {
                let _ = self.child.kill();
                panic!("hearth acp did not exit at EOF; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            let v: Value = serde_json::from_str(&line).expect("stdout is JSON lines");
            self.seen.push(v);
        }
        assert_eq!(status.code(), Some(0), "stderr:\n{}", self.stderr());
        (self.stderr(), std::mem::take(&mut self.seen))
    }
}

fn no_requests(m: &Value) -> Value {
    panic!("unexpected request from the agent: {m}")
}

fn allow(m: &Value) -> Value {
    assert_eq!(m["method"], "session/request_permission", "{m}");
    json!({"jsonrpc": "2.0", "id": m["id"], "result": {"outcome": {"outcome": "selected", "optionId": "allow-once"}}})
}

fn reject(m: &Value) -> Value {
    assert_eq!(m["method"], "session/request_permission", "{m}");
    json!({"jsonrpc": "2.0", "id": m["id"], "result": {"outcome": {"outcome": "selected", "optionId": "reject-once"}}})
}

fn initialize(a: &mut Agent) {
    a.send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": 1, "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}}}}));
    let r = a.until(json!(0), &no_requests);
    assert_eq!(r["result"]["protocolVersion"], 1);
    assert_eq!(r["result"]["agentCapabilities"]["loadSession"], true);
    assert_eq!(r["result"]["agentCapabilities"]["promptCapabilities"]["embeddedContext"], true);
    assert_eq!(r["result"]["agentInfo"]["name"], "hearth");
    assert_eq!(r["result"]["authMethods"], json!([]));
}

fn new_session(a: &mut Agent, id: i64, cwd: &Path) -> String {
    a.send(json!({"jsonrpc": "2.0", "id": id, "method": "session/new", "params": {"cwd": cwd, "mcpServers": []}}));
    let r = a.until(json!(id), &no_requests);
    r["result"]["sessionId"].as_str().unwrap_or_else(|| panic!("{r}")).to_string()
}

fn prompt(a: &mut Agent, id: i64, sid: &str, blocks: Value) {
    a.send(json!({"jsonrpc": "2.0", "id": id, "method": "session/prompt", "params": {"sessionId": sid, "prompt": blocks}}));
}

#[test]
fn acp_edits_are_offered_as_tool_calls_and_written_only_when_allowed() {
    let model = model_path(QWEN25_CODER);
    let (data, project) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = project.path().join("x.py");
    let original = "a = 1\nb = 2\n";
    std::fs::write(&file, original).unwrap();
    let mut a =
        Agent::spawn(&["-m", model.to_str().unwrap(), "--temp", "0", "-n", "60"], data.path());
    initialize(&mut a);
    let blocks = json!([{"type": "resource_link", "uri": "x.py", "name": "x.py"},
                        {"type": "text", "text": "In x.py, change b to 3."}]);
    let sid = new_session(&mut a, 1, project.path());
    prompt(&mut a, 2, &sid, blocks.clone());
    let r = a.until(json!(2), &allow);
    assert_eq!(r["result"]["stopReason"], "end_turn", "{r}");
    assert!(!a.said(&sid, "agent_message_chunk").is_empty());
    let calls = a.updates(&sid, "tool_call");
    assert_eq!(
        calls.len(),
        1,
        "the greedy answer proposes one edit: {}",
        a.said(&sid, "agent_message_chunk")
    );
    assert_eq!(calls[0]["kind"], "edit");
    let diff = &calls[0]["content"][0];
    assert_eq!((diff["type"].as_str(), diff["oldText"].as_str()), (Some("diff"), Some(original)));
    let new_text = diff["newText"].as_str().unwrap().to_string();
    assert_ne!(new_text, original);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), new_text, "written when allowed");
    assert_eq!(a.updates(&sid, "tool_call_update")[0]["status"], "completed");
    assert!(!a.updates(&sid, "usage_update").is_empty());

    // The same question in a fresh session, rejected: nothing is written.
    std::fs::write(&file, original).unwrap();
    let sid2 = new_session(&mut a, 3, project.path());
    prompt(&mut a, 4, &sid2, blocks);
    a.until(json!(4), &reject);
    assert_eq!(a.updates(&sid2, "tool_call").len(), 1);
    assert_eq!(a.updates(&sid2, "tool_call_update")[0]["status"], "failed");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original, "nothing written when rejected");
    a.finish();
}

#[test]
fn acp_turns_stream_cancel_and_a_stored_session_comes_back_with_its_cache() {
    let model = model_path(SMOLLM2);
    let m = model.to_str().unwrap();
    let (data, project) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Agent::spawn(&["-m", m, "--temp", "0", "-n", "16"], data.path());
    initialize(&mut a);
    let sid = new_session(&mut a, 1, project.path());
    prompt(&mut a, 2, &sid, json!([{"type": "text", "text": "Say hello."}]));
    let r = a.until(json!(2), &no_requests);
    assert!(!a.updates(&sid, "available_commands_update").is_empty());
    let stop = r["result"]["stopReason"].as_str().unwrap_or_else(|| panic!("{r}")).to_string();
    assert!(stop == "end_turn" || stop == "max_tokens", "{r}");
    let first = a.said(&sid, "agent_message_chunk");
    assert!(!first.trim().is_empty(), "the answer streams as chunks");
    prompt(&mut a, 3, &sid, json!([{"type": "text", "text": "/tokens"}]));
    a.until(json!(3), &no_requests);
    assert!(a.said(&sid, "agent_message_chunk").contains("history"), "/tokens says the budget");
    a.finish();

    // Another process loads it: history replayed, the cache restored (the context is in
    // use before any prompt), and the next prompt reuses it.
    let mut a = Agent::spawn(&["-m", m, "--temp", "0", "-n", "16"], data.path());
    initialize(&mut a);
    a.send(json!({"jsonrpc": "2.0", "id": 1, "method": "session/load", "params": {"sessionId": sid, "cwd": project.path(), "mcpServers": []}}));
    let r = a.until(json!(1), &no_requests);
    assert!(r.get("result").is_some(), "{r}");
    assert_eq!(a.said(&sid, "user_message_chunk"), "Say hello.");
    assert_eq!(a.said(&sid, "agent_message_chunk"), first);
    let usage = a.updates(&sid, "usage_update");
    assert!(usage[0]["used"].as_u64().unwrap() > 0, "the KV snapshot was restored: {usage:?}");
    prompt(&mut a, 2, &sid, json!([{"type": "text", "text": "And goodbye."}]));
    a.until(json!(2), &no_requests);
    let stderr = a.stderr();
    let reused =
        stderr.lines().find(|l| l.starts_with("prompt:")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(!reused.contains("(0 reused)"), "the prompt reused the restored cache: {reused}");
    a.send(json!({"jsonrpc": "2.0", "id": 3, "method": "session/list", "params": {}}));
    let list = a.until(json!(3), &no_requests);
    assert!(list["result"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["sessionId"] == sid.as_str()));
    a.finish();

    // A long answer, cancelled right after it is asked for.
    let mut a = Agent::spawn(&["-m", m, "--temp", "0", "-n", "4000"], data.path());
    initialize(&mut a);
    let sid = new_session(&mut a, 1, project.path());
    prompt(&mut a, 2, &sid, json!([{"type": "text", "text": "Write a very long story."}]));
    a.send(json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": sid}}));
    let r = a.until(json!(2), &no_requests);
    assert_eq!(r["result"]["stopReason"], "cancelled", "{r}");
    a.finish();
}

#[test]
fn acp_malformed_lines_are_answered_and_never_end_the_agent() {
    let (data, project) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let missing = project.path().join("missing.gguf");
    let mut a = Agent::spawn(&["-m", missing.to_str().unwrap()], data.path());
    let cases: &[(&str, Value, i64)] = &[
        ("{not json", Value::Null, -32700),
        ("[]", Value::Null, -32600),
        (r#"{"jsonrpc":"2.0","id":1}"#, json!(1), -32600),
        (r#"{"jsonrpc":"1.0","id":2,"method":"initialize"}"#, json!(2), -32600),
        (r#"{"jsonrpc":"2.0","id":3,"method":"no/such"}"#, json!(3), -32601),
        (r#"{"jsonrpc":"2.0","id":4,"method":"initialize","params":{}}"#, json!(4), -32602),
        (
            r#"{"jsonrpc":"2.0","id":"s","method":"session/new","params":{"cwd":"rel","mcpServers":[]}}"#,
            json!("s"),
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"session/prompt","params":{"sessionId":"x","prompt":[]}}"#,
            json!(6),
            -32002,
        ),
    ];
    for (line, id, code) in cases {
        a.send_raw(line);
        let r = a.next();
        assert_eq!((&r["id"], r["error"]["code"].as_i64()), (id, Some(*code)), "{line} -> {r}");
    }
    let r = {
        a.send_raw(r#"{"jsonrpc":"2.0","id":4,"method":"initialize","params":{}}"#);
        a.next()
    };
    assert!(
        r["error"]["message"].as_str().unwrap().contains("protocolVersion"),
        "names the field: {r}"
    );
    // A notification is never answered, an unknown one neither; the model that does not
    // load is an error response, not an exit.
    a.send_raw(r#"{"jsonrpc":"2.0","method":"no/such"}"#);
    a.send(json!({"jsonrpc": "2.0", "id": 7, "method": "session/new", "params": {"cwd": project.path(), "mcpServers": []}}));
    let r = a.until(json!(7), &no_requests);
    assert!(r["error"]["message"].as_str().unwrap().contains("missing.gguf"), "{r}");
    a.finish();
}

/// A random JSON value of depth at most `depth`.
fn random_value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 1),
        2 => json!(rng.next_u64() as i64),
        3 => json!(f64::from(rng.uniform(1e30))),
        4 => json!(["", "x", "é🔥\u{202e}", "\u{0}", "/tmp", "session/new"][rng.below(6) as usize]),
        5 => json!(u64::MAX),
        6 => Value::Array((0..rng.below(4)).map(|_| random_value(rng, depth - 1)).collect()),
        _ => {
            let keys = ["cwd", "sessionId", "prompt", "mcpServers", "type", "text", "uri", "x"];
            let n = rng.below(4);
            Value::Object(
                (0..n)
                    .map(|_| {
                        (keys[rng.below(8) as usize].to_string(), random_value(rng, depth - 1))
                    })
                    .collect(),
            )
        }
    }
}

/// Valid messages to mutate.
fn seeds(cwd: &Path) -> Vec<Value> {
    vec![
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1, "clientCapabilities": {"fs": {"readTextFile": true}}}}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "session/new", "params": {"cwd": cwd, "mcpServers": []}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "session/load", "params": {"sessionId": "s", "cwd": cwd, "mcpServers": []}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "session/prompt", "params": {"sessionId": "s", "prompt": [{"type": "text", "text": "hi"}]}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "session/list", "params": {}}),
        json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": "s"}}),
        json!({"jsonrpc": "2.0", "id": 6, "result": {"outcome": {"outcome": "cancelled"}}}),
    ]
}

fn mutate(rng: &mut Rng, mut v: Value) -> Value {
    let obj = v.as_object_mut().unwrap();
    for _ in 0..=rng.below(3) {
        let keys: Vec<String> = obj.keys().cloned().collect();
        match rng.below(6) {
            0 if !keys.is_empty() => {
                obj.remove(&keys[rng.below(keys.len() as u32) as usize]);
            }
            1 if !keys.is_empty() => {
                let k = &keys[rng.below(keys.len() as u32) as usize];
                obj.insert(k.clone(), random_value(rng, 3));
            }
            2 => {
                obj.insert("id".into(), random_value(rng, 1));
            }
            3 => {
                let methods = [
                    "initialize",
                    "session/new",
                    "session/prompt",
                    "nope",
                    "",
                    "session/cancel",
                    "fs/read_text_file",
                ];
                obj.insert("method".into(), json!(methods[rng.below(7) as usize]));
            }
            4 => {
                if let Some(Value::Object(p)) = obj.get_mut("params") {
                    let keys: Vec<String> = p.keys().cloned().collect();
                    if let Some(k) = keys.get(rng.below(keys.len().max(1) as u32) as usize) {
                        p.insert(k.clone(), random_value(rng, 3));
                    }
                }
            }
            _ => {
                obj.insert("params".into(), random_value(rng, 3));
            }
        }
    }
    v
}

/// Whether `line` is a request the agent must answer exactly once: JSON-RPC 2.0, a
/// string method, an id that can be echoed (string, number or null).
fn expects_answer(line: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(line).ok()?;
    let obj = v.as_object()?;
    let id = obj.get("id")?;
    if !(id.is_string() || id.is_number() || id.is_null()) {
        return None;
    }
    (obj.get("jsonrpc")? == "2.0" && obj.get("method")?.is_string()).then(|| id.clone())
}

#[test]
fn acp_fuzz_ten_thousand_lines_each_request_answered_once() {
    let (data, project) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let missing = project.path().join("missing.gguf");
    let mut rng = Rng::new(0xacf);
    let seeds = seeds(project.path());
    let mut lines = Vec::new();
    for i in 0..10_000u32 {
        let seed = seeds[rng.below(seeds.len() as u32) as usize].clone();
        let v = mutate(&mut rng, seed);
        let mut line = v.to_string();
        match rng.below(20) {
            0 => {
                let cut = rng.below(line.len() as u32) as usize;
                line = String::from_utf8_lossy(&line.as_bytes()[..cut]).into_owned();
            }
            1 => line = format!("{}{}{}", "[".repeat(200), line, "]".repeat(200)),
            2 => {
                line = format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"x\",\"params\":{}1{}}}",
                    "[".repeat(300),
                    "]".repeat(300)
                )
            }
            3 => line = line.replace('"', "'"),
            _ => {}
        }
        lines.push(line.replace('\n', " "));
    }
    // Distinct ids make "exactly once" checkable: renumber every line that has an id.
    let mut expected: Vec<Value> = Vec::new();
    for (n, line) in lines.iter_mut().enumerate() {
        let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(line) else { continue };
        let new_id = match obj.get("id") {
            Some(Value::String(_)) => json!(format!("f{n}")),
            Some(Value::Number(x)) if x.is_f64() => json!(n as f64 + 0.5),
            Some(Value::Number(_)) => json!(n),
            _ => continue,
        };
        obj.insert("id".into(), new_id.clone());
        *line = Value::Object(obj).to_string();
        if expects_answer(line).is_some() {
            expected.push(new_id);
        }
    }
    let mut a = Agent::spawn(&["-m", missing.to_str().unwrap()], data.path());
    let stdin = a.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut stdin = stdin;
        for line in lines {
            if writeln!(stdin, "{line}").is_err() {
                break;
            }
        }
    });
    writer.join().unwrap();
    let (_, seen) = a.finish();
    let mut answered: std::collections::HashMap<String, usize> = Default::default();
    for m in &seen {
        if m.get("method").is_none() && !m["id"].is_null() {
            *answered.entry(m["id"].to_string()).or_default() += 1;
        }
    }
    assert!(expected.len() > 2000, "the mix holds many valid requests: {}", expected.len());
    for id in &expected {
        assert_eq!(answered.get(&id.to_string()), Some(&1), "request {id} answered once");
    }
    assert!(answered.values().all(|&n| n == 1), "no id is answered twice");
}

#[test]
fn acp_sdk_client() {
    let dir = crate::common::fixture("acp-sdk");
    let has = |tool: &str| {
        std::process::Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
    };
    if !has("node") || !has("npm") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: node and npm are needed for the ACP SDK test"
        );
        eprintln!("acp_sdk_client: skipped (node or npm is not installed)");
        return;
    }
    if !dir.join("node_modules/@agentclientprotocol/sdk").exists() {
        let out = std::process::Command::new("npm")
            .args(["install", "--no-package-lock", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .expect("run npm install");
        assert!(
            out.status.success(),
            "npm install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (data, project) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(project.path().join("x.py"), "a = 1\nb = 2\n").unwrap();
    let out = std::process::Command::new("node")
        .arg(dir.join("client.mjs"))
        .arg(env!("CARGO_BIN_EXE_hearth"))
        .arg(model_path(QWEN25_CODER))
        .arg(project.path())
        .env("HEARTH_DATA_DIR", data.path())
        .output()
        .expect("run node");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the SDK client failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("sdk client: ok"), "{stdout}\n{stderr}");
    assert_eq!(
        std::fs::read_to_string(project.path().join("x.py")).unwrap(),
        "a = 1\nb = 3\n",
        "written through the client's fs/write_text_file"
    );
}

/// The model's own tool calls over ACP (`--tools`): a command is shown as a `tool_call`
/// of kind `execute`, put to `session/request_permission`, run only when allowed, and
/// its result sent as a `tool_call_update`.
#[test]
fn acp_tool_calls_ask_permission_and_run_only_when_allowed() {
    let model = model_path(QWEN25_CODER);
    let (data, project) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["-m", model.to_str().unwrap(), "--temp", "0", "-n", "120", "--tools"];
    let mut a = Agent::spawn(&args, data.path());
    initialize(&mut a);
    let blocks = json!([{"type": "text", "text": "Use run_command to run: touch made-by-tool"}]);
    let marker = project.path().join("made-by-tool");
    // Rejected: the call is shown, asked about, and fails without running.
    let sid = new_session(&mut a, 1, project.path());
    prompt(&mut a, 2, &sid, blocks.clone());
    let r = a.until(json!(2), &reject);
    assert!(r["result"]["stopReason"].is_string(), "{r}");
    let calls = a.updates(&sid, "tool_call");
    assert!(!calls.is_empty(), "stderr:\n{}", a.stderr());
    assert_eq!(calls[0]["kind"], "execute");
    // Pending is the protocol's default status, left out of the message.
    assert!(matches!(calls[0]["status"].as_str(), None | Some("pending")), "{}", calls[0]);
    assert_eq!(calls[0]["title"], "run touch made-by-tool");
    assert_eq!(calls[0]["content"][0]["content"]["text"], "touch made-by-tool");
    let updates = a.updates(&sid, "tool_call_update");
    assert_eq!(updates[0]["status"], "failed", "{updates:?}");
    assert!(!marker.exists(), "nothing runs when rejected");
    // Allowed: it runs, and the update says how it ended.
    let sid2 = new_session(&mut a, 3, project.path());
    prompt(&mut a, 4, &sid2, blocks);
    a.until(json!(4), &allow);
    let updates = a.updates(&sid2, "tool_call_update");
    let done = updates
        .iter()
        .find(|u| u["status"] == "completed")
        .unwrap_or_else(|| panic!("{updates:?}"));
    let text = content_text(done);
    assert!(text.contains("exit status 0"), "{text}");
    assert!(marker.exists(), "run when allowed");
    a.finish();
}

/// With a client that offers terminals, an allowed command runs in the client's terminal
/// (`terminal/create` as `sh -c LINE` in the project root with the output cap), is shown
/// in the call while it runs, is polled to its exit and released; the model gets its
/// status and output.
#[test]
fn acp_commands_run_in_the_clients_terminal_when_it_has_one() {
    let model = model_path(QWEN25_CODER);
    let (data, project) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = ["-m", model.to_str().unwrap(), "--temp", "0", "-n", "120", "--tools"];
    let mut a = Agent::spawn(&args, data.path());
    a.send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": 1, "clientCapabilities": {"terminal": true}}}));
    a.until(json!(0), &no_requests);
    let sid = new_session(&mut a, 1, project.path());
    let blocks = json!([{"type": "text", "text": "Use run_command to run: touch made-by-tool"}]);
    prompt(&mut a, 2, &sid, blocks);
    // The client's side: terminals run for real, their output kept by id.
    let runs: std::cell::RefCell<Vec<(String, std::process::Output)>> = Default::default();
    let client = |m: &Value| -> Value {
        let p = &m["params"];
        let result = match m["method"].as_str().unwrap() {
            "session/request_permission" => return allow(m),
            "terminal/create" => {
                assert_eq!(p["command"], "sh", "{m}");
                assert_eq!(p["args"][0], "-c", "{m}");
                assert!(p["outputByteLimit"].as_u64().is_some_and(|n| n > 0), "{m}");
                let out = std::process::Command::new("sh")
                    .args(["-c", p["args"][1].as_str().unwrap()])
                    .current_dir(p["cwd"].as_str().unwrap())
                    .output()
                    .unwrap();
                let id = format!("term-{}", runs.borrow().len());
                runs.borrow_mut().push((id.clone(), out));
                json!({"terminalId": id})
            }
            "terminal/output" => {
                let runs = runs.borrow();
                let (_, out) = runs.iter().find(|(id, _)| p["terminalId"] == *id).unwrap();
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                json!({"output": text, "truncated": false, "exitStatus": {"exitCode": out.status.code()}})
            }
            "terminal/release" => json!({}),
            other => panic!("unexpected request {other}: {m}"),
        };
        json!({"jsonrpc": "2.0", "id": m["id"], "result": result})
    };
    a.until(json!(2), &client);
    assert!(project.path().join("made-by-tool").exists(), "run by the client");
    let asked: Vec<String> = a
        .seen
        .iter()
        .filter(|m| m.get("id").is_some())
        .filter_map(|m| m["method"].as_str().map(str::to_string))
        .collect();
    let order: Vec<&str> =
        asked.iter().map(String::as_str).filter(|m| m.starts_with("terminal/")).collect();
    assert_eq!(order.first(), Some(&"terminal/create"), "{asked:?}");
    assert_eq!(order.last(), Some(&"terminal/release"), "{asked:?}");
    let updates = a.updates(&sid, "tool_call_update");
    let shows_terminal = |u: &Value| {
        u["content"].as_array().is_some_and(|c| {
            c.iter().any(|c| c["type"] == "terminal" && c["terminalId"] == "term-0")
        })
    };
    assert!(updates.iter().any(|u| shows_terminal(u) && u["status"].is_null()), "{updates:?}");
    let done = updates
        .iter()
        .find(|u| u["status"] == "completed")
        .unwrap_or_else(|| panic!("{updates:?}"));
    assert!(shows_terminal(done), "{done}");
    let text = content_text(done);
    assert!(text.contains("exit status 0"), "{text}");
    a.finish();
}

/// The text blocks of a tool call update's content, one after another.
fn content_text(update: &Value) -> String {
    let content = update["content"].as_array().unwrap_or_else(|| panic!("{update}"));
    content.iter().filter_map(|c| c["content"]["text"].as_str()).collect()
}
