//! Commands run in the client's terminal (`terminal/*`): created as `sh -c LINE` in the
//! project root with the output cap, shown in the tool call while it runs, polled until
//! it exits, killed at its timeout or when the turn is cancelled, then released — the
//! editor keeps showing it; the model gets the exit status and output as from a local
//! run.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use agent_client_protocol_schema::v1 as acp;
use serde_json::Value;

use super::files::Fs;
use crate::assistant::tools::{CommandSpec, Outcome};

/// How often a running command's state is asked for.
const POLL: Duration = Duration::from_millis(100);

/// Runs `cmd` in a new terminal of the client's; `shown` gets its id once it exists.
/// Returns the outcome for the model and the terminal's id (`None` when none was made).
pub fn run(cmd: &CommandSpec, fs: &Fs, shown: impl FnOnce(&str)) -> (Outcome, Option<String>) {
    let mut req = acp::CreateTerminalRequest::new(fs.session_id.to_string(), "sh")
        .args(vec!["-c".to_string(), cmd.line.clone()]);
    req.cwd = Some(cmd.cwd.clone());
    req.output_byte_limit = Some(cmd.output_bytes as u64);
    let id = match ask::<acp::CreateTerminalResponse>(fs, "terminal/create", &req) {
        Ok(resp) => resp.terminal_id.0.to_string(),
        Err(e) => return (Outcome::error(format!("the editor could not start it: {e}")), None),
    };
    shown(&id);
    let outcome = watch(cmd, fs, &id);
    let release = acp::ReleaseTerminalRequest::new(fs.session_id.to_string(), id.clone());
    if let Err(e) = ask::<Value>(fs, "terminal/release", &release) {
        eprintln!("hearth: acp: terminal/release: {e}");
    }
    (outcome, Some(id))
}

/// Polls terminal `id` until its command exits; kills it at the timeout or on cancel.
fn watch(cmd: &CommandSpec, fs: &Fs, id: &str) -> Outcome {
    let start = Instant::now();
    let mut killed = None;
    loop {
        let req = acp::TerminalOutputRequest::new(fs.session_id.to_string(), id.to_string());
        let out = match ask::<acp::TerminalOutputResponse>(fs, "terminal/output", &req) {
            Ok(out) => out,
            Err(e) => return Outcome::error(format!("the editor lost the command: {e}")),
        };
        if let Some(status) = &out.exit_status {
            return outcome(status, &out, killed);
        }
        let why = match () {
            _ if fs.cancel.load(Ordering::Relaxed) => Some("cancelled".to_string()),
            _ if start.elapsed() >= cmd.timeout => {
                Some(format!("timed out after {} s", cmd.timeout.as_secs()))
            }
            _ => None,
        };
        if let (Some(why), None) = (why, &killed) {
            let kill = acp::KillTerminalRequest::new(fs.session_id.to_string(), id.to_string());
            if let Err(e) = ask::<Value>(fs, "terminal/kill", &kill) {
                return Outcome::error(format!("{why}, and the editor could not stop it: {e}"));
            }
            killed = Some(why);
        }
        std::thread::sleep(POLL);
    }
}

/// The model's view of a finished command, as `run_command` words it locally.
fn outcome(
    status: &acp::TerminalExitStatus,
    out: &acp::TerminalOutputResponse,
    killed: Option<String>,
) -> Outcome {
    let ended = match (&killed, status.exit_code, &status.signal) {
        (Some(why), _, _) => format!("{why} (killed)"),
        (None, Some(code), _) => format!("exit status {code}"),
        (None, None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".to_string(),
    };
    let failed = ended != "exit status 0";
    let mut output = out.output.clone();
    if out.truncated {
        output.insert_str(0, "[… the start of the output was left out …]\n");
    }
    let text = match output.is_empty() {
        true => format!("{ended}; no output"),
        false => format!("{ended}; output:\n{output}"),
    };
    Outcome { text, failed, invalid: false }
}

/// A request to the client and its typed answer; the error is one line.
fn ask<T: serde::de::DeserializeOwned>(
    fs: &Fs,
    method: &str,
    params: &impl serde::Serialize,
) -> Result<T, String> {
    // Cancellation is handled by the caller (a running command is killed, not dropped).
    let never = std::sync::atomic::AtomicBool::new(false);
    let v = fs.peer.request(method, params, &never).map_err(|e| e.message)?;
    serde_json::from_value(v).map_err(|e| format!("{method} answered badly: {e}"))
}
