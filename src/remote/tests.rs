//! The stream reader over recorded event streams: text in order, tool calls from their
//! pieces, usage, and streams that break off.

use super::stream::read;
use super::*;

fn run(events: &[&str], done: bool) -> (String, ChatEnd) {
    let mut text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    if done {
        text.push_str("data: [DONE]\n\n");
    }
    let mut shown = String::new();
    let never = std::sync::atomic::AtomicBool::new(false);
    let end =
        read(&mut std::io::BufReader::new(text.as_bytes()), &never, &mut |t| shown.push_str(t));
    (shown, end)
}

#[test]
fn text_calls_and_usage_come_together() {
    let events = [
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Let me "}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"look."}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read_file","arguments":"{\"pa"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\": \"a.py\"}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":50,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":40}}}"#,
    ];
    let (shown, end) = run(&events, true);
    assert_eq!(shown, "Let me look.");
    assert_eq!(end.text, shown);
    assert_eq!(end.tool_calls.len(), 1);
    assert_eq!(
        (end.tool_calls[0].id.as_str(), end.tool_calls[0].name.as_str()),
        ("call_1", "read_file")
    );
    assert_eq!(end.tool_calls[0].arguments, r#"{"path": "a.py"}"#);
    assert_eq!(end.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        end.usage,
        Some(Usage { prompt_tokens: 50, completion_tokens: 9, cached_tokens: 40 })
    );
    assert!(end.cut.is_none());
}

#[test]
fn a_stream_that_breaks_off_keeps_what_came_and_says_so() {
    let (shown, end) = run(&[r#"{"choices":[{"index":0,"delta":{"content":"half an"}}]}"#], false);
    assert_eq!((shown.as_str(), end.text.as_str()), ("half an", "half an"));
    assert!(end.cut.as_deref().is_some_and(|c| c.contains("ended before")), "{:?}", end.cut);
    let (_, end) = run(&[r#"{"error":{"message":"out of memory"}}"#], false);
    assert!(end.cut.as_deref().is_some_and(|c| c.contains("out of memory")));
}

#[test]
fn urls_get_their_api_path() {
    assert_eq!(
        Endpoint::new("http://127.0.0.1:8080", None).unwrap().base,
        "http://127.0.0.1:8080/v1"
    );
    assert_eq!(Endpoint::new("https://box:8000/v1/", None).unwrap().base, "https://box:8000/v1");
    assert!(Endpoint::new("box:8000", None).is_err());
}
