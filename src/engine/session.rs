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

/// A recurrent model keeps its state every this many prompt tokens (besides the end of
/// each prompt), so that a prompt diverging inside a long history resumes near there.
pub const CHECKPOINT_EVERY: usize = 1024;
/// Checkpoints a session keeps at most (the newest; each is the model's whole recurrent
/// state, tens of MB for a 35B hybrid).
pub const MAX_CHECKPOINTS: usize = 4;

/// A recurrent model's state after the first `pos` tokens of the history.
#[derive(Debug, Clone, PartialEq)]
struct Checkpoint {
    pos: usize,
    state: Vec<u8>,
}

pub struct Session<B: Backend> {
    model: Arc<Model<B>>,
    kv: B::Kv,
    /// The tokens whose keys and values are in `kv`, in order.
    tokens: Vec<u32>,
    n_ctx: usize,
    n_batch: usize,
    /// Cache types of keys and values.
    types: (KvType, KvType),
    /// Whether the model carries a recurrent state (which, unlike the KV cache, cannot
    /// be cut back: rolling back restores a checkpoint).
    recurrent: bool,
    /// States at earlier positions of `tokens`, oldest first.
    checkpoints: Vec<Checkpoint>,
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
        let recurrent = model.is_recurrent();
        Ok(Session {
            model,
            kv,
            tokens: Vec::new(),
            n_ctx,
            n_batch,
            types,
            recurrent,
            checkpoints: Vec::new(),
        })
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
        let end = self.tokens.len() + tokens.len();
        for chunk in self.batches(tokens) {
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Error::new(ErrorKind::Interrupted, "generation cancelled"));
            }
            logits = self.step(chunk, Logits::Last)?;
            self.checkpoint_due(end)?;
        }
        // The end of a prompt: where a regenerated answer starts again.
        self.checkpoint()?;
        Ok(logits)
    }

    /// `tokens` in batches of at most `n_batch`, cut (for a recurrent model) where a
    /// checkpoint is due: at multiples of `CHECKPOINT_EVERY`, and before the last token
    /// (a prompt shared up to its last token resumes there: `reuse_prefix` always
    /// leaves that token to process).
    fn batches<'t>(&self, tokens: &'t [u32]) -> Vec<&'t [u32]> {
        let mut out = Vec::new();
        let (mut rest, mut pos) = (tokens, self.tokens.len());
        let end = pos + tokens.len();
        while !rest.is_empty() {
            let mut n = self.n_batch.min(rest.len());
            if self.recurrent {
                let next = (pos / CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY;
                let last = if pos + 1 < end { end - 1 } else { end };
                n = n.min(next - pos).min(last - pos);
            }
            out.push(&rest[..n]);
            (rest, pos) = (&rest[n..], pos + n);
        }
        out
    }

    /// Keeps the state where `batches` cut for a checkpoint (`end`: where the tokens
    /// being fed end).
    fn checkpoint_due(&mut self, end: usize) -> Result<()> {
        let n = self.tokens.len();
        if self.recurrent && n > 0 && (n.is_multiple_of(CHECKPOINT_EVERY) || n + 1 == end) {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Keeps the recurrent state of the whole history as a checkpoint (no-op for a
    /// model without one, or when it is already kept).
    pub fn checkpoint(&mut self) -> Result<()> {
        let pos = self.tokens.len();
        if !self.recurrent || pos == 0 || self.checkpoints.last().is_some_and(|c| c.pos == pos) {
            return Ok(());
        }
        let state = self.model.backend.state_export(&self.kv)?;
        self.checkpoints.push(Checkpoint { pos, state });
        if self.checkpoints.len() > MAX_CHECKPOINTS {
            self.checkpoints.remove(0);
        }
        Ok(())
    }

    /// Appends `tokens` in batches and returns logits for every one `(n, n_vocab)`.
    pub fn prefill_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.check_room(tokens.len())?;
        let mut logits = Vec::with_capacity(tokens.len() * self.model.hp.n_vocab);
        let end = self.tokens.len() + tokens.len();
        for chunk in self.batches(tokens) {
            logits.extend(self.step(chunk, Logits::All)?);
            self.checkpoint_due(end)?;
        }
        Ok(logits)
    }

    /// Appends one token; returns its logits.
    pub fn decode(&mut self, token: u32) -> Result<Vec<f32>> {
        self.check_room(1)?;
        self.step(&[token], Logits::Last)
    }

    /// Runs `tokens` after the history. On an error the history is unchanged — for a
    /// recurrent model, cut back to its latest checkpoint (the state may be half
    /// advanced).
    fn step(&mut self, tokens: &[u32], want: Logits) -> Result<Vec<f32>> {
        let start = self.tokens.len();
        match self.model.forward(&mut self.kv, tokens, start, want) {
            Ok(logits) => {
                self.tokens.extend_from_slice(tokens);
                Ok(logits)
            }
            Err(e) => {
                if self.recurrent {
                    self.rewind(start);
                }
                Err(e)
            }
        }
    }

    /// Forgets every token from position `n` on. A recurrent model keeps fewer when it
    /// has no state at `n`: back to its latest checkpoint at or before `n` (or to the
    /// start) — `tokens()` says how many stayed.
    pub fn truncate(&mut self, n: usize) {
        if !self.recurrent || n >= self.tokens.len() {
            self.tokens.truncate(n);
            return;
        }
        self.rewind(n);
    }

    /// Restores the latest checkpoint at or before `n` and cuts the history there (to
    /// nothing without one: a forward pass from position 0 starts from a zero state).
    fn rewind(&mut self, n: usize) {
        self.checkpoints.retain(|c| c.pos <= n);
        while let Some(c) = self.checkpoints.last() {
            match self.model.backend.state_import(&mut self.kv, &c.state) {
                Ok(()) => {
                    self.tokens.truncate(c.pos);
                    return;
                }
                Err(_) => {
                    self.checkpoints.pop();
                }
            }
        }
        self.tokens.clear();
    }

    /// Keeps the longest prefix the history shares with `prompt`, leaving at least one
    /// prompt token to process (its logits are needed); returns the tokens still to
    /// feed (more than the shared prefix leaves when a recurrent model resumes from an
    /// earlier checkpoint).
    pub fn reuse_prefix<'p>(&mut self, prompt: &'p [u32]) -> &'p [u32] {
        let common = self.tokens.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        let keep = common.min(prompt.len().saturating_sub(1));
        self.truncate(keep);
        &prompt[self.tokens.len()..]
    }

    fn snapshot_meta(&self, tokens: Vec<u32>, states: Vec<(usize, Vec<u8>)>) -> SnapshotMeta {
        SnapshotMeta {
            model_sha256: self.model.sha256(),
            arch: self.model.arch.name().to_string(),
            n_ctx: self.n_ctx as u32,
            dtype: KvDtype { k: self.types.0, v: self.types.1 },
            tokens,
            states,
        }
    }

    /// A snapshot of the filled part of the cache (and of a recurrent model's state),
    /// bound to this model and context.
    pub fn export_kv(&self) -> Result<Vec<u8>> {
        let meta = self.snapshot_meta(self.tokens.clone(), self.export_states()?);
        Ok(snapshot::encode(&meta, &self.export_kv_data()?))
    }

    /// Restores a snapshot made by `export_kv`; one made for another model file,
    /// architecture, context size or cache type is refused and the session is unchanged.
    pub fn import_kv(&mut self, bytes: &[u8]) -> Result<()> {
        let (meta, data) = snapshot::decode(bytes)?;
        snapshot::check_binding(&meta, &self.snapshot_meta(Vec::new(), Vec::new()))?;
        let states: Vec<(usize, &[u8])> =
            meta.states.iter().map(|(p, s)| (*p, s.as_slice())).collect();
        self.import_kv_ranges(&meta.tokens, &[(0, meta.tokens.len(), data)], &states)
    }

    /// What a snapshot keeps of a recurrent model's state: the checkpoint before the
    /// last prompt's last token (where a regenerated answer resumes: the one directly
    /// followed by another) and the state of the whole history. Empty for other models.
    /// Each as (position, state bytes), in order.
    pub fn export_states(&self) -> Result<Vec<(usize, Vec<u8>)>> {
        let n = self.tokens.len();
        if !self.recurrent || n == 0 {
            return Ok(Vec::new());
        }
        let cps = &self.checkpoints;
        let regen = cps.iter().rev().find(|c| c.pos < n && cps.iter().any(|d| d.pos == c.pos + 1));
        let mut out: Vec<(usize, Vec<u8>)> =
            regen.map(|c| (c.pos, c.state.clone())).into_iter().collect();
        out.push((n, self.model.backend.state_export(&self.kv)?));
        Ok(out)
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

    /// Restores a cache for `tokens` from pieces `(start, n_tokens, bytes)` of
    /// `export_kv_range` that cover `0..tokens.len()` in order, and a recurrent model's
    /// `states` (from `export_states`: one must be of the whole history). On failure the
    /// session is left empty, never half-restored.
    pub fn import_kv_ranges(
        &mut self,
        tokens: &[u32],
        pieces: &[(usize, usize, &[u8])],
        states: &[(usize, &[u8])],
    ) -> Result<()> {
        self.checkpoints.clear();
        let restored = self.import_pieces(tokens, pieces).and_then(|()| self.import_states(states));
        if restored.is_err() {
            self.tokens.clear();
            self.checkpoints.clear();
        }
        restored
    }

    /// The recurrent state of the history from `states`, and the earlier ones as
    /// checkpoints.
    fn import_states(&mut self, states: &[(usize, &[u8])]) -> Result<()> {
        let n = self.tokens.len();
        if !self.recurrent || n == 0 {
            return Ok(());
        }
        for &(pos, state) in states.iter().filter(|(p, _)| *p < n) {
            self.checkpoints.push(Checkpoint { pos, state: state.to_vec() });
        }
        self.checkpoints.sort_by_key(|c| c.pos);
        let Some((_, now)) = states.iter().find(|(p, _)| *p == n) else {
            return Err(Error::bad_input(format!(
                "the snapshot holds no recurrent state for its {n} tokens"
            )));
        };
        self.model.backend.state_import(&mut self.kv, now)
    }

    fn import_pieces(&mut self, tokens: &[u32], pieces: &[(usize, usize, &[u8])]) -> Result<()> {
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
