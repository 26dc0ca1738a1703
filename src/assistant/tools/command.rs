//! `run_command`: a command line run by `sh -c` in the project root, in its own process
//! group, with no stdin, a timeout (the group is killed) and an output cap (the start and
//! the end are kept); its exit status and output go back to the model.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use wait_timeout::ChildExt;

use super::{parse_args, Class, CommandSpec, Kind, Outcome, Prepared, Refused, Tool, Workspace};
use crate::context::Root;

pub const RUN_COMMAND: Tool = Tool {
    name: "run_command",
    description: "Run a shell command line in the project root (no input; stdout and stderr \
                  together; the user is asked first). Returns the exit status and output.",
    kind: Kind::Execute,
    class: Class::Run,
    schema,
    prepare,
};

/// How long output is still read after the command ends (children it left behind may
/// hold the pipe open).
const DRAIN: Duration = Duration::from_secs(1);

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The command line, as for sh -c"},
            "timeout_secs": {"type": "integer", "minimum": 1, "description": "Stop it after this long"},
        },
        "required": ["command"],
        "additionalProperties": false,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    command: String,
    timeout_secs: Option<u64>,
}

fn prepare(args: Value, ws: &Workspace) -> Result<Prepared, Refused> {
    let args: Args = parse_args("run_command", args)?;
    build(args, ws).map_err(Refused::Failed)
}

fn build(args: Args, ws: &Workspace) -> Result<Prepared, String> {
    if args.command.trim().is_empty() {
        return Err("`run_command`: the command is empty".to_string());
    }
    let limit = ws.limits.command_timeout;
    let timeout = args.timeout_secs.map_or(limit, |s| Duration::from_secs(s).min(limit));
    let root = ws.files.root().clone();
    let cap = ws.limits.output_bytes;
    let line = args.command.clone();
    let title = format!("run {}", first_line(&line));
    let spec = CommandSpec {
        line: line.clone(),
        cwd: root.path().to_path_buf(),
        timeout,
        output_bytes: cap,
    };
    let run = move |_: &mut Workspace| run_command(&root, &line, timeout, cap);
    let prepared = Prepared::new(title, Some(args.command), Box::new(run));
    Ok(Prepared { command: Some(spec), ..prepared })
}

fn first_line(command: &str) -> String {
    let mut lines = command.trim().lines();
    let first = lines.next().unwrap_or_default().to_string();
    match lines.next() {
        Some(_) => format!("{first} …"),
        None => first,
    }
}

/// Runs `line` and describes how it ended, its output capped at `cap` bytes.
pub(super) fn run_command(root: &Root, line: &str, timeout: Duration, cap: usize) -> Outcome {
    let (reader, writer) = match std::io::pipe() {
        Ok(pair) => pair,
        Err(e) => return Outcome::error(format!("cannot make a pipe: {e}")),
    };
    let stderr = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return Outcome::error(format!("cannot make a pipe: {e}")),
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(line).current_dir(root.path());
    cmd.stdin(Stdio::null()).stdout(writer).stderr(stderr).process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::error(format!("cannot start sh: {e}")),
    };
    // The pipe's write ends now live in the child only, so EOF comes when it is done.
    drop(cmd);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(capture(reader, cap));
    });
    let status = child.wait_timeout(timeout);
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's process group; a group already gone is ESRCH.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let ended = match status {
        Ok(Some(status)) => describe(status),
        Ok(None) => {
            let _ = child.wait();
            format!("timed out after {} s (killed)", timeout.as_secs())
        }
        Err(e) => format!("could not wait for it: {e}"),
    };
    let output = rx.recv_timeout(DRAIN).unwrap_or_else(|_| "(output not closed)".to_string());
    let failed = ended != "exit status 0";
    let text = match output.is_empty() {
        true => format!("{ended}; no output"),
        false => format!("{ended}; output:\n{output}"),
    };
    Outcome { text, failed, invalid: false }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".to_string(),
    }
}

/// Everything `r` gives, as text: at most `cap` bytes, half from the start and half from
/// the end, with a line saying how much was left out between.
fn capture(mut r: impl Read, cap: usize) -> String {
    let (half, mut head, mut tail) = (cap / 2, Vec::new(), Vec::new());
    let mut dropped = 0usize;
    let mut buf = [0u8; 8192];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut chunk = &buf[..n];
        if head.len() < half {
            let take = (half - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        tail.extend_from_slice(chunk);
        if tail.len() > 2 * half {
            let cut = tail.len() - half;
            dropped += cut;
            tail.drain(..cut);
        }
    }
    if tail.len() > half {
        dropped += tail.len() - half;
        tail.drain(..tail.len() - half);
    }
    let mut out = String::from_utf8_lossy(&head).into_owned();
    if dropped > 0 {
        out.push_str(&format!("\n[… {dropped} bytes of output left out …]\n"));
    }
    out.push_str(&String::from_utf8_lossy(&tail));
    out
}
