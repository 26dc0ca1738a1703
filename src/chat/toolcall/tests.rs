//! Each family's calls parsed from answers in its documented form, streamed piece by
//! piece as the engine gives them, and what does not parse named.

use super::*;
use serde_json::json;

fn ok(parsed: &Parsed) -> Vec<(String, Value)> {
    parsed
        .calls
        .iter()
        .map(|c| {
            let c = c.as_ref().expect("call parses");
            (c.name.clone(), c.arguments_value())
        })
        .collect()
}

#[test]
fn hermes_calls_after_text() {
    let answer = "Let me look.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"src/main.rs\", \"start\": 3}}\n</tool_call>\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"pattern\": \"fn main\"}}\n</tool_call>";
    let p = CallFormat::Hermes.parse(answer);
    assert_eq!(p.content, "Let me look.");
    assert_eq!(
        ok(&p),
        [
            ("read_file".to_string(), json!({"path": "src/main.rs", "start": 3})),
            ("search".to_string(), json!({"pattern": "fn main"})),
        ]
    );
}

#[test]
fn qwen_xml_calls_take_text_and_json_values() {
    let answer = "<tool_call>\n<function=edit_file>\n<parameter=path>\nsrc/a.rs\n</parameter>\n<parameter=search>\nfn a() {\n    1\n}\n</parameter>\n<parameter=line>\n12\n</parameter>\n</function>\n</tool_call>";
    let p = CallFormat::QwenXml.parse(answer);
    assert_eq!(p.content, "");
    assert_eq!(
        ok(&p),
        [(
            "edit_file".to_string(),
            json!({"path": "src/a.rs", "search": "fn a() {\n    1\n}", "line": 12}),
        )]
    );
}

#[test]
fn llama3_bare_json_only_at_the_start() {
    let p = CallFormat::Llama3
        .parse(" {\"name\": \"list_files\", \"parameters\": {\"glob\": \"*.rs\"}}");
    assert_eq!(ok(&p), [("list_files".to_string(), json!({"glob": "*.rs"}))]);
    let p = CallFormat::Llama3.parse("Use a map: {\"a\": 1}");
    assert!(p.calls.is_empty());
    assert_eq!(p.content, "Use a map: {\"a\": 1}");
}

#[test]
fn mistral_both_forms() {
    let v3 = "[TOOL_CALLS] [{\"name\": \"search\", \"arguments\": {\"pattern\": \"x\"}, \"id\": \"abcDEF123\"}]";
    let p = CallFormat::Mistral.parse(v3);
    assert_eq!(ok(&p), [("search".to_string(), json!({"pattern": "x"}))]);
    assert_eq!(p.calls[0].as_ref().unwrap().id, "abcDEF123");
    let v11 =
        "[TOOL_CALLS]read_file[ARGS]{\"path\": \"a\"}[TOOL_CALLS]read_file[ARGS]{\"path\": \"b\"}";
    let p = CallFormat::Mistral.parse(v11);
    assert_eq!(
        ok(&p),
        [
            ("read_file".to_string(), json!({"path": "a"})),
            ("read_file".to_string(), json!({"path": "b"})),
        ]
    );
}

#[test]
fn broken_calls_say_why() {
    let p = CallFormat::Hermes
        .parse("<tool_call>\n{\"name\": \"x\", \"arguments\": {\"a\": }\n</tool_call>");
    assert!(p.calls[0].as_ref().unwrap_err().contains("not valid JSON"), "{:?}", p.calls);
    let p = CallFormat::Hermes.parse("<tool_call>\n{\"arguments\": {}}\n</tool_call>");
    assert!(p.calls[0].as_ref().unwrap_err().contains("names no tool"));
    let p =
        CallFormat::Hermes.parse("<tool_call>{\"name\": \"x\", \"arguments\": [1]}</tool_call>");
    assert!(p.calls[0].as_ref().unwrap_err().contains("not a JSON object"));
    let p = CallFormat::QwenXml.parse("<tool_call><parameter=a>1</parameter></tool_call>");
    assert!(p.calls[0].as_ref().unwrap_err().contains("names no function"));
}

#[test]
fn arguments_written_as_a_string_are_read() {
    let p = CallFormat::Hermes
        .parse("<tool_call>{\"name\": \"x\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>");
    assert_eq!(ok(&p), [("x".to_string(), json!({"a": 1}))]);
}

