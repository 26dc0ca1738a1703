//! JSON-RPC 2.0 over newline-delimited JSON: reading a line into a message (request,
//! notification, response, or the error it earns), the error objects, and the [`Peer`]
//! that writes whole lines to the client and matches its answers to our own requests.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// ACP's "resource not found" (an unknown session, a file that is not there).
pub const RESOURCE_NOT_FOUND: i64 = -32002;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError { code, message: message.into() }
    }

    pub fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError::new(INVALID_PARAMS, message)
    }

    pub fn internal(message: impl Into<String>) -> RpcError {
        RpcError::new(INTERNAL_ERROR, message)
    }

    /// A hearth error as the client sees it: bad input or usage is the caller's fault
    /// (invalid params), anything else an internal error; the message is hearth's own.
    pub fn from_error(e: &crate::error::Error) -> RpcError {
        use crate::error::ErrorKind;
        let code = match e.kind() {
            ErrorKind::Usage | ErrorKind::BadInput => INVALID_PARAMS,
            _ => INTERNAL_ERROR,
        };
        RpcError::new(code, e.to_string())
    }

    fn to_value(&self) -> Value {
        json!({ "code": self.code, "message": self.message })
    }
}

/// One line from the client, classified.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    /// A request: its id (string, number or null, echoed as given) and method.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    /// The client's answer to one of our requests.
    Response {
        id: Value,
        result: Result<Value, RpcError>,
    },
    /// A line that earns an error response (`id` null when it had no usable id).
    Invalid {
        id: Value,
        error: RpcError,
    },
    /// Nothing to do (an empty line).
    Nothing,
}

/// Classifies one line as JSON-RPC 2.0 says: not JSON is a parse error; JSON that is not
/// a request, notification or response is an invalid request (batches included: ACP does
/// not use them).
pub fn parse_line(line: &str) -> Incoming {
    if line.trim().is_empty() {
        return Incoming::Nothing;
    }
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            let error = RpcError::new(PARSE_ERROR, format!("parse error: {e}"));
            return Incoming::Invalid { id: Value::Null, error };
        }
    };
    classify(value)
}

fn invalid(id: Value, message: &str) -> Incoming {
    Incoming::Invalid { id, error: RpcError::new(INVALID_REQUEST, message) }
}

fn classify(value: Value) -> Incoming {
    let Value::Object(mut obj) = value else {
        return invalid(Value::Null, "invalid request: expected a JSON-RPC object");
    };
    // An id that is not a string, number or null cannot be echoed: answer with null.
    let id = match obj.remove("id") {
        None => None,
        Some(v @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(v),
        Some(_) => return invalid(Value::Null, "invalid request: id must be a string or number"),
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(reply_id, "invalid request: jsonrpc must be \"2.0\"");
    }
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Null,
        Some(p @ (Value::Object(_) | Value::Array(_))) => p,
        Some(_) => return invalid(reply_id, "invalid request: params must be an object"),
    };
    match (obj.remove("method"), id) {
        (Some(Value::String(method)), Some(id)) => Incoming::Request { id, method, params },
        (Some(Value::String(method)), None) => Incoming::Notification { method, params },
        (Some(_), _) => invalid(reply_id, "invalid request: method must be a string"),
        (None, Some(id)) => response(id, obj),
        (None, None) => invalid(Value::Null, "invalid request: no method"),
    }
}

fn response(id: Value, mut obj: serde_json::Map<String, Value>) -> Incoming {
    match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Incoming::Response { id, result: Ok(result) },
        (None, Some(error)) => {
            let code = error.get("code").and_then(Value::as_i64).unwrap_or(INTERNAL_ERROR);
            let message =
                error.get("message").and_then(Value::as_str).unwrap_or("error").to_string();
            Incoming::Response { id, result: Err(RpcError::new(code, message)) }
        }
        _ => invalid(id, "invalid request: no method, and not a response"),
    }
}

/// The params of `method` as `T`; the error names the field at fault.
pub fn params<T: DeserializeOwned>(method: &str, params: Value) -> Result<T, RpcError> {
    let params = if params.is_null() { json!({}) } else { params };
    serde_path_to_error::deserialize(params).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "." | "" => RpcError::invalid_params(format!("{method}: {inner}")),
            _ => RpcError::invalid_params(format!("{method}: {path}: {inner}")),
        }
    })
}

/// How long a request to the client waits between looks at its cancel flag.
const POLL: Duration = Duration::from_millis(50);

/// The client, as seen from the agent: whole lines out (never interleaved), our own
/// requests with their own ids, and the answers routed back to who asked.
pub struct Peer {
    out: Mutex<Box<dyn Write + Send>>,
    next_id: AtomicI64,
    pending: Mutex<HashMap<i64, Sender<Result<Value, RpcError>>>>,
    /// Stdin is closed: no answer will come.
    closed: AtomicBool,
}

