//! Seed inputs for every target, written once into `fuzz/corpus/TARGET/` (`seed-…`):
//! small GGUF files made from the real models' headers (every metadata key, arrays cut
//! short, a few tensors of one block each), the golden tokenizer strings and chat
//! conversations of `../shared/golden/`, and hand-written answers and ACP sessions.

use std::path::Path;

use hearth::gguf::{Array, GgufFile, GgufWriter, Value};
use hearth::quant::GgmlType;
use serde_json::json;

use super::targets::chat::{FIELD, RECORD};

/// The seeds of `target`.
pub fn seeds(target: &str, models: &[&Path], golden: &Path) -> Result<Vec<Vec<u8>>, String> {
    match target {
        "gguf" => gguf(models),
        "tokenizer" => tokenizer(golden),
        "chat" => chat(golden),
        "edits" => Ok(edits()),
        "acp" => Ok(acp()),
        other => Err(format!("no seeds for {other:?}")),
    }
}

/// `v` with every array cut to `n` items (nested ones too).
fn shorten(v: &Value, n: usize) -> Value {
    fn cut(a: &Array, n: usize) -> Array {
        match a {
            Array::U8(v) => Array::U8(v.iter().take(n).copied().collect()),
            Array::I8(v) => Array::I8(v.iter().take(n).copied().collect()),
            Array::U16(v) => Array::U16(v.iter().take(n).copied().collect()),
            Array::I16(v) => Array::I16(v.iter().take(n).copied().collect()),
            Array::U32(v) => Array::U32(v.iter().take(n).copied().collect()),
            Array::I32(v) => Array::I32(v.iter().take(n).copied().collect()),
            Array::F32(v) => Array::F32(v.iter().take(n).copied().collect()),
            Array::Bool(v) => Array::Bool(v.iter().take(n).copied().collect()),
            Array::String(v) => Array::String(v.iter().take(n).cloned().collect()),
            Array::Array(v) => Array::Array(v.iter().take(n).map(|a| cut(a, n)).collect()),
            Array::U64(v) => Array::U64(v.iter().take(n).copied().collect()),
            Array::I64(v) => Array::I64(v.iter().take(n).copied().collect()),
            Array::F64(v) => Array::F64(v.iter().take(n).copied().collect()),
        }
    }
    match v {
        Value::Array(a) => Value::Array(cut(a, n)),
        other => other.clone(),
    }
}

/// A real file's header made small: all its keys, arrays of `n_items`, its first
/// `n_tensors` tensors with their names, types and ranks, one block of zeros each.
fn shrunk(
    file: &GgufFile,
    n_tensors: usize,
    n_items: usize,
    version: u32,
) -> Result<Vec<u8>, String> {
    let mut w = GgufWriter::new().version(version);
    for (key, value) in file.metadata().iter() {
        w.set(key, shorten(value, n_items));
    }
    for t in file.tensors().iter().take(n_tensors) {
        let mut dims = vec![1u64; t.dims.len()];
        dims[0] = t.ty.block_elems() as u64;
        let data = vec![0u8; t.ty.block_bytes()];
        w.add_tensor(&t.name, &dims, t.ty, data).map_err(|e| e.to_string())?;
    }
    w.to_bytes().map_err(|e| e.to_string())
}

/// Every value type, nested arrays, several tensor types, a larger alignment.
fn every_type() -> Result<Vec<u8>, String> {
    let mut w = GgufWriter::new();
    w.set("general.alignment", Value::U32(64));
    w.set_str("general.architecture", "llama");
    let scalars = [
        Value::U8(1),
        Value::I8(-1),
        Value::U16(2),
        Value::I16(-2),
        Value::U32(3),
        Value::I32(-3),
        Value::F32(0.5),
        Value::Bool(true),
        Value::U64(4),
        Value::I64(-4),
        Value::F64(0.25),
    ];
    for (i, v) in scalars.into_iter().enumerate() {
        w.set(format!("test.scalar.{i}"), v);
    }
    let nested = Array::Array(vec![Array::U32(vec![1, 2]), Array::String(vec!["x".into()])]);
    w.set("test.nested", Value::Array(nested));
    w.set("test.bools", Value::Array(Array::Bool(vec![true, false])));
    for (i, ty) in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K].iter().enumerate()
    {
        let dims = [ty.block_elems() as u64, 2];
        let data = vec![0u8; 2 * ty.block_bytes()];
        w.add_tensor(format!("blk.{i}.attn_q.weight"), &dims, *ty, data)
            .map_err(|e| e.to_string())?;
    }
    w.to_bytes().map_err(|e| e.to_string())
}

