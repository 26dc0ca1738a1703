//! The fuzz targets by name, and the real models the tokenizer and chat targets use.

pub mod acp;
pub mod chat;
pub mod edits;
pub mod gguf;
mod gguf_fields;
mod json_mutate;
pub mod tokenizer;

use std::path::{Path, PathBuf};

use super::Target;

/// Every target, in the order runs and tests go through them.
pub const NAMES: [&str; 5] = ["gguf", "tokenizer", "chat", "edits", "acp"];

/// The three real models (`scripts/fetch-models`).
pub const MODELS: [&str; 3] = [
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "gemma3-270m-q4_k_m.gguf",
];

/// The models directory as hearth resolves it: `HEARTH_MODELS_DIR`, else
/// `~/.cache/hearth/models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("HEARTH_MODELS_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hearth/models")
        }
    }
}

/// The paths of the real models in `dir`; an error names a missing one.
pub fn model_paths(dir: &Path) -> Result<Vec<PathBuf>, String> {
    MODELS
        .iter()
        .map(|m| dir.join(m))
        .map(|p| match p.exists() {
            true => Ok(p),
            false => Err(format!("{} is missing: run scripts/fetch-models", p.display())),
        })
        .collect()
}

/// The target called `name`.
pub fn make(name: &str, models: &Path) -> Result<Box<dyn Target>, String> {
    let paths = || model_paths(models);
    Ok(match name {
        "gguf" => Box::new(gguf::Gguf),
        "tokenizer" => Box::new(tokenizer::Tokenizers::load(&refs(&paths()?))?),
        "chat" => Box::new(chat::Chat::load(&refs(&paths()?))?),
        "edits" => Box::new(edits::Edits::new()?),
        "acp" => Box::new(acp::Acp::new()?),
        other => return Err(format!("no target {other:?} (targets: {})", NAMES.join(", "))),
    })
}

fn refs(paths: &[PathBuf]) -> Vec<&Path> {
    paths.iter().map(PathBuf::as_path).collect()
}

/// A scratch directory, in memory where the system has one (`/dev/shm`): the ACP and
/// edits targets touch files on every run.
pub fn scratch_dir() -> Result<tempfile::TempDir, String> {
    let shm = Path::new("/dev/shm");
    let dir = match shm.is_dir() {
        true => tempfile::Builder::new().prefix("hearth-fuzz-").tempdir_in(shm),
        false => tempfile::Builder::new().prefix("hearth-fuzz-").tempdir(),
    };
    dir.map_err(|e| format!("a scratch directory: {e}"))
}
