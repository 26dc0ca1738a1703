//! Tokenizer throughput: ~1 MB of Rust source (this crate's own, repeated) through each
//! real model's tokenizer, in MB/s. Run with `cargo bench --bench tokenize`; needs the
//! models of scripts/fetch-models (missing ones are skipped with a note). Arguments
//! select models by part of their file name.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hearth::gguf::GgufFile;
use hearth::tokenizer::Tokenizer;

const MODELS: [&str; 3] = [
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m-q4_k_m.gguf",
];
const TARGET_BYTES: usize = 1 << 20;
const RUNS: usize = 5;

fn models_dir() -> PathBuf {
    match std::env::var_os("HEARTH_MODELS_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hearth/models")
        }
    }
}

/// Every `.rs` file under `dir`, sorted, for a deterministic corpus.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// About 1 MiB of source code: the crate's own files, repeated.
fn corpus() -> String {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut text = String::new();
    'fill: loop {
        for f in &files {
            text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
            if text.len() >= TARGET_BYTES {
                break 'fill;
            }
        }
        if files.is_empty() {
            text = "fn main() {\n    println!(\"hello\");\n}\n".repeat(TARGET_BYTES / 40);
            break;
        }
    }
    text
}

fn main() {
    // `cargo bench --bench tokenize -- qwen` runs only the models whose name has "qwen".
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let text = corpus();
    let mb = text.len() as f64 / 1e6;
    println!("corpus: {} bytes of Rust source", text.len());
    for name in MODELS {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let path = models_dir().join(name);
        if !path.exists() {
            println!("{name}: missing (run scripts/fetch-models)");
            continue;
        }
        let t0 = Instant::now();
        let file = GgufFile::open(&path).expect("open model");
        let tok = Tokenizer::from_gguf(file.metadata()).expect("tokenizer");
        let load = t0.elapsed();
        let mut best = f64::INFINITY;
        let mut n_tokens = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let ids = tok.encode(&text, false, true).expect("encode");
            best = best.min(t.elapsed().as_secs_f64());
            n_tokens = ids.len();
        }
        let ids = tok.encode(&text, false, true).expect("encode");
        let t = Instant::now();
        let decoded = tok.decode(&ids).expect("decode");
        let decode_s = t.elapsed().as_secs_f64();
        // SentencePiece reads a literal `▁` as a space, so that text cannot come back.
        let same = decoded == text || decoded == text.replace('\u{2581}', " ");
        assert!(same, "{name}: decode(encode(text)) differs from the text");
        println!(
            "{name}: encode {:.1} MB/s ({:.0} ms for {mb:.2} MB, {n_tokens} tokens, best of {RUNS}); \
             decode {:.0} ms; tokenizer load {:.0} ms",
            mb / best,
            best * 1e3,
            decode_s * 1e3,
            load.as_secs_f64() * 1e3,
        );
    }
}
