//! Unit tests of the whole tokenizer on hand-built vocabularies.

use super::testutil::gpt2_meta;
use super::vocab::{KEY_ADD_BOS, KEY_BOS_ID, KEY_MODEL, KEY_PRE, KEY_SCORES, KEY_TOKEN_TYPE};
use super::*;
use crate::gguf::{Array, Value};

fn gpt2() -> Tokenizer {
    let merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"];
    let mut meta = gpt2_meta("gpt-2", &merges, &["<|endoftext|>", "<|im_start|>"]);
    meta.insert(KEY_BOS_ID, Value::U32(256 + merges.len() as u32));
    Tokenizer::from_gguf(&meta).unwrap()
}

#[test]
fn bpe_encodes_words_and_special_tokens() {
    let t = gpt2();
    let hello = t.token_id("hello").unwrap();
    let world = t.token_id("Ġworld").unwrap();
    let im_start = t.token_id("<|im_start|>").unwrap();
    assert_eq!(t.encode("hello world", false, true).unwrap(), [hello, world]);
    assert_eq!(t.encode("<|im_start|>hello", false, true).unwrap(), [im_start, hello]);
    let plain = t.encode("<|im_start|>", false, false).unwrap();
    assert!(!plain.contains(&im_start));
    assert_eq!(t.decode(&plain).unwrap(), "<|im_start|>");
    let bos = t.bos().unwrap();
    assert_eq!(t.encode("hello", true, true).unwrap(), [bos, hello]);
    assert!(t.is_eog(t.token_id("<|endoftext|>").unwrap()));
    assert!(!t.add_bos_default());
}

#[test]
fn bpe_round_trips_any_bytes_of_text() {
    let t = gpt2();
    for s in ["", "hello world", " \t\n\r\n  x", "ünïcödé 🙂 漢字", "<|endoftext|> a"] {
        let ids = t.encode(s, false, true).unwrap();
        assert_eq!(t.decode(&ids).unwrap(), s);
    }
}

#[test]
fn stream_decoder_holds_back_split_characters() {
    let t = gpt2();
    let ids = t.encode("a🙂b", false, true).unwrap();
    assert_eq!(ids.len(), 6); // a, four bytes of the emoji, b
    let mut d = t.stream_decoder();
    let outs: Vec<String> = ids.iter().map(|&id| d.push(id)).collect();
    assert_eq!(outs, ["a", "", "", "", "🙂", "b"]);
    assert_eq!(d.pending(), 0);
    d.push(ids[1]);
    assert_eq!(d.pending(), 1);
    assert_eq!(d.finish(), "\u{FFFD}");
}

#[test]
fn unknown_model_and_pre_are_errors_naming_the_key() {
    let mut meta = gpt2_meta("gpt-2", &[], &[]);
    meta.insert(KEY_MODEL, Value::String("bert".into()));
    let e = Tokenizer::from_gguf(&meta).unwrap_err();
    assert_eq!(e.key(), Some(KEY_MODEL));
    assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
    let meta = gpt2_meta("wordpiece-ish", &[], &[]);
    let e = Tokenizer::from_gguf(&meta).unwrap_err();
    assert_eq!(e.key(), Some(KEY_PRE));
}

#[test]
fn add_bos_follows_the_family_and_the_key() {
    let meta = gpt2_meta("llama-bpe", &[], &["<|begin_of_text|>"]);
    let mut with_bos = meta.clone();
    with_bos.insert(KEY_BOS_ID, Value::U32(256));
    assert!(Tokenizer::from_gguf(&with_bos).unwrap().add_bos_default());
    with_bos.insert(KEY_ADD_BOS, Value::Bool(false));
    assert!(!Tokenizer::from_gguf(&with_bos).unwrap().add_bos_default());
    // Asking for BOS from a model without one is an error, not a panic.
    let e = Tokenizer::from_gguf(&meta).unwrap().encode("x", true, true).unwrap_err();
    assert_eq!(e.key(), Some(KEY_BOS_ID));
}

fn spm(add_space_prefix: bool) -> Tokenizer {
    let mut tokens = vec![("<unk>", 2), ("<s>", 3), ("</s>", 3)];
    let hex: Vec<String> = (0..=255).map(|b| format!("<0x{b:02X}>")).collect();
    tokens.extend(hex.iter().map(|h| (h.as_str(), 6)));
    tokens.extend([("▁", 1), ("a", 1), ("b", 1), ("▁a", 1), ("ab", 1), ("▁ab", 1)]);
    let texts: Vec<&str> = tokens.iter().map(|t| t.0).collect();
    let mut meta = testutil::meta_with_tokens(&texts);
    meta.insert(KEY_MODEL, Value::String("llama".into()));
    let types = tokens.iter().map(|t| t.1).collect();
    meta.insert(KEY_TOKEN_TYPE, Value::Array(Array::I32(types)));
    let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
    meta.insert(KEY_SCORES, Value::Array(Array::F32(scores)));
    meta.insert(vocab::KEY_ADD_SPACE_PREFIX, Value::Bool(add_space_prefix));
    Tokenizer::from_gguf(&meta).unwrap()
}

#[test]
fn spm_uses_llama_defaults_and_space_prefix() {
    let t = spm(true);
    assert_eq!((t.bos(), t.eos(), t.unk()), (Some(1), Some(2), Some(0)));
    assert!(t.add_bos_default());
    let ab = t.token_id("▁ab").unwrap();
    let a = t.token_id("▁a").unwrap();
    assert_eq!(t.encode("ab a", true, true).unwrap(), [1, ab, a]);
    assert_eq!(t.decode(&[1, ab, a]).unwrap(), "<s> ab a");
    assert_eq!(t.decode(&[ab, a]).unwrap(), "ab a");
    // After a special token the next fragment is prefixed again.
    assert_eq!(t.encode("a</s>a", false, true).unwrap(), [a, 2, a]);
}

#[test]
fn spm_without_prefix_falls_back_to_bytes_and_round_trips() {
    let t = spm(false);
    let ids = t.encode("ab é", false, true).unwrap();
    let byte = |b: u8| t.token_id(&format!("<0x{b:02X}>")).unwrap();
    assert_eq!(ids, [t.token_id("ab").unwrap(), t.token_id("▁").unwrap(), byte(0xC3), byte(0xA9)]);
    assert_eq!(t.decode(&ids).unwrap(), "ab é");
    let mut d = t.stream_decoder();
    let text: String = ids.iter().map(|&id| d.push(id)).collect();
    assert_eq!(text, "ab é");
}

#[test]
fn out_of_range_ids_are_errors() {
    let t = spm(false);
    assert!(t.token_to_piece(t.n_vocab() as u32, true).is_err());
    assert!(t.decode(&[u32::MAX]).is_err());
}

#[test]
fn tokenizers_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Tokenizer>();
}
