//! The protocol driven end to end over in-memory pipes with a fake backend: the edit
//! permission flow (allowed, rejected, written by the client, a failed permission
//! request), cancellation, paths outside `cwd`, and unknown sessions.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::backend::{Backend, Conversation, Listed, Role, Stop, TurnOut, TurnResult};
use super::rpc::Peer;
use super::server::serve;
use crate::error::{Error, Result};

struct Fake;

struct FakeConv {
    cancel: Arc<AtomicBool>,
    history: Vec<(Role, String)>,
}

impl Backend for Fake {
    type Conv = FakeConv;
    fn create(&mut self, _: &str, _: &Path, cancel: Arc<AtomicBool>) -> Result<FakeConv> {
        Ok(FakeConv { cancel, history: Vec::new() })
    }
    fn load(&mut self, id: &str, _: &Path, cancel: Arc<AtomicBool>) -> Result<FakeConv> {
        match id {
            "stored" => Ok(FakeConv {
                cancel,
                history: vec![(Role::User, "hi".into()), (Role::Agent, "hello".into())],
            }),
            _ => Err(Error::usage(format!("no session '{id}'"))),
        }
    }
    fn list(&mut self) -> Result<Vec<Listed>> {
        Ok(vec![Listed { id: "stored".into(), title: "hi".into(), updated: 0 }])
    }
}

