//! The assistant layer through its library API, on SmolLM2 (the smallest real model):
//! prompt assembly (system prompt → project notes → files in the order added → history,
//! a stable prefix the cache reuses), a turn as a stream of events, cancel, and a prompt
//! that does not fit refused without losing the history.

use hearth::assistant::config::{BackendChoice, SamplingConfig};
use hearth::assistant::{Assistant, Config, ModelConfig, PromptConfig, Setup, TurnEvent};
use hearth::engine::sampler::SamplerParams;
use hearth::engine::stream::Event;
use hearth::error::ErrorKind;

use crate::common::{model_path, SMOLLM2};

fn config(n_predict: usize, ctx: usize) -> Config {
    Config {
        model: ModelConfig {
            model: Some(model_path(SMOLLM2)),
            ctx_size: Some(ctx),
            batch_size: 512,
            threads: Some(2),
            backend: BackendChoice::Cpu,
            ..ModelConfig::default()
        },
        sampling: SamplingConfig {
            params: SamplerParams { temp: 0.0, ..SamplerParams::default() },
            stop: Vec::new(),
        },
        prompt: PromptConfig { system_prompt: None, chat_template_file: None, n_predict },
        session: None,
    }
}

/// A project with notes and two files, and an assistant over it.
fn project(n_predict: usize, ctx: usize) -> (tempfile::TempDir, Assistant) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join("AGENTS.md"), "Use tabs.\n").unwrap();
    std::fs::write(dir.path().join("b.rs"), "fn b() {}\n").unwrap();
    std::fs::write(dir.path().join("a.rs"), "fn a() {}\n").unwrap();
    let setup = Setup {
        system: "You are terse.".into(),
        cwd: dir.path().to_path_buf(),
        notes: true,
        reserve_answer: true,
        budget_hint: "give less".into(),
    };
    let a = Assistant::open(&config(n_predict, ctx), setup).unwrap();
    (dir, a)
}

#[test]
fn the_prompt_is_system_notes_files_in_order_then_history() {
    let (_dir, mut a) = project(8, 2048);
    let added = a.add_files(&["b.rs".into(), "a.rs".into()], false);
    assert_eq!(added.len(), 2, "{added:?}");
    let system = a.system_message().content;
    let at = |needle: &str| system.find(needle).unwrap_or_else(|| panic!("{needle} in {system}"));
    assert_eq!(at("You are terse."), 0);
    assert!(at("Use tabs.") < at("fn b() {}") && at("fn b() {}") < at("fn a() {}"), "{system}");
    let before = a.prompt().unwrap();
    let text = a.loaded().tokenizer.decode(&before).unwrap();
    assert!(text.starts_with("<|im_start|>system\nYou are terse."), "{text}");
    assert!(text.ends_with("<|im_start|>assistant\n"), "{text}");
    let end = a.ask("Name one file.".into(), &mut |_| {});
    assert!(end.kept, "{:?}", end.end);
    // The next turn's prompt extends this turn's, so the cache is reused.
    let after = a.prompt().unwrap();
    let common = before.iter().zip(&after).take_while(|(x, y)| x == y).count();
    assert!(common + 8 >= before.len(), "{common} of {} prompt tokens kept", before.len());
    let end = a.ask("And another?".into(), &mut |_| {});
    let stats = end.stats().expect("a complete turn");
    assert!(stats.n_reused > before.len() / 2, "reused {} tokens", stats.n_reused);
}

#[test]
fn a_turn_streams_its_answer_and_joins_the_history() {
    let (_dir, mut a) = project(12, 1024);
    let mut streamed = String::new();
    let end = a.ask("Say hello.".into(), &mut |ev| {
        if let TurnEvent::Text(t) = ev {
            streamed.push_str(&t);
        }
    });
    let stats = end.stats().expect("Done");
    assert!(stats.n_generated >= 1 && stats.n_generated <= 12);
    assert_eq!(streamed, end.answer);
    let roles: Vec<&str> = a.history().iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant"]);
    assert_eq!(a.history()[1].content, end.answer);
    assert!(a.ctx_used() > 0);
}

#[test]
fn a_cancelled_turn_keeps_nothing_and_says_so() {
    let (_dir, mut a) = project(64, 1024);
    a.cancel_flag().store(true, std::sync::atomic::Ordering::Relaxed);
    let end = a.ask("Count to ten.".into(), &mut |_| {});
    assert!(end.cancelled(), "{:?}", end.end);
    assert!(!end.kept && a.history().is_empty());
    // The flag is cleared for the next turn.
    assert!(a.ask("Say hi.".into(), &mut |_| {}).kept);
}

#[test]
fn a_prompt_that_does_not_fit_is_refused_and_the_history_kept() {
    let (_dir, mut a) = project(8, 160);
    let long = "word ".repeat(400);
    let end = a.ask(long, &mut |_| {});
    match &end.end {
        Event::Error(e) => {
            assert_eq!(e.kind(), ErrorKind::BadInput);
            assert!(e.to_string().contains("would not fit") && e.to_string().contains("give less"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(a.history().is_empty());
}
