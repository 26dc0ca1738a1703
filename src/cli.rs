//! Command-line arguments (clap derive) and their resolution into paths and settings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use crate::assistant::config::{
    models_dir, resolve_model, BackendChoice, GpuLayers, DEFAULT_MODEL,
};
use crate::assistant::config::{Config, ModelConfig, PromptConfig, SamplingConfig};
use crate::backend::KvType;
use crate::engine::sampler::SamplerParams;
use crate::tui::ChatConfig;

/// hearth: an offline coding assistant that runs GGUF models on your own machine.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Most bytes read from a -f file or piped stdin (K, M, G suffixes; default 64M).
    #[arg(long = "max-input", value_name = "SIZE", global = true, value_parser = parse_size)]
    pub max_input: Option<u64>,
}

/// A byte count with an optional K, M or G suffix (powers of 1024).
fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.eq_ignore_ascii_case(&'k') => (&t[..i], 10),
        Some((i, c)) if c.eq_ignore_ascii_case(&'m') => (&t[..i], 20),
        Some((i, c)) if c.eq_ignore_ascii_case(&'g') => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: u64 = digits.parse().map_err(|_| format!("expected a size such as 64M, got {s:?}"))?;
    n.checked_mul(1 << shift).ok_or_else(|| format!("{s:?} is too large"))
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
    /// Edit the text on stdin as INSTRUCTION says and print only the new text: a filter
    /// for editors (on any failure the input comes back unchanged, exit 1).
    Edit(EditArgs),
    /// Measure prompt processing and generation speed (as llama-bench does).
    Bench(BenchArgs),
    /// List, show, export, rename, fork or remove stored sessions; gc old snapshots;
    /// repair a damaged database.
    Sessions(SessionsArgs),
    /// List the Vulkan devices hearth can run on.
    Devices(DevicesArgs),
    /// Serve the Agent Client Protocol (v1) on stdin/stdout, for editors such as Zed.
    Acp(AcpArgs),
    /// Serve the model over an OpenAI-compatible HTTP API (chat and text completions,
    /// streaming, tools) for aider, Continue, opencode, Open WebUI and the like.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// The address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Require `Authorization: Bearer KEY` on every request.
    #[arg(long = "api-key", value_name = "KEY", env = "HEARTH_API_KEY")]
    pub api_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct AcpArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Offer the model the project's tools; edits and commands each ask the client
    /// (session/request_permission).
    #[arg(long)]
    pub tools: bool,
    /// Answer every session on this OpenAI-compatible server (URL, or a name from the
    /// config file) instead of the local model.
    #[arg(long = "remote", value_name = "URL|NAME", conflicts_with = "tools")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
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
    /// Check the database and, when it is damaged, rescue every readable session and
    /// message into a fresh one (the old file is kept beside it as
    /// hearth.db.damaged-TIME); says what was kept and what was lost.
    Repair {
        /// Rebuild the database even when SQLite finds nothing wrong with it.
        #[arg(long)]
        force: bool,
    },
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
    #[arg(long, value_name = "N", conflicts_with = "spec")]
    pub resume: Option<usize>,
    /// Instead of pp/tg: generation speed with and without speculative lookup decoding
    /// on the task in FILE (a user message, e.g. "rewrite this file with one change"
    /// and the file), -n tokens greedy, with the acceptance of the drafts.
    #[arg(long = "spec", value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// The most tokens one draft proposes (`--spec`).
    #[arg(long = "draft-max", value_name = "N", default_value_t = 8)]
    pub draft_max: usize,
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
    /// Device memory hearth may plan for, in MiB (default: all the device has): with
    /// `-ngl auto` the model and its KV cache fit in 90% of it, the experts of the first
    /// layers going to the CPU as needed. For a GPU shared with other programs.
    #[arg(long = "gpu-memory", value_name = "MiB", env = "HEARTH_GPU_MEMORY",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub gpu_memory: Option<u64>,
}

fn parse_gpu_layers(s: &str) -> std::result::Result<GpuLayers, String> {
    match s {
        "auto" => Ok(GpuLayers::Auto),
        n => {
            n.parse().map(GpuLayers::N).map_err(|_| format!("expected auto or a number, got {n:?}"))
        }
    }
}

/// Speculative decoding from the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpecMode {
    Off,
    Lookup,
}

#[derive(Debug, Clone, Args)]
pub struct SpecArgs {
    /// Speculative decoding: `lookup` drafts the next tokens from the prompt and the
    /// answer so far and checks them in one batch — the same tokens as `off`, faster when
    /// the answer repeats its context (runs at --temp 0, without a grammar).
    #[arg(long = "spec", value_enum, value_name = "off|lookup")]
    pub spec: Option<SpecMode>,
    /// The most tokens one draft proposes.
    #[arg(long = "draft-max", value_name = "N", default_value_t = 8)]
    pub draft_max: usize,
}

