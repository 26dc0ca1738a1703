//! Tool use: a tool conversation rendered by a real model's own template as Hugging Face
//! renders it (golden), its calls parsed back from the render, and `hearth ask` driving
//! the default model through a call — refused without `--allow`, run with it.

use std::fs;

use hearth::chat::{CallFormat, ChatTemplate, Message, RenderOptions, ToolCall};
use hearth::gguf::GgufFile;
use serde_json::json;

use crate::common::{self, golden_json, model_path};

fn conversation() -> Vec<Message> {
    let call = ToolCall {
        id: "call00001".into(),
        name: "read_file".into(),
        arguments: json!({"path": "src/lib.rs"}).to_string(),
    };
    vec![
        Message::system("You are a careful coding assistant."),
        Message::user("What does add return?"),
        Message::with_calls("Let me look.", vec![call.clone()]),
        Message::tool_result(
            &call,
            "src/lib.rs, lines 1-3 of 3:\nfn add(a: i32, b: i32) -> i32 { a - b }\n",
        ),
    ]
}

#[test]
fn a_tool_conversation_renders_as_hugging_face_renders_it_and_its_call_parses_back() {
    let golden = golden_json("tool-render-qwen25.json");
    let file = GgufFile::open(model_path(common::QWEN25_CODER)).expect("open model");
    let template = ChatTemplate::from_gguf(file.metadata()).expect("template");
    let mut opts = RenderOptions::from_gguf(file.metadata()).expect("options");
    opts.tools = Some(golden["tools"].clone());
    let rendered = template.render(&conversation(), &opts).expect("render");
    assert_eq!(rendered, golden["rendered"].as_str().unwrap());
    assert_eq!(CallFormat::detect(template.text()), Some(CallFormat::Hermes));
    // The assistant's turn as the model would write it parses back to the same call.
    let turn = rendered.split("<|im_start|>assistant\n").nth(1).unwrap();
    let turn = turn.split("<|im_end|>").next().unwrap();
    let parsed = CallFormat::Hermes.parse(turn);
    assert_eq!(parsed.content, "Let me look.");
    let call = parsed.calls[0].as_ref().unwrap();
    assert_eq!(
        (call.name.as_str(), call.arguments_value()),
        ("read_file", json!({"path": "src/lib.rs"}))
    );
}

/// `hearth ask` in a scratch project, greedy, at most one tool step.
fn ask_in_project(allow: &[&str]) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join(".git")).unwrap();
    fs::write(dir.path().join("README.md"), "# demo\n").unwrap();
    let m = model_path(common::QWEN25_CODER);
    let mut cmd = common::hearth();
    cmd.current_dir(dir.path()).env("HEARTH_BACKEND", "cpu");
    cmd.args(["ask", "-m", m.to_str().unwrap(), "--temp", "0", "-n", "120", "--max-steps", "1"]);
    cmd.args(allow).arg("Use run_command to run: touch made-by-tool");
    let out = cmd.output().unwrap();
    (dir, out)
}

#[test]
fn ask_refuses_a_command_without_allow_and_runs_it_with() {
    let (dir, out) = ask_in_project(&["--tools"]);
    let err = common::stderr(&out);
    assert!(
        err.contains("hearth: not allowed: run touch made-by-tool (pass --allow run)"),
        "{err}"
    );
    assert!(!dir.path().join("made-by-tool").exists(), "{err}");
    assert!(!common::stdout(&out).contains("hearth:"), "actions go to stderr only");
    let (dir, out) = ask_in_project(&["--allow", "run"]);
    let err = common::stderr(&out);
    assert!(err.contains("hearth: run touch made-by-tool"), "{err}");
    assert!(dir.path().join("made-by-tool").exists(), "{err}");
    // The step limit ends the turn with one clear line, exit code 1.
    assert!(err.contains("stopped after 1 tool step"), "{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
}
