//! Loading what the generating modes share: thread pool, model file, tokenizer, model
//! on the CPU backend.

use std::sync::Arc;

use crate::backend::cpu::{self, CpuBackend};
use crate::cli::{ModelArgs, SamplingArgs};
use crate::engine::sampler::{Sampler, SamplerParams};
use crate::engine::session::Session;
use crate::error::Result;
use crate::gguf::GgufFile;
use crate::model::Model;
use crate::tokenizer::Tokenizer;

pub struct Loaded {
    pub model: Arc<Model<CpuBackend>>,
    pub tokenizer: Tokenizer,
}

pub fn load(args: &ModelArgs) -> Result<Loaded> {
    cpu::set_threads(args.threads())?;
    let path = args.model_path()?;
    let file = Arc::new(GgufFile::open(&path)?);
    let model = Arc::new(Model::load(Arc::clone(&file), CpuBackend)?);
    let tokenizer = Tokenizer::from_gguf(file.metadata()).map_err(|e| e.with_file(&path))?;
    Ok(Loaded { model, tokenizer })
}

/// A session of `n_ctx` tokens with the batch size and KV cache types of `args`.
pub fn session(
    model: &Arc<Model<CpuBackend>>,
    n_ctx: usize,
    args: &ModelArgs,
) -> Result<Session<CpuBackend>> {
    Session::with_cache_types(Arc::clone(model), n_ctx, args.batch_size, args.cache_types())
}

/// A sampler from the command line; without `--seed`, a seed from the clock.
pub fn sampler(args: &SamplingArgs) -> Result<Sampler> {
    let seed = args.seed.unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.map_or(0, |d| d.as_nanos() as u64)
    });
    Sampler::new(SamplerParams {
        temp: args.temp,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        repeat_last_n: args.repeat_last_n,
        frequency_penalty: args.frequency_penalty,
        presence_penalty: args.presence_penalty,
        seed,
    })
}
