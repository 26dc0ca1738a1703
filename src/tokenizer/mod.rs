//! Tokenizers built from GGUF metadata: byte-level BPE and SentencePiece.
//!
//! `Tokenizer::from_gguf` reads `tokenizer.ggml.*` and gives the token ids llama.cpp gives
//! on the same file: special-token text is cut out first (`special`), the rest goes to
//! byte-level BPE with the pre-tokenizer of `tokenizer.ggml.pre` (`bpe`, `pretok`) or to
//! SentencePiece merging (`spm`). Decoding (`decode`) streams without breaking UTF-8.
//!
//! Known differences from llama.cpp: decoding never applies its `clean_spaces` rewrite
//! (so that decode(encode(s)) == s), characters outside the byte map of a byte-level
//! token decode as themselves instead of `[UNK_BYTE_…]`, a BPE file without BOS/EOS keys
//! has no BOS/EOS (llama.cpp guesses id 11), the per-model LSTRIP/RSTRIP hacks (phi-3,
//! jina) are not applied, and an EOT found by text is the first of llama.cpp's list that
//! the vocabulary has (llama.cpp takes whichever its hash map yields first).
//!
//! Round trips: decode(encode(s)) == s for any text whose bytes the vocabulary can
//! represent, except that SentencePiece reads a literal `▁` as a space and, with a space
//! prefix, text after a special token gains a leading space (both as in llama.cpp).

mod bpe;
mod decode;
mod pretok;
mod special;
mod spm;
#[cfg(test)]
pub(crate) mod testutil;
mod vocab;

use crate::error::{Error, Result};
use crate::gguf::Metadata;

use bpe::Bpe;
use decode::{Pieces, TextForm, Utf8Stream};
use special::{Fragment, SpecialMatcher};
use spm::Spm;
use vocab::{SpecialDefaults, Vocab};

pub use pretok::known_names as known_pre_tokenizers;
pub use vocab::{SpecialIds, TokenType};

/// The tokenizer families of `tokenizer.ggml.model` that hearth implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerModel {
    /// `gpt2`: byte-level BPE with merges and a regex pre-tokenizer.
    Gpt2,
    /// `llama`: SentencePiece with scores and byte fallback.
    Llama,
}

impl TokenizerModel {
    /// The value of `tokenizer.ggml.model`.
    pub fn name(self) -> &'static str {
        match self {
            TokenizerModel::Gpt2 => "gpt2",
            TokenizerModel::Llama => "llama",
        }
    }
}

/// How to encode a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Put the BOS token first.
    pub add_bos: bool,
    /// Put the EOS token last.
    pub add_eos: bool,
    /// Recognise control-token text such as `<|im_start|>` (user-defined tokens are
    /// always recognised, as in llama.cpp).
    pub parse_special: bool,
}

#[derive(Debug, Clone)]
enum Engine {
    Bpe(Bpe),
    Spm(Spm),
}

/// A tokenizer read from a GGUF file.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    model: TokenizerModel,
    pre: Option<String>,
    engine: Engine,
    vocab: Vocab,
    special: SpecialIds,
    matcher: SpecialMatcher,
    pieces: Pieces,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

