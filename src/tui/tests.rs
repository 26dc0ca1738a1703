//! Tests of the REPL without a model or a terminal: `update` driven by keys and worker
//! messages (sending, streaming, stopping, quitting, commands, completion, diffs), and
//! whole screens drawn into ratatui `TestBackend` buffers.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;

use super::state::{Mode, State};
use super::update::{update, Effect, Msg, Reply, Request};
use super::view::{
    DiffLine, DiffLineKind, Palette, Role, Screen, StatusView, ToolResultView, TurnView,
};
use crate::engine::generate::{Stats, StopReason};
use crate::engine::stream::Event;
use crate::error::{Error, ErrorKind};

fn status() -> StatusView {
    StatusView {
        model: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
        backend: "cpu".into(),
        ctx_used: 120,
        ctx_total: 4096,
        tok_per_s: None,
        session: Some("work".into()),
        remote: None,
    }
}

fn state() -> State {
    State::new(status(), (80, 24))
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn type_text(s: &mut State, text: &str) {
    for c in text.chars() {
        assert_eq!(update(s, key(KeyCode::Char(c))), []);
    }
}

fn enter(s: &mut State, text: &str) -> Vec<Effect> {
    type_text(s, text);
    update(s, key(KeyCode::Enter))
}

fn stats() -> Stats {
    Stats {
        n_reused: 0,
        n_prompt: 10,
        prompt_time: std::time::Duration::from_millis(5),
        n_generated: 3,
        gen_time: std::time::Duration::from_millis(30),
        stop: StopReason::EndOfText,
        spec: Default::default(),
    }
}

#[test]
fn a_message_streams_into_an_answer() {
    let mut s = state();
    let effects = enter(&mut s, "hello there");
    assert_eq!(effects, [Effect::Worker(Request::Send("hello there".into()))]);
    assert!(s.input.is_empty());
    assert_eq!(s.mode, Mode::Generating { stopping: false });
    assert_eq!(s.turns.len(), 2);
    assert!(s.turns[1].partial);
    update(&mut s, Msg::Engine(Event::Text("Hi".into())));
    update(&mut s, Msg::Speed(42.0));
    update(&mut s, Msg::Engine(Event::Text(" you".into())));
    assert_eq!(s.turns[1].text, "Hi you");
    assert_eq!(s.status.tok_per_s, Some(42.0));
    update(&mut s, Msg::Engine(Event::Done(stats())));
    assert_eq!(s.mode, Mode::Idle);
    assert!(!s.turns[1].partial && !s.turns[1].stopped);
    assert_eq!(s.status.tok_per_s, None);
}

#[test]
fn esc_stops_and_keeps_the_partial_answer() {
    let mut s = state();
    enter(&mut s, "write a poem");
    update(&mut s, Msg::Engine(Event::Text("Roses".into())));
    assert_eq!(update(&mut s, key(KeyCode::Esc)), [Effect::Cancel]);
    assert_eq!(s.mode, Mode::Generating { stopping: true });
    update(&mut s, Msg::Engine(Event::Error(Error::new(ErrorKind::Interrupted, "cancelled"))));
    assert_eq!(s.mode, Mode::Idle);
    assert_eq!(s.turns[1].text, "Roses");
    assert!(s.turns[1].stopped);
    // Esc on an idle prompt does nothing.
    assert_eq!(update(&mut s, key(KeyCode::Esc)), []);
}

#[test]
fn ctrl_c_stops_then_a_second_one_on_an_idle_prompt_exits() {
    let mut s = state();
    enter(&mut s, "q");
    assert_eq!(update(&mut s, ctrl('c')), [Effect::Cancel]);
    update(&mut s, Msg::Engine(Event::Error(Error::new(ErrorKind::Interrupted, "x"))));
    type_text(&mut s, "draft");
    // The first Ctrl-C on an idle prompt clears it and warns.
    assert_eq!(update(&mut s, ctrl('c')), []);
    assert!(s.input.is_empty());
    assert!(s.hint.as_deref().is_some_and(|h| h.contains("Ctrl-C again")));
    assert_eq!(update(&mut s, ctrl('c')), [Effect::Cancel, Effect::Quit]);
    // Another key in between disarms.
    let mut s = state();
    update(&mut s, ctrl('c'));
    type_text(&mut s, "x");
    assert_eq!(update(&mut s, ctrl('c')), []);
}

#[test]
fn exit_commands_and_ctrl_d_quit() {
    for cmd in ["/exit", "/bye", "/quit"] {
        let mut s = state();
        assert_eq!(enter(&mut s, cmd), [Effect::Cancel, Effect::Quit], "{cmd}");
    }
    let mut s = state();
    assert_eq!(update(&mut s, ctrl('d')), [Effect::Cancel, Effect::Quit]);
}

#[test]
fn nothing_is_sent_while_generating() {
    let mut s = state();
    enter(&mut s, "one");
    assert_eq!(enter(&mut s, "two"), []);
    assert_eq!(s.input.text(), "two");
    assert!(s.hint.as_deref().is_some_and(|h| h.contains("Esc")));
}

#[test]
fn newline_keys_history_and_paste() {
    let mut s = state();
    type_text(&mut s, "a");
    update(&mut s, Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT)));
    update(&mut s, Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)));
    type_text(&mut s, "b");
    update(&mut s, Msg::Paste("pasted\r\ntext".into()));
    assert_eq!(s.input.text(), "a\n\nbpasted\ntext");
    assert_eq!(s.input_rows(), 5);
    update(&mut s, key(KeyCode::Enter));
    update(&mut s, Msg::Engine(Event::Done(stats())));
    // Up on the first line walks the history.
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.input.text(), "a\n\nbpasted\ntext");
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down));
    assert_eq!(s.input.text(), "");
}

