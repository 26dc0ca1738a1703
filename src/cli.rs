//! Command-line arguments (clap derive) and their resolution into paths and settings.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::backend::KvType;
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
    /// Open the terminal REPL (what `hearth` alone does): chat about the project's files,
    /// see proposed changes as diffs and apply them.
    Chat(ChatArgs),
    /// Show what a GGUF file holds: architecture, sizes, tokenizer, tensors.
    Inspect(InspectArgs),
    /// Turn text into token ids with a model's own tokenizer.
    Tokenize(TokenizeArgs),
    /// Raw completion of a prompt (no chat template); only the generated text on stdout.
    Run(RunArgs),
    /// Perplexity of a text file (llama.cpp's method: second half of each chunk scored).
    Perplexity(PerplexityArgs),
    /// Ask one question; piped stdin and -f files are added as context.
    Ask(AskArgs),
    /// Measure prompt processing and generation speed (as llama-bench does).
    Bench(BenchArgs),
    /// List, show, export, rename, fork or remove stored sessions; gc old snapshots.
    Sessions(SessionsArgs),
    /// List the Vulkan devices hearth can run on.
    Devices(DevicesArgs),
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

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

#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub command: SessionsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Every session, most recent first.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// One session and its messages.
    Show {
        /// Session name or id.
        session: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print a session as Markdown or JSON.
    Export {
        /// Session name or id.
        session: String,
        #[arg(long, value_enum, default_value = "md")]
        format: ExportFormat,
    },
    /// Give a session a new name.
    Rename {
        /// Session name or id.
        session: String,
        /// The new name.
        name: String,
    },
    /// Copy a session (messages and KV snapshot) under a new name, as a branch to keep.
    Fork {
        /// Session name or id.
        session: String,
        /// The copy's name.
        name: String,
    },
    /// Delete sessions with their messages and snapshots.
    Rm {
        /// Session names or ids.
        #[arg(required = true)]
        sessions: Vec<String>,
    },
    /// Drop snapshots of model files no longer present, then compact the database.
    Gc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt tokens processed per repetition (0: skip the test).
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
    pub n_prompt: usize,
    /// Tokens generated per repetition (0: skip the test).
    #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
    pub n_gen: usize,
    /// Repetitions of each test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 3)]
    pub reps: usize,
    /// Print a JSON array with one object per test.
    #[arg(long)]
    pub json: bool,
    /// Also probe memory read bandwidth and report tg against its bound (bandwidth ÷
    /// bytes of weights read per token).
    #[arg(long)]
    pub roofline: bool,
    /// Instead of pp/tg: time to the first new token after a conversation of N tokens,
    /// restored from its stored KV snapshot vs. re-read from scratch.
    #[arg(long, value_name = "N")]
    pub resume: Option<usize>,
}

/// The model and how to run it.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// The GGUF model (a path, or a file name in the models dir); default: the default
    /// model in the models dir.
    #[arg(short = 'm', long = "model", value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Context size in tokens (default: 4096, or the model's own if smaller).
    #[arg(short = 'c', long = "ctx-size", value_name = "N")]
    pub ctx_size: Option<usize>,
    /// Prompt tokens processed per batch.
    #[arg(short = 'b', long = "batch-size", value_name = "N", default_value_t = 512)]
    pub batch_size: usize,
    /// CPU threads (default: all cores).
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// KV cache type of keys (-ctk): f32, f16 (default) or q8_0.
    #[arg(long = "cache-type-k", value_name = "TYPE", value_parser = parse_kv_type)]
    pub cache_type_k: Option<KvType>,
    /// KV cache type of values (-ctv): f32, f16 (default) or q8_0.
    #[arg(long = "cache-type-v", value_name = "TYPE", value_parser = parse_kv_type)]
    pub cache_type_v: Option<KvType>,
    /// Where to run: auto (a Vulkan GPU if there is one, else the CPU), vulkan, or cpu.
    #[arg(long, value_enum, env = "HEARTH_BACKEND", default_value = "auto")]
    pub backend: BackendChoice,
    /// The Vulkan device to use (an index from `hearth devices`).
    #[arg(long, value_name = "N", env = "HEARTH_DEVICE")]
    pub device: Option<usize>,
    /// Keep every MoE expert tensor in host memory and run the experts on the CPU;
    /// attention and the shared weights stay on the GPU.
    #[arg(long = "cpu-moe")]
    pub cpu_moe: bool,
    /// Keep the expert tensors of the first N layers on the CPU.
    #[arg(long = "n-cpu-moe", value_name = "N", conflicts_with = "cpu_moe")]
    pub n_cpu_moe: Option<usize>,
    /// Layers whose experts go on the GPU (-ngl): `auto` (default) fills the device's
    /// memory, experts of the last layers first; N keeps the experts of all but the
    /// last N layers on the CPU. Attention and shared weights always go on the GPU.
    #[arg(long = "n-gpu-layers", value_name = "auto|N", default_value = "auto",
          value_parser = parse_gpu_layers, conflicts_with_all = ["cpu_moe", "n_cpu_moe"])]
    pub n_gpu_layers: GpuLayers,
}

