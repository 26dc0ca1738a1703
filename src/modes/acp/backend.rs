//! What the protocol needs from the assistant, as two small traits: a [`Backend`] that
//! opens, loads and lists conversations, and a [`Conversation`] that runs a turn with a
//! cancel flag, takes notes, answers the slash commands and reports its context use.
//! The real one is `assistant.rs`; the unit tests drive the protocol with a fake.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::assistant::tools::Outcome;
use crate::assistant::{Approval, Execution, ToolActivity};
use crate::error::Result;

/// What a turn streams to the protocol.
#[derive(Debug)]
pub enum TurnOut<'a> {
    /// Text of the answer.
    Text(&'a str),
    /// A tool call about to run.
    Call(&'a ToolActivity),
    /// A tool call asks for a yes: answer on its `reply`.
    Approve(Approval),
    /// What a call gave, or why it did not run.
    Result(&'a ToolActivity, &'a Outcome),
    /// A command to run in the client's terminal: answer on its `reply`, or drop it and
    /// the assistant runs the command itself.
    Execute(Execution),
}

/// Why a turn ended, in the protocol's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    EndTurn,
    MaxTokens,
    /// The tool loop's limits ended the turn (steps, or one call over and over).
    MaxTurnRequests,
    Cancelled,
}

/// A finished turn: the answer as far as it came, and why it ended.
#[derive(Debug)]
pub struct TurnResult {
    pub answer: String,
    pub stop: Stop,
}

/// A stored conversation, as `session/list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub title: String,
    /// Seconds since the Unix epoch.
    pub updated: i64,
}

/// Who said a message of the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Agent,
}

/// The slash commands a prompt may start with.
pub const COMMANDS: &[(&str, &str)] = &[
    ("clear", "Start the conversation afresh (the stored session keeps its messages)"),
    ("compact", "Forget the older half of the conversation"),
    ("tokens", "Show how the context is spent: system prompt, notes, history, room left"),
];

/// Opens conversations over one loaded model (loaded on first use).
pub trait Backend: Send + 'static {
    type Conv: Conversation;

    /// A new conversation rooted at `cwd`, stored as `id` once it has a turn.
    fn create(&mut self, id: &str, cwd: &Path, cancel: Arc<AtomicBool>) -> Result<Self::Conv>;

    /// The stored conversation `id`, its history and KV cache restored. An `id` that names
    /// no stored session fails with kind `Usage`.
    fn load(&mut self, id: &str, cwd: &Path, cancel: Arc<AtomicBool>) -> Result<Self::Conv>;

    /// The stored conversations, most recent first.
    fn list(&mut self) -> Result<Vec<Listed>>;
}

/// One conversation.
pub trait Conversation: Send {
    /// The history so far (user and agent messages, in order).
    fn history(&self) -> Vec<(Role, String)>;

    /// Runs a turn on `message`, streaming text and tool activity to `out`; stops at the
    /// cancel flag given at creation. A turn that could not run (the prompt does not fit,
    /// the model failed) is the error; a cancelled one is a result with `Stop::Cancelled`.
    fn turn(&mut self, message: String, out: &mut dyn FnMut(TurnOut)) -> Result<TurnResult>;

    /// Records a note the model sees next turn (an edit the user rejected).
    fn note(&mut self, text: &str);

    /// Runs a slash command (one of [`COMMANDS`]); returns what it says.
    fn command(&mut self, name: &str) -> String;

    /// Messages for the user gathered since the last call (not part of the answer).
    fn notices(&mut self) -> Vec<String>;

    /// Tokens in the context now, and the context size.
    fn usage(&self) -> (u64, u64);
}
