//! hearth: an offline coding assistant for the terminal that runs GGUF models on its own
//! engine. The library holds everything; `main.rs` only parses arguments and dispatches.
//!
//! Dependencies point down only: `modes` → `chat`/`tokenizer` → `gguf` → `quant`.

pub mod assistant;
pub mod backend;
pub mod chat;
pub mod cli;
pub mod context;
pub mod engine;
pub mod error;
pub mod gguf;
pub mod model;
pub mod modes;
pub mod quant;
pub mod remote;
pub mod store;
pub mod tokenizer;
pub mod tui;

#[cfg(test)]
mod testutil;

pub use error::{Error, ErrorKind, Result};