impl Peer {
    pub fn new(out: Box<dyn Write + Send>) -> Peer {
        Peer {
            out: Mutex::new(out),
            next_id: AtomicI64::new(1),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Writes one message as one line. A client that went away is not an error here:
    /// the read loop ends at EOF.
    fn send(&self, message: &Value) {
        let mut line = serde_json::to_string(message).unwrap_or_default();
        line.push('\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    pub fn respond(&self, id: Value, result: Result<Value, RpcError>) {
        let message = match result {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err(e) => json!({ "jsonrpc": "2.0", "id": id, "error": e.to_value() }),
        };
        self.send(&message);
    }

    /// Answers with a serializable result.
    pub fn reply<T: Serialize>(&self, id: Value, result: Result<T, RpcError>) {
        let result = result.and_then(|r| {
            serde_json::to_value(r).map_err(|e| RpcError::internal(format!("serializing: {e}")))
        });
        self.respond(id, result);
    }

    pub fn notify<T: Serialize>(&self, method: &str, params: &T) {
        let params = serde_json::to_value(params).unwrap_or(Value::Null);
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its answer. Gives up (an error) when `cancel` is
    /// set or the client is gone.
    pub fn request<T: Serialize>(
        &self,
        method: &str,
        params: &T,
        cancel: &AtomicBool,
    ) -> Result<Value, RpcError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(RpcError::internal("the client is gone"));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        self.lock_pending().insert(id, tx);
        let params = serde_json::to_value(params).unwrap_or(Value::Null);
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let answer = loop {
            match rx.recv_timeout(POLL) {
                Ok(answer) => break answer,
                Err(RecvTimeoutError::Disconnected) => {
                    break Err(RpcError::internal("the client is gone"))
                }
                Err(RecvTimeoutError::Timeout) if cancel.load(Ordering::Relaxed) => {
                    break Err(RpcError::new(-32800, "cancelled"))
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        self.lock_pending().remove(&id);
        answer
    }

    /// Routes the client's answer to the request that waits for it (answers to ids we
    /// never sent, or no longer wait for, are dropped).
    pub fn answer(&self, id: &Value, result: Result<Value, RpcError>) {
        let Some(id) = id.as_i64() else { return };
        if let Some(tx) = self.lock_pending().remove(&id) {
            let _ = tx.send(result);
        }
    }

    /// Stdin ended: requests waiting for an answer give up.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.lock_pending().clear();
    }

    fn lock_pending(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<i64, Sender<Result<Value, RpcError>>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_code(line: &str) -> (Value, i64) {
        match parse_line(line) {
            Incoming::Invalid { id, error } => (id, error.code),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn lines_are_classified_as_json_rpc_says() {
        assert_eq!(error_code("{not json"), (Value::Null, PARSE_ERROR));
        assert_eq!(error_code("[1,2]"), (Value::Null, INVALID_REQUEST));
        assert_eq!(error_code("42"), (Value::Null, INVALID_REQUEST));
        assert_eq!(error_code(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#).1, INVALID_REQUEST);
        assert_eq!(error_code(r#"{"id":3,"method":"x"}"#), (json!(3), INVALID_REQUEST));
        assert_eq!(error_code(r#"{"jsonrpc":"2.0","id":"a","method":7}"#).0, json!("a"));
        assert_eq!(error_code(r#"{"jsonrpc":"2.0","id":1,"params":3,"method":"m"}"#).1, -32600);
        assert_eq!(parse_line("   "), Incoming::Nothing);
        let req = parse_line(r#"{"jsonrpc":"2.0","id":1.5,"method":"m","params":{"a":1}}"#);
        assert!(matches!(req, Incoming::Request { id, .. } if id == json!(1.5)));
        let note = parse_line(r#"{"jsonrpc":"2.0","method":"session/cancel"}"#);
        assert!(matches!(note, Incoming::Notification { params: Value::Null, .. }));
        let resp = parse_line(r#"{"jsonrpc":"2.0","id":4,"error":{"code":-1,"message":"no"}}"#);
        assert!(matches!(resp, Incoming::Response { result: Err(e), .. } if e.code == -1));
    }

    #[test]
    fn params_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct P {
            cwd: String,
            list: Vec<u32>,
        }
        let e = params::<P>("m", json!({"cwd": "x", "list": [1, "two"]})).unwrap_err();
        assert_eq!(e.code, INVALID_PARAMS);
        assert!(e.message.contains("list[1]"), "{}", e.message);
        let e = params::<P>("m", json!({"list": []})).unwrap_err();
        assert!(e.message.contains("cwd"), "{}", e.message);
    }
}
