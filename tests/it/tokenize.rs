//! Tokenizers against the reference: golden ids from llama.cpp for the three real models,
//! round trips (golden strings and random text), streaming decode, `hearth tokenize`, and
//! malformed tokenizer metadata.

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};

use hearth::gguf::{Array, GgufFile, GgufWriter, Value};
use hearth::tokenizer::Tokenizer;

use crate::common::{self, assert_fails, model_path, run, stdout, GEMMA3, QWEN25_CODER, SMOLLM2};

/// Each real model's tokenizer, loaded once for all tests.
fn tokenizer(model: &str) -> Arc<Tokenizer> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Tokenizer>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let entry = cache.entry(model.to_string()).or_insert_with(|| {
        let file = GgufFile::open(model_path(model)).unwrap();
        Arc::new(Tokenizer::from_gguf(file.metadata()).unwrap())
    });
    Arc::clone(entry)
}

/// One reference case: the text, whether special-token text was parsed, and the ids.
struct Case {
    text: String,
    parse_special: bool,
    ids: Vec<u32>,
}

/// The cases of a golden or fixture file.
fn cases(json: &serde_json::Value) -> Vec<Case> {
    let parse_special = json["special_tokens_parsed"].as_bool().expect("special_tokens_parsed");
    assert_eq!(json["bos_added"].as_bool(), Some(false));
    json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let text = c["text"].as_str().expect("text").to_string();
            let ids = c["ids"].as_array().expect("ids").iter();
            let ids = ids.map(|i| i.as_u64().expect("id") as u32).collect();
            Case { text, parse_special, ids }
        })
        .collect()
}

