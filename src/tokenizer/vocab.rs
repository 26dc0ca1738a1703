//! The vocabulary of a GGUF tokenizer: token texts, scores, types and llama.cpp-style
//! attributes, the special ids (BOS/EOS/EOT/EOM/…), and the end-of-generation set.

use super::bpe::FastMap;
use crate::error::{Error, Result};
use crate::gguf::{Array, Metadata, Value};

pub const KEY_MODEL: &str = "tokenizer.ggml.model";
pub const KEY_PRE: &str = "tokenizer.ggml.pre";
pub const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
pub const KEY_SCORES: &str = "tokenizer.ggml.scores";
pub const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
pub const KEY_MERGES: &str = "tokenizer.ggml.merges";
pub const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
pub const KEY_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
pub const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
pub const KEY_BOS_ID: &str = "tokenizer.ggml.bos_token_id";
pub const KEY_EOS_ID: &str = "tokenizer.ggml.eos_token_id";

/// A token's type as GGUF stores it in `tokenizer.ggml.token_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    fn from_i32(v: i32) -> TokenType {
        match v {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }
}

/// llama.cpp's token attributes: a bit set derived from the token type, adjusted by the
/// auto-detection of end-of-turn and fill-in-the-middle tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr(u16);

impl Attr {
    pub const UNKNOWN: Attr = Attr(1 << 0);
    pub const UNUSED: Attr = Attr(1 << 1);
    pub const NORMAL: Attr = Attr(1 << 2);
    pub const CONTROL: Attr = Attr(1 << 3);
    pub const USER_DEFINED: Attr = Attr(1 << 4);
    pub const BYTE: Attr = Attr(1 << 5);

    fn from_type(t: TokenType) -> Attr {
        match t {
            TokenType::Undefined => Attr(0),
            TokenType::Normal => Attr::NORMAL,
            TokenType::Unknown => Attr::UNKNOWN,
            TokenType::Control => Attr::CONTROL,
            TokenType::UserDefined => Attr::USER_DEFINED,
            TokenType::Unused => Attr::UNUSED,
            TokenType::Byte => Attr::BYTE,
        }
    }

    /// True when any bit of `other` is set.
    pub const fn any(self, other: Attr) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: Attr) -> Attr {
        Attr(self.0 | other.0)
    }
}

/// The special token ids; `None` where the model has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
    /// Every token that ends generation, sorted.
    pub eog: Vec<u32>,
}

/// Token texts, scores, types and attributes, with the text -> id index.
#[derive(Debug, Clone)]
pub struct Vocab {
    /// (n_vocab) token texts as stored (byte-level or `▁`-escaped).
    pub texts: Vec<String>,
    /// (n_vocab) SentencePiece scores; 0 when the file has none.
    pub scores: Vec<f32>,
    /// (n_vocab) types as stored in the file.
    pub types: Vec<TokenType>,
    /// (n_vocab) attributes after auto-detection.
    pub attrs: Vec<Attr>,
    pub ids: FastMap<String, u32>,
}

