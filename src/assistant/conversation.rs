//! A stored conversation bound to a loaded model: its history from the store, its KV
//! snapshot restored into a session when it still fits (else one warning line and a
//! re-prefill), and each completed turn committed with the session's new snapshot.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::config::ModelConfig;
use crate::backend::{Backend, KvType};
use crate::chat::Message;
use crate::engine::session::Session;
use crate::error::{Error, ErrorKind, Result};
use crate::model::Model;
use crate::store::snapshots::{self, Binding};
use crate::store::{ModelRow, SavedSnapshot, SessionRow, Store, Turn};

/// What restoring a snapshot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore {
    /// The session had no snapshot.
    None,
    /// The cache of this many tokens was restored.
    Restored(usize),
    /// The snapshot could not be used (the reason was printed as a warning).
    Ignored(String),
    /// The snapshot was damaged, and dropped (the reason was printed as a warning).
    Damaged(String),
}

pub struct Conversation {
    pub store: Store,
    /// The stored session; `None` until the first turn creates it.
    pub row: Option<SessionRow>,
    name: String,
    model: Option<ModelRow>,
    /// Whether the stored snapshot was restored (and verified) into the session: only
    /// then may its segments be kept when the next one is written.
    restored: bool,
    /// Whether a warning already said that the store is damaged.
    warned: bool,
}

/// The absolute form of a model path, as the store records it.
pub fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Conversation {
    /// The session named `name` in the default store, or a new one (created by the
    /// first committed turn). A name that could never be stored is refused here, before
    /// any model work.
    pub fn open(name: &str) -> Result<Conversation> {
        let store = Store::open_default()?;
        store.check_session_key(name)?;
        let row = store.find_session(name)?;
        let name = name.to_string();
        Ok(Conversation { store, row, name, model: None, restored: false, warned: false })
    }

    /// The model file the stored session last used, when it is still there.
    pub fn model_path(&self) -> Option<PathBuf> {
        let path = PathBuf::from(self.row.as_ref()?.model_path.as_ref()?);
        path.exists().then_some(path)
    }

    /// `base` with the model, context size and cache types the stored session used,
    /// where `base` does not say otherwise, so that its snapshot fits.
    pub fn model_config(&self, base: &ModelConfig) -> ModelConfig {
        let mut out = base.clone();
        if out.model.is_none() {
            out.model = self.model_path();
        }
        if out.ctx_size.is_none() {
            out.ctx_size = self.setting("n_ctx").and_then(|v| v.as_u64()).map(|n| n as usize);
        }
        let kv = |key: &str| self.setting(key).and_then(|v| v.as_str()).and_then(KvType::parse);
        out.cache_type_k = out.cache_type_k.or_else(|| kv("cache_type_k"));
        out.cache_type_v = out.cache_type_v.or_else(|| kv("cache_type_v"));
        out
    }

    /// A setting stored with the session (context size, cache types, …).
    pub fn setting(&self, key: &str) -> Option<&serde_json::Value> {
        self.row.as_ref()?.settings.get(key)
    }

    /// The stored messages, in order, as a chat template takes them.
    pub fn history(&self) -> Result<Vec<Message>> {
        let Some(row) = &self.row else { return Ok(Vec::new()) };
        let msgs = self.store.messages(row.id)?;
        Ok(msgs.into_iter().map(|m| Message::new(m.role, m.content)).collect())
    }

    /// Records the model (its SHA-256 from the cache, or computed once) for the
    /// snapshot binding.
    pub fn bind_model<B: Backend>(&mut self, model: &Model<B>) -> Result<()> {
        let path = canonical(model.file.path());
        let row = self.store.model_sha256(&path, model.arch.name(), || model.sha256())?;
        self.model = Some(row);
        Ok(())
    }

    fn binding<B: Backend>(&self, session: &Session<B>) -> Option<Binding> {
        Some(binding(self.model.as_ref()?.sha256.clone(), session))
    }

    /// Restores the stored snapshot into `session` when it was made for the same model
    /// file, architecture, context size and cache types and is undamaged; otherwise
    /// prints one warning and leaves the session empty, to be rebuilt by prefill. A
    /// damaged snapshot is dropped.
    pub fn restore<B: Backend>(&mut self, session: &mut Session<B>) -> Restore {
        let outcome = self.try_restore(session);
        self.restored = matches!(outcome, Restore::Restored(_));
        match &outcome {
            Restore::Ignored(why) => {
                session.truncate(0);
                eprintln!("hearth: warning: the session's KV snapshot is not used ({why}); re-reading the conversation");
            }
            Restore::Damaged(why) => {
                session.truncate(0);
                let dropped = self.drop_damaged();
                eprintln!("hearth: warning: the session's KV snapshot is damaged ({why}) {dropped}; re-reading the conversation");
                self.warned = true;
            }
            Restore::None | Restore::Restored(_) => {}
        }
        outcome
    }

    /// Drops the session's damaged snapshot; says how that went, to end a warning.
    fn drop_damaged(&mut self) -> String {
        let Some(row) = &self.row else { return String::new() };
        match self.store.drop_snapshot(row.id) {
            Ok(0) => "and was dropped".into(),
            Ok(n) => format!(
                "and was dropped ({n} segment(s) on damaged pages stay until `hearth sessions repair`)"
            ),
            Err(_) => "and could not be dropped".into(),
        }
    }

    fn try_restore<B: Backend>(&self, session: &mut Session<B>) -> Restore {
        let Some(row) = &self.row else { return Restore::None };
        let Some(want) = self.binding(session) else {
            return Restore::Ignored("the model file was not identified".into());
        };
        let info = match self.store.snapshot_info(row.id) {
            Ok(Some(info)) => info,
            Ok(None) => return Restore::None,
            Err(e) if e.kind() == ErrorKind::BadInput => {
                return Restore::Damaged(e.message().to_string())
            }
            Err(e) => return Restore::Ignored(e.to_string()),
        };
        if let Some(what) = mismatch(&info.binding, &want) {
            return Restore::Ignored(format!("it was made for {what}"));
        }
        let snap = match self.store.load_snapshot(row.id) {
            Ok(Some(s)) => s,
            Ok(None) => return Restore::None,
            // Checksums, missing ranges, SQLite's "malformed": damage.
            Err(e) if e.kind() == ErrorKind::BadInput => {
                return Restore::Damaged(e.message().to_string())
            }
            Err(e) => return Restore::Ignored(e.message().to_string()),
        };
        match import(session, &snap) {
            Ok(()) => Restore::Restored(snap.tokens.len()),
            Err(e) => Restore::Ignored(e.message().to_string()),
        }
    }

    /// Saves a completed turn: `messages` (the new ones, in order) and the session's
    /// cache as the new snapshot, in one transaction. Creates the session on its first
    /// turn.
    pub fn commit<B: Backend>(
        &mut self,
        session: &Session<B>,
        messages: Vec<(String, String, usize)>,
    ) -> Result<()> {
        let model_id = self.model.as_ref().map(|m| m.id);
        let (_, n_ctx, dtype) = session.kv_binding();
        let settings = json!({
            "n_ctx": n_ctx,
            "cache_type_k": dtype.k.name(),
            "cache_type_v": dtype.v.name(),
        });
        let binding = self
            .binding(session)
            .ok_or_else(|| Error::failed("the model file was not identified before saving"))?;
        // Segments that were not verified by a restore are never kept.
        let info = match (&self.row, self.restored) {
            (Some(row), true) => self.store.snapshot_info(row.id)?,
            _ => None,
        };
        let tokens = session.tokens().to_vec();
        let states = session.export_states()?;
        let prepared = snapshots::prepare(
            info.as_ref(),
            binding,
            tokens,
            |a, b| session.export_kv_range(a..b),
            &states,
        )?;
        let turn = Turn { messages, settings: Some(settings), model_id };
        let id = match self.save(&turn, Some(&prepared)) {
            Ok(id) => {
                self.restored = true;
                id
            }
            // The snapshots' pages are damaged past dropping: the turn is kept without.
            Err(e) if e.kind() == ErrorKind::BadInput => {
                if !self.warned {
                    eprintln!(
                        "hearth: warning: the turn is saved without its KV snapshot ({})",
                        e.message()
                    );
                    self.warned = true;
                }
                self.restored = false;
                self.save(&turn, None)?
            }
            Err(e) => return Err(e),
        };
        self.row = Some(self.store.session(id)?);
        Ok(())
    }

    /// Commits `turn` (creating the session on its first turn); returns the session's id.
    fn save(&mut self, turn: &Turn, snapshot: Option<&snapshots::PreparedSnapshot>) -> Result<i64> {
        match &self.row {
            Some(row) => self.store.commit_turn(row.id, turn, snapshot).map(|()| row.id),
            // Created in the turn's own transaction: two processes starting one session
            // at once both keep their turns.
            None => self.store.commit_first_turn(&self.name, turn, snapshot),
        }
    }
}

