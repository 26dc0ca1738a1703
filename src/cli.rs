//! Command-line arguments (clap derive) and their resolution into paths and settings.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};

/// hearth: an offline coding assistant that runs GGUF models on your own machine.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a GGUF file holds: architecture, sizes, tokenizer, tensors.
    Inspect(InspectArgs),
    /// Turn text into token ids with a model's own tokenizer.
    Tokenize(TokenizeArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The GGUF file (a path, or a file name in the models dir).
    #[arg(value_name = "FILE")]
    pub model: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Print every metadata value in full (long arrays included).
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// The GGUF model whose tokenizer to use.
    #[arg(short = 'm', long = "model", value_name = "FILE")]
    pub model: PathBuf,
    /// Text to tokenize (stdin is read when neither -p nor -f is given).
    #[arg(short = 'p', long = "prompt", conflicts_with = "file")]
    pub prompt: Option<String>,
    /// Read the text from this file.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Print only a JSON array of token ids.
    #[arg(long)]
    pub json: bool,
    /// Treat special-token text such as `<|im_start|>` as plain text.
    #[arg(long)]
    pub no_parse_special: bool,
    /// Add the model's BOS token in front.
    #[arg(long)]
    pub bos: bool,
}

/// The directory models live in: `$HEARTH_MODELS_DIR`, else `~/.cache/hearth/models`.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HEARTH_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    home.join(".cache").join("hearth").join("models")
}

/// Resolves a model argument: an existing path as given, else a bare file name found in
/// the models dir. Fails naming both places looked at.
pub fn resolve_model(arg: &Path) -> Result<PathBuf> {
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    let is_bare_name = arg.components().count() == 1;
    if is_bare_name {
        let in_dir = models_dir().join(arg);
        if in_dir.exists() {
            return Ok(in_dir);
        }
        return Err(Error::bad_input(format!(
            "no such file here or in the models dir {} (scripts/fetch-models installs the test models)",
            models_dir().display()
        ))
        .with_file(arg));
    }
    Err(Error::bad_input("no such file").with_file(arg))
}
