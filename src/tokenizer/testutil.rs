//! Small hand-built vocabularies for the tokenizer's unit tests.

use crate::gguf::{Array, Metadata, Value};

use super::bpe::byte_to_char;
use super::vocab::{KEY_MERGES, KEY_MODEL, KEY_PRE, KEY_TOKENS, KEY_TOKEN_TYPE};

/// Metadata holding only `tokenizer.ggml.tokens`.
pub fn meta_with_tokens(tokens: &[&str]) -> Metadata {
    let mut meta = Metadata::new();
    let tokens = tokens.iter().map(|t| t.to_string()).collect();
    meta.insert(KEY_TOKENS, Value::Array(Array::String(tokens)));
    meta
}

/// A byte-level BPE vocabulary: the 256 byte characters, then `extra` tokens, with the
/// given merges and control tokens at the end (token_type 3).
pub fn gpt2_meta(pre: &str, merges: &[&str], controls: &[&str]) -> Metadata {
    let mut tokens: Vec<String> = byte_to_char().iter().map(|c| c.to_string()).collect();
    for m in merges {
        let joined = m.replacen(' ', "", 1);
        if !tokens.contains(&joined) {
            tokens.push(joined);
        }
    }
    let n_normal = tokens.len();
    tokens.extend(controls.iter().map(|c| c.to_string()));
    let mut types = vec![1i32; n_normal];
    types.extend(std::iter::repeat_n(3, controls.len()));
    let mut meta = Metadata::new();
    meta.insert(KEY_MODEL, Value::String("gpt2".into()));
    meta.insert(KEY_PRE, Value::String(pre.into()));
    meta.insert(KEY_TOKENS, Value::Array(Array::String(tokens)));
    meta.insert(KEY_TOKEN_TYPE, Value::Array(Array::I32(types)));
    let merges = merges.iter().map(|m| m.to_string()).collect();
    meta.insert(KEY_MERGES, Value::Array(Array::String(merges)));
    meta
}
