//! Tool use: a tool conversation rendered by a real model's own template as Hugging Face
//! renders it (golden), its calls parsed back from the render, and `hearth ask` driving
//! the default model through a call — refused without `--allow`, run with it.

use std::fs;
use std::sync::Arc;

use hearth::assistant::callgrammar::call_spec;
use hearth::chat::{CallFormat, ChatTemplate, Message, RenderOptions, ToolCall};
use hearth::engine::grammar::{CallGrammar, CallSpec, Constraint, Grammars};
use hearth::gguf::GgufFile;
use hearth::tokenizer::Tokenizer;
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

/// Feeds `text`'s tokens through `c` the way sampling does (mask, then commit); returns
/// whether every token was allowed.
fn feed(c: &mut dyn Constraint, tok: &Tokenizer, text: &str, n_vocab: usize) -> bool {
    for id in tok.encode(text, false, true).unwrap() {
        let mut logits = vec![0f32; n_vocab];
        c.mask(&mut logits).unwrap();
        if logits[id as usize] == f32::NEG_INFINITY {
            return false;
        }
        c.commit(id).unwrap();
    }
    true
}

#[test]
fn the_call_grammar_wakes_at_the_tag_holds_calls_to_the_tools_schemas_and_lets_go() {
    let file = GgufFile::open(model_path(common::QWEN25_CODER)).expect("open model");
    let tok = Arc::new(Tokenizer::from_gguf(file.metadata()).unwrap());
    let n = tok.n_vocab();
    let grammars = Grammars::new(Arc::clone(&tok)).unwrap();
    let hermes = || call_spec(CallFormat::Hermes, "").unwrap();
    let tagged = CallGrammar::new(&grammars, CallSpec { opening: None, ..hermes() }).unwrap();
    let new = || tagged.constraint(Arc::clone(&tok));
    // Before the tag anything goes; a valid call is allowed token by token; after the
    // closing tag, anything goes again.
    let mut c = new();
    assert!(feed(&mut c, &tok, "Let me look at {this}.", n));
    assert!(feed(&mut c, &tok, "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/lib.rs\"}}\n</tool_call>", n));
    assert!(feed(&mut c, &tok, "Anything {at all} \"name\": nope", n));
    // At the start of an answer, a bare or fenced JSON call is held to the same schema;
    // other code blocks are not.
    let both = CallGrammar::new(&grammars, hermes()).unwrap();
    let new_open = || both.constraint(Arc::clone(&tok));
    assert!(!feed(&mut new_open(), &tok, "```json\n{\"name\": \"delete_all\"", n));
    assert!(!feed(&mut new_open(), &tok, " {\"name\": \"read_file\", \"arguments\": {\"file\"", n));
    assert!(feed(
        &mut new_open(),
        &tok,
        "```json\n{\"name\": \"search\", \"arguments\": {\"pattern\": \"x\"}}\n```",
        n
    ));
    assert!(feed(&mut new_open(), &tok, "```python\nprint({\"name\": 1})\n```", n));
    assert!(feed(&mut new_open(), &tok, "Use {\"name\": \"delete_all\"} here", n));
    // Inside a call: no unknown tool, no argument the schema lacks, no wrong type.
    for bad in [
        "{\"name\": \"delete_all\"",
        "{\"name\": \"read_file\", \"arguments\": {\"file\"",
        "{\"name\": \"read_file\", \"arguments\": {\"path\": 3",
        "{\"name\": \"run_command\", \"arguments\": {}}",
    ] {
        let mut c = new();
        assert!(feed(&mut c, &tok, "<tool_call>\n", n));
        assert!(!feed(&mut c, &tok, bad, n), "{bad} was allowed");
    }
    // Qwen's XML form over the same vocabulary, whose tokens straddle its tags.
    let xml = CallGrammar::new(&grammars, call_spec(CallFormat::QwenXml, "").unwrap()).unwrap();
    let mut c = xml.constraint(Arc::clone(&tok));
    let call = "Reading it.\n<tool_call>\n<function=read_file>\n<parameter=path>\nsrc/a.py\n</parameter>\n<parameter=end_line>\n20\n</parameter>\n</function>\n</tool_call>";
    assert!(feed(&mut c, &tok, call, n));
    assert!(feed(&mut c, &tok, " Done: {\"name\": 1}", n));
    for bad in [
        "<function=rm>",
        "<function=read_file>\n</function>",
        "<function=read_file>\n<parameter=end_line>\nten",
    ] {
        let mut c = xml.constraint(Arc::clone(&tok));
        assert!(feed(&mut c, &tok, "<tool_call>\n", n));
        assert!(!feed(&mut c, &tok, bad, n), "{bad} was allowed");
    }
}

