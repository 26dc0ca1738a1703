//! The read loop: every line of stdin is classified and answered or routed — protocol
//! requests that need no model on this thread at once, model work (session/new, load,
//! list, prompt) queued to one worker thread, `session/cancel` straight to the running
//! turn's flag, the client's answers to the request that waits for them. EOF cancels
//! what runs, lets the worker answer what is queued, and returns.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

use agent_client_protocol_schema::v1 as acp;
use serde_json::Value;

use super::backend::Backend;
use super::rpc::{self, Incoming, Peer, RpcError};
use super::session::{self, Worker};

/// A session's controls the read loop shares with the worker.
#[derive(Debug, Default)]
pub struct Ctl {
    pub cancel: Arc<AtomicBool>,
    /// A prompt is queued or running.
    pub busy: AtomicBool,
}

/// Sessions by id.
pub type Ctls = Arc<Mutex<HashMap<String, Arc<Ctl>>>>;

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Model work, run in order by the worker.
pub enum Job {
    New { id: Value, req: acp::NewSessionRequest },
    Load { id: Value, req: acp::LoadSessionRequest },
    List { id: Value, req: acp::ListSessionsRequest },
    Prompt { id: Value, req: acp::PromptRequest, ctl: Arc<Ctl> },
}

/// What the client said it can do, set by `initialize`.
#[derive(Debug, Default, Clone)]
pub struct ClientCaps {
    pub read_text_file: bool,
    pub write_text_file: bool,
    pub notices: bool,
    /// The client runs commands in its terminals (`terminal/*`).
    pub terminal: bool,
}

pub type Caps = Arc<Mutex<ClientCaps>>;

/// Serves the protocol on `input` until EOF, with `backend` for the model work.
pub fn serve<B: Backend>(input: impl BufRead, peer: Arc<Peer>, backend: B) {
    let ctls: Ctls = Arc::default();
    let caps: Caps = Arc::default();
    let (tx, rx) = mpsc::channel::<Job>();
    let worker = Worker::new(backend, Arc::clone(&peer), Arc::clone(&ctls), Arc::clone(&caps));
    let handle =
        std::thread::Builder::new().name("acp-worker".into()).spawn(move || worker.run(rx));
    let handle = match handle {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hearth: acp: cannot start the worker thread: {e}");
            return;
        }
    };
    let mut reader = Reader { peer: &peer, ctls: &ctls, caps: &caps, jobs: tx };
    for line in split_lines(input) {
        reader.line(&line);
    }
    // EOF: nobody will answer our requests, nor read what a turn would write.
    peer.close();
    for ctl in lock(&ctls).values() {
        if ctl.busy.load(Ordering::SeqCst) {
            ctl.cancel.store(true, Ordering::SeqCst);
        }
    }
    drop(reader);
    if handle.join().is_err() {
        eprintln!("hearth: acp: the worker thread panicked");
    }
}

/// The lines of `input`, bytes that are not UTF-8 replaced (they fail as JSON then).
fn split_lines(mut input: impl BufRead) -> impl Iterator<Item = String> {
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        }
    })
}

struct Reader<'a> {
    peer: &'a Peer,
    ctls: &'a Ctls,
    caps: &'a Caps,
    jobs: Sender<Job>,
}

impl Reader<'_> {
    fn line(&mut self, line: &str) {
        match rpc::parse_line(line) {
            Incoming::Nothing => {}
            Incoming::Invalid { id, error } => self.peer.respond(id, Err(error)),
            Incoming::Response { id, result } => self.peer.answer(&id, result),
            Incoming::Notification { method, params } => self.notification(&method, params),
            Incoming::Request { id, method, params } => {
                if let Err(e) = self.request(id.clone(), &method, params) {
                    self.peer.respond(id, Err(e));
                }
            }
        }
    }

    /// `session/cancel` stops the session's running turn; other notifications are ignored.
    fn notification(&self, method: &str, params: Value) {
        if method != "session/cancel" {
            return;
        }
        let Ok(note) = rpc::params::<acp::CancelNotification>(method, params) else { return };
        if let Some(ctl) = lock(self.ctls).get(&*note.session_id.0) {
            if ctl.busy.load(Ordering::SeqCst) {
                ctl.cancel.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Answers a request here, or queues it for the worker (which answers it).
    fn request(&mut self, id: Value, method: &str, params: Value) -> Result<(), RpcError> {
        let job = match method {
            "initialize" => {
                let req = rpc::params(method, params)?;
                let resp = session::initialize(&req, self.caps);
                self.peer.reply(id, Ok(resp));
                return Ok(());
            }
            "authenticate" => {
                let _: acp::AuthenticateRequest = rpc::params(method, params)?;
                self.peer.respond(id, Ok(serde_json::json!({})));
                return Ok(());
            }
            "session/new" => {
                let req: acp::NewSessionRequest = rpc::params(method, params)?;
                absolute("cwd", &req.cwd)?;
                Job::New { id, req }
            }
            "session/load" => {
                let req: acp::LoadSessionRequest = rpc::params(method, params)?;
                absolute("cwd", &req.cwd)?;
                Job::Load { id, req }
            }
            "session/list" => {
                let req: acp::ListSessionsRequest = rpc::params(method, params)?;
                if let Some(cwd) = &req.cwd {
                    absolute("cwd", cwd)?;
                }
                Job::List { id, req }
            }
            "session/prompt" => {
                let req: acp::PromptRequest = rpc::params(method, params)?;
                let ctl = self.claim(&req.session_id.0)?;
                Job::Prompt { id, req, ctl }
            }
            _ => return Err(RpcError::new(rpc::METHOD_NOT_FOUND, format!("no method {method}"))),
        };
        self.jobs.send(job).map_err(|_| RpcError::internal("the worker thread is gone"))
    }

    /// Marks the session busy for a new prompt; refuses an unknown or busy session.
    fn claim(&self, session_id: &str) -> Result<Arc<Ctl>, RpcError> {
        let ctls = lock(self.ctls);
        let Some(ctl) = ctls.get(session_id) else {
            return Err(RpcError::new(
                rpc::RESOURCE_NOT_FOUND,
                format!("sessionId: no session {session_id:?} (session/new or session/load first)"),
            ));
        };
        if ctl.busy.swap(true, Ordering::SeqCst) {
            return Err(RpcError::invalid_params(format!(
                "sessionId: session {session_id:?} is already answering a prompt"
            )));
        }
        // No turn runs: a cancel meant for an earlier one is stale.
        ctl.cancel.store(false, Ordering::SeqCst);
        Ok(Arc::clone(ctl))
    }
}

fn absolute(field: &str, path: &Path) -> Result<(), RpcError> {
    match path.is_absolute() {
        true => Ok(()),
        false => Err(RpcError::invalid_params(format!(
            "{field}: must be an absolute path, got {:?}",
            path.display().to_string()
        ))),
    }
}
