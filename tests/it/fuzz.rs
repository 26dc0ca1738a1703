//! The fuzz harness of `examples/fuzz/` kept alive: every target runs a while from its
//! committed corpus without a finding, and the committed corpus and every saved artifact
//! (each one a finding since fixed) replay clean. Long runs: see `fuzz/RESULTS.md`.

#[allow(dead_code)]
#[path = "../../examples/fuzz/harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use harness::targets::{self, NAMES};
use harness::{Dirs, Options, Target};

use crate::common;

/// The harness watches one execution at a time: the tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn target(name: &str) -> Box<dyn Target> {
    targets::make(name, &common::models_dir()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_target_runs_clean_for_a_while() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for name in NAMES {
        let mut target = target(name);
        let opts = Options {
            runs: 20_000,
            time: Duration::from_secs(4),
            seed: 0x5eed,
            dirs: Dirs::of(&fuzz_dir(), name),
            save_corpus: false,
            max_saved: 0,
            progress: false,
        };
        let report = harness::fuzz(target.as_mut(), &opts);
        assert!(report.finding.is_none(), "{report}");
        assert!(report.execs >= 1000, "{name} ran too little: {report}");
    }
}

#[test]
fn the_corpus_and_every_artifact_replay_clean() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for name in NAMES {
        let mut target = target(name);
        match harness::replay(target.as_mut(), &Dirs::of(&fuzz_dir(), name)) {
            Ok(r) => assert!(r.inputs > 0, "{name}: no corpus in fuzz/corpus/{name}"),
            Err((path, finding)) => panic!("{}: {finding}", path.display()),
        }
    }
}

#[test]
fn outcome_classes_blank_numbers_names_and_echoed_input() {
    let class = harness::class_of;
    assert_eq!(
        class("data (256 bytes at offset 0) runs past"),
        "data (# bytes at offset #) runs past"
    );
    assert_eq!(class("tensor 'blk.0': dimension 1 is zero"), "tensor …: dimension # is zero");
    assert_eq!(
        class("session/prompt: prompt[0]: missing field"),
        "session/prompt: prompt[#]: missing field"
    );
    assert_eq!(class("a.txt: the code block is not finished"), "~");
    assert_eq!(class("no usable edit (first line: x.rs y)"), "no usable edit (first line: ~");
}

/// Panics on a thread with a watched name.
struct Panicky;

impl Target for Panicky {
    fn name(&self) -> &'static str {
        "panicky"
    }

    fn run(&mut self, input: &[u8]) -> String {
        match input {
            b"here" => panic!("on the fuzzing thread"),
            b"worker" => {
                let worker = std::thread::Builder::new().name("fuzz-test-worker".into());
                let _ = worker.spawn(|| panic!("on a worker")).unwrap().join();
            }
            _ => {}
        }
        "fine".into()
    }
}

#[test]
fn a_panic_on_the_target_or_its_threads_is_a_finding() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    harness::watch::install(std::env::temp_dir());
    harness::watch::adopt_threads_named("fuzz-test-worker");
    let mut target = Panicky;
    assert_eq!(harness::execute(&mut target, b"calm").unwrap().0, "fine");
    let finding = harness::execute(&mut target, b"here").unwrap_err();
    assert_eq!(finding.kind, "crash");
    assert!(finding.message.starts_with("on the fuzzing thread at tests/it/fuzz.rs"), "{finding}");
    let finding = harness::execute(&mut target, b"worker").unwrap_err();
    assert!(finding.message.starts_with("on a worker at "), "{finding}");
}