impl Vocab {
    /// Reads tokens, scores and token types, checking that the arrays agree in length and
    /// that no text appears twice.
    pub fn from_gguf(meta: &Metadata) -> Result<Vocab> {
        let tokens = meta.get_str_array(KEY_TOKENS)?;
        if tokens.is_empty() {
            return Err(Error::bad_input("the vocabulary is empty").with_key(KEY_TOKENS));
        }
        if u32::try_from(tokens.len()).is_err() {
            return Err(Error::bad_input("too many tokens").with_key(KEY_TOKENS));
        }
        let n = tokens.len();
        let scores = read_scores(meta, n)?;
        let types = read_types(meta, n)?;
        let mut ids = FastMap::default();
        ids.reserve(n);
        let mut texts = Vec::with_capacity(n);
        for (i, text) in tokens.iter().enumerate() {
            // llama.cpp names empty tokens so that they can never match text.
            let text = if text.is_empty() { format!("[EMPTY_{i}]") } else { text.clone() };
            if let Some(first) = ids.insert(text.clone(), i as u32) {
                return Err(Error::bad_input(format!("token {i} {text:?} repeats token {first}"))
                    .with_key(KEY_TOKENS));
            }
            texts.push(text);
        }
        let attrs = types.iter().map(|&t| Attr::from_type(t)).collect();
        Ok(Vocab { texts, scores, types, attrs, ids })
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    pub fn attr(&self, id: u32) -> Attr {
        self.attrs.get(id as usize).copied().unwrap_or_default()
    }

    fn mark_control(&mut self, id: u32) {
        let a = &mut self.attrs[id as usize];
        *a = a.union(Attr::CONTROL);
    }
}

fn read_scores(meta: &Metadata, n: usize) -> Result<Vec<f32>> {
    let scores = match meta.get(KEY_SCORES) {
        None => return Ok(vec![0.0; n]),
        Some(Value::Array(Array::F32(v))) => v.clone(),
        Some(Value::Array(Array::I32(v))) => v.iter().map(|&x| x as f32).collect(),
        Some(v) => {
            let msg = format!("expected array[f32], found {}", v.type_name());
            return Err(Error::bad_input(msg).with_key(KEY_SCORES));
        }
    };
    check_len(KEY_SCORES, scores.len(), n)?;
    Ok(scores)
}

fn read_types(meta: &Metadata, n: usize) -> Result<Vec<TokenType>> {
    let types: Vec<TokenType> = match meta.get(KEY_TOKEN_TYPE) {
        None => return Ok(vec![TokenType::Normal; n]),
        Some(Value::Array(Array::I32(v))) => v.iter().map(|&t| TokenType::from_i32(t)).collect(),
        Some(Value::Array(Array::U32(v))) => {
            v.iter().map(|&t| TokenType::from_i32(t.min(i32::MAX as u32) as i32)).collect()
        }
        Some(v) => {
            let msg = format!("expected array[i32], found {}", v.type_name());
            return Err(Error::bad_input(msg).with_key(KEY_TOKEN_TYPE));
        }
    };
    check_len(KEY_TOKEN_TYPE, types.len(), n)?;
    Ok(types)
}

fn check_len(key: &str, len: usize, n: usize) -> Result<()> {
    if len != n {
        let msg = format!("{len} entries, but {KEY_TOKENS} has {n}");
        return Err(Error::bad_input(msg).with_key(key));
    }
    Ok(())
}

/// Default special ids of a tokenizer family, used where the file names none.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpecialDefaults {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
}

/// The keys of the special ids, in llama.cpp's order.
const SPECIAL_KEYS: [&str; 14] = [
    KEY_BOS_ID,
    KEY_EOS_ID,
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eom_token_id",
    "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id",
    "tokenizer.ggml.mask_token_id",
    "tokenizer.ggml.fim_pre_token_id",
    "tokenizer.ggml.fim_suf_token_id",
    "tokenizer.ggml.fim_mid_token_id",
    "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_rep_token_id",
    "tokenizer.ggml.fim_sep_token_id",
];

/// Texts that llama.cpp recognises as end-of-turn tokens, in our order of preference.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] =
    &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];

