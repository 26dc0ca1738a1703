//! Typed hyperparameters, parsed once from `{arch}.*` metadata; a file missing required
//! keys fails early with the whole list.

use crate::error::{Error, Result};
use crate::gguf::{Metadata, Value};

/// Everything the forward pass needs to know about a model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HParams {
    pub arch: String,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_ff: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    /// Dimensions of each head that rotary embeddings rotate.
    pub n_rot: usize,
    pub rope_freq_base: f32,
    /// Position scale from `rope.scaling.*` (1 / factor for linear scaling).
    pub rope_freq_scale: f32,
    pub rms_eps: f32,
    pub sliding_window: Option<usize>,
    pub n_expert: usize,
    pub n_expert_used: usize,
    /// Rows of each expert's FFN (`expert_feed_forward_length`, else `n_ff`).
    pub n_ff_exp: usize,
    /// Rows of the shared expert (`expert_shared_feed_forward_length`).
    pub n_ff_shexp: usize,
    /// `rope.dimension_sections` of an interleaved multi-section rope (qwen35).
    pub rope_sections: Option<[u32; 4]>,
    /// The gated DeltaNet of a hybrid model (`ssm.*`), when the file has one.
    pub ssm: Option<Ssm>,
    /// Multi-token-prediction layers after the trunk (`nextn_predict_layers`): counted in
    /// `block_count`, not in `n_layer`, and not run.
    pub n_layer_nextn: usize,
}

/// Shape of a hybrid model's gated DeltaNet layers (`{arch}.ssm.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ssm {
    /// Taps of the causal conv1d (`ssm.conv_kernel`).
    pub d_conv: usize,
    /// Width of the values over all value heads (`ssm.inner_size`).
    pub d_inner: usize,
    /// Width of one head, keys and values alike (`ssm.state_size`).
    pub d_state: usize,
    /// Key heads (`ssm.group_count`).
    pub n_group: usize,
    /// Value heads (`ssm.time_step_rank`).
    pub n_v_heads: usize,
    /// Which trunk layers are recurrent (the others attend).
    pub recurrent: Vec<bool>,
}

impl Ssm {
    /// Width of the keys (and of the queries) over all key heads.
    pub fn key_dim(&self) -> usize {
        self.d_state * self.n_group
    }

    /// Channels of the conv: queries, keys and values.
    pub fn conv_dim(&self) -> usize {
        2 * self.key_dim() + self.d_inner
    }
}

/// Reads `{arch}.{key}` values, collecting the names of missing required keys.
struct Reader<'a> {
    m: &'a Metadata,
    arch: &'a str,
    missing: Vec<String>,
}

impl Reader<'_> {
    fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }

    fn opt_usize(&self, k: &str) -> Result<Option<usize>> {
        self.m.get_usize_opt(&self.key(k))
    }

    fn usize(&mut self, k: &str) -> Result<usize> {
        let v = self.opt_usize(k)?;
        if v.is_none() {
            self.missing.push(self.key(k));
        }
        Ok(v.unwrap_or(0))
    }

    fn opt_f32(&self, k: &str) -> Result<Option<f32>> {
        self.m.get_f32_opt(&self.key(k))
    }
}

impl HParams {
    pub fn from_metadata(m: &Metadata) -> Result<HParams> {
        let arch = m.get_str("general.architecture")?.to_string();
        let mut r = Reader { m, arch: &arch, missing: Vec::new() };
        let n_embd = r.usize("embedding_length")?;
        let n_layer = r.usize("block_count")?;
        let n_head = r.usize("attention.head_count")?;
        let n_ctx_train = r.usize("context_length")?;
        let n_ff = r.opt_usize("feed_forward_length")?.unwrap_or(0);
        let rms_eps = r.opt_f32("attention.layer_norm_rms_epsilon")?;
        if rms_eps.is_none() {
            r.missing.push(r.key("attention.layer_norm_rms_epsilon"));
        }
        if !r.missing.is_empty() {
            return Err(Error::bad_input(format!(
                "missing metadata keys: {}",
                r.missing.join(", ")
            )));
        }
        let head_dim = n_embd.checked_div(n_head).unwrap_or(0);
        let head_dim_k = r.opt_usize("attention.key_length")?.unwrap_or(head_dim);
        let n_expert = r.opt_usize("expert_count")?.unwrap_or(0);
        let n_layer_nextn = r.opt_usize("nextn_predict_layers")?.unwrap_or(0);
        let n_layer = n_layer.checked_sub(n_layer_nextn).ok_or_else(|| {
            Error::bad_input(format!(
                "{}.nextn_predict_layers {n_layer_nextn} is more than block_count {n_layer}",
                arch
            ))
        })?;
        let hp = HParams {
            n_vocab: vocab_size(m, &r)?,
            n_ctx_train,
            n_embd,
            n_layer,
            n_ff,
            n_head,
            n_head_kv: r.opt_usize("attention.head_count_kv")?.unwrap_or(n_head),
            head_dim_k,
            head_dim_v: r.opt_usize("attention.value_length")?.unwrap_or(head_dim),
            n_rot: r.opt_usize("rope.dimension_count")?.unwrap_or(head_dim_k),
            rope_freq_base: r.opt_f32("rope.freq_base")?.unwrap_or(10000.0),
            rope_freq_scale: rope_freq_scale(&r)?,
            rms_eps: rms_eps.unwrap_or(1e-6),
            sliding_window: r.opt_usize("attention.sliding_window")?.filter(|&w| w > 0),
            n_expert,
            n_expert_used: r.opt_usize("expert_used_count")?.unwrap_or(0),
            n_ff_exp: r.opt_usize("expert_feed_forward_length")?.unwrap_or(n_ff),
            n_ff_shexp: r.opt_usize("expert_shared_feed_forward_length")?.unwrap_or(0),
            rope_sections: rope_sections(&r)?,
            ssm: ssm(&r, n_layer, n_layer_nextn)?,
            n_layer_nextn,
            arch: arch.clone(),
        };
        hp.validate()?;
        Ok(hp)
    }