#[test]
fn slash_commands_become_worker_requests() {
    let mut s = state();
    let cases: [(&str, Request); 8] = [
        ("/add src/*.rs", Request::Add { specs: vec!["src/*.rs".into()], read_only: false }),
        ("/drop", Request::Drop(vec![])),
        ("/ls", Request::Ls),
        ("/read-only README.md", Request::ReadOnly(vec!["README.md".into()])),
        ("/tokens", Request::Tokens),
        ("/set temp 0.2", Request::Set(Some(("temp".into(), "0.2".into())))),
        ("/sessions", Request::Sessions),
        ("/undo", Request::Undo),
    ];
    for (line, request) in cases {
        assert_eq!(enter(&mut s, line), [Effect::Worker(request)], "{line}");
    }
    assert_eq!(
        enter(&mut s, "/model other.gguf"),
        [Effect::Worker(Request::Model("other.gguf".into()))]
    );
    assert_eq!(s.mode, Mode::Busy("loading other.gguf".into()));
    assert_eq!(enter(&mut s, "/ls"), []);
    assert_eq!(s.input.text(), "/ls", "kept until the worker is free");
    s.input.clear();
    update(&mut s, Msg::Reply(Reply::Ready));
    assert_eq!(s.mode, Mode::Idle);
    // Help is answered here; unknown commands are an error notice.
    assert_eq!(enter(&mut s, "/help"), []);
    assert!(s.turns.last().is_some_and(|t| t.text.contains("/read-only")));
    assert_eq!(enter(&mut s, "/nope"), []);
    assert!(s.turns.last().is_some_and(|t| t.error.is_some()));
}

#[test]
fn regen_replaces_the_last_answer() {
    let mut s = state();
    assert_eq!(enter(&mut s, "/regen"), []);
    enter(&mut s, "q");
    update(&mut s, Msg::Engine(Event::Text("first".into())));
    update(&mut s, Msg::Engine(Event::Done(stats())));
    assert_eq!(enter(&mut s, "/regen"), [Effect::Worker(Request::Regen)]);
    let answers: Vec<&TurnView> = s.turns.iter().filter(|t| t.role == Role::Assistant).collect();
    assert_eq!(answers.len(), 1);
    assert!(answers[0].partial && answers[0].text.is_empty());
}