/// Streams `answer` in pieces of `n` bytes (on char boundaries).
fn stream(format: CallFormat, answer: &str, n: usize) -> (String, Scanner) {
    let mut scanner = Scanner::new(format);
    let mut shown = String::new();
    let mut rest = answer;
    while !rest.is_empty() {
        let mut cut = n.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        shown.push_str(&scanner.push(&rest[..cut]));
        rest = &rest[cut..];
    }
    (shown, scanner)
}

#[test]
fn streaming_shows_text_before_the_call_and_holds_a_partial_trigger() {
    let answer =
        "Reading it — now.<tool_call>\n{\"name\": \"read_file\", \"arguments\": {}}\n</tool_call>";
    for n in 1..12 {
        let (shown, scanner) = stream(CallFormat::Hermes, answer, n);
        assert_eq!(shown, "Reading it — now.", "pieces of {n}");
        assert!(scanner.in_call());
        assert_eq!(scanner.forming_name().as_deref(), Some("read_file"));
    }
    // A `<` that does not open a call is released once it cannot.
    let mut s = Scanner::new(CallFormat::Hermes);
    assert_eq!(s.push("a <to"), "a ");
    assert_eq!(s.push("ol> b"), "<tool> b");
    assert_eq!(s.push(" <"), " ");
    assert_eq!(s.finish(), "<");
    assert!(!s.in_call());
}

#[test]
fn forming_name_of_each_family() {
    let (_, s) = stream(CallFormat::QwenXml, "<tool_call>\n<function=search>\n<param", 3);
    assert_eq!(s.forming_name().as_deref(), Some("search"));
    let (_, s) = stream(CallFormat::Mistral, "[TOOL_CALLS]run_command[ARGS]{", 3);
    assert_eq!(s.forming_name().as_deref(), Some("run_command"));
    let (_, s) = stream(CallFormat::Llama3, "{\"name\": \"list_files\", \"par", 3);
    assert_eq!(s.forming_name().as_deref(), Some("list_files"));
    let (_, s) = stream(CallFormat::Hermes, "<tool_call>\n{\"name\": \"rea", 3);
    assert_eq!(s.forming_name(), None);
}

#[test]
fn families_are_found_from_template_text() {
    assert_eq!(
        CallFormat::detect("{{ '<tool_call>\\n<function=' }}<parameter="),
        Some(CallFormat::QwenXml)
    );
    assert_eq!(CallFormat::detect("<tool_call>\\n{\"name\": "), Some(CallFormat::Hermes));
    assert_eq!(CallFormat::detect("[AVAILABLE_TOOLS] [TOOL_CALLS]"), Some(CallFormat::Mistral));
    assert_eq!(
        CallFormat::detect("<|start_header_id|>ipython<|end_header_id|>"),
        Some(CallFormat::Llama3)
    );
    assert_eq!(CallFormat::detect("<start_of_turn>user"), None);
}

#[test]
fn a_lone_json_call_without_tags_is_a_call() {
    let fenced =
        "```json\n{\n  \"name\": \"search\",\n  \"arguments\": {\"pattern\": \"fn add\"}\n}\n```";
    let p = CallFormat::Hermes.parse(fenced);
    assert_eq!(ok(&p), [("search".to_string(), json!({"pattern": "fn add"}))]);
    let p =
        CallFormat::QwenXml.parse("{\"name\": \"read_file\", \"arguments\": {\"path\": \"a\"}}");
    assert_eq!(ok(&p), [("read_file".to_string(), json!({"path": "a"}))]);
    // JSON that is not a call, or a call among other text, stays text.
    for text in ["```json\n{\"name\": \"x\"}\n```", "Try {\"name\": \"a\", \"arguments\": {}} here"]
    {
        let p = CallFormat::Hermes.parse(text);
        assert!(p.calls.is_empty() && p.content == text, "{text}");
    }
}

/// An answer that opens like a call without tags is held back while it streams: shown
/// only when it turns out to be something else.
#[test]
fn a_loose_call_is_held_back_while_it_streams() {
    let call = "```json\n{\n  \"name\": \"search\",\n  \"arguments\": {\"pattern\": \"x\"}\n}\n```";
    for n in [1, 2, 5] {
        let (shown, s) = stream(CallFormat::Hermes, call, n);
        assert_eq!(shown, "", "pieces of {n}");
        assert!(s.holds_call() && !s.in_call());
    }
    for text in
        ["{\"a\": 1} is a map", "```python\nprint(1)\n```", "`x` is a name", "{ \"nam\": 2}"]
    {
        let (shown, s) = stream(CallFormat::Hermes, text, 3);
        let mut s = s;
        assert!(!s.holds_call(), "{text}");
        assert_eq!(shown + &s.finish(), text);
    }
}