    /// Consistency checks that would otherwise show up as out-of-bounds indexing.
    fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::bad_input(msg));
        if self.n_embd == 0 || self.n_layer == 0 || self.n_head == 0 || self.n_vocab == 0 {
            return bad(format!(
                "{}: embedding_length, block_count, head_count and the vocabulary must be non-zero",
                self.arch
            ));
        }
        if self.n_head_kv == 0 || !self.n_head.is_multiple_of(self.n_head_kv) {
            return bad(format!(
                "{}.attention.head_count {} is not a multiple of head_count_kv {}",
                self.arch, self.n_head, self.n_head_kv
            ));
        }
        if self.n_rot > self.head_dim_k || !self.n_rot.is_multiple_of(2) {
            return bad(format!(
                "{}.rope.dimension_count {} must be even and at most the head size {}",
                self.arch, self.n_rot, self.head_dim_k
            ));
        }
        if self.head_dim_v > crate::backend::MAX_HEAD_DIM {
            return bad(format!(
                "{}.attention.value_length {} is above the supported {}",
                self.arch,
                self.head_dim_v,
                crate::backend::MAX_HEAD_DIM
            ));
        }
        if self.n_expert > 0 && (self.n_expert_used == 0 || self.n_expert_used > self.n_expert) {
            return bad(format!(
                "{}.expert_used_count {} must be 1 to expert_count {}",
                self.arch, self.n_expert_used, self.n_expert
            ));
        }
        Ok(())
    }

    pub fn is_moe(&self) -> bool {
        self.n_expert > 0
    }

    /// Width of one position's K row over all KV heads.
    pub fn n_embd_k_gqa(&self) -> usize {
        self.n_head_kv * self.head_dim_k
    }

    pub fn n_embd_v_gqa(&self) -> usize {
        self.n_head_kv * self.head_dim_v
    }

    /// Whether layer `il` is a recurrent (gated DeltaNet) layer.
    pub fn is_recurrent(&self, il: usize) -> bool {
        self.ssm.as_ref().is_some_and(|s| s.recurrent.get(il).copied().unwrap_or(false))
    }
}

fn vocab_size(m: &Metadata, r: &Reader) -> Result<usize> {
    if let Some(n) = r.opt_usize("vocab_size")? {
        return Ok(n);
    }
    Ok(m.get_array("tokenizer.ggml.tokens").map(|a| a.len()).unwrap_or(0))
}

/// The integers of array `key`, when present (any integer or bool element type).
fn int_array(r: &Reader, k: &str) -> Result<Option<Vec<i64>>> {
    let key = r.key(k);
    let Some(value) = r.m.get(&key) else { return Ok(None) };
    let Value::Array(a) = value else {
        return Err(Error::bad_input(format!("{key} is not an array")));
    };
    a.as_ints()
        .map(Some)
        .ok_or_else(|| Error::bad_input(format!("{key} is not an array of integers")))
}

fn rope_sections(r: &Reader) -> Result<Option<[u32; 4]>> {
    let Some(v) = int_array(r, "rope.dimension_sections")? else { return Ok(None) };
    let mut s = [0u32; 4];
    for (i, x) in v.iter().take(4).enumerate() {
        s[i] = u32::try_from(*x).map_err(|_| {
            Error::bad_input(format!("{} holds {x}", r.key("rope.dimension_sections")))
        })?;
    }
    Ok(Some(s))
}

