//! Detokenizing: the bytes each token stands for (llama.cpp's token_to_piece), and a
//! streaming decoder that never emits broken UTF-8 (incomplete sequences wait for the next
//! token).

use super::bpe::char_to_byte;
use super::vocab::{Attr, Vocab};

/// Tokens rendered only when special tokens are shown.
const HIDDEN: Attr = Attr::CONTROL.union(Attr::UNKNOWN);
/// Tokens whose text is output as it is stored.
const VERBATIM: Attr = HIDDEN.union(Attr::USER_DEFINED);

/// The bytes of every token, precomputed (special tokens as their text).
#[derive(Debug, Clone)]
pub struct Pieces {
    bytes: Vec<u8>,
    /// (n_vocab + 1) offsets into `bytes`.
    offsets: Vec<u32>,
}

/// How token texts map back to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextForm {
    /// GPT-2 byte-level: each character stands for one byte.
    ByteLevel,
    /// SentencePiece: `▁` stands for a space, `<0xNN>` byte tokens for a byte.
    SentencePiece,
}

impl Pieces {
    pub fn new(vocab: &Vocab, form: TextForm) -> Pieces {
        let char_bytes = char_to_byte();
        let mut bytes = Vec::with_capacity(vocab.texts.iter().map(String::len).sum());
        let mut offsets = Vec::with_capacity(vocab.len() + 1);
        offsets.push(0);
        for (id, text) in vocab.texts.iter().enumerate() {
            let attr = vocab.attr(id as u32);
            if attr.any(VERBATIM) {
                bytes.extend_from_slice(text.as_bytes());
            } else if attr.any(Attr::NORMAL) {
                match form {
                    TextForm::SentencePiece => {
                        bytes.extend_from_slice(text.replace(super::spm::SPACE, " ").as_bytes())
                    }
                    TextForm::ByteLevel => {
                        for c in text.chars() {
                            // A character outside the byte map stands for itself.
                            match char_bytes.get(&c) {
                                Some(&b) => bytes.push(b),
                                None => {
                                    bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                                }
                            }
                        }
                    }
                }
            } else if attr.any(Attr::BYTE) {
                bytes.extend(byte_token_value(text));
            }
            offsets.push(bytes.len() as u32);
        }
        Pieces { bytes, offsets }
    }

    /// The bytes of `id`; hidden special tokens give nothing unless `special`.
    pub fn get(&self, vocab: &Vocab, id: u32, special: bool) -> Option<&[u8]> {
        let i = id as usize;
        let (start, end) = (*self.offsets.get(i)?, *self.offsets.get(i + 1)?);
        if !special && vocab.attr(id).any(HIDDEN) {
            return Some(&[]);
        }
        Some(&self.bytes[start as usize..end as usize])
    }
}

/// The byte of a `<0xNN>` token.
fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// Turns token pieces into text as they arrive, holding back an incomplete UTF-8 sequence
/// at the end until the bytes that complete it come. Bytes that can never form a
/// character become U+FFFD.
#[derive(Debug, Clone, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn new() -> Utf8Stream {
        Utf8Stream::default()
    }

    /// Adds bytes; returns the text now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // `valid` is the prefix that from_utf8 reported valid.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete sequence at the end: keep it for later.
                        None => {
                            rest = after;
                            break;
                        }
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[n..];
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let len = self.pending.len();
        self.pending.drain(..len - keep);
        out
    }

    /// Ends the stream: whatever is still held back becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    /// Bytes held back, waiting for the rest of a character.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_sequences_wait_for_their_end() {
        let mut s = Utf8Stream::new();
        let smile = "🙂".as_bytes();
        assert_eq!(s.push(b"a"), "a");
        assert_eq!(s.push(&smile[..1]), "");
        assert_eq!(s.push(&smile[1..3]), "");
        assert_eq!(s.pending(), 3);
        assert_eq!(s.push(&[smile[3], b'b']), "🙂b");
        assert_eq!(s.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut s = Utf8Stream::new();
        assert_eq!(s.push(&[b'x', 0xFF, b'y']), "x\u{FFFD}y");
        assert_eq!(s.push(&[0xE2, 0x82]), "");
        assert_eq!(s.finish(), "\u{FFFD}");
    }

    #[test]
    fn byte_tokens_parse_their_hex() {
        assert_eq!(byte_token_value("<0x0A>"), Some(10));
        assert_eq!(byte_token_value("<0xff>"), Some(255));
        assert_eq!(byte_token_value("<0x>"), None);
    }
}
