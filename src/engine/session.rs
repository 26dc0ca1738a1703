//! A session: one model, its KV cache and the token history the cache holds. Prefill in
//! batches, decode one token at a time, roll back, reuse a shared prompt prefix.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::snapshot::{self, KvDtype, SnapshotMeta};
use crate::backend::{Backend, KvType};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Logits, Model};

/// Default prompt-processing batch (llama.cpp's `-b`).
pub const DEFAULT_BATCH: usize = 512;

pub struct Session<B: Backend> {
    model: Arc<Model<B>>,
    kv: B::Kv,
    /// The tokens whose keys and values are in `kv`, in order.
    tokens: Vec<u32>,
    n_ctx: usize,
    n_batch: usize,
    /// Cache types of keys and values.
    types: (KvType, KvType),
}

impl<B: Backend> Session<B> {
    /// A session with room for `n_ctx` tokens, processing prompts `n_batch` at a time,
    /// with the default f16 KV cache.
    pub fn new(model: Arc<Model<B>>, n_ctx: usize, n_batch: usize) -> Result<Session<B>> {
        Session::with_cache_types(model, n_ctx, n_batch, (KvType::F16, KvType::F16))
    }

    /// As [`Session::new`], with keys and values cached as `types` (`-ctk`, `-ctv`).
    pub fn with_cache_types(
        model: Arc<Model<B>>,
        n_ctx: usize,
        n_batch: usize,
        types: (KvType, KvType),
    ) -> Result<Session<B>> {
        if n_ctx == 0 {
            return Err(Error::usage("-c/--ctx-size must be at least 1"));
        }
        if n_batch == 0 {
            return Err(Error::usage("-b/--batch-size must be at least 1"));
        }
        let kv = model.new_kv(n_ctx, types.0, types.1)?;
        Ok(Session { model, kv, tokens: Vec::new(), n_ctx, n_batch, types })
    }

    pub fn model(&self) -> &Arc<Model<B>> {
        &self.model
    }

    /// The tokens in the cache.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Room left in the cache.
    pub fn n_free(&self) -> usize {
        self.n_ctx - self.tokens.len()
    }

    /// Fails, before any work, when `n` more tokens would not fit.
    pub fn check_room(&self, n: usize) -> Result<()> {
        if n > self.n_free() {
            return Err(Error::bad_input(format!(
                "{n} tokens do not fit the context: {} of {} already used (raise -c/--ctx-size)",
                self.tokens.len(),
                self.n_ctx
            )));
        }
        Ok(())
    }

