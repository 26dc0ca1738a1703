//! An in-process mutational fuzzer that runs on stable Rust: a corpus of inputs is
//! mutated and run through a [`Target`]; an input whose outcome class was never seen is
//! kept; a panic, a broken property, an execution over one second or an allocation over
//! 1 GiB is a finding, saved under `fuzz/artifacts/TARGET/`.

pub mod corpus;
pub mod mutate;
pub mod seeds;
pub mod targets;
pub mod watch;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mutate::Rng;

/// Inputs kept in memory at most (features that echo input text could grow it forever).
const MAX_POOL: usize = 20_000;

/// Something to fuzz: turns any bytes into an outcome, panicking when a property breaks.
pub trait Target {
    fn name(&self) -> &'static str;

    /// Runs one input. Returns its outcome: features, one per line (what kinds of result
    /// or error it gave, numbers and quoted names blanked out); a new feature keeps it.
    fn run(&mut self, input: &[u8]) -> String;

    /// Inputs longer than this are cut.
    fn max_len(&self) -> usize {
        4096
    }

    /// Words worth inserting (keywords, markers, special-token texts).
    fn dictionary(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// A mutation that knows the input's structure; false when it did nothing.
    fn mutate(&self, _rng: &mut Rng, _data: &mut Vec<u8>) -> bool {
        false
    }
}

/// Where a target's files live: `fuzz/corpus/TARGET/` and `fuzz/artifacts/TARGET/`.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub corpus: PathBuf,
    pub artifacts: PathBuf,
}

impl Dirs {
    /// The directories of `target` under `fuzz_dir` (the repository's `fuzz/`).
    pub fn of(fuzz_dir: &Path, target: &str) -> Dirs {
        Dirs {
            corpus: fuzz_dir.join("corpus").join(target),
            artifacts: fuzz_dir.join("artifacts").join(target),
        }
    }
}

/// How long to fuzz and what to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after this many executions (the corpus replay included).
    pub runs: u64,
    /// Stop after this long.
    pub time: Duration,
    pub seed: u64,
    pub dirs: Dirs,
    /// Save kept inputs into the corpus directory (at most `max_saved` per run).
    pub save_corpus: bool,
    pub max_saved: usize,
    /// Print a status line now and then.
    pub progress: bool,
}

/// What went wrong with one input.
#[derive(Debug, Clone)]
pub struct Finding {
    /// `crash` (a panic or broken property) or `slow` (over a second).
    pub kind: &'static str,
    pub message: String,
    /// The saved input, when it could be saved.
    pub artifact: Option<PathBuf>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        match &self.artifact {
            Some(p) => write!(f, " (input saved as {})", p.display()),
            None => write!(f, " (input not saved)"),
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Report {
    pub target: &'static str,
    pub execs: u64,
    pub wall: Duration,
    pub corpus: usize,
    pub saved: usize,
    pub features: usize,
    pub slowest: Duration,
    pub largest_alloc: Option<usize>,
    pub finding: Option<Finding>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.wall.as_secs_f64();
        write!(
            f,
            "{}: {} execs in {:.1} s ({:.0}/s), corpus {} (+{} saved), {} outcome features, \
             slowest {:.1} ms",
            self.target,
            self.execs,
            secs,
            self.execs as f64 / secs.max(1e-9),
            self.corpus,
            self.saved,
            self.features,
            self.slowest.as_secs_f64() * 1e3
        )?;
        if let Some(bytes) = self.largest_alloc {
            write!(f, ", largest allocation {:.1} MiB", bytes as f64 / (1 << 20) as f64)?;
        }
        match &self.finding {
            Some(finding) => write!(f, "\n  FINDING {finding}"),
            None => write!(f, ", no findings"),
        }
    }
}

/// Runs one input under watch. `Err` is the finding (not yet saved).
pub fn execute(target: &mut dyn Target, input: &[u8]) -> Result<(String, Duration), Finding> {
    let once = |target: &mut dyn Target| {
        watch::begin(input);
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| target.run(input)));
        let elapsed = start.elapsed();
        let other_thread = watch::end();
        (result, elapsed, other_thread)
    };
    let crash = |message: String| Finding { kind: "crash", message, artifact: None };
    let (result, elapsed, other_thread) = once(target);
    let class = match (result, other_thread) {
        (Err(payload), first) => {
            return Err(crash(first.unwrap_or(watch::payload_text(&*payload))))
        }
        (Ok(_), Some(message)) => return Err(crash(message)),
        (Ok(class), None) => class,
    };
    if elapsed > watch::SLOW {
        // A busy machine can stall any execution: it counts only when it happens again.
        let (_, again, _) = once(target);
        if again > watch::SLOW {
            let message =
                format!("took {:.2} s, then {:.2} s", elapsed.as_secs_f64(), again.as_secs_f64());
            return Err(Finding { kind: "slow", message, artifact: None });
        }
    }
    Ok((class, elapsed))
}

/// Saves a finding's input under the artifacts directory.
fn save_finding(dirs: &Dirs, mut finding: Finding, input: &[u8]) -> Finding {
    finding.artifact = corpus::save(&dirs.artifacts, finding.kind, input).ok();
    finding
}

/// The inputs in play and the outcome features seen so far.
struct Pool {
    inputs: Vec<Vec<u8>>,
    /// Hashes of `inputs`.
    known: HashSet<u64>,
    features: HashSet<String>,
}

impl Pool {
    fn new(corpus: Vec<Vec<u8>>) -> Pool {
        let known = corpus.iter().map(|input| corpus::hash(input)).collect();
        let inputs = if corpus.is_empty() { vec![Vec::new()] } else { corpus };
        Pool { inputs, known, features: HashSet::new() }
    }