/// The DeltaNet shape, when the file has `ssm.conv_kernel`; the recurrent layers from
/// `attention.recurrent_layers` (one flag per block), else every layer but each
/// `full_attention_interval`-th (default 4).
fn ssm(r: &Reader, n_layer: usize, n_nextn: usize) -> Result<Option<Ssm>> {
    let Some(d_conv) = r.opt_usize("ssm.conv_kernel")? else { return Ok(None) };
    let need = |k: &str| -> Result<usize> {
        r.opt_usize(k)?
            .ok_or_else(|| Error::bad_input(format!("missing metadata keys: {}", r.key(k))))
    };
    let recurrent = match int_array(r, "attention.recurrent_layers")? {
        Some(flags) if flags.len() == n_layer + n_nextn => {
            flags.iter().take(n_layer).map(|&f| f != 0).collect()
        }
        Some(flags) => {
            return Err(Error::bad_input(format!(
                "{} has {} flags for {} blocks",
                r.key("attention.recurrent_layers"),
                flags.len(),
                n_layer + n_nextn
            )))
        }
        None => {
            let every = r.opt_usize("full_attention_interval")?.unwrap_or(4).max(1);
            (0..n_layer).map(|il| (il + 1) % every != 0).collect()
        }
    };
    let ssm = Ssm {
        d_conv,
        d_inner: need("ssm.inner_size")?,
        d_state: need("ssm.state_size")?,
        n_group: need("ssm.group_count")?,
        n_v_heads: need("ssm.time_step_rank")?,
        recurrent,
    };
    let key = |k: &str| r.key(k);
    if d_conv < 1
        || ssm.d_state == 0
        || ssm.n_group == 0
        || !ssm.n_v_heads.is_multiple_of(ssm.n_group)
    {
        return Err(Error::bad_input(format!(
            "{} {d_conv}, {} {} and {} {} (a multiple of {} {}) must be non-zero",
            key("ssm.conv_kernel"),
            key("ssm.state_size"),
            ssm.d_state,
            key("ssm.time_step_rank"),
            ssm.n_v_heads,
            key("ssm.group_count"),
            ssm.n_group
        )));
    }
    if ssm.d_inner != ssm.d_state * ssm.n_v_heads {
        return Err(Error::bad_input(format!(
            "{} {} is not {} {} × {} {}",
            key("ssm.inner_size"),
            ssm.d_inner,
            key("ssm.state_size"),
            ssm.d_state,
            key("ssm.time_step_rank"),
            ssm.n_v_heads
        )));
    }
    if n_layer > 128 && ssm.recurrent.iter().any(|&x| x) {
        return Err(Error::unsupported(format!(
            "{} blocks of a hybrid model are more than 128",
            n_layer
        ))
        .with_key(key("block_count")));
    }
    Ok(Some(ssm))
}

fn rope_freq_scale(r: &Reader) -> Result<f32> {
    let kind = r.m.get_str_opt(&r.key("rope.scaling.type"))?;
    let factor = r.opt_f32("rope.scaling.factor")?.filter(|&f| f > 0.0);
    match (kind, factor) {
        (None | Some("none"), _) | (_, None) => Ok(1.0),
        (Some("linear"), Some(f)) => Ok(1.0 / f),
        (Some(other), _) => {
            Err(Error::unsupported(format!("rope scaling type {other:?} is not supported yet"))
                .with_key(r.key("rope.scaling.type")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, Value)]) -> Metadata {
        let mut m = Metadata::new();
        m.insert("general.architecture", Value::String("llama".into()));
        for (k, v) in pairs {
            m.insert(*k, v.clone());
        }
        m
    }

    #[test]
    fn missing_keys_are_listed_together() {
        let e = HParams::from_metadata(&meta(&[("llama.block_count", Value::U32(2))])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing metadata keys: llama.embedding_length, llama.attention.head_count, \
             llama.context_length, llama.attention.layer_norm_rms_epsilon"
        );
    }

    #[test]
    fn defaults_follow_the_reference() {
        let m = meta(&[
            ("llama.embedding_length", Value::U32(64)),
            ("llama.block_count", Value::U32(2)),
            ("llama.attention.head_count", Value::U32(4)),
            ("llama.attention.head_count_kv", Value::U32(2)),
            ("llama.context_length", Value::U32(128)),
            ("llama.feed_forward_length", Value::U32(96)),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
            ("llama.vocab_size", Value::U32(50)),
        ]);
        let hp = HParams::from_metadata(&m).unwrap();
        assert_eq!((hp.head_dim_k, hp.n_rot, hp.n_embd_k_gqa()), (16, 16, 32));
        assert_eq!((hp.rope_freq_base, hp.rope_freq_scale, hp.n_ff_exp), (10000.0, 1.0, 96));
        assert!(!hp.is_moe());
    }
}
