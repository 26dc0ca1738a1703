//! `hearth inspect` on the real models and on files written by the writer.

use crate::common::{self, run, stdout};
use crate::gguf::{sample_writer, Rng};

fn inspect_json(path: &str) -> serde_json::Value {
    let out = run(&["inspect", "--json", path]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).expect("inspect --json prints one JSON object")
}

fn assert_json_shape(v: &serde_json::Value) {
    assert!(v["architecture"].is_string(), "architecture");
    assert!(v["metadata"].is_object(), "metadata");
    let tensors = v["tensors"].as_array().expect("tensors array");
    assert_eq!(v["tensor_count"].as_u64(), Some(tensors.len() as u64));
    for t in tensors {
        assert!(t["name"].is_string() && t["type"].is_string(), "{t}");
        assert!(t["shape"].as_array().is_some_and(|s| !s.is_empty()), "{t}");
        assert!(t["offset"].is_u64() && t["bytes"].is_u64(), "{t}");
    }
}

/// (file, architecture, tensor count, layers, vocab size, has chat template)
const REAL: [(&str, &str, u64, u64, usize, bool); 3] = [
    (common::SMOLLM2, "llama", 272, 30, 49152, true),
    (common::QWEN25_CODER, "qwen2", 291, 24, 151936, true),
    (common::GEMMA3, "gemma3", 236, 18, 262144, false),
];

#[test]
fn inspect_json_on_the_real_models() {
    for (file, arch, n_tensors, layers, n_vocab, template) in REAL {
        let path = common::model_path(file);
        let v = inspect_json(path.to_str().unwrap());
        assert_json_shape(&v);
        assert_eq!(v["architecture"], arch, "{file}");
        assert_eq!(v["tensor_count"], n_tensors, "{file}");
        assert_eq!(v["metadata"][format!("{arch}.block_count")], layers, "{file}");
        let tokens = v["metadata"]["tokenizer.ggml.tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), n_vocab, "{file}");
        assert_eq!(v["chat_template"], template, "{file}");
        // Tensor bytes add up to no more than the data section.
        let bytes: u64 =
            v["tensors"].as_array().unwrap().iter().map(|t| t["bytes"].as_u64().unwrap()).sum();
        let data = v["file_size"].as_u64().unwrap() - v["data_offset"].as_u64().unwrap();
        assert!(bytes <= data && bytes > data * 9 / 10, "{file}: {bytes} of {data}");
    }
}

#[test]
fn inspect_text_summarises_a_real_model() {
    let path = common::model_path(common::QWEN25_CODER);
    let out = run(&["inspect", path.to_str().unwrap()]);
    assert!(out.status.success());
    let text = stdout(&out);
    for needle in [
        "architecture: qwen2",
        "file type: Q4_K_M",
        "layers: 24",
        "kv heads: 2",
        "tokenizer: gpt2 (pre qwen2), 151936 tokens",
        "chat template: yes",
        "output.weight",
        "[896, 151936]",
        "by type:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn inspect_finds_a_bare_name_in_the_models_dir() {
    common::model_path(common::SMOLLM2);
    let out = common::hearth()
        .args(["inspect", "--json", common::SMOLLM2])
        .env("HEARTH_MODELS_DIR", common::models_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
}

#[test]
fn inspect_json_on_a_written_file_matches_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("written.gguf");
    let w = sample_writer(&mut Rng::new(9));
    w.write(&path).unwrap();
    let v = inspect_json(path.to_str().unwrap());
    assert_json_shape(&v);
    assert_eq!(v["architecture"], "llama");
    assert_eq!(v["metadata"]["t.u64"], u64::MAX);
    assert_eq!(v["metadata"]["t.i64"], i64::MIN);
    assert_eq!(v["metadata"]["t.f32"], 1.5e-6);
    assert_eq!(v["metadata"]["a.nested"], serde_json::json!([[1, 2], ["x"], [[true]]]));
    let t = &v["tensors"][4];
    assert_eq!(t["name"], "blk.0.ffn_gate_exps.weight");
    assert_eq!(t["shape"], serde_json::json!([256, 2, 2, 2]));
    assert_eq!(t["type"], "Q6_K");
    assert_eq!(t["bytes"], 8 * 210);
    let text = stdout(&run(&["inspect", path.to_str().unwrap()]));
    assert!(text.contains("blk.0.ffn_gate_exps.weight") && text.contains("Q6_K"), "{text}");
}

#[test]
fn inspect_into_a_closed_pipe_does_not_panic() {
    let path = common::model_path(common::GEMMA3);
    let mut child = common::hearth()
        .args(["inspect", "--full", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(out.stderr.is_empty(), "{}", common::stderr(&out));
}
