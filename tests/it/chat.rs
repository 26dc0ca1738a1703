//! Chat templates on the real models: each file's `tokenizer.chat_template` (or the built-in
//! fallback) must render byte for byte what Hugging Face's jinja2 setup renders.
//!
//! `tests/golden/chat-templates.json` holds the reference renderings for SmolLM2 and Qwen2.5;
//! it has none for Gemma 3 270M, whose file carries no template. The Gemma and tool-use
//! expectations below were rendered the same way (jinja2 3.1.6, ImmutableSandboxedEnvironment
//! with trim_blocks, lstrip_blocks, loopcontrols, HF's tojson/raise_exception/strftime_now),
//! the Gemma ones with Google's gemma-3 template, which is `prompts/templates/gemma.jinja`.

use hearth::chat::{ChatTemplate, Message, RenderOptions, TemplateSource};
use hearth::gguf::GgufFile;

use crate::common::{self, golden_json, model_path};

const GEMMA_WITH_SYSTEM: &str = concat!(
    "<bos><start_of_turn>user\nYou are a careful coding assistant.\n\nWrite a function that adds two numbers.<end_of_turn>\n",
    "<start_of_turn>model\n```python\ndef add(a, b):\n    return a + b\n```<end_of_turn>\n",
    "<start_of_turn>user\nNow make it handle strings too.<end_of_turn>\n",
    "<start_of_turn>model\n",
);

const GEMMA_WITHOUT_SYSTEM: &str = concat!(
    "<bos><start_of_turn>user\nWrite a function that adds two numbers.<end_of_turn>\n",
    "<start_of_turn>model\n```python\ndef add(a, b):\n    return a + b\n```<end_of_turn>\n",
    "<start_of_turn>user\nNow make it handle strings too.<end_of_turn>\n",
    "<start_of_turn>model\n",
);

const QWEN_WITH_TOOLS: &str = concat!(
    "<|im_start|>system\nYou are a careful coding assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n",
    "<tools>\n{\"function\": {\"description\": \"Reads a file of the project, e.g. «src/main.rs».\", \"name\": \"read_file\", \"parameters\": {\"properties\": {\"path\": {\"description\": \"Path <relative> to the root\", \"type\": \"string\"}}, \"required\": [\"path\"], \"type\": \"object\"}}, \"type\": \"function\"}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n",
    "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n",
    "<|im_start|>user\nWrite a function that adds two numbers.<|im_end|>\n",
    "<|im_start|>assistant\n```python\ndef add(a, b):\n    return a + b\n```<|im_end|>\n",
    "<|im_start|>user\nNow make it handle strings too.<|im_end|>\n",
    "<|im_start|>assistant\n",
);

/// Tool definitions with keys in sorted order at every level: serde_json (without its
/// `preserve_order` feature) sorts object keys, while Python keeps them as written.
const TOOLS_JSON: &str = r#"[{"function": {"description": "Reads a file of the project, e.g. «src/main.rs».", "name": "read_file", "parameters": {"properties": {"path": {"description": "Path <relative> to the root", "type": "string"}}, "required": ["path"], "type": "object"}}, "type": "function"}]"#;

/// A golden case's conversation.
fn messages(case: &serde_json::Value) -> Vec<Message> {
    serde_json::from_value(case["messages"].clone()).expect("golden messages")
}

/// The template and render options hearth derives from a real model file.
fn template_of(model: &str) -> (ChatTemplate, RenderOptions) {
    let file = GgufFile::open(model_path(model)).expect("open model");
    let template = ChatTemplate::from_gguf(file.metadata()).expect("chat template");
    let opts = RenderOptions::from_gguf(file.metadata()).expect("render options");
    (template, opts)
}

