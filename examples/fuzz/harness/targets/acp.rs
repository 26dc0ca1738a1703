//! The ACP agent (`hearth acp`) driven in-process over its JSON-RPC lines, with a fake
//! backend that echoes each prompt as its answer (so SEARCH/REPLACE blocks in a prompt
//! become proposed edits): any lines give JSON lines back, one response per request,
//! and the agent never panics or stalls.
//!
//! Input: the lines the client sends. Lines go in one at a time, each once the agent has
//! answered every request so far or is waiting for the client. Every absolute `cwd` in
//! params is replaced by a scratch directory (reset before each run), so that nothing
//! outside it is ever read or written; `$SID` stands for the last session id the agent
//! gave.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hearth::modes::acp::backend::{Backend, Conversation, Listed, Role, Stop, TurnOut, TurnResult};
use hearth::modes::acp::rpc::{parse_line, Incoming, Peer, METHOD_NOT_FOUND};
use hearth::modes::acp::server::serve;
use hearth::Error;
use serde_json::Value;

use super::super::mutate::Rng;
use super::super::{class_of, watch, Target};
use super::json_mutate;

/// How long a line waits for the agent before it is sent anyway.
const PATIENCE: Duration = Duration::from_secs(2);

pub struct Acp {
    _dir: tempfile::TempDir,
    /// The sessions' directory, canonical.
    cwd: PathBuf,
    /// The last run may have changed the directory (it offered an edit).
    dirty: bool,
}

impl Acp {
    pub fn new() -> Result<Acp, String> {
        watch::adopt_threads_named("acp-worker");
        let dir = super::scratch_dir()?;
        let cwd = dir.path().join("work");
        std::fs::create_dir_all(&cwd).map_err(|e| e.to_string())?;
        let cwd = cwd.canonicalize().map_err(|e| e.to_string())?;
        Ok(Acp { _dir: dir, cwd, dirty: true })
    }

    /// The scratch directory as each run starts: two files, nothing else.
    fn reset(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.cwd);
        let _ = std::fs::create_dir_all(self.cwd.join("src"));
        let _ = std::fs::write(self.cwd.join("a.txt"), "keep\nold\n");
        let _ = std::fs::write(self.cwd.join("src/lib.rs"), "pub fn f() {}\r\n");
    }
}

impl Target for Acp {
    fn name(&self) -> &'static str {
        "acp"
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        let words: &[&str] = &[
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1,"clientCapabilities":{"fs":{"readTextFile":true,"writeTextFile":true}}}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"session/load","params":{"sessionId":"stored","cwd":"/w","mcpServers":[]}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"session/prompt","params":{"sessionId":"stored","prompt":[{"type":"text","text":"hi"}]}}"#,
            r#"{"jsonrpc":"2.0","method":"session/cancel","params":{"sessionId":"stored"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"outcome":{"outcome":"selected","optionId":"allow-once"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"content":"old\n"}}"#,
            r#"{"type":"resource_link","uri":"a.txt","name":"a.txt"}"#,
            r#"{"type":"resource","resource":{"uri":"file:///w/a.txt","text":"old\n"}}"#,
            r#"{"type":"image","data":"","mimeType":"image/png"}"#,
            "a.txt\\n<<<<<<< SEARCH\\nold\\n=======\\nnew\\n>>>>>>> REPLACE\\n",
            "src/lib.rs\\n```\\nx\\n```\\n",
            "\"session/new\"",
            "\"session/list\"",
            "\"authenticate\"",
            "\"$SID\"",
            "\"stored\"",
            "/clear",
            "/tokens",
            "file://",
            "../",
            "%2e%2e/",
            "null",
            "[]",
            "{}",
            "\n",
            "\\u0000",
        ];
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn mutate(&self, rng: &mut Rng, data: &mut Vec<u8>) -> bool {
        json_mutate::mutate(rng, data)
    }

    fn run(&mut self, input: &[u8]) -> String {
        self.reset();
        let sink = Arc::new(Sink::default());
        let peer = Arc::new(Peer::new(Box::new(SinkWriter(Arc::clone(&sink), Vec::new()))));
        let feeder = Feeder::new(input, &self.cwd, Arc::clone(&sink));
        serve(feeder, peer, Fake);
        let seen = sink.state();
        self.dirty = seen.classes.contains("tool_call_update");
        assert_eq!(seen.responses, seen.expected, "responses for {} requests", seen.expected);
        seen.classes.into_iter().collect::<Vec<_>>().join("\n")
    }
}

