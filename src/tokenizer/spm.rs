//! SentencePiece-style tokenizing (`tokenizer.ggml.model = llama`, as in gemma3): spaces
//! become `▁`, characters merge pairwise by the score of the merged token (highest first,
//! leftmost on ties), and what forms no token falls back to `<0xNN>` byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::vocab::Vocab;
use crate::error::{Error, Result};

/// The escaped space, U+2581 LOWER ONE EIGHTH BLOCK.
pub const SPACE: &str = "\u{2581}";

/// SentencePiece encoder state that depends on the vocabulary only.
#[derive(Debug, Clone)]
pub struct Spm {
    /// (256) the token of each byte for byte fallback: `<0xNN>`, else the one-byte text.
    byte_ids: [Option<u32>; 256],
    unk: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Sym {
    start: usize,
    len: usize,
    prev: i32,
    next: i32,
}

/// A candidate merge of `left` with its right neighbour, ordered by score, then leftmost.
#[derive(Debug, Clone, Copy)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then(other.left.cmp(&self.left))
    }
}

impl Spm {
    pub fn new(vocab: &Vocab, unk: Option<u32>) -> Spm {
        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            let hex = format!("<0x{b:02X}>");
            *slot = vocab.id(&hex).or_else(|| {
                let c = char::from_u32(b as u32).filter(|c| c.is_ascii())?;
                vocab.id(c.encode_utf8(&mut [0; 4]))
            });
        }
        Spm { byte_ids, unk }
    }

    /// Tokenizes one fragment of plain text: a space in front when `space_prefix`, spaces
    /// escaped to `▁`, then merged. Appends the ids to `out`.
    pub fn encode(
        &self,
        vocab: &Vocab,
        raw: &str,
        space_prefix: bool,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let mut text = String::with_capacity(raw.len() + raw.len() / 2 + 3);
        if space_prefix {
            text.push_str(SPACE);
        }
        for c in raw.chars() {
            if c == ' ' {
                text.push_str(SPACE);
            } else {
                text.push(c);
            }
        }
        self.encode_escaped(vocab, &text, out)
    }

    fn encode_escaped(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let mut syms: Vec<Sym> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            let i = i as i32;
            syms.push(Sym { start, len: c.len_utf8(), prev: i - 1, next: i + 1 });
        }
        if let Some(last) = syms.last_mut() {
            last.next = -1;
        }
        let mut heap = BinaryHeap::new();
        for left in 1..syms.len() {
            push_bigram(vocab, text, &syms, left - 1, &mut heap);
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (syms[b.left], syms[b.right]);
            // Skip candidates that an earlier merge changed.
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            syms[b.left].len += r.len;
            syms[b.right].len = 0;
            syms[b.left].next = r.next;
            if r.next >= 0 {
                syms[r.next as usize].prev = b.left as i32;
            }
            if l.prev >= 0 {
                push_bigram(vocab, text, &syms, l.prev as usize, &mut heap);
            }
            push_bigram(vocab, text, &syms, b.left, &mut heap);
        }
        let mut i = if syms.is_empty() { -1 } else { 0 };
        while i >= 0 {
            let s = syms[i as usize];
            let piece = &text[s.start..s.start + s.len];
            // Every merged symbol is a token; a single character may not be.
            match vocab.id(piece) {
                Some(id) => out.push(id),
                None => self.byte_fallback(piece, out)?,
            }
            i = s.next;
        }
        Ok(())
    }

    fn byte_fallback(&self, piece: &str, out: &mut Vec<u32>) -> Result<()> {
        for &b in piece.as_bytes() {
            match self.byte_ids[b as usize].or(self.unk) {
                Some(id) => out.push(id),
                None => {
                    let msg = format!("no token for byte 0x{b:02X} and no unknown token");
                    return Err(Error::unsupported(msg).with_key(super::vocab::KEY_TOKENS));
                }
            }
        }
        Ok(())
    }
}

fn push_bigram(
    vocab: &Vocab,
    text: &str,
    syms: &[Sym],
    left: usize,
    heap: &mut BinaryHeap<Bigram>,
) {
    let l = syms[left];
    if l.next < 0 {
        return;
    }
    let r = syms[l.next as usize];
    let size = l.len + r.len;
    let Some(id) = vocab.id(&text[l.start..l.start + size]) else { return };
    let score = vocab.scores[id as usize];
    heap.push(Bigram { score, left, right: l.next as usize, size });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Array, Value};
    use crate::tokenizer::testutil::meta_with_tokens;
    use crate::tokenizer::vocab::KEY_SCORES;

    fn vocab(tokens: &[(&str, f32)]) -> Vocab {
        let texts: Vec<&str> = tokens.iter().map(|t| t.0).collect();
        let mut meta = meta_with_tokens(&texts);
        let scores = tokens.iter().map(|t| t.1).collect();
        meta.insert(KEY_SCORES, Value::Array(Array::F32(scores)));
        Vocab::from_gguf(&meta).unwrap()
    }

    fn encode(v: &Vocab, text: &str, prefix: bool) -> Vec<u32> {
        let mut out = Vec::new();
        Spm::new(v, None).encode(v, text, prefix, &mut out).unwrap();
        out
    }

    #[test]
    fn higher_score_merges_first() {
        let v = vocab(&[("a", 0.0), ("b", 0.0), ("c", 0.0), ("ab", -2.0), ("bc", -1.0)]);
        assert_eq!(encode(&v, "abc", false), [0, 4]);
        let v = vocab(&[("a", 0.0), ("b", 0.0), ("c", 0.0), ("ab", -1.0), ("bc", -2.0)]);
        assert_eq!(encode(&v, "abc", false), [3, 2]);
        // Merged symbols keep merging: a + bc makes abc.
        let v =
            vocab(&[("a", 0.0), ("b", 0.0), ("c", 0.0), ("ab", -2.0), ("bc", -1.0), ("abc", -9.0)]);
        assert_eq!(encode(&v, "abc", false), [5]);
        // Equal scores: the leftmost pair first.
        let v = vocab(&[("a", 0.0), ("aa", -1.0)]);
        assert_eq!(encode(&v, "aaa", false), [1, 0]);
    }

    #[test]
    fn spaces_are_escaped_and_prefixed() {
        let v = vocab(&[("▁", 0.0), ("a", 0.0), ("▁a", -1.0)]);
        assert_eq!(encode(&v, "a a", true), [2, 2]);
        assert_eq!(encode(&v, "a a", false), [1, 2]);
    }

    #[test]
    fn unknown_characters_fall_back_to_bytes() {
        let mut tokens = vec![("a", 0.0)];
        let hex: Vec<String> = (0..=255).map(|b| format!("<0x{b:02X}>")).collect();
        tokens.extend(hex.iter().map(|h| (h.as_str(), 0.0)));
        let v = vocab(&tokens);
        // "é" is C3 A9 in UTF-8.
        assert_eq!(encode(&v, "aé", false), [0, 1 + 0xC3, 1 + 0xA9]);
    }

    #[test]
    fn missing_byte_token_without_unk_is_an_error() {
        let v = vocab(&[("a", 0.0)]);
        let mut out = Vec::new();
        let e = Spm::new(&v, None).encode(&v, "é", false, &mut out).unwrap_err();
        assert!(e.message().contains("0xC3"), "{e}");
        Spm::new(&v, Some(0)).encode(&v, "é", false, &mut out).unwrap();
        assert_eq!(out, [0, 0]);
    }
}
