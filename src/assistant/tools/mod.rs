//! The tools the assistant calls — `list_files`, `read_file`, `search`, `edit_file`,
//! `run_command` — as one table (name, JSON schema, permission class, kind, runner),
//! all confined to the project root: symlinks resolved, nothing outside, nothing the
//! ignore rules hide unless it is named. A call is first *prepared* (arguments checked,
//! an edit's diff computed, nothing touched), then, once allowed, *run*.

mod command;
mod edit;
mod files;
mod paths;
mod permissions;
mod search;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub use permissions::{Class, Decision, Permissions};

use crate::chat::ToolCall;
use crate::context::edits::{EditLog, FileChange};
use crate::context::{ContextFiles, TokenCounter};

/// What a tool does, as editors show it (ACP's `ToolKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Search,
    Edit,
    Execute,
}

/// One tool: its name and description as the model sees them, the JSON schema of its
/// arguments, what it does and which permission it needs, and how a call is prepared.
pub struct Tool {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub class: Class,
    pub schema: fn() -> Value,
    prepare: fn(Value, &Workspace) -> Result<Prepared, Refused>,
}

/// Every tool, in the order the model is told of them.
pub static TOOLS: [Tool; 5] =
    [files::LIST_FILES, files::READ_FILE, search::SEARCH, edit::EDIT_FILE, command::RUN_COMMAND];

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The tools as a chat template's `tools` variable: OpenAI-style function definitions.
pub fn definitions() -> Value {
    let list: Vec<Value> = TOOLS
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": (t.schema)(),
            }})
        })
        .collect();
    Value::Array(list)
}

/// The caps that keep a tool's result small enough for the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes `read_file` returns.
    pub read_bytes: usize,
    /// The most paths `list_files` returns.
    pub list_entries: usize,
    /// The most matching lines `search` returns.
    pub search_matches: usize,
    /// How long `run_command` waits, unless the call asks for less.
    pub command_timeout: Duration,
    /// The most bytes of a command's output returned (its start and its end).
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            read_bytes: 16 << 10,
            list_entries: 300,
            search_matches: 60,
            command_timeout: Duration::from_secs(120),
            output_bytes: 8 << 10,
        }
    }
}

/// What the tools act on: the files in context (their root bounds everything), the undo
/// log edits join, and the limits.
pub struct Workspace<'a> {
    pub files: &'a mut ContextFiles,
    pub log: &'a mut EditLog,
    pub count: TokenCounter<'a>,
    pub limits: Limits,
}

/// Why a call was not prepared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A malformed call: an unknown tool, or arguments that are not JSON or do not fit
    /// the tool's schema (what the grammar rules out).
    Invalid(String),
    /// A well-formed call that cannot run: a path outside the root, a missing file, an
    /// edit that does not apply.
    Failed(String),
}

impl Refused {
    pub fn message(&self) -> &str {
        match self {
            Refused::Invalid(m) | Refused::Failed(m) => m,
        }
    }
}

/// What running a call gave the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub text: String,
    /// The tool failed (the text says why); the model sees that too.
    pub failed: bool,
    /// The call itself was malformed (unparsed, an unknown tool, arguments off the schema).
    pub invalid: bool,
}

impl Outcome {
    pub fn ok(text: impl Into<String>) -> Outcome {
        Outcome { text: text.into(), failed: false, invalid: false }
    }

    pub fn error(text: impl Into<String>) -> Outcome {
        Outcome { text: text.into(), failed: true, invalid: false }
    }

    /// A call that was not prepared, and why.
    pub fn refused(r: Refused) -> Outcome {
        match r {
            Refused::Invalid(text) => Outcome { text, failed: true, invalid: true },
            Refused::Failed(text) => Outcome::error(text),
        }
    }
}

type Runner = Box<dyn FnOnce(&mut Workspace) -> Outcome + Send>;

/// A checked call, ready to show and to run.
pub struct Prepared {
    /// One line saying what it will do: `read src/main.rs`, `run cargo test`.
    pub title: String,
    /// What the user should see before saying yes: an edit's diff, a command line.
    pub detail: Option<String>,
    /// An edit's change (path, old and new text), for faces that show diffs themselves.
    pub change: Option<FileChange>,
    /// A command's line and bounds, for faces that run commands themselves (an editor's
    /// terminal).
    pub command: Option<CommandSpec>,
    run: Runner,
}

impl Prepared {
    fn new(title: String, detail: Option<String>, run: Runner) -> Prepared {
        Prepared { title, detail, change: None, command: None, run }
    }
}

/// A command `run_command` would run: `sh -c LINE` in `cwd`, stopped after `timeout`,
/// at most `output_bytes` of its output kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    pub line: String,
    pub cwd: std::path::PathBuf,
    pub timeout: Duration,
    pub output_bytes: usize,
}

/// A call checked against the table and its tool's arguments.
pub struct Action {
    pub call: ToolCall,
    pub tool: &'static Tool,
    pub prepared: Prepared,
}

impl Action {
    /// Checks `call`: a known tool, arguments that fit its schema, paths inside the root,
    /// an edit that applies. The error is what the model is told.
    pub fn prepare(call: &ToolCall, ws: &Workspace) -> Result<Action, Refused> {
        let tool = find(&call.name).ok_or_else(|| {
            let known: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            let names = known.join(", ");
            Refused::Invalid(format!("unknown tool `{}` (the tools are {names})", call.name))
        })?;
        let args: Value = serde_json::from_str(&call.arguments).map_err(|e| {
            Refused::Invalid(format!("the arguments of `{}` are not valid JSON: {e}", call.name))
        })?;
        let prepared = (tool.prepare)(strings_as_schema_says(args, &(tool.schema)()), ws)?;
        Ok(Action { call: call.clone(), tool, prepared })
    }

    pub fn run(self, ws: &mut Workspace) -> Outcome {
        (self.prepared.run)(ws)
    }
}

/// `args` with each number or boolean the schema wants as a string taken as its text:
/// the XML call form carries no types, so a path `2024` reads back as a number.
fn strings_as_schema_says(mut args: Value, schema: &Value) -> Value {
    let Some(obj) = args.as_object_mut() else { return args };
    for (key, value) in obj.iter_mut() {
        let wants_string = schema["properties"][key.as_str()]["type"] == "string";
        if wants_string && (value.is_number() || value.is_boolean()) {
            *value = Value::String(value.to_string());
        }
    }
    args
}

/// A tool's arguments as its typed form; the error names the field.
fn parse_args<T: DeserializeOwned>(tool: &str, args: Value) -> Result<T, Refused> {
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        Refused::Invalid(match path.as_str() {
            "." => format!("`{tool}`: {}", e.inner()),
            _ => format!("`{tool}`: {path}: {}", e.inner()),
        })
    })
}

#[cfg(test)]
mod tests;