/// What the agent wrote, as far as the feeder needs it.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// Responses written so far; responses owed for the lines sent so far.
    responses: usize,
    expected: usize,
    /// The worker's last line was a request to the client: it waits for the answer.
    worker_waits: bool,
    session_id: Option<String>,
    classes: std::collections::BTreeSet<String>,
}

#[derive(Default)]
struct Sink {
    seen: Mutex<Seen>,
    changed: Condvar,
}

impl Sink {
    fn state(&self) -> Seen {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records one line the agent wrote; it must be a JSON-RPC 2.0 message.
    fn line(&self, line: &[u8]) {
        let v: Value = serde_json::from_slice(line).expect("the agent writes JSON lines");
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        let from_worker = std::thread::current().name() == Some("acp-worker");
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if from_worker {
            seen.worker_waits = false;
        }
        match (v.get("id").is_some(), v.get("method")) {
            (true, Some(m)) => {
                seen.worker_waits = from_worker;
                seen.classes.insert(format!("asks:{}", m.as_str().unwrap_or("?")));
            }
            (true, None) => {
                seen.responses += 1;
                if let Some(sid) = v["result"]["sessionId"].as_str() {
                    seen.session_id = Some(sid.to_string());
                }
                if let Some(e) = v.get("error") {
                    // `no method NAME`: the name is the client's.
                    let message = match e["code"].as_i64() {
                        Some(METHOD_NOT_FOUND) => String::new(),
                        _ => class_of(e["message"].as_str().unwrap_or("")),
                    };
                    seen.classes.insert(format!("{}:{}", e["code"], message));
                }
            }
            (false, _) => {
                let kind = v["params"]["update"]["sessionUpdate"].as_str().unwrap_or("?");
                seen.classes.insert(kind.to_string());
            }
        }
        drop(seen);
        self.changed.notify_all();
    }
}

struct SinkWriter(Arc<Sink>, Vec<u8>);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        while let Some(i) = self.1.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.1.drain(..=i).collect();
            self.0.line(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The agent's stdin: hands out one line at a time, each when the agent is ready.
struct Feeder {
    lines: Vec<Vec<u8>>,
    next: usize,
    current: Vec<u8>,
    at: usize,
    cwd: String,
    sink: Arc<Sink>,
}

impl Feeder {
    fn new(input: &[u8], cwd: &Path, sink: Arc<Sink>) -> Feeder {
        let lines = input.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let cwd = cwd.display().to_string();
        Feeder { lines, next: 0, current: Vec::new(), at: 0, cwd, sink }
    }

    /// Waits until every request sent has its response, or the agent waits on the client.
    fn wait_for_agent(&self) {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = self.sink.seen.lock().unwrap_or_else(|p| p.into_inner());
        while seen.responses < seen.expected && !seen.worker_waits {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            seen = self.sink.changed.wait_timeout(seen, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// The next line as the agent gets it: `cwd`s and `$SID` replaced; counts the
    /// responses it is owed.
    fn prepare(&mut self, raw: &[u8]) -> Vec<u8> {
        let sid = self.sink.state().session_id;
        // Read as the agent reads it (bytes that are not UTF-8 replaced), so that no `cwd`
        // the agent would see escapes the replacement.
        let mut line = String::from_utf8_lossy(raw).into_owned();
        if let Some(sid) = sid.filter(|_| line.contains("$SID")) {
            line = line.replace("$SID", &sid);
        }
        if let Ok(mut v) = serde_json::from_str::<Value>(&line) {
            if confine(&mut v, &self.cwd) {
                line = format!("{v}\n");
            }
        }
        let owed = match parse_line(&line) {
            Incoming::Request { .. } | Incoming::Invalid { .. } => 1,
            _ => 0,
        };
        self.sink.seen.lock().unwrap_or_else(|p| p.into_inner()).expected += owed;
        line.into_bytes()
    }
}

/// Points every `cwd` a message could give at `cwd`: `params.cwd`, and with params given
/// by position (serde reads a struct from an array), every absolute path among them.
fn confine(message: &mut Value, cwd: &str) -> bool {
    let absolute = |v: &Value| v.as_str().is_some_and(|s| s.starts_with('/'));
    let slots: Vec<&mut Value> = match message.get_mut("params") {
        Some(Value::Object(params)) => params.get_mut("cwd").into_iter().collect(),
        Some(Value::Array(params)) => params.iter_mut().collect(),
        _ => Vec::new(),
    };
    let mut changed = false;
    for slot in slots.into_iter().filter(|v| absolute(v)) {
        *slot = Value::String(cwd.to_string());
        changed = true;
    }
    changed
}

impl Read for Feeder {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Feeder {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at == self.current.len() && self.next < self.lines.len() {
            self.wait_for_agent();
            let raw = std::mem::take(&mut self.lines[self.next]);
            self.next += 1;
            self.current = self.prepare(&raw);
            self.at = 0;
        }
        Ok(&self.current[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.current.len());
    }
}

/// A backend without a model: one stored session (`stored`), answers that echo the prompt.
struct Fake;

struct FakeConv {
    history: Vec<(Role, String)>,
}

impl Backend for Fake {
    type Conv = FakeConv;

    fn create(&mut self, _: &str, _: &Path, _: Arc<AtomicBool>) -> hearth::Result<FakeConv> {
        Ok(FakeConv { history: Vec::new() })
    }

    fn load(&mut self, id: &str, _: &Path, _: Arc<AtomicBool>) -> hearth::Result<FakeConv> {
        match id {
            "stored" => Ok(FakeConv {
                history: vec![(Role::User, "hi".into()), (Role::Agent, "hello".into())],
            }),
            _ => Err(Error::usage(format!("no session '{id}'"))),
        }
    }

    fn list(&mut self) -> hearth::Result<Vec<Listed>> {
        Ok(vec![Listed { id: "stored".into(), title: "hi".into(), updated: 1_700_000_000 }])
    }
}

impl Conversation for FakeConv {
    fn history(&self) -> Vec<(Role, String)> {
        self.history.clone()
    }

    /// Echoes the message in up to four chunks; `FAIL` fails the turn, `LIMIT` stops
    /// it at the token limit.
    fn turn(
        &mut self,
        message: String,
        out: &mut dyn FnMut(TurnOut),
    ) -> hearth::Result<TurnResult> {
        if message.contains("FAIL") {
            return Err(Error::failed("the model failed"));
        }
        let step = message.len() / 4 + 1;
        let mut at = 0;
        while at < message.len() {
            let mut end = (at + step).min(message.len());
            while !message.is_char_boundary(end) {
                end += 1;
            }
            out(TurnOut::Text(&message[at..end]));
            at = end;
        }
        let stop = if message.contains("LIMIT") { Stop::MaxTokens } else { Stop::EndTurn };
        self.history.push((Role::User, message.clone()));
        self.history.push((Role::Agent, message.clone()));
        Ok(TurnResult { answer: message, stop })
    }

    fn note(&mut self, text: &str) {
        self.history.push((Role::User, format!("NOTE {text}")));
    }

    fn command(&mut self, name: &str) -> String {
        format!("ran /{name}")
    }

    fn notices(&mut self) -> Vec<String> {
        Vec::new()
    }

    fn usage(&self) -> (u64, u64) {
        (self.history.len() as u64, 100)
    }
}
