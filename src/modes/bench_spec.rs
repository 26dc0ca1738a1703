//! `hearth bench --spec FILE`: generation speed with and without speculative lookup
//! decoding on one task (the file as the user's message, through the model's chat
//! template), greedy, runs alternating; with the drafts' acceptance and whether the
//! tokens were the same (they must be).

use std::path::Path;

use serde_json::json;

use super::{input, output};
use crate::assistant::load;
use crate::assistant::prompt::ChatFormat;
use crate::chat::Message;
use crate::cli::BenchArgs;
use crate::engine::generate::{generate, Request, Stats};
use crate::engine::sampler::{Sampler, SamplerParams};
use crate::error::{Error, Result};

pub fn run(args: &BenchArgs, task: &Path) -> Result<()> {
    if args.n_gen == 0 {
        return Err(Error::usage("--spec: -n must be at least 1"));
    }
    let text = input::read_text_file(task)?;
    let config = args.model.config();
    let loaded = load::load(&config)?;
    let format = ChatFormat::new(None, &loaded)?;
    let prompt = format.encode(&loaded.tokenizer, &[Message::user(text)])?;
    let n_ctx = prompt.len() + args.n_gen + 16;
    let mut runs: [Vec<(Stats, String)>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..args.reps {
        for (i, spec) in [None, Some(args.draft_max)].into_iter().enumerate() {
            let mut session = load::session(&loaded.model, n_ctx, &config)?;
            let params = SamplerParams { temp: 0.0, ..SamplerParams::default() };
            let mut sampler = Sampler::new(params)?;
            let req = Request {
                prompt: &prompt,
                max_tokens: Some(args.n_gen),
                ignore_eos: false,
                stop: vec![],
                cancel: None,
                spec,
            };
            let mut out = String::new();
            let stats = generate(&mut session, &loaded.tokenizer, &mut sampler, &req, &mut |t| {
                out.push_str(t);
                Ok(())
            })?;
            runs[i].push((stats, out));
        }
    }
    let median = |r: &[(Stats, String)]| {
        let mut v: Vec<f64> = r.iter().map(|(s, _)| s.gen_tps()).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (off, on) = (median(&runs[0]), median(&runs[1]));
    let spec = runs[1][0].0.spec;
    let same = runs[0].iter().chain(&runs[1]).all(|(_, t)| *t == runs[0][0].1);
    let n = runs[0][0].0.n_generated;
    if args.json {
        return output::print_json(&json!({
            "task": task.display().to_string(), "model": loaded.name(), "prompt_tokens": prompt.len(),
            "tokens": n, "draft_max": args.draft_max, "off_tps": off, "lookup_tps": on, "speedup": on / off,
            "drafts": spec.drafts, "drafted": spec.drafted, "accepted": spec.accepted,
            "acceptance": spec.acceptance(), "mean_accepted": spec.mean_accepted(), "same_tokens": same,
        }));
    }
    output::print(&format!(
        "spec {} on {} ({} prompt tokens, {n} generated, draft-max {}, median of {}):\n  \
         off     {off:.1} tok/s\n  lookup  {on:.1} tok/s  ({:.2}x)  {} drafts, {:.0} % of {} drafted tokens kept, {:.1} a draft\n  \
         same tokens: {}\n",
        task.display(), loaded.name(), prompt.len(), args.draft_max, args.reps, on / off,
        spec.drafts, 100.0 * spec.acceptance(), spec.drafted, spec.mean_accepted(),
        if same { "yes" } else { "NO" }
    ))
}