    /// Appends `tokens` in batches; returns the logits of the last one.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.prefill_until(tokens, None)
    }

    /// [`Self::prefill`] that stops between batches once `cancel` is set: the batches
    /// done stay in the cache, and the error is `Interrupted`.
    pub fn prefill_until(
        &mut self,
        tokens: &[u32],
        cancel: Option<&AtomicBool>,
    ) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::bad_input("nothing to process: the prompt is empty"));
        }
        self.check_room(tokens.len())?;
        let mut logits = Vec::new();
        for chunk in tokens.chunks(self.n_batch) {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Error::new(ErrorKind::Interrupted, "generation cancelled"));
            }
            logits = self.step(chunk, Logits::Last)?;
        }
        Ok(logits)
    }

    /// Appends `tokens` in batches and returns logits for every one `(n, n_vocab)`.
    pub fn prefill_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.check_room(tokens.len())?;
        let mut logits = Vec::with_capacity(tokens.len() * self.model.hp.n_vocab);
        for chunk in tokens.chunks(self.n_batch) {
            logits.extend(self.step(chunk, Logits::All)?);
        }
        Ok(logits)
    }

    /// Appends one token; returns its logits.
    pub fn decode(&mut self, token: u32) -> Result<Vec<f32>> {
        self.check_room(1)?;
        self.step(&[token], Logits::Last)
    }

    /// Runs `tokens` after the history; on an error the history is unchanged.
    fn step(&mut self, tokens: &[u32], want: Logits) -> Result<Vec<f32>> {
        let start = self.tokens.len();
        let logits = self.model.forward(&mut self.kv, tokens, start, want)?;
        self.tokens.extend_from_slice(tokens);
        Ok(logits)
    }

    /// Forgets every token from position `n` on.
    pub fn truncate(&mut self, n: usize) {
        self.tokens.truncate(n);
    }

    /// Keeps the longest prefix the history shares with `prompt`, leaving at least one
    /// prompt token to process (its logits are needed); returns the tokens still to
    /// feed.
    pub fn reuse_prefix<'p>(&mut self, prompt: &'p [u32]) -> &'p [u32] {
        let common = self.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        let keep = common.min(prompt.len().saturating_sub(1));
        self.truncate(keep);
        &prompt[keep..]
    }

    fn snapshot_meta(&self, tokens: Vec<u32>) -> SnapshotMeta {
        SnapshotMeta {
            model_sha256: self.model.sha256(),
            arch: self.model.arch.name().to_string(),
            n_ctx: self.n_ctx as u32,
            dtype: KvDtype { k: self.types.0, v: self.types.1 },
            tokens,
        }
    }

    /// A snapshot of the filled part of the cache, bound to this model and context.
    pub fn export_kv(&self) -> Result<Vec<u8>> {
        Ok(snapshot::encode(&self.snapshot_meta(self.tokens.clone()), &self.export_kv_data()?))
    }

    /// Restores a snapshot made by `export_kv`; one made for another model file,
    /// architecture, context size or cache type is refused and the session is unchanged.
    pub fn import_kv(&mut self, bytes: &[u8]) -> Result<()> {
        let (meta, data) = snapshot::decode(bytes)?;
        snapshot::check_binding(&meta, &self.snapshot_meta(Vec::new()))?;
        self.import_kv_data(&meta.tokens, data)
    }

    /// The filled part of the cache as bytes (see `engine::snapshot` for the header).
    pub fn export_kv_data(&self) -> Result<Vec<u8>> {
        self.export_kv_range(0..self.tokens.len())
    }

    /// The cache of positions `rows` (within the filled part) as bytes.
    pub fn export_kv_range(&self, rows: Range<usize>) -> Result<Vec<u8>> {
        assert!(rows.end <= self.tokens.len(), "export past the filled cache");
        self.model.backend.kv_export(&self.kv, rows)
    }

    /// Restores a cache for `tokens` from `export_kv_data` bytes.
    pub fn import_kv_data(&mut self, tokens: &[u32], bytes: &[u8]) -> Result<()> {
        self.import_kv_ranges(tokens, &[(0, tokens.len(), bytes)])
    }

    /// Restores a cache for `tokens` from pieces `(start, n_tokens, bytes)` of
    /// `export_kv_range` that cover `0..tokens.len()` in order. On failure the session
    /// is left empty, never half-restored.
    pub fn import_kv_ranges(
        &mut self,
        tokens: &[u32],
        pieces: &[(usize, usize, &[u8])],
    ) -> Result<()> {
        if tokens.len() > self.n_ctx {
            return Err(Error::bad_input(format!(
                "snapshot holds {} tokens, the context has room for {}",
                tokens.len(),
                self.n_ctx
            )));
        }
        self.tokens.clear();
        let mut next = 0;
        for &(start, n, bytes) in pieces {
            if start != next {
                return Err(Error::bad_input(format!("snapshot has no data for token {next}")));
            }
            self.model.backend.kv_import(&mut self.kv, start..start + n, bytes)?;
            next = start + n;
        }
        if next != tokens.len() {
            return Err(Error::bad_input(format!("snapshot has no data for token {next}")));
        }
        self.tokens = tokens.to_vec();
        Ok(())
    }

    /// The binding of a snapshot of this session (model file, architecture, context,
    /// cache types), as the store records it.
    pub fn kv_binding(&self) -> (String, usize, KvDtype) {
        (
            self.model.arch.name().to_string(),
            self.n_ctx,
            KvDtype { k: self.types.0, v: self.types.1 },
        )
    }
}
