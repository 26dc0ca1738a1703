//! `hearth bench --resume N`: time to the first new token of a conversation of N tokens
//! when its KV snapshot is restored from the store, against re-reading the whole
//! history; with the snapshot's size, save time and compression.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

use super::bench::{random_tokens, Measure};
use super::output;
use crate::assistant::{conversation, load};
use crate::cli::BenchArgs;
use crate::error::{Error, Result};
use crate::store::snapshots;
use crate::store::{Store, Turn, DB_FILE};

/// Tokens of the new message that follows the restored history.
const N_NEW: usize = 16;

/// A scratch database removed when dropped.
struct ScratchDb(PathBuf);

impl ScratchDb {
    fn new() -> Result<ScratchDb> {
        let dir = std::env::temp_dir().join(format!("hearth-bench-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(ScratchDb(dir))
    }

    fn path(&self) -> PathBuf {
        self.0.join(DB_FILE)
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn argmax(logits: &[f32]) -> usize {
    logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

/// What one resume benchmark measured.
struct Figures {
    reprefill: Measure,
    resume: Measure,
    save_secs: f64,
    raw_bytes: u64,
    stored_bytes: u64,
    same_token: bool,
}

pub fn run(args: &BenchArgs, n_history: usize) -> Result<()> {
    if n_history == 0 {
        return Err(Error::usage("--resume needs at least 1 token of history"));
    }
    let loaded = load::load(&args.model.config())?;
    let model = &loaded.model;
    let n_vocab = model.hp.n_vocab;
    let history = random_tokens(n_history, n_vocab, 7);
    let question = random_tokens(N_NEW, n_vocab, 8);
    let n_ctx = n_history + N_NEW + 1;
    let db = ScratchDb::new()?;
    let mut store = Store::open(&db.path())?;
    let row = store.create_session(Some("bench"), None, &json!({}))?;
    let mut session = load::session(model, n_ctx, &args.model.config())?;
    session.prefill(&history)?;
    let t = Instant::now();
    let states = session.export_states()?;
    let state_bytes: usize = states.iter().map(|(_, s)| s.len()).sum();
    let raw_bytes = (session.export_kv_data()?.len() + state_bytes) as u64;
    let sha = crate::store::hex(&session.model().sha256());
    let bound = conversation::binding(sha, &session);
    let export = |a, b| session.export_kv_range(a..b);
    let prepared = snapshots::prepare(None, bound, history.clone(), export, &states)?;
    store.commit_turn(row.id, &Turn::default(), Some(&prepared))?;
    let save_secs = t.elapsed().as_secs_f64();
    drop(store);
    let mut f = Figures {
        reprefill: Measure {
            name: format!("reprefill{n_history}"),
            n_tokens: n_history,
            samples: vec![],
        },
        resume: Measure {
            name: format!("resume{n_history}"),
            n_tokens: n_history,
            samples: vec![],
        },
        save_secs,
        raw_bytes,
        stored_bytes: prepared.new_bytes(),
        same_token: true,
    };
    let all: Vec<u32> = history.iter().chain(&question).copied().collect();
    for _ in 0..args.reps {
        let mut fresh = load::session(model, n_ctx, &args.model.config())?;
        let t = Instant::now();
        let a = argmax(&fresh.prefill(&all)?);
        f.reprefill.samples.push(t.elapsed().as_secs_f64());
        let mut resumed = load::session(model, n_ctx, &args.model.config())?;
        let t = Instant::now();
        let store = Store::open(&db.path())?;
        let snap = store
            .load_snapshot(row.id)?
            .ok_or_else(|| Error::failed("the snapshot was not saved"))?;
        conversation::import(&mut resumed, &snap)?;
        let b = argmax(&resumed.prefill(&question)?);
        f.resume.samples.push(t.elapsed().as_secs_f64());
        f.same_token &= a == b;
    }
    if args.json {
        return output::print_json(&figures_json(&f, n_history));
    }
    output::print(&figures_text(&f, n_history))
}

fn figures_json(f: &Figures, n_history: usize) -> serde_json::Value {
    json!({
        "test": format!("resume{n_history}"),
        "history_tokens": n_history,
        "new_tokens": N_NEW,
        "reprefill_seconds": f.reprefill.mean(),
        "reprefill_stddev": f.reprefill.stddev(),
        "resume_seconds": f.resume.mean(),
        "resume_stddev": f.resume.stddev(),
        "speedup": f.reprefill.mean() / f.resume.mean(),
        "save_seconds": f.save_secs,
        "snapshot_raw_bytes": f.raw_bytes,
        "snapshot_bytes": f.stored_bytes,
        "snapshot_bytes_per_1000_tokens": f.stored_bytes as f64 * 1000.0 / n_history as f64,
        "compression_ratio": f.raw_bytes as f64 / f.stored_bytes.max(1) as f64,
        "same_first_token": f.same_token,
    })
}

fn figures_text(f: &Figures, n_history: usize) -> String {
    let ms = |m: &Measure| format!("{:.1} ± {:.1} ms", m.mean() * 1e3, m.stddev() * 1e3);
    format!(
        "history {n_history} tokens + {N_NEW} new, time to the first new token:\n\
         re-prefill:         {}\n\
         resume (snapshot):  {}\n\
         speed-up:           {:.1}×\n\
         snapshot: {} raw, {} stored (zstd, ×{:.2}), {} per 1000 tokens, saved in {:.1} ms\n\
         same first token both ways: {}\n",
        ms(&f.reprefill),
        ms(&f.resume),
        f.reprefill.mean() / f.resume.mean(),
        output::human_bytes(f.raw_bytes),
        output::human_bytes(f.stored_bytes),
        f.raw_bytes as f64 / f.stored_bytes.max(1) as f64,
        output::human_bytes((f.stored_bytes as f64 * 1000.0 / n_history as f64) as u64),
        f.save_secs * 1e3,
        if f.same_token { "yes" } else { "no" }
    )
}
