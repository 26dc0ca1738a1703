//! Models: typed hyperparameters, tensor manifests, the blocks of a transformer, and one
//! file per architecture — the settings of the shared pre-norm decoder (`decoder.rs`),
//! or, for gemma3, its own tensor list and forward pass.

pub mod decoder;
pub mod hparams;
pub mod layers;
pub mod manifest;
pub mod weights;

mod gemma3;
mod llama;
mod olmoe;
mod qwen2;
mod qwen2moe;
mod qwen3;
mod qwen35;
mod qwen35moe;
mod qwen3moe;

use std::sync::Arc;

pub use hparams::HParams;

use crate::backend::{Backend, KvShape, KvType, StateShape};
use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use decoder::PreNormDecoder;
use layers::Batch;
use manifest::{global_specs, Spec};
use weights::{LayerWeights, ModelWeights};

/// The architectures hearth runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen2Moe,
    Qwen3,
    Qwen3Moe,
    Qwen35,
    Qwen35Moe,
    Gemma3,
    Olmoe,
}

/// `general.architecture` names, one per `Arch`.
const ARCH_NAMES: &[(&str, Arch)] = &[
    ("llama", Arch::Llama),
    ("qwen2", Arch::Qwen2),
    ("qwen2moe", Arch::Qwen2Moe),
    ("qwen3", Arch::Qwen3),
    ("qwen3moe", Arch::Qwen3Moe),
    ("qwen35", Arch::Qwen35),
    ("qwen35moe", Arch::Qwen35Moe),
    ("gemma3", Arch::Gemma3),
    ("olmoe", Arch::Olmoe),
];

impl Arch {
    pub fn from_name(name: &str) -> Result<Arch> {
        ARCH_NAMES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a).ok_or_else(|| {
            let names: Vec<&str> = ARCH_NAMES.iter().map(|(n, _)| *n).collect();
            Error::unsupported(format!(
                "architecture {name:?} is not supported (supported: {})",
                names.join(", ")
            ))
            .with_key("general.architecture")
        })
    }

    pub fn name(self) -> &'static str {
        ARCH_NAMES.iter().find(|(_, a)| *a == self).map(|(n, _)| *n).unwrap_or("?")
    }

    /// The pre-norm decoder settings, or `None` for gemma3's own layer layout.
    fn decoder(self) -> Option<&'static PreNormDecoder> {
        match self {
            Arch::Llama => Some(&llama::DECODER),
            Arch::Qwen2 => Some(&qwen2::DECODER),
            Arch::Qwen2Moe => Some(&qwen2moe::DECODER),
            Arch::Qwen3 => Some(&qwen3::DECODER),
            Arch::Qwen3Moe => Some(&qwen3moe::DECODER),
            Arch::Qwen35 => Some(&qwen35::DECODER),
            Arch::Qwen35Moe => Some(&qwen35moe::DECODER),
            Arch::Olmoe => Some(&olmoe::DECODER),
            Arch::Gemma3 => None,
        }
    }

    /// The tensors of layer `il`.
    fn layer_specs(self, hp: &HParams, il: usize) -> Vec<Spec> {
        match self.decoder() {
            Some(d) => d.layer_specs(hp, il),
            None => gemma3::layer_specs(hp),
        }
    }

    /// Whether the architecture mixes gated DeltaNet layers with attention (and needs
    /// `ssm.*`).
    pub fn is_hybrid(self) -> bool {
        self.decoder().is_some_and(|d| d.recurrent)
    }

    /// The name of the norm before the feed-forward.
    fn ffn_norm(self) -> &'static str {
        self.decoder().map_or("ffn_norm.weight", |d| d.ffn_norm)
    }

    /// Whether the architecture needs expert tensors (and `expert_count`).
    fn requires_experts(self) -> bool {
        self.decoder().is_some_and(PreNormDecoder::requires_experts)
    }
}

/// Which rows of the batch need logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token (generation).
    Last,
    /// Every token (perplexity).
    All,
}

/// A loaded model on a backend.
pub struct Model<B: Backend> {
    pub arch: Arch,
    pub hp: HParams,
    pub backend: B,
    pub weights: ModelWeights<B::Weight>,
    pub file: Arc<GgufFile>,
    sha256: std::sync::OnceLock<[u8; 32]>,
}

