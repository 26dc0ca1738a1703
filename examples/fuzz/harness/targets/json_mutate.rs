//! Structure-aware mutations of JSON lines: one line that parses is picked, one value in
//! it is replaced (a string by a word that matters to the protocol, a number by an edge
//! case, any value by one of another type), a key dropped or added, an array element
//! dropped or copied; the line is written back, the others kept byte for byte.

use serde_json::{json, Value};

use super::super::mutate::Rng;

/// Strings worth trying where the protocol expects a string.
const WORDS: &[&str] = &[
    "",
    "stored",
    "$SID",
    "a.txt",
    "src/lib.rs",
    "src",
    "new/dir/b.txt",
    "../a.txt",
    "/etc/passwd",
    "file:///w/a.txt",
    "file://localhost/w/%61.txt",
    "http://x/a.txt",
    "a.txt\0",
    "/clear",
    "/compact",
    "/tokens",
    "/nope",
    "FAIL",
    "LIMIT",
    "text",
    "resource",
    "resource_link",
    "image",
    "audio",
    "selected",
    "cancelled",
    "allow-once",
    "reject-once",
    "allow-always",
    "session/new",
    "session/load",
    "session/prompt",
    "session/cancel",
    "session/list",
    "initialize",
    "2.0",
    "a.txt\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n",
    "a.txt\n<<<<<<< SEARCH\nkeep\nold\n=======\n>>>>>>> REPLACE\n",
    "src/lib.rs\n```\npub fn g() {}\n```\n",
    "b.txt\n```\nnew file\n```\n",
    "src\n```\nx\n```\n",
    "```\nreplaced\n```\n",
];

const KEYS: &[&str] = &[
    "jsonrpc",
    "id",
    "method",
    "params",
    "result",
    "error",
    "sessionId",
    "cwd",
    "mcpServers",
    "prompt",
    "type",
    "text",
    "uri",
    "name",
    "resource",
    "outcome",
    "optionId",
    "content",
    "protocolVersion",
    "clientCapabilities",
    "fs",
    "readTextFile",
    "writeTextFile",
    "_meta",
];

fn some_value(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(rng.chance(2)),
        2 => [json!(0), json!(-1), json!(2), json!(1u64 << 53), json!(u64::MAX), json!(i64::MIN)]
            [rng.below(6)]
        .clone(),
        3 => json!(1.5),
        4 => json!({}),
        5 => json!([]),
        6 => json!({"type": "text", "text": WORDS[rng.below(WORDS.len())]}),
        7 => json!({"type": "resource_link", "uri": WORDS[rng.below(WORDS.len())], "name": "n"}),
        _ => json!(WORDS[rng.below(WORDS.len())]),
    }
}

/// JSON pointers to every value in `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                pointers(child, format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn mutate_value(rng: &mut Rng, v: &mut Value) {
    match v {
        Value::Object(map) if rng.chance(2) => match (rng.chance(2), map.keys().next().cloned()) {
            (true, Some(first)) => {
                let key = map.keys().nth(rng.below(map.len())).cloned().unwrap_or(first);
                map.remove(&key);
            }
            _ => {
                map.insert(KEYS[rng.below(KEYS.len())].to_string(), some_value(rng));
            }
        },
        Value::Array(items) if rng.chance(2) && !items.is_empty() => {
            let i = rng.below(items.len());
            match rng.below(3) {
                0 => drop(items.remove(i)),
                1 => items.push(items[i].clone()),
                _ => items.insert(i, some_value(rng)),
            }
        }
        Value::String(s) if rng.chance(2) => match rng.below(3) {
            0 => *s = WORDS[rng.below(WORDS.len())].to_string(),
            1 => s.push_str(WORDS[rng.below(WORDS.len())]),
            _ => {
                let cut = s.char_indices().map(|(i, _)| i).nth(rng.below(s.chars().count() + 1));
                s.truncate(cut.unwrap_or(s.len()));
            }
        },
        _ => *v = some_value(rng),
    }
}

/// Mutates one JSON line of `data`; false when no line parses.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>) -> bool {
    let mut lines: Vec<Vec<u8>> =
        data.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let parsed: Vec<usize> =
        (0..lines.len()).filter(|&i| serde_json::from_slice::<Value>(&lines[i]).is_ok()).collect();
    let Some(&i) = rng.pick(&parsed) else { return false };
    let Ok(mut v) = serde_json::from_slice::<Value>(&lines[i]) else { return false };
    let mut all = Vec::new();
    pointers(&v, String::new(), &mut all);
    let at = all[rng.below(all.len())].clone();
    if let Some(target) = v.pointer_mut(&at) {
        mutate_value(rng, target);
    }
    lines[i] = format!("{v}\n").into_bytes();
    *data = lines.concat();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutated_lines_stay_json_and_others_stay_as_they_were() {
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            let mut data = b"not json\n{\"a\":[1,{\"b/c\":\"x\"}]}\n".to_vec();
            assert!(mutate(&mut rng, &mut data));
            let text = String::from_utf8(data).unwrap();
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("not json"));
            assert!(serde_json::from_str::<Value>(lines.next().unwrap()).is_ok(), "{text}");
        }
    }
}