#[test]
fn diff_and_apply_need_confirmation() {
    let mut s = state();
    assert_eq!(enter(&mut s, "/apply"), []);
    enter(&mut s, "change it");
    update(&mut s, Msg::Engine(Event::Text("src/a.rs\n```rust\nfn a() {}\n```".into())));
    update(&mut s, Msg::Engine(Event::Done(stats())));
    update(&mut s, Msg::Reply(Reply::Proposed(vec!["src/a.rs".into()])));
    assert!(s.turns.last().is_some_and(|t| t.text.contains("/apply")));
    let answer = "src/a.rs\n```rust\nfn a() {}\n```".to_string();
    assert_eq!(
        enter(&mut s, "/apply"),
        [Effect::Worker(Request::Diff { answer: answer.clone(), confirm: true })]
    );
    let lines = vec![DiffLine { kind: DiffLineKind::Added, text: "fn a() {}".into() }];
    update(
        &mut s,
        Msg::Reply(Reply::Diff { title: "changes".into(), lines: lines.clone(), confirm: true }),
    );
    // Typing goes nowhere while the question is open; n declines.
    assert_eq!(update(&mut s, key(KeyCode::Char('x'))), []);
    assert_eq!(update(&mut s, key(KeyCode::Char('n'))), []);
    assert!(s.diff.is_none());
    assert!(s.turns.last().is_some_and(|t| t.text.contains("not applied")));
    update(&mut s, Msg::Reply(Reply::Diff { title: "changes".into(), lines, confirm: true }));
    assert_eq!(update(&mut s, key(KeyCode::Char('y'))), [Effect::Worker(Request::Apply)]);
    assert!(s.diff.is_none());
    assert_eq!(enter(&mut s, "/diff"), [Effect::Worker(Request::Diff { answer, confirm: false })]);
}

#[test]
fn tab_completes_commands_here_and_paths_through_the_worker() {
    let mut s = state();
    type_text(&mut s, "/to");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.input.text(), "/tokens ");
    s.input.clear();
    type_text(&mut s, "look at @src/ma");
    assert_eq!(
        update(&mut s, key(KeyCode::Tab)),
        [Effect::Worker(Request::Complete("src/ma".into()))]
    );
    let reply =
        Reply::Completions { partial: "src/ma".into(), options: vec!["src/main.rs".into()] };
    update(&mut s, Msg::Reply(reply));
    assert_eq!(s.input.text(), "look at @src/main.rs ");
    // Several options: their common prefix, and the options as a hint.
    s.input.clear();
    type_text(&mut s, "/add src/m");
    assert_eq!(
        update(&mut s, key(KeyCode::Tab)),
        [Effect::Worker(Request::Complete("src/m".into()))]
    );
    let options = vec!["src/model/".into(), "src/modes/".into()];
    update(&mut s, Msg::Reply(Reply::Completions { partial: "src/m".into(), options }));
    assert_eq!(s.input.text(), "/add src/mode");
    assert_eq!(s.hint.as_deref(), Some("src/model/  src/modes/"));
    // A stale reply (the input changed) is ignored.
    update(&mut s, key(KeyCode::Tab));
    type_text(&mut s, "x");
    let reply =
        Reply::Completions { partial: "src/mode".into(), options: vec!["src/model/".into()] };
    update(&mut s, Msg::Reply(reply));
    assert_eq!(s.input.text(), "/add src/modex");
}

#[test]
fn scrolling_by_page_and_wheel() {
    let mut s = state();
    update(&mut s, key(KeyCode::PageUp));
    let page = s.scroll;
    assert!(page > 10);
    let wheel =
        |kind| Msg::Mouse(MouseEvent { kind, column: 0, row: 0, modifiers: KeyModifiers::NONE });
    update(&mut s, wheel(MouseEventKind::ScrollUp));
    assert_eq!(s.scroll, page + 3);
    update(&mut s, wheel(MouseEventKind::ScrollDown));
    update(&mut s, key(KeyCode::PageDown));
    assert_eq!(s.scroll, 0);
    update(&mut s, Msg::Resize(120, 40));
    assert_eq!(s.size, (120, 40));
}

#[test]
fn resumed_sessions_replace_the_transcript_and_clear_empties_it() {
    let mut s = state();
    s.notice("hello");
    update(
        &mut s,
        Msg::Reply(Reply::Resumed(vec![(Role::User, "q".into()), (Role::Assistant, "a".into())])),
    );
    assert_eq!(s.turns.len(), 2);
    assert_eq!(enter(&mut s, "/clear"), [Effect::Worker(Request::Clear)]);
    assert!(s.turns.is_empty());
}

// ---- screens drawn into a TestBackend ----

