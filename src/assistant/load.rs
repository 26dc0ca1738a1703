//! Loading what every generating face shares: thread pool, backend (`--backend`, with
//! the CPU as the fallback), model file, tokenizer, model, and the sessions and samplers
//! that run it.

use std::sync::Arc;

use super::config::{BackendChoice, ModelConfig, SamplingConfig};
use crate::backend::any::AnyBackend;
use crate::backend::cpu::{self, CpuBackend};
use crate::backend::KvType;
use crate::engine::sampler::Sampler;
use crate::engine::session::Session;
use crate::error::Result;
use crate::gguf::GgufFile;
use crate::model::Model;
use crate::tokenizer::Tokenizer;

/// A loaded model and its tokenizer; cheap to clone (sessions of several conversations
/// share one model).
#[derive(Clone)]
pub struct Loaded {
    pub model: Arc<Model<AnyBackend>>,
    pub tokenizer: Arc<Tokenizer>,
}

impl Loaded {
    /// The model's file name, for status lines.
    pub fn name(&self) -> String {
        let path = self.model.file.path();
        path.file_name()
            .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// Where it runs: `cpu`, or `vulkan: DEVICE`.
    pub fn backend_label(&self) -> String {
        let placement = self.model.backend.placement();
        match placement.device {
            Some(device) => format!("{}: {device}", placement.backend),
            None => placement.backend.to_string(),
        }
    }

    /// Counts the tokens of a text (no BOS, special-token text as text).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.encode(text, false, false).map_or(0, |t| t.len())
    }
}

pub fn load(args: &ModelConfig) -> Result<Loaded> {
    cpu::set_threads(threads(args))?;
    let path = args.model_path()?;
    let file = Arc::new(GgufFile::open(&path)?);
    let model = match open_backend(args)? {
        AnyBackend::Cpu(b) => Model::load(file, AnyBackend::Cpu(b))?,
        #[cfg(feature = "vulkan")]
        AnyBackend::Vulkan(b) => {
            match b.self_test(&file).and_then(|()| place_experts(b, &file, args)) {
                Ok(b) => load_on_gpu(file, b, args)?,
                Err(e) if args.backend == BackendChoice::Auto => {
                    warn_cpu(e.message());
                    Model::load(file, AnyBackend::Cpu(CpuBackend))?
                }
                Err(e) => return Err(e),
            }
        }
    };
    let tokenizer = Tokenizer::from_gguf(model.file.metadata()).map_err(|e| e.with_file(&path))?;
    Ok(Loaded { model: Arc::new(model), tokenizer: Arc::new(tokenizer) })
}

/// `-t`, capped at the cores there are (more threads than cores only wait on each
/// other: 1000 on 2 cores took 68 s for 8 tokens), with one warning when capped.
fn threads(args: &ModelConfig) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match args.threads {
        Some(n) if n > cores => {
            eprintln!("hearth: warning: -t {n}: this machine has {cores} cores; using {cores}");
            cores
        }
        _ => args.threads(),
    }
}

