//! The compute backends behind one trait: the model's forward pass is a straight list of
//! these ops. The CPU backend is the fallback and the oracle; `naive` holds plain scalar
//! versions of every op for tests.

pub mod any;
pub mod cpu;
pub mod naive;
#[cfg(feature = "vulkan")]
pub mod vulkan;

use std::ops::Range;
use std::sync::Arc;

use crate::error::Result;
use crate::gguf::{GgufFile, TensorInfo};

/// The widest attention value head any backend supports (models check it at load).
pub const MAX_HEAD_DIM: usize = 512;

/// How rotary embeddings pair up the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeMode {
    /// Adjacent pairs (2i, 2i+1), as in llama.
    Normal,
    /// Split halves (i, i + n_rot/2), as in GPT-NeoX, qwen2, gemma.
    Neox,
    /// Interleaved multi-section rope (qwen35): split halves as `Neox`, each pair taking
    /// its angle from the time, height or width section in turn
    /// (`rope.dimension_sections`). For text all three positions are the token's and the
    /// fourth is 0, so a pair no section claims is left unrotated.
    Imrope([u32; 4]),
}

impl RopeMode {
    /// Whether rotated pair `i` of a head turns with the token's position (always, but
    /// for the pairs no section of an interleaved multi-section rope claims).
    pub fn rotates_pair(self, i: usize) -> bool {
        let RopeMode::Imrope(s) = self else { return true };
        let total: u32 = s.iter().sum();
        if total == 0 {
            return true;
        }
        let sector = (i as u32) % total;
        match sector % 3 {
            0 => sector < 3 * s[0],
            1 => sector < 3 * s[1],
            _ => sector < 3 * s[2],
        }
    }

    /// Whether pairs are split halves (i, i + n_rot/2) rather than adjacent.
    pub fn split_halves(self) -> bool {
        !matches!(self, RopeMode::Normal)
    }
}

/// Rotary embedding settings for one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeParams {
    pub mode: RopeMode,
    pub n_head: usize,
    pub head_dim: usize,
    /// Dimensions rotated at the start of each head (`rope.dimension_count`).
    pub n_rot: usize,
    pub freq_base: f32,
    /// Position scale (1 / linear scaling factor).
    pub freq_scale: f32,
}

/// Attention settings for one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttnParams {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
    /// Sliding window: a query at position p sees keys at positions > p - window.
    pub window: Option<usize>,
}

/// The element type of cached keys or values (`-ctk`/`-ctv`): f16 by default, as in
/// the reference engine; f32 for exactness, q8_0 (32 values per 34 bytes) to halve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvType {
    F32,
    #[default]
    F16,
    Q8_0,
}

impl KvType {
    pub const ALL: [KvType; 3] = [KvType::F32, KvType::F16, KvType::Q8_0];

    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        }
    }

    pub fn parse(s: &str) -> Option<KvType> {
        KvType::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Bytes of a row of `n` values (`n` a multiple of 32 for q8_0).
    pub fn row_bytes(self, n: usize) -> usize {
        match self {
            KvType::F32 => 4 * n,
            KvType::F16 => 2 * n,
            KvType::Q8_0 => n / 32 * 34,
        }
    }
}

/// The recurrent state of a hybrid model's gated DeltaNet layers: per such layer, the
/// last `d_conv - 1` inputs of its causal conv1d and one `head_dim × head_dim` matrix per
/// value head. Fixed in size, whatever the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateShape {
    /// Bit `il` set: layer `il` is recurrent (it has state, not KV rows).
    pub layers: u128,
    /// f32 values of one layer's conv state.
    pub conv: usize,
    /// f32 values of one layer's delta-rule state.
    pub ssm: usize,
}

impl StateShape {
    /// No recurrent layers.
    pub const NONE: StateShape = StateShape { layers: 0, conv: 0, ssm: 0 };

    pub fn is_recurrent(&self, il: usize) -> bool {
        il < 128 && self.layers >> il & 1 == 1
    }

    /// Recurrent layers.
    pub fn count(&self) -> usize {
        self.layers.count_ones() as usize
    }

    /// Bytes of the whole state (f32, every recurrent layer).
    pub fn bytes(&self) -> usize {
        4 * self.count() * (self.conv + self.ssm)
    }
}

/// Heads of a gated DeltaNet layer: `n_head_k` key heads shared by `n_head_v` value
/// heads (value head h reads key head h mod `n_head_k`), all `head_dim` wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaParams {
    pub n_head_k: usize,
    pub n_head_v: usize,
    pub head_dim: usize,
}

