//! Byte-level BPE (`tokenizer.ggml.model = gpt2`): the GPT-2 byte <-> unicode mapping,
//! merges by rank from `tokenizer.ggml.merges`, and the per-piece merge loop (lowest rank
//! first, leftmost on ties, as llama.cpp's llm_tokenizer_bpe_session does).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::pretok::{self, PreConfig, PreTokenizer};
use super::vocab::{Vocab, KEY_MERGES};
use crate::error::{Error, Result};
use crate::gguf::Metadata;

/// No token: a byte whose mapped character is missing from the vocabulary.
const NONE: u32 = u32::MAX;

/// The GPT-2 mapping: printable bytes stand for themselves, the others are shifted to
/// U+0100 and up so that every token text is printable.
pub fn byte_to_char() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        table[b as usize] = if printable {
            b as char
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap_or('\0')
        };
    }
    table
}

/// The inverse of `byte_to_char`, for decoding token texts.
pub fn char_to_byte() -> HashMap<char, u8> {
    byte_to_char().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect()
}

/// FxHash-style hasher: fast for the short keys of tokenizers (id pairs, token texts),
/// where SipHash's DoS resistance buys nothing.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ (rest.len() as u64) << 59);
    }
    fn write_u8(&mut self, x: u8) {
        self.add(x as u64);
    }
    fn write_u64(&mut self, x: u64) {
        self.add(x);
    }
    fn write_usize(&mut self, x: usize) {
        self.add(x as u64);
    }
}

/// A HashMap with `FastHasher`.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

type MergeMap = FastMap<u64, Merge>;

#[derive(Debug, Clone, Copy)]
struct Merge {
    rank: u32,
    merged: u32,
}

fn pair_key(left: u32, right: u32) -> u64 {
    (left as u64) << 32 | right as u64
}

/// A byte-level BPE tokenizer for text without special tokens.
#[derive(Clone)]
pub struct Bpe {
    pre: PreTokenizer,
    ignore_merges: bool,
    /// (256) the token of each byte's mapped character, NONE if absent.
    byte_ids: [u32; 256],
    byte_chars: [char; 256],
    merges: MergeMap,
}

impl std::fmt::Debug for Bpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bpe").field("merges", &self.merges.len()).finish_non_exhaustive()
    }
}