/// `-ngl`: how many layers' experts go on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuLayers {
    Auto,
    N(usize),
}

fn parse_gpu_layers(s: &str) -> std::result::Result<GpuLayers, String> {
    match s {
        "auto" => Ok(GpuLayers::Auto),
        n => {
            n.parse().map(GpuLayers::N).map_err(|_| format!("expected auto or a number, got {n:?}"))
        }
    }
}

/// How the next token is chosen.
#[derive(Debug, Clone, Args)]
pub struct SamplingArgs {
    /// Temperature; 0 picks the most likely token (greedy).
    #[arg(long, default_value_t = 0.8)]
    pub temp: f32,
    /// Keep only the K most likely tokens (0: all).
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: usize,
    /// Keep the most likely tokens up to this total probability.
    #[arg(long = "top-p", default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens less likely than this fraction of the most likely one.
    #[arg(long = "min-p", default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalize tokens seen in the last --repeat-last-n tokens (1.0: off).
    #[arg(long = "repeat-penalty", default_value_t = 1.0)]
    pub repeat_penalty: f32,
    #[arg(long = "repeat-last-n", default_value_t = 64)]
    pub repeat_last_n: usize,
    #[arg(long = "frequency-penalty", default_value_t = 0.0)]
    pub frequency_penalty: f32,
    #[arg(long = "presence-penalty", default_value_t = 0.0)]
    pub presence_penalty: f32,
    /// Random seed (default: a new one each run).
    #[arg(short = 's', long = "seed")]
    pub seed: Option<u64>,
    /// Stop when the output contains this text (repeatable).
    #[arg(long = "stop", value_name = "TEXT")]
    pub stop: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// The prompt (stdin is read when neither -p nor -f is given).
    #[arg(short = 'p', long = "prompt", conflicts_with = "file")]
    pub prompt: Option<String>,
    /// Read the prompt from this file.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Tokens to generate; -1: until the end of text or a full context.
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
    /// Keep generating past the model's end-of-text tokens.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Also say where the forward passes ran: weights and ops on the device vs the CPU.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to score.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// How a chat turn is prompted (`ask` and `chat`).
#[derive(Debug, Clone, Args)]
pub struct PromptArgs {
    /// Replace the built-in system prompt.
    #[arg(long = "system-prompt", value_name = "TEXT")]
    pub system_prompt: Option<String>,
    /// Use this Jinja chat template instead of the model's.
    #[arg(long = "chat-template-file", value_name = "FILE")]
    pub chat_template_file: Option<PathBuf>,
    /// Most tokens of one answer.
    #[arg(short = 'n', long = "n-predict", default_value_t = 1024)]
    pub n_predict: usize,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Files to add as context (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Continue the stored session NAME (created on first use): its conversation and
    /// KV cache are restored, and this turn is saved to it.
    #[arg(long = "session", value_name = "NAME")]
    pub session: Option<String>,
    /// The question.
    #[arg(required = true, value_name = "QUESTION")]
    pub question: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Files to add to the context at the start (repeatable; globs as with /add).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Keep the conversation in the stored session NAME (created on first use; resumed,
    /// KV cache included, when it exists).
    #[arg(long = "session", value_name = "NAME")]
    pub session: Option<String>,
    /// Resume the most recent stored session (or the one --session names).
    #[arg(long)]
    pub resume: bool,
}

fn parse_kv_type(s: &str) -> std::result::Result<KvType, String> {
    KvType::parse(s).ok_or_else(|| format!("'{s}' is not one of f32, f16, q8_0"))
}

/// The model hearth uses when none is given: the default of scripts/models.toml.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

/// llama.cpp's multi-letter single-dash flags, mapped to the long flags clap knows.
const LLAMA_STYLE_FLAGS: &[(&str, &str)] = &[
    ("-sys", "--system-prompt"),
    ("-ctk", "--cache-type-k"),
    ("-ctv", "--cache-type-v"),
    ("-ngl", "--n-gpu-layers"),
];

/// Rewrites llama.cpp-style flags (`-sys`) so clap can parse them.
pub fn normalize_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    args.into_iter()
        .map(|a| match LLAMA_STYLE_FLAGS.iter().find(|(short, _)| a == *short) {
            Some((_, long)) => (*long).into(),
            None => a,
        })
        .collect()
}

impl ModelArgs {
    /// The model file: `-m` resolved, else the default model in the models dir.
    pub fn model_path(&self) -> Result<PathBuf> {
        match &self.model {
            Some(m) => resolve_model(m),
            None => {
                let path = models_dir().join(DEFAULT_MODEL);
                if path.exists() {
                    return Ok(path);
                }
                Err(Error::bad_input(format!(
                    "no model given (-m FILE) and the default model {DEFAULT_MODEL} is not in {}: \
                     run scripts/fetch-models from the hearth repository to install it",
                    models_dir().display()
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
