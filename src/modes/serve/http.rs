//! The HTTP side of `hearth serve`: routes by method and path, the API key checked,
//! bodies read (capped) and parsed as JSON, and replies written — a JSON body, or a
//! stream of server-sent events written as they come (the connection closes at the end).
//! Errors are JSON in the API's form: `{"error": {"message", "type"}}`.

use std::io::{Read, Write};

use serde_json::{json, Value};

/// The largest request body read (a long conversation with files fits many times).
const MAX_BODY: u64 = 32 << 20;

/// What a request asks for.
pub enum Route {
    Health,
    Models,
    Chat(Value),
    Completion(Value),
}

/// An error in the API's form.
pub fn error(status: u16, message: impl Into<String>) -> (u16, Value) {
    let kind = match status {
        401 => "authentication_error",
        404 => "not_found_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    (status, json!({"error": {"message": message.into(), "type": kind}}))
}

/// Where a request's answer goes: one JSON body, or a stream of events.
pub struct Out(tiny_http::Request);

impl Out {
    pub fn json(self, (status, body): (u16, Value)) {
        let header = tiny_http::Header::from_bytes("Content-Type", "application/json")
            .expect("a valid header");
        let response = tiny_http::Response::from_string(body.to_string())
            .with_status_code(status)
            .with_header(header);
        let _ = self.0.respond(response);
    }

    /// Starts a stream of server-sent events (the connection closes at its end).
    pub fn events(self) -> Events {
        let mut w = self.0.into_writer();
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
        let ok = w.write_all(head.as_bytes()).and_then(|_| w.flush()).is_ok();
        Events { w, ok }
    }
}

/// A stream of events, each sent at once; `[DONE]` ends it when it is dropped.
pub struct Events {
    w: Box<dyn Write + Send>,
    ok: bool,
}

impl Events {
    /// Sends one event; `false` once the client is gone.
    pub fn send(&mut self, event: &Value) -> bool {
        let line = format!("data: {event}\n\n");
        self.ok = self.ok && self.w.write_all(line.as_bytes()).and_then(|_| self.w.flush()).is_ok();
        self.ok
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if self.ok {
            let _ = self.w.write_all(b"data: [DONE]\n\n").and_then(|_| self.w.flush());
        }
    }
}

/// Answers `request` through `handle`, after checking the key and reading the body.
pub fn serve(
    mut request: tiny_http::Request,
    key: Option<&str>,
    handle: &mut dyn FnMut(Route, Out),
) {
    match route(&mut request, key) {
        Ok(route) => handle(route, Out(request)),
        Err(reply) => Out(request).json(reply),
    }
}

fn route(request: &mut tiny_http::Request, key: Option<&str>) -> Result<Route, (u16, Value)> {
    // Health checks need no key (load balancers and scripts probe it).
    let open = request.url() == "/health";
    if let Some(key) = key.filter(|_| !open) {
        let want = format!("Bearer {key}");
        let given = request.headers().iter().find(|h| h.field.equiv("Authorization"));
        if given.is_none_or(|h| h.value.as_str() != want) {
            return Err(error(401, "a valid API key is needed (Authorization: Bearer KEY)"));
        }
    }
    let path =
        request.url().split('?').next().unwrap_or_default().trim_end_matches('/').to_string();
    let method = request.method().as_str().to_ascii_uppercase();
    match (method.as_str(), path.as_str()) {
        ("GET", "/health") => Ok(Route::Health),
        ("GET", "/v1/models" | "/models") => Ok(Route::Models),
        ("POST", "/v1/chat/completions" | "/chat/completions") => Ok(Route::Chat(body(request)?)),
        ("POST", "/v1/completions" | "/completions") => Ok(Route::Completion(body(request)?)),
        (_, p) => Err(error(404, format!("no route {method} {p}"))),
    }
}

/// The request's body as JSON.
fn body(request: &mut tiny_http::Request) -> Result<Value, (u16, Value)> {
    let mut text = String::new();
    let read = request.as_reader().take(MAX_BODY + 1).read_to_string(&mut text);
    if let Err(e) = read {
        return Err(error(400, format!("the body could not be read: {e}")));
    }
    if text.len() as u64 > MAX_BODY {
        return Err(error(413, format!("the body is larger than {MAX_BODY} bytes")));
    }
    serde_json::from_str(&text).map_err(|e| error(400, format!("the body is not JSON: {e}")))
}