/// GPT-2's byte-to-character map: printable bytes stand for themselves, the others for
/// the characters from U+0100 on.
fn byte_chars() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut next = 256;
    (0..256u32)
        .map(|b| match printable(b) {
            true => char::from_u32(b).unwrap_or('?'),
            false => {
                next += 1;
                char::from_u32(next - 1).unwrap_or('?')
            }
        })
        .collect()
}

fn strings(items: &[&str]) -> Value {
    Value::Array(Array::String(items.iter().map(|s| s.to_string()).collect()))
}

/// A small tokenizer that loads: byte-level BPE (every byte, a few merges, control
/// tokens) or SentencePiece (byte fallback, scored pieces), with a chat template.
fn small_tokenizer(bpe: bool) -> Result<Vec<u8>, String> {
    let mut w = GgufWriter::new();
    w.set_str("general.architecture", "llama");
    let mut tokens: Vec<String>;
    let mut types: Vec<i32>;
    if bpe {
        tokens = byte_chars().iter().map(|c| c.to_string()).collect();
        tokens.extend(["Ġt", "he", "Ġthe", "<|im_start|>", "<|im_end|>"].map(String::from));
        types = vec![1; tokens.len()];
        let n = types.len();
        types[n - 2..].fill(3);
        w.set_str("tokenizer.ggml.model", "gpt2").set_str("tokenizer.ggml.pre", "bloom");
        w.set("tokenizer.ggml.merges", strings(&["Ġ t", "h e", "Ġt he"]));
        w.set_u32("tokenizer.ggml.bos_token_id", n as u32 - 2);
        w.set_u32("tokenizer.ggml.eos_token_id", n as u32 - 1);
    } else {
        tokens = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
        tokens.extend((0..256).map(|b| format!("<0x{b:02X}>")));
        tokens.extend(["▁", "▁t", "he", "▁the", "<start_of_turn>"].map(String::from));
        types = [2, 3, 3].to_vec();
        types.extend([6; 256]);
        types.extend([1, 1, 1, 1, 4]);
        let scores: Vec<f32> = (0..tokens.len()).map(|i| -(i as f32)).collect();
        w.set_str("tokenizer.ggml.model", "llama");
        w.set("tokenizer.ggml.scores", Value::Array(Array::F32(scores)));
        w.set_bool("tokenizer.ggml.add_space_prefix", true);
    }
    w.set("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    w.set("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
    let template =
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n\
                    {% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    w.set_str("tokenizer.chat_template", template);
    w.to_bytes().map_err(|e| e.to_string())
}

fn gguf(models: &[&Path]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = vec![every_type()?, GgufWriter::new().to_bytes().map_err(|e| e.to_string())?];
    out.extend([small_tokenizer(true)?, small_tokenizer(false)?]);
    for (i, path) in models.iter().enumerate() {
        let file = GgufFile::open(path).map_err(|e| e.to_string())?;
        out.push(shrunk(&file, 8, 16, 3)?);
        if i == 0 {
            out.push(shrunk(&file, 24, 4, 2)?);
        }
    }
    Ok(out)
}

fn golden_json(golden: &Path, name: &str) -> Result<serde_json::Value, String> {
    let path = golden.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Golden strings (every fifth, as text to encode and as ids to decode), special-token
/// text, invalid UTF-8.
fn tokenizer(golden: &Path) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for (m, model) in super::targets::MODELS.iter().enumerate() {
        let name = format!("tokenize-{}.json", model.trim_end_matches(".gguf"));
        let json = golden_json(golden, &name)?;
        let cases = json["cases"].as_array().cloned().unwrap_or_default();
        for (i, case) in cases.iter().enumerate().filter(|(i, _)| i % 5 == 0) {
            let flags = m as u8 | if i % 2 == 0 { 4 } else { 0 };
            let mut seed = vec![flags];
            seed.extend_from_slice(case["text"].as_str().unwrap_or("").as_bytes());
            out.push(seed);
            let mut ids = vec![0xc0 | m as u8];
            for id in case["ids"].as_array().into_iter().flatten().filter_map(|v| v.as_u64()) {
                ids.extend_from_slice(&(id as u32).to_le_bytes()[..3]);
            }
            out.push(ids);
        }
        let special = "<|im_start|>user\nhi<|im_end|>\n<start_of_turn>model\n<end_of_turn>";
        out.push([&[m as u8 | 4][..], special.as_bytes()].concat());
        out.push(
            [&[m as u8 | 8][..], b"caf\xc3\xa9 \xff\xfe broken \xe2\x82 \xf0\x9f\xa6\x80"].concat(),
        );
    }
    Ok(out)
}

/// A conversation as the chat target reads it.
fn conversation(flags: u8, tools: Option<&str>, messages: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![flags];
    if let Some(tools) = tools {
        out.extend_from_slice(tools.as_bytes());
        out.push(RECORD);
    }
    for (i, (role, content)) in messages.iter().enumerate() {
        if i > 0 {
            out.push(RECORD);
        }
        out.extend_from_slice(role.as_bytes());
        out.push(FIELD);
        out.extend_from_slice(content.as_bytes());
    }
    out
}

/// The golden conversations over every template (the models', then the built-ins),
/// with and without tools.
fn chat(golden: &Path) -> Result<Vec<Vec<u8>>, String> {
    let json = golden_json(golden, "chat-templates.json")?;
    let mut conversations: Vec<Vec<(String, String)>> = Vec::new();
    for template in json["templates"].as_array().into_iter().flatten() {
        for case in template["cases"].as_array().into_iter().flatten() {
            let messages = case["messages"].as_array().into_iter().flatten();
            let pairs = messages
                .map(|m| {
                    (
                        m["role"].as_str().unwrap_or("").into(),
                        m["content"].as_str().unwrap_or("").into(),
                    )
                })
                .collect();
            conversations.push(pairs);
        }
    }
    conversations.truncate(2);
    let tools = json!([{"type": "function", "function": {"name": "read_file", "description": "Reads a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}])
    .to_string();
    let mut out = Vec::new();
    for index in 0..6u8 {
        for (c, conv) in conversations.iter().enumerate() {
            let pairs: Vec<(&str, &str)> =
                conv.iter().map(|(r, t)| (r.as_str(), t.as_str())).collect();
            let tools = (c == 0).then_some(tools.as_str());
            out.push(conversation(
                index | 0x10 | if tools.is_some() { 0x20 } else { 0 },
                tools,
                &pairs,
            ));
        }
    }
    let tool_turn = [
        ("user", "read a.txt"),
        ("assistant", "{\"name\": \"read_file\"}"),
        ("tool", "keep\nold\n"),
    ];
    out.push(conversation(1 | 0x30, Some(&tools), &tool_turn));
    Ok(out)
}

fn edits() -> Vec<Vec<u8>> {
    let answers: &[&str] = &[
        "Here:\n\na.txt\n```rust\n<<<<<<< SEARCH\n    println!(\"hi\");\n=======\n    println!(\"bye\");\n>>>>>>> REPLACE\n```\n",
        "```rust a.txt\nfn main() {\n    println!(\"new\");\n}\n```\n",
        "**src/lib.rs**\n```\npub fn f() {}\npub fn g() {}\n```\nand\nnew/file.rs\n```\nx\n```\n",
        "<<<<<<< SEARCH\nfn main() {\n=======\nfn main() -> () {\n>>>>>>> REPLACE\n<<<<<<< SEARCH\n}\n=======\n}\n// end\n>>>>>>> REPLACE\n",
        "README.md\n```\nno\n```\n../outside.rs\n```\nx\n```\n",
        "a.txt\n<<<<<<< SEARCH\nmissing\n=======\nx\n>>>>>>> REPLACE\n",
        "a.txt\n```\nunfinished\n",
        "Just a code block:\n```\nfn main() {}\n```\n",
        "```markdown notes.md\n<<<<<<< SEARCH\n```\n=======\n~~~\n>>>>>>> REPLACE\n```\n",
    ];
    let mut out: Vec<Vec<u8>> = answers.iter().map(|a| a.as_bytes().to_vec()).collect();
    out.push(b"a.txt\n<<<<<<< SEARCH\nb = 2\n=======\nb = 20\n>>>>>>> REPLACE\n\0a = 1\r\nb = 2  \r\nc = 3\r\n".to_vec());
    out.push(b"```\na = 1\nc = 4\n```\n\0a = 1\r\nb = 2\r\nc = 3".to_vec());
    out
}

/// ACP sessions, one JSON-RPC message per line.
fn acp() -> Vec<Vec<u8>> {
    let init = |fs: bool| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1,
            "clientCapabilities": {"fs": {"readTextFile": fs, "writeTextFile": fs}}}})
    };
    let load = json!({"jsonrpc": "2.0", "id": 2, "method": "session/load",
        "params": {"sessionId": "stored", "cwd": "/w", "mcpServers": []}});
    let new = json!({"jsonrpc": "2.0", "id": 2, "method": "session/new",
        "params": {"cwd": "/w", "mcpServers": [{"name": "x", "command": "x", "args": [], "env": []}]}});
    let prompt = |id: u64, sid: &str, blocks: serde_json::Value| json!({"jsonrpc": "2.0", "id": id, "method": "session/prompt", "params": {"sessionId": sid, "prompt": blocks}});
    let edit = "a.txt\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n";
    let link = json!({"type": "resource_link", "uri": "a.txt", "name": "a.txt"});
    let allow = |id: u64| json!({"jsonrpc": "2.0", "id": id, "result": {"outcome": {"outcome": "selected", "optionId": "allow-once"}}});
    let read = |id: u64| json!({"jsonrpc": "2.0", "id": id, "result": {"content": "keep\nold\n"}});
    let sessions = [
        vec![
            init(false),
            load.clone(),
            prompt(3, "stored", json!([link, {"type": "text", "text": edit}])),
            allow(1),
            json!({"jsonrpc": "2.0", "id": 4, "method": "session/list", "params": {}}),
        ],
        vec![
            init(true),
            new,
            prompt(3, "$SID", json!([link, {"type": "text", "text": edit}])),
            read(1),
            read(2),
            allow(3),
            json!({"jsonrpc": "2.0", "id": 4, "result": {}}),
            json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": "$SID"}}),
        ],
        vec![
            init(false),
            load.clone(),
            prompt(3, "stored", json!([{"type": "text", "text": "/tokens"}])),
            prompt(
                4,
                "stored",
                json!([{"type": "resource", "resource": {"uri": "file:///w/src/lib.rs", "text": "pub fn f() {}\n"}},
                {"type": "text", "text": "src/lib.rs\n```\npub fn g() {}\n```\nLIMIT"}]),
            ),
            prompt(5, "stored", json!([{"type": "image", "data": "", "mimeType": "image/png"}])),
            prompt(6, "stored", json!([{"type": "text", "text": "FAIL"}])),
        ],
    ];
    let mut out: Vec<Vec<u8>> = sessions
        .iter()
        .map(|lines| lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes())
        .collect();
    out.push(b"{not json\n[1,2]\n{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"x\"}\n\n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"nope\"}\n{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"authenticate\",\"params\":{\"methodId\":\"x\"}}\n".to_vec());
    out
}