#[test]
fn golden_chat_templates_render_byte_for_byte() {
    let golden = golden_json("chat-templates.json");
    let mut checked = 0;
    for entry in golden["templates"].as_array().expect("templates") {
        let Some(cases) = entry["cases"].as_array() else { continue };
        let model = entry["model_file"].as_str().expect("model_file");
        let (template, opts) = template_of(model);
        assert_eq!(template.source(), &TemplateSource::Gguf, "{model}");
        assert_eq!(opts.bos_token, entry["bos_token"].as_str().unwrap(), "{model}: bos_token");
        assert_eq!(opts.eos_token, entry["eos_token"].as_str().unwrap(), "{model}: eos_token");
        for case in cases {
            let opts = RenderOptions {
                add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
                ..opts.clone()
            };
            let got = template.render(&messages(case), &opts).expect("render");
            assert_eq!(got, case["rendered"].as_str().unwrap(), "{model}: {}", case["name"]);
            checked += 1;
        }
    }
    assert_eq!(checked, 4, "two models with two cases each");
}

/// The golden conversations (with and without a system message), from the first model.
fn golden_cases() -> Vec<(String, Vec<Message>)> {
    let golden = golden_json("chat-templates.json");
    let cases = golden["templates"][0]["cases"].as_array().expect("cases").clone();
    cases.iter().map(|c| (c["name"].as_str().unwrap().to_string(), messages(c))).collect()
}

#[test]
fn gemma3_without_template_falls_back_to_builtin_gemma() {
    let golden = golden_json("chat-templates.json");
    let entry =
        golden["templates"].as_array().unwrap().iter().find(|t| t["model_file"] == common::GEMMA3);
    assert!(
        entry.expect("gemma3 entry")["template"].is_null(),
        "the golden file says gemma3 has no template"
    );
    let (template, opts) = template_of(common::GEMMA3);
    assert_eq!((template.name(), template.is_builtin()), ("gemma", true));
    assert_eq!((opts.bos_token.as_str(), opts.eos_token.as_str()), ("<bos>", "<eos>"));
    for (name, messages) in golden_cases() {
        let want = if name == "with_system" { GEMMA_WITH_SYSTEM } else { GEMMA_WITHOUT_SYSTEM };
        assert_eq!(template.render(&messages, &opts).expect("render"), want, "{name}");
    }
}

#[test]
fn qwen_template_with_tools_matches_reference() {
    let (template, opts) = template_of(common::QWEN25_CODER);
    let tools = serde_json::from_str(TOOLS_JSON).expect("tools json");
    let opts = RenderOptions { tools: Some(tools), ..opts };
    let (_, messages) = golden_cases().into_iter().find(|(n, _)| n == "with_system").unwrap();
    assert_eq!(template.render(&messages, &opts).expect("render"), QWEN_WITH_TOOLS);
}

#[test]
fn chat_template_file_overrides_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smol.jinja");
    let file = GgufFile::open(model_path(common::SMOLLM2)).expect("open model");
    let text = file.metadata().get_str(hearth::chat::KEY_CHAT_TEMPLATE).unwrap();
    std::fs::write(&path, text).unwrap();
    let from_file = ChatTemplate::from_file(&path).expect("template file");
    let (from_model, opts) = template_of(common::SMOLLM2);
    for (name, messages) in golden_cases() {
        let want = from_model.render(&messages, &opts).unwrap();
        assert_eq!(from_file.render(&messages, &opts).unwrap(), want, "{name}");
    }
}

#[test]
fn gemma_roles_that_do_not_alternate_give_a_clean_error() {
    let (template, opts) = template_of(common::GEMMA3);
    let err = template.render(&[Message::user("a"), Message::user("b")], &opts).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(msg.contains("chat template (built-in gemma)"), "{msg}");
    assert!(msg.contains("Conversation roles must alternate"), "{msg}");
}

/// Qwen3.5's own template (namespaces, macros, reversed slices, `<think>` splitting) renders
/// as jinja2 renders it (`tests/golden/qwen35-chat.json`).
#[test]
fn qwen35_template_renders_as_jinja2_does() {
    let template = ChatTemplate::from_file(common::fixture("fixtures/chat/qwen3.5.jinja")).unwrap();
    let golden = golden_json("qwen35-chat.json");
    for case in golden["cases"].as_array().unwrap() {
        let opts = RenderOptions {
            add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
            ..RenderOptions::default()
        };
        let got = template.render(&messages(case), &opts).unwrap();
        assert_eq!(got, case["rendered"].as_str().unwrap(), "{}", case["name"]);
    }
}