impl Conversation for FakeConv {
    fn history(&self) -> Vec<(Role, String)> {
        self.history.clone()
    }
    /// `EDIT` proposes a change to a.txt, `ESCAPE` one outside the directory, `SLOW`
    /// runs until cancelled, `NOTES` tells the notes so far; else a greeting.
    fn turn(&mut self, message: String, out: &mut dyn FnMut(TurnOut)) -> Result<TurnResult> {
        let notes: Vec<String> = self
            .history
            .iter()
            .filter(|(_, t)| t.starts_with("NOTE "))
            .map(|m| m.1.clone())
            .collect();
        let answer = if message.contains("EDIT") {
            "a.txt\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n".to_string()
        } else if message.contains("ESCAPE") {
            "../evil.txt\n```\nx\n```\n".to_string()
        } else if message.contains("NOTES") {
            notes.join("|")
        } else if message.contains("SLOW") {
            let mut n = 0;
            while !self.cancel.load(Ordering::SeqCst) && n < 500 {
                out(TurnOut::Text("tok "));
                n += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            return Ok(TurnResult { answer: "tok ".repeat(n), stop: Stop::Cancelled });
        } else {
            "hello world".to_string()
        };
        for word in answer.split_inclusive(' ') {
            out(TurnOut::Text(word));
        }
        self.history.push((Role::User, message));
        self.history.push((Role::Agent, answer.clone()));
        Ok(TurnResult { answer, stop: Stop::EndTurn })
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

/// Collects what the agent writes, line by line.
struct Lines(Sender<String>, Vec<u8>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        while let Some(i) = self.1.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.1.drain(..=i).collect();
            let _ = self.0.send(String::from_utf8(line).expect("utf-8 out"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Client {
    to_agent: UnixStream,
    from_agent: Receiver<String>,
    seen: Vec<Value>,
    agent: Option<std::thread::JoinHandle<()>>,
}

impl Client {
    fn start() -> Client {
        let (to_agent, agent_in) = UnixStream::pair().unwrap();
        let (tx, from_agent) = mpsc::channel();
        let peer = Arc::new(Peer::new(Box::new(Lines(tx, Vec::new()))));
        let agent = std::thread::spawn(move || serve(BufReader::new(agent_in), peer, Fake));
        Client { to_agent, from_agent, seen: Vec::new(), agent: Some(agent) }
    }

    fn send(&mut self, v: Value) {
        writeln!(self.to_agent, "{v}").unwrap();
    }

    fn next(&mut self) -> Value {
        let line = self.from_agent.recv_timeout(Duration::from_secs(10)).expect("agent is silent");
        let v: Value = serde_json::from_str(&line).expect("a JSON line");
        self.seen.push(v.clone());
        v
    }

    /// Reads until the response to `id`, answering permission requests with `choice`
    /// and write requests with success.
    fn until(&mut self, id: i64, choice: &dyn Fn(&Value) -> Value) -> Value {
        loop {
            let m = self.next();
            match m["method"].as_str() {
                Some("session/request_permission") => {
                    let answer = choice(&m);
                    self.send(answer);
                }
                Some("fs/write_text_file") => {
                    self.send(json!({"jsonrpc": "2.0", "id": m["id"], "result": {}}))
                }
                _ if m["id"] == json!(id) && m.get("method").is_none() => return m,
                _ => {}
            }
        }
    }

    /// The next request from the agent (notifications skipped).
    fn request(&mut self) -> Value {
        loop {
            let m = self.next();
            if m.get("id").is_some() && m.get("method").is_some() {
                return m;
            }
        }
    }

    fn updates(&self, kind: &str) -> Vec<Value> {
        let of_kind = |m: &&Value| m["params"]["update"]["sessionUpdate"] == kind;
        self.seen.iter().filter(of_kind).map(|m| m["params"]["update"].clone()).collect()
    }

    fn finish(mut self) {
        drop(self.to_agent);
        self.agent.take().unwrap().join().unwrap();
    }
}

fn allow(m: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": m["id"], "result": {"outcome": {"outcome": "selected", "optionId": "allow-once"}}})
}

fn reject(m: &Value) -> Value {
    json!({"jsonrpc": "2.0", "id": m["id"], "result": {"outcome": {"outcome": "selected", "optionId": "reject-once"}}})
}

fn open(c: &mut Client, cwd: &Path, fs_caps: bool) -> String {
    let caps = json!({"fs": {"readTextFile": fs_caps, "writeTextFile": fs_caps}});
    c.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1, "clientCapabilities": caps}}));
    assert_eq!(c.until(1, &allow)["result"]["protocolVersion"], 1);
    c.send(json!({"jsonrpc": "2.0", "id": 2, "method": "session/new", "params": {"cwd": cwd, "mcpServers": [{"name": "x", "command": "x", "args": [], "env": []}]}}));
    let sid = c.until(2, &allow)["result"]["sessionId"].as_str().unwrap().to_string();
    sid
}

fn prompt(c: &mut Client, id: i64, sid: &str, text: &str) -> Value {
    let blocks = json!([{"type": "resource_link", "uri": "a.txt", "name": "a.txt"}, {"type": "text", "text": text}]);
    c.send(json!({"jsonrpc": "2.0", "id": id, "method": "session/prompt", "params": {"sessionId": sid, "prompt": blocks}}));
    json!(id)
}

#[test]
fn an_allowed_edit_is_written_and_a_rejected_one_is_told_to_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    std::fs::write(&a, "keep\nold\n").unwrap();
    let mut c = Client::start();
    let sid = open(&mut c, dir.path(), false);
    prompt(&mut c, 3, &sid, "EDIT please");
    assert_eq!(c.until(3, &allow)["result"]["stopReason"], "end_turn");
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "keep\nnew\n");
    let calls = c.updates("tool_call");
    assert_eq!(calls[0]["kind"], "edit");
    assert_eq!(calls[0]["content"][0]["type"], "diff");
    assert_eq!(calls[0]["content"][0]["oldText"], "keep\nold\n");
    assert_eq!(calls[0]["content"][0]["newText"], "keep\nnew\n");
    assert!(Path::new(calls[0]["content"][0]["path"].as_str().unwrap()).is_absolute());
    assert_eq!(c.updates("tool_call_update")[0]["status"], "completed");