impl SpecArgs {
    /// Drafts of up to `--draft-max` tokens when `--spec lookup` (off unless asked).
    pub fn draft_max(&self) -> Option<usize> {
        self.or_default(SpecMode::Off)
    }

    /// As `draft_max`, on unless `--spec off`.
    pub fn draft_max_on(&self) -> Option<usize> {
        self.or_default(SpecMode::Lookup)
    }

    fn or_default(&self, default: SpecMode) -> Option<usize> {
        let on = self.spec.unwrap_or(default) == SpecMode::Lookup;
        (on && self.draft_max > 0).then_some(self.draft_max)
    }
}

/// How the next token is chosen.
#[derive(Debug, Clone, Args)]
pub struct SamplingArgs {
    /// Temperature; 0 picks the most likely token (greedy). Default 0.8; `edit`: 0.
    #[arg(long)]
    pub temp: Option<f32>,
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
    #[command(flatten)]
    pub spec: SpecArgs,
    /// The prompt (stdin is read when neither -p nor -f is given).
    #[arg(short = 'p', long = "prompt", conflicts_with = "file")]
    pub prompt: Option<String>,
    /// Read the prompt from this file.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Tokens to generate; -1: until the end of text or a full context.
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
    /// Constrain the output to one JSON value valid under this JSON Schema.
    #[arg(long = "json-schema", value_name = "FILE", conflicts_with = "grammar")]
    pub json_schema: Option<PathBuf>,
    /// Constrain the output to this grammar: GBNF (`root ::= …`) or llguidance's Lark.
    #[arg(long = "grammar", value_name = "FILE")]
    pub grammar: Option<PathBuf>,
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
    /// Most tokens of one answer (default 1024; `edit`: enough for the whole text).
    #[arg(short = 'n', long = "n-predict")]
    pub n_predict: Option<usize>,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// On by default (it runs at --temp 0 only).
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Files to add as context (repeatable).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Continue the stored session NAME (created on first use): its conversation and
    /// KV cache are restored, and this turn is saved to it.
    #[arg(long = "session", value_name = "NAME")]
    pub session: Option<String>,
    /// Let the model edit files (`edit`) and run commands (`run`) without asking
    /// (implies --tools).
    #[arg(long = "allow", value_name = "edit,run", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Offer the model the project's tools: list, read and search files freely; edit
    /// files and run commands only as --allow says (else refused, with what they would
    /// have done on stderr).
    #[arg(long = "tools")]
    pub tools: bool,
    /// The most answers with tool calls one question may take.
    #[arg(long = "max-steps", value_name = "N", default_value_t = crate::assistant::DEFAULT_MAX_STEPS)]
    pub max_steps: usize,
    /// Constrain the answer to one JSON value valid under this JSON Schema.
    #[arg(long = "json-schema", value_name = "FILE", conflicts_with = "grammar")]
    pub json_schema: Option<PathBuf>,
    /// Constrain the answer to this grammar: GBNF (`root ::= …`) or llguidance's Lark.
    #[arg(long = "grammar", value_name = "FILE")]
    pub grammar: Option<PathBuf>,
    /// Send the question to this OpenAI-compatible server (`http://host:port/v1`: vLLM,
    /// SGLang, the reference server, Ollama; or a name from ~/.config/hearth/config.toml)
    /// instead of the local model; the key, if it wants one, from $HEARTH_REMOTE_API_KEY.
    #[arg(long = "remote", value_name = "URL|NAME", conflicts_with_all = ["json_schema", "grammar"])]
    pub remote: Option<String>,
    /// The model to ask for on the remote server (default: the first it lists).
    #[arg(long = "remote-model", value_name = "NAME", requires = "remote")]
    pub remote_model: Option<String>,
    /// Leave the model's tool calls unconstrained (to measure what the grammar changes).
    #[arg(long = "no-grammar")]
    pub no_grammar: bool,
    /// The question.
    #[arg(required = true, value_name = "QUESTION")]
    pub question: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// On by default: an edit is mostly the text it edits.
    #[command(flatten)]
    pub spec: SpecArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Read the text from FILE instead of stdin.
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with = "in_place")]
    pub file: Option<PathBuf>,
    /// The text's file name, as the editor knows it (tells the model what it is).
    #[arg(long = "path", value_name = "NAME")]
    pub path: Option<String>,
    /// The text's language (default: from --path).
    #[arg(long = "lang", value_name = "LANG")]
    pub lang: Option<String>,
    /// Other files the model should see, read-only (repeatable).
    #[arg(long = "context", value_name = "PATH")]
    pub context: Vec<PathBuf>,
    /// Print a unified diff instead of the new text.
    #[arg(long, conflicts_with = "in_place")]
    pub diff: bool,
    /// Edit FILE itself: read it, write the new text back atomically, print nothing.
    #[arg(long = "in-place", value_name = "FILE")]
    pub in_place: Option<PathBuf>,
    /// Ask for SEARCH/REPLACE blocks or the whole new text (auto: whole texts up to
    /// 80 lines, blocks for longer ones).
    #[arg(long = "format", value_enum, default_value = "auto")]
    pub format: EditFormat,
    /// Keep the edits in the stored session NAME, so that the next edit of the same
    /// text reuses its KV cache.
    #[arg(long = "session", value_name = "NAME")]
    pub session: Option<String>,
    /// Ask this OpenAI-compatible server (URL, or a name from the config file) instead
    /// of the local model.
    #[arg(long = "remote", value_name = "URL|NAME")]
    pub remote: Option<String>,
    /// What to change.
    #[arg(required = true, value_name = "INSTRUCTION")]
    pub instruction: Vec<String>,
}