impl Bpe {
    /// Builds the tokenizer from `tokenizer.ggml.merges`; every merge must name two known
    /// tokens whose concatenation is a token too.
    pub fn from_gguf(meta: &Metadata, vocab: &Vocab, pre: &PreConfig) -> Result<Bpe> {
        let merges_list = meta.get_str_array(KEY_MERGES)?;
        let mut merges = MergeMap::default();
        merges.reserve(merges_list.len());
        let mut joined = String::new();
        for (rank, line) in merges_list.iter().enumerate() {
            let bad = |msg: String| Err(Error::bad_input(msg).with_key(KEY_MERGES));
            // llama.cpp splits at the first space after the first byte.
            let space = line.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1);
            let Some(pos) = space else {
                return bad(format!("merge {rank} {line:?} has no space"));
            };
            let (left, right) = (&line[..pos], &line[pos + 1..]);
            let id = |t: &str| vocab.id(t);
            let (Some(l), Some(r)) = (id(left), id(right)) else {
                let unknown = if id(left).is_none() { left } else { right };
                return bad(format!("merge {rank} {line:?} names unknown token {unknown:?}"));
            };
            joined.clear();
            joined.push_str(left);
            joined.push_str(right);
            let Some(merged) = id(&joined) else {
                return bad(format!("merge {rank} {line:?} makes {joined:?}, which is no token"));
            };
            // The first occurrence of a pair keeps its rank, as in llama.cpp.
            merges.entry(pair_key(l, r)).or_insert(Merge { rank: rank as u32, merged });
        }
        let byte_chars = byte_to_char();
        let mut byte_ids = [NONE; 256];
        let mut buf = [0u8; 4];
        for (b, c) in byte_chars.iter().enumerate() {
            byte_ids[b] = vocab.id(c.encode_utf8(&mut buf)).unwrap_or(NONE);
        }
        let pre_tok = PreTokenizer::new(pre)?;
        Ok(Bpe { pre: pre_tok, ignore_merges: pre.ignore_merges, byte_ids, byte_chars, merges })
    }

    /// Tokenizes plain text (no special tokens in it) and appends the ids to `out`.
    pub fn encode(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let mut pieces = Vec::new();
        self.pre.split(text, &mut pieces);
        let mut work = Work::default();
        let mut mapped = String::new();
        // Source code repeats its words: each distinct piece is merged once.
        let mut cache: FastMap<&[u8], (usize, usize)> = FastMap::default();
        let mut done: Vec<u32> = Vec::new();
        for (start, end) in pieces {
            let piece = &text.as_bytes()[start..end];
            if let Some(&(from, to)) = cache.get(piece) {
                out.extend_from_slice(&done[from..to]);
                continue;
            }
            let from = done.len();
            self.encode_word(vocab, piece, &mut mapped, &mut work, &mut done);
            out.extend_from_slice(&done[from..]);
            cache.insert(piece, (from, done.len()));
        }
    }

    fn encode_word(
        &self,
        vocab: &Vocab,
        piece: &[u8],
        mapped: &mut String,
        work: &mut Work,
        out: &mut Vec<u32>,
    ) {
        if self.ignore_merges {
            mapped.clear();
            mapped.extend(piece.iter().map(|&b| self.byte_chars[b as usize]));
            if let Some(id) = vocab.id(mapped) {
                out.push(id);
                return;
            }
        }
        self.encode_piece(piece, work, out);
    }

    /// Merges one pre-tokenized piece: start from one symbol per byte, then repeatedly
    /// merge the adjacent pair of lowest rank (leftmost first).
    fn encode_piece(&self, piece: &[u8], work: &mut Work, out: &mut Vec<u32>) {
        if piece.len() == 1 {
            let id = self.byte_ids[piece[0] as usize];
            if id != NONE {
                out.push(id);
            }
            return;
        }
        work.reset(piece.iter().map(|&b| self.byte_ids[b as usize]));
        for left in 0..piece.len() - 1 {
            self.push_pair(work, left);
        }
        while let Some(Reverse((_, left, left_id, right_id, merged))) = work.heap.pop() {
            let (left, l) = (left as usize, &work.syms[left as usize]);
            // Skip pairs that an earlier merge changed.
            if l.id != left_id || l.next < 0 || work.syms[l.next as usize].id != right_id {
                continue;
            }
            let right = l.next as usize;
            let after = work.syms[right].next;
            work.syms[left].id = merged;
            work.syms[left].next = after;
            work.syms[right].id = NONE;
            work.syms[right].dead = true;
            if after >= 0 {
                work.syms[after as usize].prev = left as i32;
            }
            let prev = work.syms[left].prev;
            if prev >= 0 {
                self.push_pair(work, prev as usize);
            }
            self.push_pair(work, left);
        }
        // Symbols that are no token (a byte missing from the vocabulary) are dropped, as
        // llama.cpp does.
        out.extend(work.syms.iter().filter(|s| !s.dead && s.id != NONE).map(|s| s.id));
    }

    fn push_pair(&self, work: &mut Work, left: usize) {
        let l = &work.syms[left];
        if l.next < 0 || l.id == NONE {
            return;
        }
        let r = &work.syms[l.next as usize];
        if r.id == NONE {
            return;
        }
        if let Some(m) = self.merges.get(&pair_key(l.id, r.id)) {
            work.heap.push(Reverse((m.rank, left as u32, l.id, r.id, m.merged)));
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sym {
    id: u32,
    prev: i32,
    next: i32,
    dead: bool,
}

/// A possible merge: (rank, left index, left id, right id, merged id); the heap pops the
/// lowest rank first, leftmost on ties.
type Candidate = (u32, u32, u32, u32, u32);

/// Scratch buffers reused across pieces.
#[derive(Default)]
struct Work {
    syms: Vec<Sym>,
    heap: BinaryHeap<Reverse<Candidate>>,
}

impl Work {
    fn reset(&mut self, ids: impl ExactSizeIterator<Item = u32>) {
        let n = ids.len() as i32;
        self.syms.clear();
        self.heap.clear();
        for (i, id) in ids.enumerate() {
            let i = i as i32;
            let next = if i + 1 < n { i + 1 } else { -1 };
            self.syms.push(Sym { id, prev: i - 1, next, dead: false });
        }
    }
}

/// The pre-tokenizer configuration of a file, from `tokenizer.ggml.pre` (absent: llama.cpp's
/// `default`).
pub fn pre_config(meta: &Metadata) -> Result<PreConfig> {
    pretok::config(meta.get_str_opt(super::vocab::KEY_PRE)?.unwrap_or("default"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Array, Value};
    use crate::tokenizer::testutil::meta_with_tokens;

    #[test]
    fn byte_map_is_a_bijection_onto_printable_chars() {
        let table = byte_to_char();
        assert_eq!(table[b'a' as usize], 'a');
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(char_to_byte().len(), 256);
    }

    fn tiny(merges: &[&str]) -> (Vocab, Bpe) {
        let tokens = ["a", "b", "c", "Ġ", "ab", "bc", "abc", "Ġa"];
        let mut meta = meta_with_tokens(&tokens);
        let merges = merges.iter().map(|s| s.to_string()).collect();
        meta.insert(KEY_MERGES, Value::Array(Array::String(merges)));
        let vocab = Vocab::from_gguf(&meta).unwrap();
        let bpe = Bpe::from_gguf(&meta, &vocab, &pretok::config("gpt-2").unwrap()).unwrap();
        (vocab, bpe)
    }

    fn encode(merges: &[&str], text: &str) -> Vec<u32> {
        let (vocab, bpe) = tiny(merges);
        let mut out = Vec::new();
        bpe.encode(&vocab, text, &mut out);
        out
    }

    #[test]
    fn lower_rank_merges_first() {
        assert_eq!(encode(&["a b", "ab c"], "abc"), [6]);
        // With "b c" first, "a" is left alone: ab+c never happens.
        assert_eq!(encode(&["b c", "a b", "ab c"], "abc"), [0, 5]);
        assert_eq!(encode(&["Ġ a"], "c a"), [2, 7]);
    }

    #[test]
    fn bytes_without_token_are_dropped() {
        assert_eq!(encode(&[], "a\u{7f}b"), [0, 1]);
    }

    #[test]
    fn merges_naming_unknown_tokens_are_errors() {
        let tokens = ["a", "b", "ab"];
        for (merge, needle) in [
            ("a x", "unknown token \"x\""),
            ("b a", "\"ba\", which is no token"),
            ("ab", "no space"),
        ] {
            let mut meta = meta_with_tokens(&tokens);
            meta.insert(KEY_MERGES, Value::Array(Array::String(vec![merge.into()])));
            let vocab = Vocab::from_gguf(&meta).unwrap();
            let e = Bpe::from_gguf(&meta, &vocab, &pretok::config("gpt-2").unwrap()).unwrap_err();
            assert_eq!(e.key(), Some(KEY_MERGES));
            assert!(e.message().contains(needle), "{e}");
        }
    }
}
