//! Resolved settings, as plain data built once from the command line (`cli`): the model
//! and how to run it, sampling, and how a chat turn is prompted; plus where models live
//! and how a model argument names a file.

use std::path::{Path, PathBuf};

use crate::backend::KvType;
use crate::engine::sampler::SamplerParams;
use crate::error::{Error, Result};

/// The model hearth uses when none is given: the default of scripts/models.toml.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/// Where the forward pass runs (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BackendChoice {
    /// A Vulkan GPU when there is one, else the CPU.
    #[default]
    Auto,
    /// Vulkan on the chosen device (any kind, CPU drivers included); an error if none.
    Vulkan,
    Cpu,
}

/// `-ngl`: how many layers' experts go on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuLayers {
    #[default]
    Auto,
    N(usize),
}

/// The model and how to run it.
#[derive(Debug, Clone, Default)]
pub struct ModelConfig {
    /// As given (`-m`); `None`: the default model in the models dir.
    pub model: Option<PathBuf>,
    /// `None`: 4096, or the model's own context if smaller.
    pub ctx_size: Option<usize>,
    pub batch_size: usize,
    /// `None`: every core.
    pub threads: Option<usize>,
    pub cache_type_k: Option<KvType>,
    pub cache_type_v: Option<KvType>,
    pub backend: BackendChoice,
    pub device: Option<usize>,
    pub cpu_moe: bool,
    pub n_cpu_moe: Option<usize>,
    pub n_gpu_layers: GpuLayers,
    /// `--gpu-memory`, bytes: `None`, all the device has.
    pub gpu_memory: Option<u64>,
}

impl ModelConfig {
    /// The model file: `-m` resolved, else the default model in the models dir.
    pub fn model_path(&self) -> Result<PathBuf> {
        match &self.model {
            Some(m) => resolve_model(m),
            None => {
                let dir = models_dir()?;
                let path = dir.join(DEFAULT_MODEL);
                if path.exists() {
                    return Ok(path);
                }
                Err(Error::bad_input(format!(
                    "no model given (-m FILE) and the default model {DEFAULT_MODEL} is not in {}: \
                     run scripts/fetch-models from the hearth repository to install it",
                    dir.display()
                )))
            }
        }
    }

    /// The KV cache types of keys and values (f16 unless given).
    pub fn cache_types(&self) -> (KvType, KvType) {
        (self.cache_type_k.unwrap_or_default(), self.cache_type_v.unwrap_or_default())
    }

    /// Threads: `-t`, else every core.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Context size: `-c`, else 4096 capped at what the model was trained for.
    pub fn ctx_size(&self, n_ctx_train: usize) -> usize {
        self.ctx_size.unwrap_or_else(|| 4096.min(n_ctx_train.max(1)))
    }
}

/// How the next token is chosen, and when an answer stops.
#[derive(Debug, Clone)]
pub struct SamplingConfig {
    pub params: SamplerParams,
    /// Stop strings (`--stop`).
    pub stop: Vec<String>,
}

/// How a chat turn is prompted.
#[derive(Debug, Clone, Default)]
pub struct PromptConfig {
    /// Replaces the face's built-in system prompt.
    pub system_prompt: Option<String>,
    /// A Jinja chat template used instead of the model's.
    pub chat_template_file: Option<PathBuf>,
    /// Most tokens of one answer.
    pub n_predict: usize,
}

/// Everything a conversational face (REPL, ask, edit, acp) runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub model: ModelConfig,
    pub sampling: SamplingConfig,
    pub prompt: PromptConfig,
    /// The stored session to keep the conversation in (`--session`).
    pub session: Option<String>,
}

/// The directory models live in: `$HEARTH_MODELS_DIR`, else `~/.cache/hearth/models`;
/// an error when neither that nor `HOME` is set (not a dir relative to wherever hearth
/// runs).
pub fn models_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("HEARTH_MODELS_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or_else(|| {
        Error::usage("no models dir: set HEARTH_MODELS_DIR or HOME, or give -m PATH")
    })?;
    Ok(PathBuf::from(home).join(".cache").join("hearth").join("models"))
}

/// Resolves a model argument: an existing path as given, else a bare file name found in
/// the models dir. Fails naming both places looked at.
pub fn resolve_model(arg: &Path) -> Result<PathBuf> {
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    let is_bare_name = arg.components().count() == 1;
    if is_bare_name {
        let dir = models_dir()?;
        let in_dir = dir.join(arg);
        if in_dir.exists() {
            return Ok(in_dir);
        }
        return Err(Error::bad_input(format!(
            "no such file here or in the models dir {} (scripts/fetch-models installs the test models)",
            dir.display()
        ))
        .with_file(arg));
    }
    Err(Error::bad_input("no such file").with_file(arg))
}
