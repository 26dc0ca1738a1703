//! Fuzzing on stable Rust: an in-process mutational harness over hearth's parsers (the
//! GGUF reader, the tokenizers, chat templates, the edit parser, the ACP agent).
//!
//! ```text
//! cargo run --release --example fuzz -- TARGET [--runs N] [--seconds S] [--seed X] [--no-save]
//! cargo run --release --example fuzz -- replay [TARGET…]   # corpus and artifacts, once each
//! cargo run --release --example fuzz -- seed [TARGET…]     # (re)writes the seed inputs
//! ```
//!
//! Targets: gguf, tokenizer, chat, edits, acp (`all` runs each in turn). Corpora live in
//! `fuzz/corpus/TARGET/`, findings in `fuzz/artifacts/TARGET/`. Exit status: 0 clean,
//! 1 a finding, 2 bad usage; an allocation over 1 GiB aborts the process after saving
//! its input (`fuzz/artifacts/TARGET/.alloc-pending`, renamed by the next run).
//! Status lines and the report go to stdout (the ACP agent logs to stderr);
//! `FUZZ_DEBUG=1` prints each new outcome feature as it is found.

mod harness;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::targets::{self, NAMES};
use harness::{corpus, seeds, watch, Dirs, Options};

#[global_allocator]
static ALLOC: watch::CountingAlloc = watch::CountingAlloc;

const USAGE: &str =
    "usage: fuzz TARGET|all [--runs N] [--seconds S] [--seed X] [--no-save]\n       \
                     fuzz replay [TARGET…]\n       fuzz seed [TARGET…]";

struct Args {
    command: String,
    targets: Vec<String>,
    runs: u64,
    seconds: f64,
    seed: u64,
    save: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut raw = std::env::args().skip(1);
    let command = raw.next().ok_or(USAGE)?;
    let mut args = Args {
        command,
        targets: Vec::new(),
        runs: u64::MAX,
        seconds: f64::INFINITY,
        seed: 1,
        save: true,
    };
    while let Some(arg) = raw.next() {
        let mut value = |name: &str| raw.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--runs" => args.runs = value("--runs")?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--seconds" => {
                args.seconds = value("--seconds")?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            "--seed" => args.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--no-save" => args.save = false,
            "-h" | "--help" => return Err(USAGE.into()),
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other}\n{USAGE}"))
            }
            other => args.targets.push(other.to_string()),
        }
    }
    if args.seconds.is_nan() || args.seconds <= 0.0 {
        return Err("--seconds must be positive".into());
    }
    Ok(args)
}

/// The targets named, all of them for none or `all`; unknown names are an error.
fn target_names(names: &[String]) -> Result<Vec<&'static str>, String> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(NAMES.to_vec());
    }
    names
        .iter()
        .map(|n| NAMES.iter().find(|t| *t == n).copied().ok_or(format!("no target {n:?}")))
        .collect()
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn run_fuzz(args: &Args) -> Result<bool, String> {
    let mut clean = true;
    let names = match args.command.as_str() {
        "all" => NAMES.to_vec(),
        name => target_names(&[name.to_string()])?,
    };
    for name in names {
        let mut target = targets::make(name, &targets::models_dir())?;
        let dirs = Dirs::of(&fuzz_dir(), name);
        let pending = dirs.artifacts.join(".alloc-pending");
        corpus::keep_oversize_finding(&pending);
        std::fs::create_dir_all(&dirs.artifacts).map_err(|e| e.to_string())?;
        watch::arm(pending.clone()).map_err(|e| format!("{}: {e}", pending.display()))?;
        let opts = Options {
            runs: args.runs,
            time: Duration::from_secs_f64(args.seconds.min(1e9)),
            seed: args.seed,
            dirs,
            save_corpus: args.save,
            max_saved: 64,
            progress: true,
        };
        eprintln!("fuzz: {name}, seed {}", args.seed);
        let report = harness::fuzz(target.as_mut(), &opts);
        watch::disarm(&pending);
        println!("{report}");
        clean &= report.finding.is_none();
        if !clean {
            break;
        }
    }
    Ok(clean)
}

fn run_replay(args: &Args) -> Result<bool, String> {
    let mut clean = true;
    for name in target_names(&args.targets)? {
        let mut target = targets::make(name, &targets::models_dir())?;
        match harness::replay(target.as_mut(), &Dirs::of(&fuzz_dir(), name)) {
            Ok(r) => {
                let (path, took) = r.slowest.unwrap_or_default();
                let ms = took.as_secs_f64() * 1e3;
                println!(
                    "{name}: {} inputs replayed, no findings; slowest {ms:.1} ms ({})",
                    r.inputs,
                    path.display()
                );
            }
            Err((path, finding)) => {
                println!("{name}: {}: {finding}", path.display());
                clean = false;
            }
        }
    }
    Ok(clean)
}

fn run_seed(args: &Args) -> Result<bool, String> {
    let models = targets::model_paths(&targets::models_dir())?;
    let models: Vec<&Path> = models.iter().map(PathBuf::as_path).collect();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden");
    for name in target_names(&args.targets)? {
        let dir = Dirs::of(&fuzz_dir(), name).corpus;
        let seeds = seeds::seeds(name, &models, &golden)?;
        for seed in &seeds {
            corpus::save(&dir, "seed", seed).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let bytes: usize = seeds.iter().map(Vec::len).sum();
        println!("{name}: {} seeds, {bytes} bytes, in {}", seeds.len(), dir.display());
    }
    Ok(true)
}

fn main() {
    let result = parse_args().and_then(|args| match args.command.as_str() {
        "replay" => run_replay(&args),
        "seed" => run_seed(&args),
        _ => run_fuzz(&args),
    });
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("fuzz: {e}");
            std::process::exit(2);
        }
    }
}
