//! `hearth ask --remote` against a real OpenAI-compatible server we did not write: the
//! reference engine's own server (`python -m llama_cpp.server`, llama-cpp-python) serving
//! the default test model on loopback — the answer streamed, the server killed
//! mid-answer (the partial answer kept and marked), the server gone — and a stub server
//! for the refusals a real one rarely gives (401, 429 with Retry-After).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, hearth, model_path, QWEN25_CODER};

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether `GET path` on the port answers 200.
pub fn answers(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut out = String::new();
    s.write_all(req.as_bytes()).is_ok()
        && s.read_to_string(&mut out).is_ok()
        && out.starts_with("HTTP/1.1 200")
}

/// Waits until `GET path` on the port answers 200; fails after `secs` naming `what`.
pub fn wait_until_answers(port: u16, path: &str, secs: u64, what: &str) {
    let start = Instant::now();
    while !answers(port, path) {
        assert!(start.elapsed() < Duration::from_secs(secs), "{what} did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server process, killed when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The reference server on `port` serving `model`, ready; `None` when llama-cpp-python's
/// server is not installed (not allowed under CI: `scripts/test` installs it).
fn reference_server(model: &Path, port: u16) -> Option<Server> {
    let has = Command::new("python3").args(["-c", "import llama_cpp.server.app"]).output();
    if !has.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: llama-cpp-python[server] is needed for the remote tests"
        );
        eprintln!("remote: skipped (python3 -m llama_cpp.server is not installed)");
        return None;
    }
    let child = Command::new("python3")
        .args([
            "-m",
            "llama_cpp.server",
            "--host",
            "127.0.0.1",
            "--n_ctx",
            "1024",
            "--n_threads",
            "2",
        ])
        .args(["--port", &port.to_string(), "--model"])
        .arg(model)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python3 -m llama_cpp.server");
    let server = Server(child);
    wait_until_answers(port, "/v1/models", 120, "the reference server");
    Some(server)
}

#[test]
fn ask_remote_streams_from_the_reference_server_and_keeps_a_cut_answer() {
    let port = free_port();
    let Some(mut server) = reference_server(&model_path(QWEN25_CODER), port) else { return };
    let url = format!("http://127.0.0.1:{port}/v1");
    // A whole answer, streamed; the usage line names the server.
    let out = hearth()
        .args(["ask", "--remote", &url, "-n", "16", "--temp", "0", "Say hello to Ada."])
        .env("HEARTH_VERBOSE", "1")
        .output()
        .unwrap();
    let (text, err) = (common::stdout(&out), common::stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!text.trim().is_empty(), "{err}");
    assert!(err.contains(&format!("remote {url}")) && err.contains("finish: "), "{err}");
    // The server killed mid-answer: what came stays on stdout, stderr says it is partial.
    let mut ask = hearth()
        .args(["ask", "--remote", &url, "-n", "400", "--temp", "0"])
        .arg("Write a long story about a lighthouse keeper, in many paragraphs.")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = ask.stdout.take().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < 40 {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "the answer ended before the server was killed");
        got.extend_from_slice(&buf[..n]);
    }
    let _ = server.0.kill();
    stdout.read_to_end(&mut got).unwrap();
    let mut err = String::new();
    ask.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = ask.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("partial") && err.lines().count() == 1, "{err}");
    assert!(String::from_utf8_lossy(&got).trim().len() >= 40);
    // Nothing listens any more: one line, exit 1.
    let _ = server.0.wait();
    let out = hearth().args(["ask", "--remote", &url, "hi"]).output().unwrap();
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot connect") && err.lines().count() == 1, "{err}");
}

/// A stub that answers every request with `status`, a JSON error and `headers`.
const STUB: &str = r#"
import http.server, json, sys
status, message, extra = int(sys.argv[2]), sys.argv[3], sys.argv[4:]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = json.dumps({"error": {"message": message}}).encode()
        self.send_response(status)
        for h in extra:
            k, v = h.split(":", 1)
            self.send_header(k, v.strip())
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

#[test]
fn ask_remote_refusals_are_one_line_with_the_servers_message() {
    let cases = [
        (401, "invalid api key", vec![], "401 Unauthorized: invalid api key"),
        (
            429,
            "slow down",
            vec!["Retry-After: 7"],
            "429 Too Many Requests: slow down (retry after 7 s)",
        ),
        (503, "loading model", vec![], "503 Service Unavailable: loading model"),
    ];
    for (status, message, headers, want) in cases {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-c", STUB, &port.to_string(), &status.to_string(), message])
            .args(&headers)
            .spawn()
            .expect("python3 for the stub server");
        let _stub = Server(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "the stub did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let url = format!("http://127.0.0.1:{port}/v1");
        let out =
            hearth().args(["ask", "--remote", &url, "--remote-model", "m", "hi"]).output().unwrap();
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(want) && err.lines().count() == 1, "{err}");
        assert!(common::stdout(&out).is_empty());
    }
}