/// Texts that end generation wherever they appear in a vocabulary (llama.cpp's list).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Tokens llama.cpp always renders as text (gpt-oss channel markers).
const FORCE_USER_DEFINED: &[&str] = &["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/// Reads the special ids (defaults first, then the file's keys, each checked against the
/// vocabulary), auto-detects EOT/EOM/FIM tokens by text as llama.cpp does, marks them as
/// control tokens, and collects the end-of-generation set.
pub fn read_special(
    meta: &Metadata,
    vocab: &mut Vocab,
    defaults: SpecialDefaults,
) -> Result<SpecialIds> {
    let n = vocab.len() as u32;
    let in_range = |id: Option<u32>| id.filter(|&i| i < n);
    let mut ids = [None; 14];
    ids[0] = in_range(defaults.bos);
    ids[1] = in_range(defaults.eos);
    ids[4] = in_range(defaults.unk);
    for (slot, key) in ids.iter_mut().zip(SPECIAL_KEYS) {
        let Some(id) = meta.get_u32_opt(key)? else { continue };
        if id >= n {
            let msg = format!("token id {id} is outside the vocabulary of {n} tokens");
            return Err(Error::bad_input(msg).with_key(key));
        }
        *slot = Some(id);
    }
    let [bos, eos, eot, eom, unk, sep, pad, mask, fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep] =
        ids;
    let mut s = SpecialIds {
        bos,
        eos,
        eot,
        eom,
        unk,
        sep,
        pad,
        mask,
        fim_pre,
        fim_suf,
        fim_mid,
        fim_pad,
        fim_rep,
        fim_sep,
        eog: Vec::new(),
    };
    let detect: [(&mut Option<u32>, &[&str]); 8] = [
        (&mut s.eot, EOT_TEXTS),
        (&mut s.eom, EOM_TEXTS),
        (&mut s.fim_pre, FIM_PRE_TEXTS),
        (&mut s.fim_suf, FIM_SUF_TEXTS),
        (&mut s.fim_mid, FIM_MID_TEXTS),
        (&mut s.fim_pad, FIM_PAD_TEXTS),
        (&mut s.fim_rep, FIM_REP_TEXTS),
        (&mut s.fim_sep, FIM_SEP_TEXTS),
    ];
    for (slot, texts) in detect {
        if slot.is_none() {
            if let Some(id) = texts.iter().find_map(|t| vocab.id(t)) {
                *slot = Some(id);
                vocab.mark_control(id);
            }
        }
    }
    s.eog = collect_eog(vocab, &s);
    for text in FORCE_USER_DEFINED {
        if let Some(id) = vocab.id(text) {
            vocab.attrs[id as usize] = Attr::USER_DEFINED;
        }
    }
    Ok(s)
}

fn collect_eog(vocab: &mut Vocab, s: &SpecialIds) -> Vec<u32> {
    let mut eog: Vec<u32> = [s.fim_pad, s.fim_rep, s.fim_sep].into_iter().flatten().collect();
    for text in EOG_TEXTS {
        if let Some(id) = vocab.id(text) {
            eog.push(id);
            vocab.mark_control(id);
        }
    }
    eog.extend([s.eos, s.eot, s.eom].into_iter().flatten());
    eog.sort_unstable();
    eog.dedup();
    // gpt-oss and solar-open: `<|end|>` ends a message, not the generation.
    let find = |eog: &[u32], t: &str| vocab.id(t).filter(|id| eog.contains(id));
    let has = |eog: &[u32], t: &str| find(eog, t).is_some();
    let has_call = has(&eog, "<|call|>") || has(&eog, "<|calls|>");
    let ends_message = has_call && (has(&eog, "<|return|>") || has(&eog, "<|flush|>"));
    let demote = match find(&eog, "<|end|>") {
        Some(end) if ends_message => Some((end, Attr::USER_DEFINED)),
        _ => None,
    };
    // gemma4 and plamo: `</s>` is an ordinary token there.
    let plain_s = has(&eog, "<|tool_response>") || has(&eog, "<|plamo:eos|>");
    let demote_s = find(&eog, "</s>").filter(|_| plain_s).map(|id| (id, Attr::NORMAL));
    for (id, attr) in demote.into_iter().chain(demote_s) {
        eog.retain(|&e| e != id);
        vocab.attrs[id as usize] = attr;
    }
    eog
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::testutil::meta_with_tokens;

    #[test]
    fn empty_tokens_are_renamed_and_duplicates_rejected() {
        let meta = meta_with_tokens(&["a", "", "b"]);
        let v = Vocab::from_gguf(&meta).unwrap();
        assert_eq!(v.texts[1], "[EMPTY_1]");
        let meta = meta_with_tokens(&["a", "b", "a"]);
        let e = Vocab::from_gguf(&meta).unwrap_err();
        assert_eq!(e.key(), Some(KEY_TOKENS));
        assert!(e.message().contains("repeats token 0"), "{e}");
    }

    #[test]
    fn mismatched_array_lengths_name_the_key() {
        let mut meta = meta_with_tokens(&["a", "b"]);
        meta.insert(KEY_SCORES, Value::Array(Array::F32(vec![0.0])));
        let e = Vocab::from_gguf(&meta).unwrap_err();
        assert_eq!(e.key(), Some(KEY_SCORES));
        let mut meta = meta_with_tokens(&["a", "b"]);
        meta.insert(KEY_TOKEN_TYPE, Value::Array(Array::I32(vec![1, 1, 1])));
        let e = Vocab::from_gguf(&meta).unwrap_err();
        assert_eq!(e.key(), Some(KEY_TOKEN_TYPE));
        assert_eq!(
            e.to_string(),
            "key 'tokenizer.ggml.token_type': 3 entries, but tokenizer.ggml.tokens has 2"
        );
    }

    #[test]
    fn special_ids_out_of_range_name_the_key() {
        let mut meta = meta_with_tokens(&["a", "b"]);
        meta.insert(KEY_EOS_ID, Value::U32(2));
        let mut v = Vocab::from_gguf(&meta).unwrap();
        let e = read_special(&meta, &mut v, SpecialDefaults::default()).unwrap_err();
        assert_eq!(e.key(), Some(KEY_EOS_ID));
    }

    #[test]
    fn eog_detection_marks_control_and_prefers_im_end() {
        let meta = meta_with_tokens(&["a", "<|endoftext|>", "<|im_end|>", "<|fim_pad|>"]);
        let mut v = Vocab::from_gguf(&meta).unwrap();
        let s = read_special(&meta, &mut v, SpecialDefaults::default()).unwrap();
        assert_eq!(s.eot, Some(2));
        assert_eq!(s.fim_pad, Some(3));
        assert_eq!(s.eog, vec![1, 2, 3]);
        assert!(v.attr(1).any(Attr::CONTROL));
        assert!(!v.attr(0).any(Attr::CONTROL));
    }
}