impl Tokenizer {
    /// Reads and checks the tokenizer of a GGUF file. Errors name the key at fault:
    /// an unknown `tokenizer.ggml.model` or `tokenizer.ggml.pre`, arrays of different
    /// lengths, merges naming unknown tokens, special ids outside the vocabulary.
    pub fn from_gguf(meta: &Metadata) -> Result<Tokenizer> {
        let model_name = meta.get_str(vocab::KEY_MODEL)?;
        let model = match model_name {
            "gpt2" => TokenizerModel::Gpt2,
            "llama" => TokenizerModel::Llama,
            other => {
                let msg = format!("tokenizer '{other}' is not supported (supported: gpt2, llama)");
                return Err(Error::unsupported(msg).with_key(vocab::KEY_MODEL));
            }
        };
        let pre = meta.get_str_opt(vocab::KEY_PRE)?.map(str::to_string);
        let mut vocab = Vocab::from_gguf(meta)?;
        // Family defaults first, then the file's keys (llama.cpp's order).
        let (defaults, default_add_bos, bpe_config) = match model {
            TokenizerModel::Gpt2 => {
                let config = bpe::pre_config(meta)?;
                (SpecialDefaults::default(), config.add_bos, Some(config))
            }
            TokenizerModel::Llama => {
                let d = SpecialDefaults { bos: Some(1), eos: Some(2), unk: Some(0) };
                (d, true, None)
            }
        };
        let special = vocab::read_special(meta, &mut vocab, defaults)?;
        let engine = match bpe_config {
            Some(config) => Engine::Bpe(Bpe::from_gguf(meta, &vocab, &config)?),
            // The byte fallback falls back further to the unknown token.
            None => Engine::Spm(Spm::new(&vocab, special.unk)),
        };
        let is_spm = model == TokenizerModel::Llama;
        let add_bos = meta.get_bool_opt(vocab::KEY_ADD_BOS)?.unwrap_or(default_add_bos);
        let add_eos = meta.get_bool_opt(vocab::KEY_ADD_EOS)?.unwrap_or(false);
        let add_space_prefix = meta.get_bool_opt(vocab::KEY_ADD_SPACE_PREFIX)?.unwrap_or(is_spm);
        let form = if is_spm { TextForm::SentencePiece } else { TextForm::ByteLevel };
        let pieces = Pieces::new(&vocab, form);
        let matcher = SpecialMatcher::new(&vocab);
        Ok(Tokenizer {
            model,
            pre,
            engine,
            vocab,
            special,
            matcher,
            pieces,
            add_bos,
            add_eos,
            add_space_prefix,
        })
    }

    pub fn model(&self) -> TokenizerModel {
        self.model
    }

    /// The file's `tokenizer.ggml.pre`, if any (SentencePiece files ignore it).
    pub fn pre(&self) -> Option<&str> {
        self.pre.as_deref()
    }

    pub fn n_vocab(&self) -> usize {
        self.vocab.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.special.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.special.eos
    }

    /// The end-of-turn token (`<|im_end|>`, `<end_of_turn>`, …), from the file or found
    /// by its text.
    pub fn eot(&self) -> Option<u32> {
        self.special.eot
    }

    pub fn eom(&self) -> Option<u32> {
        self.special.eom
    }

    pub fn unk(&self) -> Option<u32> {
        self.special.unk
    }

    pub fn pad(&self) -> Option<u32> {
        self.special.pad
    }

    /// All special ids, fill-in-the-middle ones included.
    pub fn special_ids(&self) -> &SpecialIds {
        &self.special
    }

