//! The assistant layer: what a conversational turn needs, shared by every face (the
//! REPL, `ask`, `edit`, `acp`) — resolved settings, model loading, the stored
//! conversation (store binding, KV snapshot restore and save), prompt assembly (system
//! prompt, project notes, files in context, history, chat template), a turn as a stream
//! of events with a cancel flag, and the edits an answer proposes.
//!
//! Faces build a [`Config`] from their arguments once and talk to an [`Assistant`]; they
//! never reach into each other. Below this layer: `engine`, `context`, `store`.

pub mod agent;
pub mod callgrammar;
pub mod chat;
pub mod config;
pub mod conversation;
mod edits;
mod jobs;
pub mod load;
pub mod prompt;
mod remote;
pub mod tools;

pub use agent::{Approval, Execution, ToolActivity, ToolUse, DEFAULT_MAX_STEPS};
pub use chat::{Assistant, Notice, Setup, TurnEnd, TurnEvent};
pub use config::{Config, ModelConfig, PromptConfig, SamplingConfig};
pub use conversation::Conversation;
pub use edits::{edit_text, Proposal};
pub use load::Loaded;
