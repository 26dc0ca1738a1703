//! The grammars tool calls are held to, one per call family, built from the tools' JSON
//! schemas: what opens a call, the grammar from there to its end, and the grammar of a
//! call written without its opening at the start of an answer (bare or json-fenced JSON,
//! as small models write them).

use serde_json::{json, Value};

use super::tools::TOOLS;
use crate::chat::CallFormat;
use crate::engine::grammar::{CallSpec, Grammar};

/// The grammars of a call in `format` (the chat template `template` tells Mistral's two
/// forms apart):
/// - Hermes: `<tool_call>` then `{"name": NAME, "arguments": ARGS}` and `</tool_call>`;
/// - Qwen's XML form: `<tool_call>` then `<function=NAME>`, each parameter as
///   `<parameter=KEY>VALUE</parameter>` (the required ones always, integers and booleans
///   as such), `</function>` and `</tool_call>`;
/// - Llama 3: the whole answer `{"name": NAME, "parameters": ARGS}`;
/// - Mistral: `[TOOL_CALLS]` then a JSON list of calls. Its newer `NAME[ARGS]{…}` form
///   (control tokens inside a call) is left unconstrained: `None`.
///
/// NAME is one of the tools and ARGS valid under its schema.
pub fn call_spec(format: CallFormat, template: &str) -> Option<CallSpec> {
    let tools: Vec<(String, Value)> =
        TOOLS.iter().map(|t| (t.name.to_string(), (t.schema)())).collect();
    call_spec_for(format, template, &tools)
}

/// As [`call_spec`], for any tools: (name, JSON schema of the arguments) — the tools an
/// API request offers.
pub fn call_spec_for(
    format: CallFormat,
    template: &str,
    tools: &[(String, Value)],
) -> Option<CallSpec> {
    let json_call = |key: &str| json_call(key, tools);
    let xml_grammar = || xml_grammar(tools);
    let loose = || {
        Grammar::Lark(format!(
            "start: WS? (\"```json\" WS?)? call WS? \"```\"?\n{}",
            json_call("arguments")
        ))
    };
    Some(match format {
        CallFormat::Hermes => CallSpec {
            trigger: Some("<tool_call>".into()),
            call: Some(Grammar::Lark(format!(
                "start: WS? call WS? \"</tool_call>\"\n{}",
                json_call("arguments")
            ))),
            opening: Some(loose()),
        },
        CallFormat::QwenXml => CallSpec {
            trigger: Some("<tool_call>".into()),
            call: Some(Grammar::Lark(xml_grammar())),
            opening: Some(loose()),
        },
        CallFormat::Llama3 => CallSpec {
            trigger: None,
            call: None,
            opening: Some(Grammar::Lark(format!(
                "start: WS? call WS?\n{}",
                json_call("parameters")
            ))),
        },
        CallFormat::Mistral if template.contains("[ARGS]") => return None,
        CallFormat::Mistral => CallSpec {
            trigger: Some("[TOOL_CALLS]".into()),
            call: Some(Grammar::Lark(format!(
                "start: WS? \"[\" WS? call (WS? \",\" WS? call)* WS? \"]\"\n{}",
                json_call("arguments")
            ))),
            opening: None,
        },
    })
}

/// The rule `call` (one of the tools by name, its arguments under `key`) and `WS`.
fn json_call(key: &str, tools: &[(String, Value)]) -> String {
    let calls: Vec<Value> = tools
        .iter()
        .map(|(name, schema)| {
            json!({
                "type": "object",
                "properties": {"name": {"const": name}, key: schema},
                "required": ["name", key],
                "additionalProperties": false,
            })
        })
        .collect();
    format!("call: %json {}\nWS: /[ \\t\\r\\n]+/\n", json!({ "oneOf": calls }))
}

/// A parameter's value and its closing tag, by the parameter's JSON type: text without
/// `</parameter>`, an integer, a boolean (one newline allowed either side).
const XML_VALUES: &str = r"STR: /(?s:.*)<\/parameter>/ & ~/(?s:.*)<\/parameter>(?s:.+)/
INT: /\n?-?[0-9]+\n?<\/parameter>/
BOOL: /\n?(true|false)\n?<\/parameter>/
WS: /[ \t\r\n]+/
";

/// The XML form: `start` from after `<tool_call>` to `</tool_call>`, a rule per tool.
fn xml_grammar(tools: &[(String, Value)]) -> String {
    let names: Vec<String> = (0..tools.len()).map(|i| format!("c_{i}")).collect();
    let mut g = format!("start: WS? call WS? \"</tool_call>\"\ncall: {}\n", names.join(" | "));
    for (i, (name, schema)) in tools.iter().enumerate() {
        g.push_str(&xml_tool(&names[i], name, schema));
    }
    g + XML_VALUES
}

/// One tool's call: `<function=NAME>`, its parameters — the required ones once each in
/// the schema's order, the optional ones anywhere around them — and `</function>`.
fn xml_tool(rule: &str, name: &str, schema: &Value) -> String {
    let empty = serde_json::Map::new();
    let props = schema["properties"].as_object().unwrap_or(&empty);
    let required: Vec<&str> =
        schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let param = |key: &str, spec: &Value| {
        let value = match spec["type"].as_str() {
            Some("integer") => "INT",
            Some("boolean") => "BOOL",
            _ => "STR",
        };
        format!("{} {value}", lit(&format!("<parameter={key}>")))
    };
    let optional: Vec<String> = props
        .iter()
        .filter(|(k, _)| !required.contains(&k.as_str()))
        .map(|(k, v)| param(k, v))
        .collect();
    let opt = match optional.is_empty() {
        true => String::new(),
        false => format!("(WS? ({}))*", optional.join(" | ")),
    };
    let body = match required.is_empty() {
        true => opt,
        false => {
            let each: Vec<String> =
                required.iter().map(|k| format!("WS? {} {opt}", param(k, &props[*k]))).collect();
            format!("{opt} {}", each.join(" "))
        }
    };
    format!("{rule}: {} {body} WS? \"</function>\"\n", lit(&format!("<function={name}>")))
}

/// `text` as a Lark string literal.
fn lit(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

#[cfg(test)]
mod tests;
