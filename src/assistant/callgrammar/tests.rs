//! Each family's call grammar, run by llguidance over a byte-level vocabulary: calls in
//! the family's form are taken and parse back to the same call; calls naming no tool,
//! missing a required argument or giving one of the wrong type are not.

use serde_json::json;

use super::*;
use crate::testutil::{byte_grammars, grammar_takes};

/// The grammar of `format` from after its trigger, and whether it takes `text`.
fn takes(format: CallFormat, text: &str) -> bool {
    let spec = call_spec(format, "").unwrap();
    grammar_takes(&byte_grammars(), &spec.call.unwrap(), text)
}

/// The single call `answer` parses to, as (name, arguments).
fn parsed(format: CallFormat, answer: &str) -> (String, Value) {
    let p = format.parse(answer);
    assert_eq!(p.calls.len(), 1, "{answer}");
    let call = p.calls[0].as_ref().unwrap();
    (call.name.clone(), call.arguments_value())
}

/// A call as Qwen3-Coder's template writes one (`<tool_call>` already written).
fn xml(name: &str, params: &[(&str, &str)]) -> String {
    let mut s = format!("\n<function={name}>\n");
    for (k, v) in params {
        s.push_str(&format!("<parameter={k}>\n{v}\n</parameter>\n"));
    }
    s + "</function>\n</tool_call>"
}

#[test]
fn xml_calls_in_the_template_form_are_taken_and_parse_back() {
    let cases = [
        (
            xml("read_file", &[("path", "src/a.py"), ("start_line", "3")]),
            json!({"path": "src/a.py", "start_line": 3}),
        ),
        (xml("list_files", &[]), json!({})),
        (
            xml("search", &[("case_insensitive", "true"), ("pattern", "def <\\w+>")]),
            json!({"pattern": "def <\\w+>", "case_insensitive": true}),
        ),
        (
            xml(
                "edit_file",
                &[("path", "a.py"), ("search", "if a < b:\n    x = 1"), ("replace", "</param>")],
            ),
            json!({"path": "a.py", "search": "if a < b:\n    x = 1", "replace": "</param>"}),
        ),
    ];
    for (text, args) in cases {
        assert!(takes(CallFormat::QwenXml, &text), "{text}");
        let (name, got) = parsed(CallFormat::QwenXml, &format!("<tool_call>{text}"));
        assert_eq!(got, args, "{name}");
    }
}

#[test]
fn xml_calls_off_the_schemas_are_not_taken() {
    let bad = [
        xml("delete_file", &[("path", "a")]),
        xml("search", &[("glob", "*.py")]),
        xml("read_file", &[("path", "a"), ("start_line", "three")]),
        xml("search", &[("pattern", "x"), ("case_insensitive", "maybe")]),
        xml("read_file", &[("path", "a"), ("mode", "rb")]),
        xml("read_file", &[("path", "a"), ("path", "b")]),
    ];
    for text in bad {
        assert!(!takes(CallFormat::QwenXml, &text), "{text}");
    }
}

#[test]
fn hermes_and_mistral_lists_take_valid_calls_only() {
    let hermes = "\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.py\"}}\n</tool_call>";
    assert!(takes(CallFormat::Hermes, hermes));
    assert!(!takes(
        CallFormat::Hermes,
        "\n{\"name\": \"read_file\", \"arguments\": {}}\n</tool_call>"
    ));
    let mistral = " [{\"name\": \"search\", \"arguments\": {\"pattern\": \"x\"}}, {\"name\": \"list_files\", \"arguments\": {}}]";
    assert!(takes(CallFormat::Mistral, mistral));
    assert!(!takes(
        CallFormat::Mistral,
        " [{\"name\": \"search\", \"arguments\": {\"pattern\": 1}}]"
    ));
    assert!(call_spec(CallFormat::Mistral, "{{ '[TOOL_CALLS]' + name + '[ARGS]' }}").is_none());
}

#[test]
fn llama3_calls_are_the_whole_answer() {
    let spec = call_spec(CallFormat::Llama3, "").unwrap();
    assert!(spec.trigger.is_none() && spec.call.is_none());
    let g = byte_grammars();
    let opening = spec.opening.unwrap();
    let call = "{\"name\": \"run_command\", \"parameters\": {\"command\": \"pytest -q\", \"timeout_secs\": 30}}";
    assert!(grammar_takes(&g, &opening, call));
    assert_eq!(
        parsed(CallFormat::Llama3, call).1,
        json!({"command": "pytest -q", "timeout_secs": 30})
    );
    assert!(!grammar_takes(
        &g,
        &opening,
        "{\"name\": \"run_command\", \"parameters\": {\"timeout_secs\": 30}}"
    ));
}