fn rows(buf: &Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

fn draw(s: &State, palette: Palette) -> Buffer {
    let (w, h) = s.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    let mut screen = Screen::new(palette);
    terminal
        .draw(|f| {
            screen.draw(s, f);
        })
        .expect("draw");
    terminal.backend().buffer().clone()
}

fn with_code_answer(size: (u16, u16)) -> State {
    let mut s = State::new(status(), size);
    s.turns.push(TurnView::new(Role::User, "show me a function"));
    s.turns.push(TurnView::new(
        Role::Assistant,
        "Here:\n```rust\nfn main() {\n    let answer = 42;\n}\n```\nDone.",
    ));
    s
}

#[test]
fn screen_shows_transcript_highlighted_code_input_and_status() {
    let mut s = with_code_answer((80, 24));
    s.input.set("next question");
    let buf = draw(&s, Palette::dark());
    let text = rows(&buf);
    assert!(text.iter().any(|r| r.starts_with("you")), "{text:#?}");
    assert!(text.iter().any(|r| r.contains("show me a function")));
    let (code_y, code_row) =
        text.iter().enumerate().find(|(_, r)| r.contains("let answer = 42;")).expect("code row");
    // Highlighted: the keyword `let` has a color of its own, unlike the text around.
    let x = code_row.find("let").unwrap() as u16;
    let let_fg = buf[(x, code_y as u16)].fg;
    assert!(matches!(let_fg, Color::Rgb(..)), "{let_fg:?}");
    assert_ne!(let_fg, buf[(x + 4, code_y as u16)].fg);
    // The input box and the status bar at the bottom.
    assert_eq!(&text[22][..15], "> next question");
    let status_row = &text[23];
    assert!(status_row.contains("SmolLM2-135M-Instruct.Q4_1.gguf"), "{status_row}");
    assert!(status_row.contains("ctx 120/4k"), "{status_row}");
    assert!(status_row.contains("work"), "{status_row}");
}

#[test]
fn narrow_terminal_wraps_without_losing_highlighting_and_no_color_is_plain() {
    let mut s = with_code_answer((24, 12));
    s.turns[1].text = "```rust\nlet long_name = some_function(argument_one);\n```".into();
    let buf = draw(&s, Palette::dark());
    let text = rows(&buf);
    assert!(text.iter().all(|r| r.chars().count() == 24));
    let wrapped: Vec<&String> = text.iter().filter(|r| r.contains('│')).collect();
    assert!(wrapped.len() >= 2, "{text:#?}");
    // Under NO_COLOR no cell has a color.
    let plain = draw(&s, Palette::plain());
    for y in 0..plain.area.height {
        for x in 0..plain.area.width {
            let cell = &plain[(x, y)];
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "({x},{y})");
        }
    }
}

#[test]
fn generating_and_diff_panes_show_on_the_rule() {
    let mut s = with_code_answer((100, 20));
    s.mode = Mode::Generating { stopping: false };
    s.status.tok_per_s = Some(31.5);
    let text = rows(&draw(&s, Palette::plain()));
    assert!(text[17].contains("answering… Esc stops"), "{}", text[17]);
    assert!(text[19].contains("31.5 tok/s") || text[19].contains("tok/s"), "{}", text[19]);
    s.mode = Mode::Idle;
    s.diff = Some(super::state::DiffPane {
        approval: false,
        title: "changes to src/a.rs".into(),
        lines: vec![
            DiffLine { kind: DiffLineKind::Removed, text: "old line".into() },
            DiffLine { kind: DiffLineKind::Added, text: "new line".into() },
        ],
        confirm: true,
        scroll: 0,
    });
    let text = rows(&draw(&s, Palette::plain()));
    assert!(text[0].starts_with("changes to src/a.rs"));
    assert!(text[1].starts_with("-old line"));
    assert!(text[2].starts_with("+new line"));
    assert!(text[17].contains("y: write them"), "{}", text[17]);
}

#[test]
fn wide_and_tiny_terminals_draw() {
    for size in [(250, 50), (80, 24), (10, 3), (1, 1), (0, 0)] {
        let s = with_code_answer(size);
        let buf = draw(&s, Palette::dark());
        assert_eq!((buf.area.width, buf.area.height), size);
    }
    let s = with_code_answer((250, 50));
    let text = rows(&draw(&s, Palette::plain()));
    assert!(text[49].contains("cpu"), "the backend shows on a wide bar: {}", text[49]);
}