    /// Every token that ends generation (EOS, EOT, EOM and the ones llama.cpp knows by
    /// text), sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.special.eog
    }

    /// True when generation should stop at `id`.
    pub fn is_eog(&self, id: u32) -> bool {
        self.special.eog.binary_search(&id).is_ok()
    }

    /// Whether prompts start with BOS (`tokenizer.ggml.add_bos_token`, else the family's
    /// default).
    pub fn add_bos_default(&self) -> bool {
        self.add_bos
    }

    /// Whether prompts end with EOS (`tokenizer.ggml.add_eos_token`).
    pub fn add_eos_default(&self) -> bool {
        self.add_eos
    }

    /// Whether text gets a leading space (`tokenizer.ggml.add_space_prefix`).
    pub fn add_space_prefix(&self) -> bool {
        self.add_space_prefix
    }

    /// The token's text as stored in the vocabulary (byte-level or `▁`-escaped).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.texts.get(id as usize).map(String::as_str)
    }

    /// The id of a token by its stored text.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.id(text)
    }

    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.vocab.types.get(id as usize).copied()
    }

    /// True for control, user-defined and unknown tokens (the ones matched in text).
    pub fn is_special(&self, id: u32) -> bool {
        use vocab::Attr;
        let special = Attr::CONTROL.union(Attr::USER_DEFINED).union(Attr::UNKNOWN);
        self.vocab.attr(id).any(special)
    }

    /// Tokenizes `text`, with BOS first when `add_bos` and special-token text recognised
    /// when `parse_special`. No EOS is added.
    pub fn encode(&self, text: &str, add_bos: bool, parse_special: bool) -> Result<Vec<u32>> {
        self.encode_with(text, &EncodeOptions { add_bos, add_eos: false, parse_special })
    }

    /// Tokenizes a prompt the way the model expects: BOS/EOS as the file says, special
    /// tokens recognised.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let opts =
            EncodeOptions { add_bos: self.add_bos, add_eos: self.add_eos, parse_special: true };
        self.encode_with(text, &opts)
    }

    pub fn encode_with(&self, text: &str, opts: &EncodeOptions) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if opts.add_bos {
            out.push(self.required(self.special.bos, "BOS", vocab::KEY_BOS_ID)?);
        }
        // A SentencePiece fragment after a special token (or at the start) gets the space
        // prefix, as in llama.cpp.
        let mut after_special = true;
        for fragment in self.matcher.partition(text, opts.parse_special) {
            match fragment {
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
                Fragment::Text(t) => {
                    match &self.engine {
                        Engine::Bpe(bpe) => bpe.encode(&self.vocab, t, &mut out),
                        Engine::Spm(spm) => {
                            let prefix = self.add_space_prefix && after_special;
                            spm.encode(&self.vocab, t, prefix, &mut out)?
                        }
                    }
                    after_special = false;
                }
            }
        }
        if opts.add_eos {
            out.push(self.required(self.special.eos, "EOS", vocab::KEY_EOS_ID)?);
        }
        Ok(out)
    }

    fn required(&self, id: Option<u32>, what: &str, key: &str) -> Result<u32> {
        id.ok_or_else(|| Error::unsupported(format!("the model has no {what} token")).with_key(key))
    }

    /// The bytes `id` stands for. Control and unknown tokens give their text when
    /// `special`, nothing otherwise. A piece may be part of a UTF-8 character.
    pub fn token_to_piece(&self, id: u32, special: bool) -> Result<&[u8]> {
        self.pieces.get(&self.vocab, id, special).ok_or_else(|| {
            Error::bad_input(format!(
                "token id {id} is outside the vocabulary of {}",
                self.n_vocab()
            ))
        })
    }

    /// The bytes of a token sequence, special tokens as their text. With a space prefix,
    /// the first token's leading space is dropped (it was added by encoding).
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for (i, &id) in ids.iter().enumerate() {
            let piece = self.token_to_piece(id, true)?;
            out.extend_from_slice(self.strip_first_space(i == 0, piece));
        }
        Ok(out)
    }

    /// The text of a token sequence; bytes that form no UTF-8 become U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.decode_bytes(ids)?).into_owned())
    }

    fn strip_first_space<'a>(&self, first: bool, piece: &'a [u8]) -> &'a [u8] {
        match piece {
            [b' ', rest @ ..] if first && self.add_space_prefix => rest,
            _ => piece,
        }
    }

    /// A decoder for tokens arriving one at a time.
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder { tok: self, utf8: Utf8Stream::new(), first: true, show_special: true }
    }
}

/// Decodes tokens one at a time (as generation produces them) into text that is always
/// valid UTF-8: a character split across tokens comes out whole with its last token.
#[derive(Debug, Clone)]
pub struct StreamDecoder<'a> {
    tok: &'a Tokenizer,
    utf8: Utf8Stream,
    first: bool,
    /// Render control tokens as their text (the default); off, they give nothing.
    pub show_special: bool,
}

impl StreamDecoder<'_> {
    /// Adds a token; returns the text it completes (maybe empty). An id outside the
    /// vocabulary adds nothing.
    pub fn push(&mut self, id: u32) -> String {
        let piece = self.tok.pieces.get(&self.tok.vocab, id, self.show_special).unwrap_or(&[]);
        let piece = self.tok.strip_first_space(self.first, piece);
        self.first = false;
        self.utf8.push(piece)
    }

    /// Ends the stream: bytes still held back come out as U+FFFD.
    pub fn finish(&mut self) -> String {
        self.utf8.finish()
    }

    /// Bytes held back, waiting for the rest of a character.
    pub fn pending(&self) -> usize {
        self.utf8.pending()
    }
}

#[cfg(test)]
mod tests;
