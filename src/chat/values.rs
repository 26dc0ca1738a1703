//! Template inputs as minijinja values, with maps that keep their key order the way Python
//! dicts do (minijinja's own maps are sorted), so `tojson` prints keys as Hugging Face does.

use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

use super::{Message, ToolCall};

/// A string-keyed map that iterates in insertion order.
#[derive(Debug, Default)]
pub(super) struct OrderedMap {
    entries: Vec<(Value, Value)>,
}

impl OrderedMap {
    pub(super) fn push(&mut self, key: &str, value: Value) {
        self.entries.push((Value::from(key), value));
    }
}

impl Object for OrderedMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.entries.iter().map(|(k, _)| k.clone()).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The `messages` list: each message a map with `role` first, then `content`, then the
/// tool fields a message has (`tool_calls` in the OpenAI form, arguments as a mapping;
/// `tool_call_id` and `name` on tool results).
pub(super) fn messages_value(messages: &[Message]) -> Value {
    let items: Vec<Value> = messages.iter().map(message_value).collect();
    Value::from(items)
}

fn message_value(m: &Message) -> Value {
    let mut map = OrderedMap::default();
    map.push("role", Value::from(m.role.as_str()));
    map.push("content", Value::from(m.content.as_str()));
    if !m.tool_calls.is_empty() {
        map.push(
            "tool_calls",
            Value::from(m.tool_calls.iter().map(call_value).collect::<Vec<_>>()),
        );
    }
    if let Some(id) = &m.tool_call_id {
        map.push("tool_call_id", Value::from(id.as_str()));
    }
    if let Some(name) = &m.name {
        map.push("name", Value::from(name.as_str()));
    }
    Value::from_object(map)
}

/// `{"id", "type": "function", "function": {"name", "arguments"}}`.
fn call_value(call: &ToolCall) -> Value {
    let mut function = OrderedMap::default();
    function.push("name", Value::from(call.name.as_str()));
    function.push("arguments", json_value(&call.arguments_value()));
    let mut map = OrderedMap::default();
    map.push("id", Value::from(call.id.as_str()));
    map.push("type", Value::from("function"));
    map.push("function", Value::from_object(function));
    Value::from_object(map)
}

/// A JSON value (tool definitions, …) as a template value, objects in their given order.
pub(super) fn json_value(json: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from(items.iter().map(json_value).collect::<Vec<_>>()),
        J::Object(fields) => {
            let mut map = OrderedMap::default();
            for (k, v) in fields {
                map.push(k, json_value(v));
            }
            Value::from_object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_map_keeps_insertion_order_and_lookup() {
        let mut map = OrderedMap::default();
        map.push("zeta", Value::from(1));
        map.push("alpha", Value::from(2));
        let v = Value::from_object(map);
        let keys: Vec<String> = v.try_iter().unwrap().map(|k| k.to_string()).collect();
        assert_eq!(keys, ["zeta", "alpha"]);
        assert_eq!(v.get_attr("alpha").unwrap(), Value::from(2));
        assert!(v.get_attr("missing").unwrap().is_undefined());
        assert_eq!(v.len(), Some(2));
    }

    #[test]
    fn json_numbers_keep_their_kind() {
        let v = json_value(&serde_json::json!([1, -2, 1.5, u64::MAX]));
        let items: Vec<Value> = v.try_iter().unwrap().collect();
        assert!(items[0].is_integer() && items[1].is_integer() && items[3].is_integer());
        assert!(!items[2].is_integer());
    }
}