/// The binding of a snapshot of `session` made from the model file with SHA-256
/// `model_sha256` (hex).
pub fn binding<B: Backend>(model_sha256: String, session: &Session<B>) -> Binding {
    let (arch, n_ctx, dtype) = session.kv_binding();
    Binding {
        model_sha256,
        arch,
        n_ctx,
        kv_dtype: format!("{}/{}", dtype.k.name(), dtype.v.name()),
    }
}

/// Restores a verified snapshot's segments into `session`.
pub fn import<B: Backend>(session: &mut Session<B>, snap: &SavedSnapshot) -> Result<()> {
    let pieces: Vec<(usize, usize, &[u8])> =
        snap.segments.iter().map(|(s, n, d)| (*s, *n, d.as_slice())).collect();
    let states: Vec<(usize, &[u8])> = snap.states.iter().map(|(p, d)| (*p, d.as_slice())).collect();
    session.import_kv_ranges(&snap.tokens, &pieces, &states)
}

/// What differs between a snapshot's binding and the session's, in words.
fn mismatch(got: &Binding, want: &Binding) -> Option<String> {
    if got.model_sha256 != want.model_sha256 {
        Some("another model file (SHA-256 differs)".into())
    } else if got.arch != want.arch {
        Some(format!("architecture {}", got.arch))
    } else if got.n_ctx != want.n_ctx {
        Some(format!("a context of {} tokens, not {}", got.n_ctx, want.n_ctx))
    } else if got.kv_dtype != want.kv_dtype {
        Some(format!("a {} cache, not {}", got.kv_dtype, want.kv_dtype))
    } else {
        None
    }
}