/// How `hearth edit` asks the model to write its change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EditFormat {
    Auto,
    /// The whole new text in one code block.
    Whole,
    /// SEARCH/REPLACE blocks of the lines that change.
    Blocks,
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
    /// Offer the model the project's tools (reads free; edits and commands ask).
    #[arg(long = "tools")]
    pub tools: bool,
    /// Let the model edit files (`edit`) and run commands (`run`) without asking
    /// (implies --tools).
    #[arg(long = "allow", value_name = "edit,run", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// The OpenAI-compatible server (URL, or a name from the config file) `/escalate`
    /// sends turns to — nothing goes there until then.
    #[arg(long = "remote", value_name = "URL|NAME")]
    pub remote: Option<String>,
}

fn parse_kv_type(s: &str) -> std::result::Result<KvType, String> {
    KvType::parse(s).ok_or_else(|| format!("'{s}' is not one of f32, f16, q8_0"))
}

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
    /// The resolved settings of the model flags.
    pub fn config(&self) -> ModelConfig {
        ModelConfig {
            model: self.model.clone(),
            ctx_size: self.ctx_size,
            batch_size: self.batch_size,
            threads: self.threads,
            cache_type_k: self.cache_type_k,
            cache_type_v: self.cache_type_v,
            backend: self.backend,
            device: self.device,
            cpu_moe: self.cpu_moe,
            n_cpu_moe: self.n_cpu_moe,
            n_gpu_layers: self.n_gpu_layers,
            gpu_memory: self.gpu_memory.map(|mib| mib.saturating_mul(1 << 20)),
        }
    }
}

/// Most tokens of one chat answer.
pub const DEFAULT_N_PREDICT: usize = 1024;

/// The temperature of the generating commands, as llama.cpp's.
pub const DEFAULT_TEMP: f32 = 0.8;

impl SamplingArgs {
    /// The sampling settings of the command line; without `--seed`, a seed from the clock.
    pub fn config(&self) -> SamplingConfig {
        self.config_with_temp(DEFAULT_TEMP)
    }

    /// As `config`, with `temp` where `--temp` is not given.
    pub fn config_with_temp(&self, temp: f32) -> SamplingConfig {
        let seed = self.seed.unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_nanos() as u64)
        });
        let params = SamplerParams {
            temp: self.temp.unwrap_or(temp),
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            seed,
        };
        SamplingConfig { params, stop: self.stop.clone() }
    }
}

impl PromptArgs {
    pub fn config(&self) -> PromptConfig {
        PromptConfig {
            system_prompt: self.system_prompt.clone(),
            chat_template_file: self.chat_template_file.clone(),
            n_predict: self.n_predict.unwrap_or(DEFAULT_N_PREDICT),
        }
    }
}

impl ChatArgs {
    /// The REPL's resolved settings.
    pub fn config(&self) -> ChatConfig {
        let config = Config {
            model: self.model.config(),
            sampling: self.sampling.config(),
            prompt: self.prompt.config(),
            session: self.session.clone(),
        };
        ChatConfig {
            config,
            files: self.files.clone(),
            resume: self.resume,
            tools: self.tools || !self.allow.is_empty(),
            allow: self.allow.clone(),
            remote: self.remote.clone(),
        }
    }
}

impl EditArgs {
    /// Greedy unless `--temp` says otherwise: a filter should give the same edit twice.
    pub fn config(&self) -> Config {
        Config {
            model: self.model.config(),
            sampling: self.sampling.config_with_temp(0.0),
            prompt: self.prompt.config(),
            session: self.session.clone(),
        }
    }
}

impl AskArgs {
    pub fn config(&self) -> Config {
        Config {
            model: self.model.config(),
            sampling: self.sampling.config(),
            prompt: self.prompt.config(),
            session: self.session.clone(),
        }
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
