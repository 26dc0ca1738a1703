//! `hearth run`: raw completion of a prompt, no chat template. Only the generated text
//! goes to stdout; a timing line goes to stderr.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{input, output};
use crate::assistant::load;
use crate::cli::RunArgs;
use crate::engine::generate::{generate, Request};
use crate::engine::grammar::{Grammars, Whole};
use crate::error::{Error, Result};

pub fn run(args: &RunArgs) -> Result<()> {
    let max_tokens = match args.n_predict {
        -1 => None,
        n if n >= 1 => Some(n as usize),
        n => {
            return Err(Error::usage(format!("-n {n}: give -1 (until end of text) or at least 1")))
        }
    };
    let text = input::prompt_text(&args.prompt, &args.file)?;
    if text.is_empty() {
        return Err(Error::usage("the prompt is empty"));
    }
    let mut sampler = load::sampler(&args.sampling.config())?;
    let loaded = load::load(&args.model.config())?;
    let tok = &loaded.tokenizer;
    let prompt = tok.encode(&text, tok.add_bos_default(), true)?;
    let n_ctx = args.model.config().ctx_size(loaded.model.hp.n_ctx_train);
    if prompt.len() >= n_ctx {
        return Err(Error::bad_input(format!(
            "the prompt is {} tokens, the context {n_ctx}: raise -c/--ctx-size",
            prompt.len()
        )));
    }
    if let Some((grammar, path)) = input::output_grammar(&args.json_schema, &args.grammar)? {
        let grammars = Grammars::new(Arc::clone(&loaded.tokenizer))?;
        let whole = Whole::new(&grammars, &grammar).map_err(|e| e.with_file(path))?;
        sampler.set_constraint(Box::new(whole));
    }
    let mut session = load::session(&loaded.model, n_ctx, &args.model.config())?;
    // A reader that went away (`hearth run … | head -c 10`) ends the generation.
    let reader_gone = AtomicBool::new(false);
    let req = Request {
        prompt: &prompt,
        max_tokens,
        ignore_eos: args.ignore_eos,
        stop: args.sampling.stop.clone(),
        cancel: Some(&reader_gone),
        spec: args.spec.draft_max(),
    };
    let stats = generate(&mut session, tok, &mut sampler, &req, &mut |t| {
        output::print(t)?;
        reader_gone.store(output::stdout_closed(), Ordering::Relaxed);
        Ok(())
    });
    if reader_gone.load(Ordering::Relaxed) {
        return Ok(());
    }
    let stats = stats?;
    output::print("\n")?;
    eprintln!("{}", stats.summary());
    if args.verbose {
        if let Some((spent, n)) = sampler.constraint_cost() {
            let per = spent.as_secs_f64() * 1e6 / n.max(1) as f64;
            eprintln!("grammar: {n} masks, {per:.0} µs each");
        }
        eprintln!("{}", output::placement_line(&loaded.model.backend.placement()));
        if let Some(rss) = output::peak_rss() {
            eprintln!("peak resident memory: {}", output::human_bytes(rss));
        }
    }
    Ok(())
}