#[test]
fn json_schema_output_is_valid_json_under_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    fs::write(&schema, json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}, "languages": {"type": "array", "items": {"type": "string"}, "maxItems": 2}}, "required": ["name", "age", "languages"], "additionalProperties": false}).to_string()).unwrap();
    let m = model_path(common::QWEN25_CODER);
    let (m, s) = (m.to_str().unwrap(), schema.to_str().unwrap());
    let greedy = ["-m", m, "--temp", "0", "-n", "80", "--json-schema", s];
    let mut run_args = vec!["run"];
    run_args.extend(greedy);
    run_args.extend(["-p", "A JSON record of a programmer named Ada:"]);
    let mut ask_args = vec!["ask"];
    ask_args.extend(greedy);
    ask_args.push("Describe Ada Lovelace as a record.");
    let (run, ask) = (common::run(&run_args), common::run(&ask_args));
    for out in [run, ask] {
        let text = common::stdout(&out);
        let v: serde_json::Value =
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 3, "{v}");
        assert!(obj["name"].is_string() && obj["age"].as_u64().is_some(), "{v}");
        let langs = obj["languages"].as_array().unwrap();
        assert!(langs.len() <= 2 && langs.iter().all(|l| l.is_string()), "{v}");
    }
    // A schema that is not JSON is one line naming the file, exit 2.
    fs::write(&schema, "{not json").unwrap();
    let out = common::run(&["run", "-m", m, "-n", "4", "--json-schema", s, "-p", "x"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("schema.json") && err.contains("not valid JSON"), "{err}");
}

/// `--grammar` takes GBNF as the reference engine's users write it: `run` and `ask`
/// answer in the grammar's shape; a grammar naming a rule it lacks is one line naming
/// the file, exit 2.
#[test]
fn a_gbnf_grammar_shapes_run_and_ask() {
    let dir = tempfile::tempdir().unwrap();
    let gbnf = dir.path().join("list.gbnf");
    let list = "# three to five lowercase words, one per bullet\n\
                root ::= item{3,5}\n\
                item ::= \"- \" [a-z]+ \"\\n\"\n";
    fs::write(&gbnf, list).unwrap();
    let m = model_path(common::QWEN25_CODER);
    let (m, g) = (m.to_str().unwrap(), gbnf.to_str().unwrap());
    let greedy = ["-m", m, "--temp", "0", "-n", "60", "--grammar", g];
    let run = common::run(&[&["run"][..], &greedy, &["-p", "Fruits:"]].concat());
    let ask = common::run(&[&["ask"][..], &greedy, &["Name some fruits."]].concat());
    for out in [run, ask] {
        let text = common::stdout(&out);
        let items: Vec<&str> = text.trim_end().lines().collect();
        assert!((3..=5).contains(&items.len()), "{text:?}");
        for item in items {
            let word = item.strip_prefix("- ").unwrap_or_else(|| panic!("{text:?}"));
            assert!(!word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()), "{text:?}");
        }
    }
    fs::write(&gbnf, "root ::= \"a\" missing\n").unwrap();
    let out = common::run(&["run", "-m", m, "-n", "4", "--grammar", g, "-p", "x"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("list.gbnf") && err.contains("no rule `missing`"), "{err}");
}
