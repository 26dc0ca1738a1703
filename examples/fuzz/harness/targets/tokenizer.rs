//! The tokenizers of the real models: any text encodes to ids inside the vocabulary and,
//! when each of its characters survives a round trip alone, decodes back to itself, in
//! one go and streamed; any id sequence decodes, streaming gives whole characters.
//!
//! Input: one flags byte (model, parse_special, BOS, mode), then the text (bytes that are
//! not UTF-8 replaced, as a lossy reader would) or, in decode mode, ids of 3 bytes each.

use std::collections::HashMap;
use std::path::Path;

use hearth::gguf::GgufFile;
use hearth::tokenizer::{TokenType, Tokenizer};

use super::super::{class_of, Target};

pub struct Tokenizers {
    models: Vec<Model>,
}

struct Model {
    tok: Tokenizer,
    /// Whether a character alone survives encode → decode.
    representable: HashMap<char, bool>,
}

impl Tokenizers {
    pub fn load(models: &[&Path]) -> Result<Tokenizers, String> {
        let mut out = Vec::new();
        for path in models {
            let file = GgufFile::open(path).map_err(|e| e.to_string())?;
            let tok = Tokenizer::from_gguf(file.metadata()).map_err(|e| e.to_string())?;
            out.push(Model { tok, representable: HashMap::new() });
        }
        Ok(Tokenizers { models: out })
    }
}

impl Model {
    fn representable(&mut self, text: &str) -> bool {
        let tok = &self.tok;
        text.chars().all(|c| {
            *self.representable.entry(c).or_insert_with(|| {
                let s = c.to_string();
                tok.encode(&s, false, false).and_then(|ids| tok.decode(&ids)).ok() == Some(s)
            })
        })
    }

    fn encode(&mut self, text: &str, bos: bool, special: bool) -> String {
        let ids = match self.tok.encode(text, bos, special) {
            Ok(ids) => ids,
            Err(e) => return format!("encode error: {}", class_of(&e.to_string())),
        };
        let n_vocab = self.tok.n_vocab();
        assert!(ids.iter().all(|&id| (id as usize) < n_vocab), "an id outside the vocabulary");
        let _ = self.tok.encode_prompt(text);
        if bos || !self.representable(text) {
            return format!("encoded, kinds {}", kinds(&self.tok, &ids));
        }
        let decoded = self.tok.decode(&ids).expect("ids from encode decode");
        assert_eq!(decoded, text, "round trip (parse_special {special}) of {ids:?}");
        assert_eq!(stream(&self.tok, &ids), text, "streamed round trip of {ids:?}");
        format!("round trip, kinds {}", kinds(&self.tok, &ids))
    }

    fn decode(&mut self, bytes: &[u8]) -> String {
        let n_vocab = self.tok.n_vocab() as u64;
        let ids: Vec<u32> = bytes
            .chunks(3)
            .map(|c| c.iter().rev().fold(0u64, |v, &b| v << 8 | b as u64))
            .map(|v| (v % (n_vocab + n_vocab / 16)) as u32)
            .collect();
        for &id in &ids {
            let _ = (self.tok.token_to_piece(id, false), self.tok.token_text(id));
            let _ = (self.tok.token_type(id), self.tok.is_special(id), self.tok.is_eog(id));
        }
        let streamed = stream(&self.tok, &ids);
        let bytes = match self.tok.decode_bytes(&ids) {
            Ok(bytes) => bytes,
            Err(e) => {
                assert!(ids.iter().any(|&id| id as u64 >= n_vocab), "decode failed: {e}");
                return format!("decode error: {}", class_of(&e.to_string()));
            }
        };
        match String::from_utf8(bytes) {
            Ok(text) => {
                assert_eq!(streamed, text, "streamed decode of {ids:?}");
                format!("decoded, kinds {}", kinds(&self.tok, &ids))
            }
            Err(_) => format!("decoded, not UTF-8, kinds {}", kinds(&self.tok, &ids)),
        }
    }
}

/// Decodes one id at a time; every chunk must be whole characters.
fn stream(tok: &Tokenizer, ids: &[u32]) -> String {
    let mut d = tok.stream_decoder();
    let mut out = String::new();
    for &id in ids {
        out.push_str(&d.push(id));
    }
    out.push_str(&d.finish());
    assert_eq!(d.pending(), 0, "bytes still pending after finish");
    out
}

/// Which kinds of token a sequence holds, as letters (a coverage signal).
fn kinds(tok: &Tokenizer, ids: &[u32]) -> String {
    let mut seen = [false; 7];
    for &id in ids {
        let k = match tok.token_type(id) {
            Some(TokenType::Normal) => 0,
            Some(TokenType::Control) => 1,
            Some(TokenType::UserDefined) => 2,
            Some(TokenType::Byte) => 3,
            Some(TokenType::Unknown) => 4,
            Some(_) => 5,
            None => 6,
        };
        seen[k] = true;
    }
    seen.iter().zip("ncubko?".chars()).filter(|(s, _)| **s).map(|(_, c)| c).collect()
}

impl Target for Tokenizers {
    fn name(&self) -> &'static str {
        "tokenizer"
    }

    fn max_len(&self) -> usize {
        2048
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        let mut words: Vec<Vec<u8>> = Vec::new();
        for m in &self.models {
            let specials = (0..m.tok.n_vocab() as u32).filter(|&id| m.tok.is_special(id));
            for id in specials.take(200) {
                if let Ok(piece) = m.tok.token_to_piece(id, true) {
                    words.push(piece.to_vec());
                }
            }
        }
        for w in ["\u{2581}", " ", "\n\n", "\r\n", "\t", "'s", "🦀", "é", "\u{200d}", "\u{feff}"]
        {
            words.push(w.as_bytes().to_vec());
        }
        words.extend([vec![0xff], vec![0xc3], vec![0xe2, 0x82], vec![0xf0, 0x9f, 0xa6], vec![0]]);
        words
    }

    fn run(&mut self, input: &[u8]) -> String {
        let Some((&flags, rest)) = input.split_first() else { return "empty".into() };
        let n = self.models.len();
        let model = &mut self.models[(flags & 3) as usize % n];
        let special = flags & 4 != 0;
        let bos = flags & 8 != 0;
        if flags >> 4 >= 12 {
            return model.decode(rest);
        }
        let text = String::from_utf8_lossy(rest);
        model.encode(&text, bos, special)
    }
}