impl<B: Backend> Model<B> {
    /// Checks hyperparameters and every tensor against the architecture's manifest,
    /// then makes the weights available to the backend.
    pub fn load(file: Arc<GgufFile>, backend: B) -> Result<Model<B>> {
        let in_file = |e: Error| e.with_file(file.path());
        let arch = Arch::from_name(file.architecture()?).map_err(in_file)?;
        let hp = HParams::from_metadata(file.metadata()).map_err(in_file)?;
        if arch.requires_experts() && !hp.is_moe() {
            return Err(in_file(
                Error::bad_input(format!("{} needs expert_count > 0", arch.name()))
                    .with_key(format!("{}.expert_count", hp.arch)),
            ));
        }
        if arch.is_hybrid() && hp.ssm.is_none() {
            return Err(in_file(
                Error::bad_input(format!("{} needs its gated DeltaNet's shape", arch.name()))
                    .with_key(format!("{}.ssm.conv_kernel", hp.arch)),
            ));
        }
        let specs: Vec<Vec<Spec>> = (0..hp.n_layer).map(|il| arch.layer_specs(&hp, il)).collect();
        manifest::check_leftovers(
            &file,
            arch.name(),
            &global_specs(&hp),
            &specs,
            hp.n_layer_nextn,
        )?;
        let mut g = manifest::load(&backend, &file, "", &global_specs(&hp))?;
        let layers = specs
            .iter()
            .enumerate()
            .map(|(il, specs)| {
                let t = manifest::load(&backend, &file, &format!("blk.{il}."), specs)?;
                Ok(LayerWeights::from_tensors(t, arch.ffn_norm()))
            })
            .collect::<Result<Vec<_>>>()?;
        let weights = ModelWeights {
            token_embd: g.take("token_embd.weight"),
            output_norm: g.take("output_norm.weight"),
            output: g.get("output.weight"),
            layers,
        };
        Ok(Model { arch, hp, backend, weights, file, sha256: std::sync::OnceLock::new() })
    }

    /// The backend's name, for reports.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// SHA-256 of the model file, computed on first use.
    pub fn sha256(&self) -> [u8; 32] {
        *self.sha256.get_or_init(|| self.file.sha256())
    }

    /// A KV cache for `n_ctx` positions storing keys as `type_k`, values as `type_v`.
    /// q8_0 needs heads of whole 32-value blocks.
    pub fn new_kv(&self, n_ctx: usize, type_k: KvType, type_v: KvType) -> Result<B::Kv> {
        for (ty, dim, flag) in
            [(type_k, self.hp.head_dim_k, "-ctk"), (type_v, self.hp.head_dim_v, "-ctv")]
        {
            if ty == KvType::Q8_0 && !dim.is_multiple_of(32) {
                return Err(Error::usage(format!(
                    "{flag} q8_0 needs a head size that is a multiple of 32; this model's is {dim}"
                )));
            }
        }
        self.backend.new_kv(KvShape {
            n_layer: self.hp.n_layer,
            n_ctx,
            n_embd_k: self.hp.n_embd_k_gqa(),
            n_embd_v: self.hp.n_embd_v_gqa(),
            type_k,
            type_v,
            state: self.state_shape(),
        })
    }

    /// The recurrent state of the gated DeltaNet layers (none for other models).
    pub fn state_shape(&self) -> StateShape {
        let Some(s) = self.hp.ssm.as_ref().filter(|_| self.arch.is_hybrid()) else {
            return StateShape::NONE;
        };
        let layers = (0..self.hp.n_layer)
            .filter(|&il| self.hp.is_recurrent(il))
            .fold(0u128, |m, il| m | 1 << il);
        StateShape {
            layers,
            conv: (s.d_conv - 1) * s.conv_dim(),
            ssm: s.n_v_heads * s.d_state * s.d_state,
        }
    }

    /// Whether the model carries a recurrent state besides its KV cache.
    pub fn is_recurrent(&self) -> bool {
        self.state_shape().count() > 0
    }

    /// Runs `tokens` at positions `start..` through the model, extending `kv`, and
    /// returns logits `(rows, n_vocab)` for the rows `want` asks for. The caller keeps
    /// `start + tokens.len()` within the cache. An error is the backend's failure (the
    /// device's memory, a submission); cache positions from `start` on are then void.
    pub fn forward(
        &self,
        kv: &mut B::Kv,
        tokens: &[u32],
        start: usize,
        want: Logits,
    ) -> Result<Vec<f32>> {
        self.forward_tapped(kv, tokens, start, want, None)
    }

    /// [`Self::forward`] that also shows `tap` every layer's output (its index and the
    /// hidden state `(tokens, n_embd)`): where two backends part, layer by layer.
    pub fn forward_tapped(
        &self,
        kv: &mut B::Kv,
        tokens: &[u32],
        start: usize,
        want: Logits,
        tap: Option<&mut layers::LayerTap<'_, B::Tensor>>,
    ) -> Result<Vec<f32>> {
        let positions: Vec<u32> = (start..start + tokens.len()).map(|p| p as u32).collect();
        let b = &self.backend;
        if start == 0 {
            // A sequence starting over: the recurrent state is that of no tokens.
            b.state_clear(kv);
        }
        // Shortens the tap's borrow to this call's (the trait object's lifetime with it).
        let tap = tap.map(|t| t as &mut layers::LayerTap<'_, B::Tensor>);
        let mut batch = Batch { b, kv, positions: &positions, start, tap };
        let (hp, w) = (&self.hp, &self.weights);
        let x = match self.arch.decoder() {
            Some(d) => d.forward(&mut batch, hp, w, tokens),
            None => gemma3::forward(&mut batch, hp, w, tokens),
        };
        let rows: Vec<usize> = match want {
            Logits::Last => vec![tokens.len() - 1],
            Logits::All => (0..tokens.len()).collect(),
        };
        b.to_host(&layers::output(b, hp, w, &x, &rows))
    }
}