#[test]
fn a_tool_call_asks_and_y_n_a_and_esc_answer_it() {
    use crate::assistant::tools::Decision;
    let mut s = state();
    let lines = vec![DiffLine { kind: DiffLineKind::Context, text: "cargo test".into() }];
    let ask = |s: &mut State| {
        let reply = Reply::Approve { title: "run cargo test".into(), lines: lines.clone() };
        update(s, Msg::Reply(reply));
        assert!(s.diff.as_ref().is_some_and(|d| d.approval && d.title.contains("a always")));
    };
    for (k, decision) in [
        (KeyCode::Char('y'), Decision::Yes),
        (KeyCode::Char('n'), Decision::No),
        (KeyCode::Char('a'), Decision::Always),
        (KeyCode::Esc, Decision::No),
    ] {
        ask(&mut s);
        // Typing goes nowhere while the question is open.
        assert_eq!(update(&mut s, key(KeyCode::Char('x'))), []);
        assert_eq!(update(&mut s, key(k)), [Effect::Worker(Request::Decide(decision))], "{k:?}");
        assert!(s.diff.is_none());
    }
    // `a` is no answer to /apply's question.
    update(&mut s, Msg::Reply(Reply::Diff { title: "changes".into(), lines, confirm: true }));
    assert_eq!(update(&mut s, key(KeyCode::Char('a'))), []);
    assert!(s.diff.is_some());
}

/// A tool result is one line until Ctrl-O shows every result whole; a second Ctrl-O
/// folds them again. A failed one keeps its error line either way.
#[test]
fn tool_results_are_one_line_until_expanded() {
    let mut s = state();
    let ok = ToolResultView {
        summary: "  run pytest: exit status 0; output: (+2 lines, Ctrl-O)".into(),
        body: "exit status 0; output:\n..\n2 passed".into(),
        failed: false,
    };
    let bad = ToolResultView {
        summary: "  read a.py: no such file".into(),
        body: String::new(),
        failed: true,
    };
    update(&mut s, Msg::Reply(Reply::ToolResult(ok)));
    update(&mut s, Msg::Reply(Reply::ToolResult(bad)));
    let texts = |s: &State| s.turns.iter().map(|t| t.text.clone()).collect::<Vec<_>>();
    assert!(!texts(&s)[0].contains("2 passed"));
    update(&mut s, ctrl('o'));
    assert!(s.tools_expanded);
    assert_eq!(texts(&s)[0], "  run pytest: exit status 0; output: (+2 lines, Ctrl-O)\n    exit status 0; output:\n    ..\n    2 passed");
    assert_eq!(s.turns[1].error.as_deref(), Some("  read a.py: no such file"));
    // Results that come while expanded come expanded.
    let more = ToolResultView {
        summary: "  list: a (+1 lines, Ctrl-O)".into(),
        body: "a\nb".into(),
        failed: false,
    };
    update(&mut s, Msg::Reply(Reply::ToolResult(more)));
    assert!(texts(&s)[2].ends_with("\n    a\n    b"));
    update(&mut s, ctrl('o'));
    assert_eq!(texts(&s)[0], "  run pytest: exit status 0; output: (+2 lines, Ctrl-O)");
    assert_eq!(texts(&s)[2], "  list: a (+1 lines, Ctrl-O)");
}

/// While the model writes a call, the rule above the input names the tool; the call's
/// result (or the end of the answer) clears it.
#[test]
fn a_forming_call_is_named_above_the_input() {
    let mut s = state();
    enter(&mut s, "find add");
    update(&mut s, Msg::Reply(Reply::Forming("search".into())));
    assert_eq!(s.forming.as_deref(), Some("search"));
    let text = rows(&draw(&s, Palette::plain()));
    assert!(text.iter().any(|l| l.contains("writing a search call… Esc stops")), "{text:?}");
    let done = ToolResultView {
        summary: "  search add: 1 match".into(),
        body: String::new(),
        failed: false,
    };
    update(&mut s, Msg::Reply(Reply::ToolResult(done)));
    assert!(s.forming.is_none());
}