/// Shape of a KV cache: one K and one V row of these widths per position and layer
/// (attention layers; recurrent layers hold `state` instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvShape {
    pub n_layer: usize,
    pub n_ctx: usize,
    /// n_head_kv · head_dim_k
    pub n_embd_k: usize,
    /// n_head_kv · head_dim_v
    pub n_embd_v: usize,
    pub type_k: KvType,
    pub type_v: KvType,
    pub state: StateShape,
}

/// The ops a model's forward pass is made of. Activations are f32 matrices of
/// `(n_rows, n_cols)`, one row per token (or per token and expert slot).
///
/// The ops return tensors, not results: a backend whose ops can fail (the device's)
/// keeps the first failure and reports it from the next read-back (`to_host`,
/// `ids_to_host`, `kv_export`, `kv_import`), which is where a caller learns of it.
pub trait Backend: Send + Sync + Sized {
    /// Activations, f32, row-major.
    type Tensor: Send;
    /// A weight tensor resident on the backend.
    type Weight: Send + Sync;
    /// The KV cache of one sequence.
    type Kv: Send;
    /// Expert choices of MoE tokens, one expert id per (token, slot), token-major.
    type Ids: Send;

    fn name(&self) -> &'static str;

    /// Makes a weight of tensor `info` of `file` available to the ops.
    fn load_weight(&self, file: &Arc<GgufFile>, info: &TensorInfo) -> Result<Self::Weight>;
    /// Dims of a weight, ggml order (`dims[0]` = row length).
    fn weight_dims<'a>(&self, w: &'a Self::Weight) -> &'a [u64];

    fn tensor(&self, data: Vec<f32>, n_rows: usize, n_cols: usize) -> Self::Tensor;
    /// The values of `t`; an error if an op since the last read-back failed.
    fn to_host(&self, t: &Self::Tensor) -> Result<Vec<f32>>;
    fn shape(&self, t: &Self::Tensor) -> (usize, usize);
    /// Copies rows `rows` of `t`.
    fn select_rows(&self, t: &Self::Tensor, rows: &[usize]) -> Self::Tensor;

    /// Rows `ids` of an embedding matrix, dequantized: `(ids.len(), dims[0])`.
    fn get_rows(&self, w: &Self::Weight, ids: &[u32]) -> Self::Tensor;
    /// `x · Wᵀ`: x `(n, k)`, W dims `[k, m]` → `(n, m)`.
    fn matmul(&self, w: &Self::Weight, x: &Self::Tensor) -> Self::Tensor;
    /// Expert ids from host values.
    fn ids(&self, ids: &[u32]) -> Self::Ids;
    fn ids_to_host(&self, ids: &Self::Ids) -> Result<Vec<u32>>;
    /// The router's choice: a softmax over each row of `logits` `(n, n_expert)`, the `k`
    /// most likely experts of each row (ties to the lower id), and their probabilities as
    /// weights `(n·k, 1)`, renormalized to sum to 1 if `norm`.
    fn top_k_experts(
        &self,
        logits: &Self::Tensor,
        k: usize,
        norm: bool,
    ) -> (Self::Ids, Self::Tensor);
    /// Expert matmul: W dims `[k, m, n_expert]`; row r of x goes through expert `ids[r]`.
    fn mul_mat_id(&self, w: &Self::Weight, x: &Self::Tensor, ids: &Self::Ids) -> Self::Tensor;
    /// The gate and up products of routed experts at once: `mul_mat_id` of each weight
    /// over `repeat_rows(x, slots)`, where x has one row per token and `ids` `slots` per
    /// token. A backend may quantize and gather x once for both.
    fn mul_mat_id_pair(
        &self,
        w: [&Self::Weight; 2],
        x: &Self::Tensor,
        ids: &Self::Ids,
        slots: usize,
    ) -> [Self::Tensor; 2] {
        let xr = self.repeat_rows(x, slots);
        w.map(|w| self.mul_mat_id(w, &xr, ids))
    }

    /// RMS norm over each chunk of `w.len()` values of every row, times `w`.
    fn rms_norm(&self, x: &Self::Tensor, w: &Self::Weight, eps: f32) -> Self::Tensor;
    fn add(&self, a: &Self::Tensor, b: &Self::Tensor) -> Self::Tensor;
    /// Adds a bias vector to every row.
    fn add_row(&self, x: &Self::Tensor, bias: &Self::Weight) -> Self::Tensor;
    fn scale(&self, x: &Self::Tensor, s: f32) -> Self::Tensor;
    /// Multiplies row r by `s[r]`.
    fn scale_rows(&self, x: &Self::Tensor, s: &[f32]) -> Self::Tensor;
    /// Multiplies row r by `s[r]` of an `(n_rows, 1)` tensor, or by `sigmoid(s[r])`.
    fn scale_rows_by(&self, x: &Self::Tensor, s: &Self::Tensor, sigmoid: bool) -> Self::Tensor;
    /// `(n·g, m)` → `(n, m)`: sums each group of `g` consecutive rows.
    fn sum_groups(&self, x: &Self::Tensor, g: usize) -> Self::Tensor;
    /// `(n, m)` → `(n·g, m)`: each row repeated `g` times.
    fn repeat_rows(&self, x: &Self::Tensor, g: usize) -> Self::Tensor;
    /// silu(gate) · up
    fn swiglu(&self, gate: &Self::Tensor, up: &Self::Tensor) -> Self::Tensor;
    /// gelu(gate) · up (tanh approximation)
    fn geglu(&self, gate: &Self::Tensor, up: &Self::Tensor) -> Self::Tensor;
    /// Rotates each token's heads by its position.
    fn rope(&self, x: &Self::Tensor, positions: &[u32], p: &RopeParams) -> Self::Tensor;

    /// A cache of zeros; an error (naming the size) where the backend cannot hold it.
    fn new_kv(&self, shape: KvShape) -> Result<Self::Kv>;
    /// Writes K and V rows of tokens at positions `start..start + n` of layer `il`.
    fn kv_store(
        &self,
        kv: &mut Self::Kv,
        il: usize,
        start: usize,
        k: &Self::Tensor,
        v: &Self::Tensor,
    );
    /// Causal attention of q (one row per token at `positions`) over cached keys and
    /// values `0..=position` of layer `il`: `(n, n_head · head_dim_v)`.
    fn attention(
        &self,
        q: &Self::Tensor,
        kv: &Self::Kv,
        il: usize,
        positions: &[u32],
        p: &AttnParams,
    ) -> Self::Tensor;
    /// Positions `rows` of every layer, as little-endian bytes of the cache types.
    fn kv_export(&self, kv: &Self::Kv, rows: Range<usize>) -> Result<Vec<u8>>;
    /// Restores positions `rows` from what `kv_export` produced for them.
    fn kv_import(&self, kv: &mut Self::Kv, rows: Range<usize>, bytes: &[u8]) -> Result<()>;

    // The gated DeltaNet of hybrid models (qwen35, qwen35moe).

    /// Elementwise product.
    fn mul(&self, a: &Self::Tensor, b: &Self::Tensor) -> Self::Tensor;
    /// Elementwise logistic function.
    fn sigmoid(&self, x: &Self::Tensor) -> Self::Tensor;
    /// Elementwise x·sigmoid(x).
    fn silu(&self, x: &Self::Tensor) -> Self::Tensor;
    /// Each chunk of `n` values of every row divided by its L2 norm: x / √(Σx² + eps).
    fn l2_norm(&self, x: &Self::Tensor, n: usize, eps: f32) -> Self::Tensor;
    /// Columns of every row: of each `period` columns, the `width` from `offset` on.
    fn slice_cols(
        &self,
        x: &Self::Tensor,
        offset: usize,
        width: usize,
        period: usize,
    ) -> Self::Tensor;
    /// The log-decay of the delta rule: softplus(alpha + dt_bias) · a, per row and head.
    fn gdn_decay(
        &self,
        alpha: &Self::Tensor,
        dt_bias: &Self::Weight,
        a: &Self::Weight,
    ) -> Self::Tensor;
    /// Causal conv1d of layer `il`: each output row is the weighted sum (per channel, the
    /// `d_conv` values of `w`'s row) of that input row and the `d_conv - 1` before it —
    /// from the cached state for the first rows. The state keeps the last inputs.
    fn ssm_conv(
        &self,
        kv: &mut Self::Kv,
        il: usize,
        x: &Self::Tensor,
        w: &Self::Weight,
    ) -> Self::Tensor;
    /// The gated delta rule of layer `il`, token by token, on the cached state S of each
    /// value head: S ← exp(g)·S; S ← S + k ⊗ β(v − Sᵀk); out = Sᵀq / √head_dim.
    /// q, k `(n, n_head_k · d)` (L2-normed), v `(n, n_head_v · d)`, g and β `(n, n_head_v)`.
    #[allow(clippy::too_many_arguments)]
    fn gated_delta_net(
        &self,
        kv: &mut Self::Kv,
        il: usize,
        q: &Self::Tensor,
        k: &Self::Tensor,
        v: &Self::Tensor,
        g: &Self::Tensor,
        beta: &Self::Tensor,
        p: &DeltaParams,
    ) -> Self::Tensor;
    /// Zeroes the recurrent state (a sequence starting over).
    fn state_clear(&self, kv: &mut Self::Kv);
    /// The recurrent state of every recurrent layer (conv, then delta rule), f32 LE.
    fn state_export(&self, kv: &Self::Kv) -> Result<Vec<u8>>;
    /// Restores what `state_export` produced.
    fn state_import(&self, kv: &mut Self::Kv, bytes: &[u8]) -> Result<()>;
}