#[cfg(feature = "vulkan")]
fn load_on_gpu(
    file: Arc<GgufFile>,
    b: crate::backend::vulkan::VulkanBackend,
    args: &ModelConfig,
) -> Result<Model<AnyBackend>> {
    let model = match Model::load(Arc::clone(&file), AnyBackend::Vulkan(b)) {
        Ok(m) => m,
        Err(e) if args.backend == BackendChoice::Auto => {
            warn_cpu(&format!("the model does not load on the GPU: {}", e.message()));
            return Model::load(file, AnyBackend::Cpu(CpuBackend));
        }
        Err(e) => return Err(e),
    };
    if args.backend == BackendChoice::Auto {
        // The cache the sessions will want, made once and dropped: where the device
        // cannot hold it, the CPU runs the model instead.
        let (tk, tv) = args.cache_types();
        match model.new_kv(args.ctx_size(model.hp.n_ctx_train), tk, tv) {
            Err(e) if e.kind() == crate::error::ErrorKind::Failed => {
                warn_cpu(e.message());
                drop(model);
                return Model::load(file, AnyBackend::Cpu(CpuBackend));
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    Ok(model)
}

/// Which layers' experts stay on the CPU: `--cpu-moe`, `--n-cpu-moe N`, `-ngl N`, or
/// (auto) as few as let the model and its KV cache fit in 90% of the device's memory.
#[cfg(feature = "vulkan")]
fn place_experts(
    b: crate::backend::vulkan::VulkanBackend,
    file: &GgufFile,
    args: &ModelConfig,
) -> Result<crate::backend::vulkan::VulkanBackend> {
    use super::config::GpuLayers;
    use crate::backend::vulkan::VulkanBackend;
    // Hyperparameters that do not parse leave the error to the model load that follows.
    let hp = crate::model::HParams::from_metadata(file.metadata()).ok();
    let n_layer = hp.as_ref().map_or(0, |hp| hp.n_layer);
    let n = match (args.cpu_moe, args.n_cpu_moe, args.n_gpu_layers) {
        (true, _, _) => usize::MAX,
        (_, Some(n), _) => n,
        (_, _, GpuLayers::N(n)) => n_layer.saturating_sub(n),
        (_, _, GpuLayers::Auto) => {
            let memory = args.gpu_memory.map_or(b.device().memory, |m| m.min(b.device().memory));
            let budget =
                (memory / 10 * 9).saturating_sub(hp.as_ref().map_or(0, |hp| {
                    kv_bytes(hp, args.ctx_size(hp.n_ctx_train), args.cache_types())
                }));
            let gib = memory as f64 / GIB;
            let n = VulkanBackend::experts_to_host(file, budget).ok_or_else(|| {
                crate::error::Error::unsupported(format!(
                    "the model does not fit in the {gib:.1} GiB of device memory of {}",
                    b.device().name
                ))
            })?;
            if n > 0 {
                eprintln!(
                    "hearth: the experts of the first {} of {n_layer} layers run on the CPU: \
                     the model and its KV cache do not fit in the {gib:.1} GiB of {}",
                    n.min(n_layer),
                    b.device().name
                );
            }
            n
        }
    };
    let total = file.tensors().iter().map(|t| t.n_bytes).sum();
    Ok(b.with_cpu_moe(n).with_progress(total))
}

/// Bytes of a full KV cache of `n_ctx` positions of types `(k, v)`.
fn kv_bytes(hp: &crate::model::HParams, n_ctx: usize, (tk, tv): (KvType, KvType)) -> u64 {
    let per_token = tk.row_bytes(hp.n_embd_k_gqa()) + tv.row_bytes(hp.n_embd_v_gqa());
    (hp.n_layer as u64).saturating_mul(n_ctx as u64).saturating_mul(per_token as u64)
}

/// The memory the system could give this process now (`MemAvailable`), where it says.
fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Warns past the model's trained context, and refuses (on the CPU, where the cache
/// grows into host memory as it fills) a context whose full cache the memory there is
/// could not hold, naming what it would need.
fn check_context(model: &Model<AnyBackend>, n_ctx: usize, args: &ModelConfig) -> Result<()> {
    let hp = &model.hp;
    let on_cpu = model.backend.placement().device.is_none();
    let need = kv_bytes(hp, n_ctx, args.cache_types());
    if let Some(avail) = mem_available().filter(|&avail| on_cpu && need > avail) {
        return Err(crate::error::Error::bad_input(format!(
            "-c {n_ctx}: a full KV cache would need {:.1} GiB and {:.1} GiB of memory is \
             available; lower -c (or halve the cache with -ctk q8_0 -ctv q8_0)",
            need as f64 / GIB,
            avail as f64 / GIB
        )));
    }
    if n_ctx > hp.n_ctx_train {
        eprintln!(
            "hearth: warning: -c {n_ctx} is past the {} tokens the model was trained on; \
             answers may degrade beyond them",
            hp.n_ctx_train
        );
    }
    Ok(())
}

const GIB: f64 = (1u64 << 30) as f64;

#[cfg(feature = "vulkan")]
fn warn_cpu(why: &str) {
    eprintln!("hearth: warning: {why}; running on the CPU");
}

/// The backend `--backend` asks for. Auto takes a Vulkan GPU when there is one; with no
/// Vulkan at all it says so in one line, and a CPU Vulkan driver (lavapipe) alone is
/// not used unless `--device` names it: the CPU backend is faster.
fn open_backend(args: &ModelConfig) -> Result<AnyBackend> {
    match args.backend {
        BackendChoice::Cpu => Ok(AnyBackend::Cpu(CpuBackend)),
        #[cfg(feature = "vulkan")]
        BackendChoice::Vulkan => {
            crate::backend::vulkan::VulkanBackend::new(args.device).map(AnyBackend::Vulkan)
        }
        #[cfg(feature = "vulkan")]
        BackendChoice::Auto => match crate::backend::vulkan::VulkanBackend::new(args.device) {
            Ok(b) if b.device().kind == "cpu" && args.device.is_none() => {
                Ok(AnyBackend::Cpu(CpuBackend))
            }
            Ok(b) => Ok(AnyBackend::Vulkan(b)),
            Err(e) => {
                warn_cpu(e.message());
                Ok(AnyBackend::Cpu(CpuBackend))
            }
        },
        #[cfg(not(feature = "vulkan"))]
        BackendChoice::Vulkan => Err(crate::error::Error::unsupported(
            "this hearth was built without the vulkan feature",
        )),
        #[cfg(not(feature = "vulkan"))]
        BackendChoice::Auto => Ok(AnyBackend::Cpu(CpuBackend)),
    }
}

/// A session of `n_ctx` tokens with the batch size and KV cache types of `args`.
pub fn session(
    model: &Arc<Model<AnyBackend>>,
    n_ctx: usize,
    args: &ModelConfig,
) -> Result<Session<AnyBackend>> {
    check_context(model, n_ctx, args)?;
    Session::with_cache_types(Arc::clone(model), n_ctx, args.batch_size, args.cache_types())
}

/// A sampler of the given settings.
pub fn sampler(args: &SamplingConfig) -> Result<Sampler> {
    Sampler::new(args.params.clone())
}