/// The golden cases of a model (tests/golden) plus the extra ones of
/// tests/fixtures/tokenizer (see its README for how they were made).
fn reference_cases(model: &str) -> Vec<Case> {
    let stem = model.trim_end_matches(".gguf");
    let mut all = cases(&common::golden_json(&format!("tokenize-{stem}.json")));
    for suffix in ["", ".no-special"] {
        let path = common::fixture(&format!("fixtures/tokenizer/tokenize-{stem}{suffix}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        all.extend(cases(&serde_json::from_str(&text).unwrap()));
    }
    all
}

fn assert_matches_reference(model: &str) {
    let tok = tokenizer(model);
    let all = reference_cases(model);
    let mut failures = Vec::new();
    for case in &all {
        let got = tok.encode(&case.text, false, case.parse_special).unwrap();
        if got != case.ids {
            let (text, want, special) = (&case.text, &case.ids, case.parse_special);
            failures.push(format!("{text:?} (special {special})\n  want {want:?}\n  got  {got:?}"));
        }
    }
    let n = all.len();
    assert!(
        failures.is_empty(),
        "{model}: {} of {n} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(n > 500, "{model}: only {n} cases");
}

#[test]
fn smollm2_matches_llama_cpp_ids() {
    assert_matches_reference(SMOLLM2);
}

#[test]
fn qwen25_coder_matches_llama_cpp_ids() {
    assert_matches_reference(QWEN25_CODER);
}

#[test]
fn gemma3_matches_llama_cpp_ids() {
    assert_matches_reference(GEMMA3);
}

/// Whether every character of `text` survives a round trip alone. SmolLM2's vocabulary
/// lacks 21 of the 256 byte tokens (0x04, 0xF1, 0xF2, …): such bytes are dropped, as
/// llama.cpp drops them, so no tokenizer can give them back. SentencePiece (gemma3)
/// reads a literal `▁` as a space.
fn representable(tok: &Tokenizer, text: &str) -> bool {
    text.chars().all(|c| {
        let s = c.to_string();
        tok.decode(&tok.encode(&s, false, false).unwrap()).unwrap() == s
    })
}

/// The texts a model may fail to give back: only SmolLM2's missing bytes and gemma3's `▁`.
fn may_be_unrepresentable(model: &str, text: &str) -> bool {
    model == SMOLLM2 || (model == GEMMA3 && text.contains('\u{2581}'))
}

#[test]
fn reference_strings_round_trip() {
    for model in common::REAL_MODELS {
        let tok = tokenizer(model);
        for case in reference_cases(model) {
            let text = &case.text;
            if !representable(&tok, text) {
                assert!(may_be_unrepresentable(model, text), "{model}: {text:?}");
                continue;
            }
            assert_eq!(&tok.decode(&case.ids).unwrap(), text, "{model}: reference ids");
            for parse_special in [true, false] {
                let ours = tok.encode(text, false, parse_special).unwrap();
                assert_eq!(&tok.decode(&ours).unwrap(), text, "{model}: special {parse_special}");
            }
        }
    }
}

#[test]
fn eog_sets_match_llama_cpp() {
    // llama_vocab_is_eog over every id, from llama-cpp-python 0.3.36 (llama.cpp 0c1e570).
    // qwen2.5's 128247 and gemma3's 212 are `</s>`, which llama.cpp treats as EOG.
    let want: [(&str, &[u32]); 3] = [
        (SMOLLM2, &[0, 2, 4]),
        (QWEN25_CODER, &[128247, 151643, 151645, 151662, 151663, 151664]),
        (GEMMA3, &[1, 106, 212]),
    ];
    for (model, eog) in want {
        assert_eq!(tokenizer(model).eog_ids(), eog, "{model}");
    }
}

#[test]
fn special_ids_of_the_real_models() {
    let qwen = tokenizer(QWEN25_CODER);
    let im_end = qwen.token_id("<|im_end|>").unwrap();
    assert_eq!(qwen.eos(), Some(im_end));
    assert!(qwen.is_eog(im_end) && qwen.is_eog(qwen.token_id("<|endoftext|>").unwrap()));
    assert!(!qwen.add_bos_default());
    let gemma = tokenizer(GEMMA3);
    assert_eq!((gemma.bos(), gemma.eos()), (Some(2), Some(1)));
    assert_eq!(gemma.eot(), gemma.token_id("<end_of_turn>"));
    assert!(gemma.is_eog(106) && gemma.is_eog(1) && !gemma.is_eog(105));
    assert!(gemma.add_bos_default());
    assert_eq!(gemma.encode_prompt("hi").unwrap()[0], 2);
    let smol = tokenizer(SMOLLM2);
    assert_eq!(smol.eot(), smol.token_id("<|im_end|>"));
    assert!(smol.is_eog(smol.token_id("<|endoftext|>").unwrap()));
}

/// xorshift64*: deterministic random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random string mixing what tokenizers find hard: runs of whitespace, digits,
/// apostrophes, accents and combining marks, CJK, emoji with joiners and skin tones,
/// control characters, special-token text, and any valid code point.
fn random_text(rng: &mut Rng) -> String {
    const PARTS: &[&str] = &[
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\n\n\n",
        "    ",
        "'s",
        "'LL",
        "n't",
        "0",
        "42",
        "1234567",
        "3.14",
        "é",
        "e\u{301}",
        "a\u{308}\u{332}",
        "ß",
        "ﬁ",
        "İ",
        "中文",
        "日本語",
        "한국어",
        "🙂",
        "👍🏽",
        "🏳\u{fe0f}\u{200d}🌈",
        "👨\u{200d}👩\u{200d}👧",
        "\u{0}",
        "\u{1b}[0m",
        "\u{7f}",
        "\u{85}",
        "\u{a0}",
        "\u{2028}",
        "\u{feff}",
        "<|im_start|>",
        "<|im_end|>",
        "<end_of_turn>",
        "<bos>",
        "<s>",
        "</div>",
        "<|endoftext|>",
        "{\"a\": [1, 2]}",
        "fn x() {}",
        "::",
        "->",
        "==",
        "...",
        "!!",
        "\\",
        "http://x.y/z?q=1",
        "__init__",
        "CamelCase",
        "snake_case",
    ];
    let mut s = String::new();
    for _ in 0..1 + rng.below(12) {
        match rng.below(4) {
            0 => s.push_str(PARTS[rng.below(PARTS.len())]),
            1 => {
                // Any scalar value (surrogates excluded by from_u32), mostly from the BMP.
                let range = if rng.below(4) == 0 { 0x11_0000 } else { 0x1_0000 };
                let c = char::from_u32(rng.below(range) as u32).unwrap_or('?');
                s.push(c);
            }
            2 => {
                let c = char::from_u32(0x20 + rng.below(0x5f) as u32).unwrap_or('x');
                s.push(c);
            }
            _ => s.push_str(["the", "quick", "Brown", "fox", "été", "дом"][rng.below(6)]),
        }
    }
    s
}

#[test]
fn random_text_round_trips_and_streams_whole_characters() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for model in common::REAL_MODELS {
        let tok = tokenizer(model);
        let mut skipped = 0;
        for _ in 0..600 {
            let text = random_text(&mut rng);
            if !representable(&tok, &text) {
                assert!(may_be_unrepresentable(model, &text), "{model}: {text:?}");
                skipped += 1;
                continue;
            }
            for parse_special in [true, false] {
                let ids = tok.encode(&text, false, parse_special).unwrap();
                let decoded = tok.decode(&ids).unwrap();
                assert_eq!(decoded, text, "{model}: {text:?} -> {ids:?}");
                let mut d = tok.stream_decoder();
                let mut streamed = String::new();
                for &id in &ids {
                    let out = d.push(id);
                    // Every emitted chunk is whole characters of the text, in order.
                    assert!(
                        text[streamed.len()..].starts_with(&out),
                        "{model}: {text:?} -> {out:?}"
                    );
                    streamed.push_str(&out);
                }
                streamed.push_str(&d.finish());
                assert_eq!(streamed, text, "{model}: streamed");
            }
        }
        assert!(skipped <= 200, "{model}: {skipped} texts not representable");
    }
}

#[test]
fn cli_prints_only_the_json_array() {
    let model = model_path(QWEN25_CODER);
    let out = run(&["tokenize", "-m", model.to_str().unwrap(), "-p", "Hello, World!", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_eq!(stdout(&out), "[9707,11,4337,0]\n");
    // No BOS unless asked; --bos adds it.
    let gemma = model_path(GEMMA3);
    let out = run(&["tokenize", "-m", gemma.to_str().unwrap(), "-p", "hello", "--json", "--bos"]);
    assert_eq!(stdout(&out), "[2,23391]\n");
    // Special-token text as plain text.
    let args = ["tokenize", "-m", model.to_str().unwrap(), "-p", "<|im_start|>", "--json"];
    assert_eq!(stdout(&run(&args)), "[151644]\n");
    let out = run(&[&args[..], &["--no-parse-special"]].concat());
    assert_eq!(stdout(&out), "[27,91,318,4906,91,29]\n");
}

#[test]
fn cli_reads_files_and_stdin_and_prints_a_table() {
    let model = model_path(SMOLLM2);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.txt");
    std::fs::write(&file, "def f(x):\n\treturn x\n").unwrap();
    let from_file =
        run(&["tokenize", "-m", model.to_str().unwrap(), "-f", file.to_str().unwrap(), "--json"]);
    let want = tokenizer(SMOLLM2).encode("def f(x):\n\treturn x\n", false, true).unwrap();
    let want_json = format!("{}\n", serde_json::to_string(&want).unwrap());
    assert_eq!(stdout(&from_file), want_json);

    let mut child = common::hearth()
        .args(["tokenize", "-m", model.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"def f(x):\n\treturn x\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let table = stdout(&out);
    assert_eq!(table.lines().count(), want.len());
    assert!(table.contains("  '\\n\\t'") || table.contains("'\\n'"), "{table}");
    assert!(table.lines().next().unwrap().ends_with("'def'"), "{table}");
}

#[test]
fn cli_rejects_invalid_utf8_files() {
    let model = model_path(SMOLLM2);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latin1.txt");
    std::fs::write(&file, b"caf\xe9\n").unwrap();
    let out = run(&["tokenize", "-m", model.to_str().unwrap(), "-f", file.to_str().unwrap()]);
    assert_fails(&out, 2, "latin1.txt");
    assert!(common::stderr(&out).contains("UTF-8"));
}

#[test]
fn cli_survives_a_closed_pipe() {
    let model = model_path(QWEN25_CODER);
    let mut child = common::hearth()
        .args(["tokenize", "-m", model.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let text = "let x = 1;\n".repeat(20_000);
    let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    let out = child.wait_with_output().unwrap();
    let err = common::stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// A small byte-level BPE file; `edit` spoils it.
fn bad_model(
    dir: &std::path::Path,
    name: &str,
    edit: impl FnOnce(&mut GgufWriter),
) -> std::path::PathBuf {
    let tokens: Vec<String> = ["a", "b", "ab", "Ġ"].iter().map(|s| s.to_string()).collect();
    let mut w = GgufWriter::new();
    w.set_str("general.architecture", "gpt2");
    w.set_str("tokenizer.ggml.model", "gpt2");
    w.set_str("tokenizer.ggml.pre", "gpt-2");
    w.set("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    w.set("tokenizer.ggml.token_type", Value::Array(Array::I32(vec![1; 4])));
    w.set("tokenizer.ggml.merges", Value::Array(Array::String(vec!["a b".into()])));
    edit(&mut w);
    let path = dir.join(name);
    w.write(&path).unwrap();
    path
}

#[test]
fn malformed_tokenizer_metadata_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = bad_model(dir.path(), "good.gguf", |_| {});
    let out = run(&["tokenize", "-m", good.to_str().unwrap(), "-p", "ab ab", "--json"]);
    assert_eq!(stdout(&out), "[2,3,2]\n", "{}", common::stderr(&out));
    type Edit = Box<dyn FnOnce(&mut GgufWriter)>;
    let cases: [(&str, Edit, &str); 5] = [
        (
            "types.gguf",
            Box::new(|w: &mut GgufWriter| {
                w.set("tokenizer.ggml.token_type", Value::Array(Array::I32(vec![1; 3])));
            }),
            "key 'tokenizer.ggml.token_type': 3 entries",
        ),
        (
            "merge.gguf",
            Box::new(|w: &mut GgufWriter| {
                w.set("tokenizer.ggml.merges", Value::Array(Array::String(vec!["a zz".into()])));
            }),
            "key 'tokenizer.ggml.merges': merge 0 \"a zz\" names unknown token \"zz\"",
        ),
        (
            "pre.gguf",
            Box::new(|w: &mut GgufWriter| {
                w.set_str("tokenizer.ggml.pre", "mystery");
            }),
            "key 'tokenizer.ggml.pre': unknown pre-tokenizer 'mystery'",
        ),
        (
            "model.gguf",
            Box::new(|w: &mut GgufWriter| {
                w.set_str("tokenizer.ggml.model", "t5");
            }),
            "key 'tokenizer.ggml.model': tokenizer 't5' is not supported",
        ),
        (
            "eos.gguf",
            Box::new(|w: &mut GgufWriter| {
                w.set_u32("tokenizer.ggml.eos_token_id", 4);
            }),
            "key 'tokenizer.ggml.eos_token_id': token id 4 is outside",
        ),
    ];
    for (name, edit, needle) in cases {
        let path = bad_model(dir.path(), name, edit);
        let out = run(&["tokenize", "-m", path.to_str().unwrap(), "-p", "ab"]);
        assert_fails(&out, 2, needle);
        assert!(common::stderr(&out).contains(name), "{}", common::stderr(&out));
    }
}