    std::fs::write(&a, "keep\nold\n").unwrap();
    prompt(&mut c, 4, &sid, "EDIT again");
    c.until(4, &reject);
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "keep\nold\n");
    assert_eq!(c.updates("tool_call_update")[1]["status"], "failed");
    prompt(&mut c, 5, &sid, "NOTES");
    c.until(5, &allow);
    let said: String = c
        .updates("agent_message_chunk")
        .iter()
        .map(|u| u["content"]["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(said.contains("rejected the change to a.txt"), "{said}");
    assert!(said.contains("MCP servers"), "the MCP notice: {said}");
    assert!(!c.updates("available_commands_update").is_empty());
    assert!(!c.updates("usage_update").is_empty());
    c.finish();
}

#[test]
fn the_clients_fs_is_used_when_offered_and_a_failed_permission_request_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    std::fs::write(&a, "on disk\n").unwrap();
    let mut c = Client::start();
    let sid = open(&mut c, dir.path(), true);
    prompt(&mut c, 3, &sid, "EDIT");
    // The resource link is read through the client: answer with the buffer's text.
    let read = c.request();
    assert_eq!(read["method"], "fs/read_text_file");
    c.send(json!({"jsonrpc": "2.0", "id": read["id"], "result": {"content": "old\n"}}));
    let read = c.request();
    assert_eq!(read["method"], "fs/read_text_file", "the current text, for the diff");
    c.send(json!({"jsonrpc": "2.0", "id": read["id"], "result": {"content": "old\n"}}));
    c.until(3, &allow);
    let write =
        c.seen.iter().find(|m| m["method"] == "fs/write_text_file").expect("a write request");
    assert_eq!(write["params"]["content"], "new\n");
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "on disk\n", "the client writes, not hearth");

    prompt(&mut c, 4, &sid, "EDIT");
    for _ in 0..2 {
        let read = c.request();
        c.send(json!({"jsonrpc": "2.0", "id": read["id"], "result": {"content": "old\n"}}));
    }
    let error = |m: &Value| json!({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32603, "message": "no"}});
    c.until(4, &error);
    assert_eq!(c.updates("tool_call_update").last().unwrap()["status"], "failed");
    assert_eq!(c.seen.iter().filter(|m| m["method"] == "fs/write_text_file").count(), 1);
    c.finish();
}

#[test]
fn cancel_stops_a_turn_and_outside_paths_unknown_sessions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "old\n").unwrap();
    let mut c = Client::start();
    let sid = open(&mut c, dir.path(), false);
    prompt(&mut c, 3, &sid, "SLOW");
    // Wait for the turn to stream, then cancel it.
    while c.next()["params"]["update"]["sessionUpdate"] != "agent_message_chunk" {}
    c.send(json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": sid}}));
    assert_eq!(c.until(3, &allow)["result"]["stopReason"], "cancelled");

    prompt(&mut c, 4, &sid, "ESCAPE");
    assert_eq!(c.until(4, &allow)["result"]["stopReason"], "end_turn");
    assert!(c.updates("tool_call").is_empty(), "no edit outside cwd is offered");
    assert!(!dir.path().parent().unwrap().join("evil.txt").exists());

    prompt(&mut c, 5, "nope", "hi");
    assert_eq!(c.until(5, &allow)["error"]["code"], -32002);
    let bad = json!([{"type": "resource_link", "uri": "/etc/passwd", "name": "p"}]);
    c.send(json!({"jsonrpc": "2.0", "id": 6, "method": "session/prompt", "params": {"sessionId": sid, "prompt": bad}}));
    let e = c.until(6, &allow);
    assert_eq!(e["error"]["code"], -32602);
    assert!(e["error"]["message"].as_str().unwrap().contains("outside"), "{e}");
    c.send(json!({"jsonrpc": "2.0", "id": 7, "method": "session/load", "params": {"sessionId": "stored", "cwd": dir.path(), "mcpServers": []}}));
    c.until(7, &allow);
    let replay: Vec<String> = c
        .seen
        .iter()
        .filter(|m| m["params"]["sessionId"] == "stored")
        .map(|m| m["params"]["update"]["sessionUpdate"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(replay[..2], ["user_message_chunk", "agent_message_chunk"]);
    c.send(json!({"jsonrpc": "2.0", "id": 8, "method": "session/load", "params": {"sessionId": "gone", "cwd": dir.path(), "mcpServers": []}}));
    assert_eq!(c.until(8, &allow)["error"]["code"], -32002);
    c.send(json!({"jsonrpc": "2.0", "id": 9, "method": "session/list", "params": {}}));
    assert_eq!(c.until(9, &allow)["result"]["sessions"][0]["sessionId"], "stored");
    c.finish();
}