    /// A mutant of a random input: the target's own mutation, or byte-level ones.
    fn mutant(&self, target: &dyn Target, rng: &mut Rng, dict: &[Vec<u8>]) -> Vec<u8> {
        let mut data = self.inputs[rng.below(self.inputs.len())].clone();
        if rng.chance(3) || !target.mutate(rng, &mut data) {
            let other = &self.inputs[rng.below(self.inputs.len())];
            mutate::mutate(rng, &mut data, other, dict, target.max_len());
        }
        data.truncate(target.max_len());
        data
    }

    /// Records the features of an outcome; keeps `input` (true) when one is new.
    fn offer(&mut self, input: &[u8], outcome: &str, took: Duration) -> bool {
        let mut new = false;
        for feature in outcome.lines() {
            if self.features.insert(feature.to_string()) {
                if std::env::var_os("FUZZ_DEBUG").is_some() {
                    eprintln!("{:>8.3} ms {feature:?}", took.as_secs_f64() * 1e3);
                }
                new = true;
            }
        }
        let keep = new && self.inputs.len() < MAX_POOL && self.known.insert(corpus::hash(input));
        if keep {
            self.inputs.push(input.to_vec());
        }
        keep
    }
}

/// Fuzzes `target`: replays its corpus, then mutates it until `opts` says to stop or a
/// finding comes up.
pub fn fuzz(target: &mut dyn Target, opts: &Options) -> Report {
    watch::install(opts.dirs.artifacts.clone());
    let start = Instant::now();
    let mut rng = Rng::new(opts.seed);
    let dict = target.dictionary();
    let mut report = Report {
        target: target.name(),
        execs: 0,
        wall: Duration::ZERO,
        corpus: 0,
        saved: 0,
        features: 0,
        slowest: Duration::ZERO,
        largest_alloc: None,
        finding: None,
    };
    let corpus: Vec<Vec<u8>> =
        corpus::load(&opts.dirs.corpus).into_iter().map(|(_, b)| b).collect();
    let n_replay = corpus.len();
    let mut pool = Pool::new(corpus);
    let mut next_status = Duration::from_secs(10);
    while report.execs < opts.runs && start.elapsed() < opts.time {
        // The corpus is replayed first, as it is; then every input is a mutant.
        let input = match (report.execs as usize) < n_replay {
            true => pool.inputs[report.execs as usize].clone(),
            false => pool.mutant(&*target, &mut rng, &dict),
        };
        report.execs += 1;
        let (outcome, took) = match execute(target, &input) {
            Ok(done) => done,
            Err(finding) => {
                report.finding = Some(save_finding(&opts.dirs, finding, &input));
                break;
            }
        };
        report.slowest = report.slowest.max(took);
        if pool.offer(&input, &outcome, took)
            && opts.save_corpus
            && report.saved < opts.max_saved
            && corpus::save(&opts.dirs.corpus, "kept", &input).is_ok()
        {
            report.saved += 1;
        }
        if opts.progress && start.elapsed() >= next_status {
            next_status += Duration::from_secs(30);
            println!("  {}", report.at(start, &pool));
        }
    }
    report = report.at(start, &pool);
    report.largest_alloc = watch::largest_allocation();
    report
}

impl Report {
    /// The report with the time and pool sizes as of now.
    fn at(&self, start: Instant, pool: &Pool) -> Report {
        let mut now = self.clone();
        now.wall = start.elapsed();
        now.corpus = pool.inputs.len();
        now.features = pool.features.len();
        now
    }
}

/// What a replay found: how many inputs ran, and the slowest.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub inputs: usize,
    pub slowest: Option<(PathBuf, Duration)>,
}

/// Runs every input of `dirs` (corpus and artifacts) once; the first finding, if any.
pub fn replay(target: &mut dyn Target, dirs: &Dirs) -> Result<Replayed, (PathBuf, Finding)> {
    watch::install(dirs.artifacts.clone());
    let mut inputs = corpus::load(&dirs.corpus);
    inputs.extend(corpus::load(&dirs.artifacts));
    let mut slowest: Option<(PathBuf, Duration)> = None;
    for (path, input) in &inputs {
        let (_, took) = execute(target, input).map_err(|f| (path.clone(), f))?;
        if std::env::var_os("FUZZ_DEBUG").is_some() {
            eprintln!("{:>8.3} ms {}", took.as_secs_f64() * 1e3, path.display());
        }
        if slowest.as_ref().is_none_or(|(_, s)| took > *s) {
            slowest = Some((path.clone(), took));
        }
    }
    Ok(Replayed { inputs: inputs.len(), slowest })
}

/// An outcome class from a message: digits blanked, short quoted text (`'…'`, `"…"`,
/// `` `…` ``) elided, cut at the first word that is not a plain word (a path, input
/// echoed back: `~`) and after 10 words, so that one kind of error is one class.
pub fn class_of(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut blanked = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let close = match c {
            '\'' | '"' | '`' => chars[i + 1..].iter().take(40).position(|&d| d == c),
            _ => None,
        };
        match close {
            Some(n) => {
                blanked.push('…');
                i += n + 1;
            }
            None if c.is_ascii_digit() => {
                if !blanked.ends_with('#') {
                    blanked.push('#');
                }
            }
            None => blanked.push(c),
        }
        i += 1;
    }
    // Letters and punctuation; `[#]` only as an index (`prompt[#]:`).
    let plain = |w: &str| {
        let w = w.replace("[#]", "");
        w.len() <= 24 && w.chars().all(|c| c.is_ascii_alphabetic() || "#…_-:,;()/".contains(c))
    };
    let mut words: Vec<&str> = Vec::new();
    for word in blanked.split_whitespace().take(10) {
        if !plain(word) {
            words.push("~");
            break;
        }
        words.push(word);
    }
    words.join(" ")
}
