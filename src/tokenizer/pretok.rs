//! Pre-tokenizers of byte-level BPE: the regex splits chosen by `tokenizer.ggml.pre`, as
//! llama.cpp applies them (each pattern splits every piece left by the previous one; text
//! between matches stays a piece of its own).

use fancy_regex::Regex;

use super::vocab::KEY_PRE;
use crate::error::{Error, Result};

// The patterns are llama.cpp's adaptations of the Hugging Face originals (case-insensitive
// groups spelled out, which its std::regex fallback needs); the facts are the same.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// qwen2's split, with combining marks (\p{M}) kept in the letter runs.
const QWEN35: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const DIGIT: &str = r"\p{N}";
const DEFAULT: [&str; 4] = [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"];
const DEEPSEEK_LLM: [&str; 6] = [
    r"[\r\n]",
    r"\s?[A-Za-z\x{b5}\x{c0}-\x{d6}\x{d8}-\x{f6}\x{f8}-\x{1ba}\x{1bc}-\x{1bf}\x{1c4}-\x{293}\x{295}-\x{2af}\x{370}-\x{373}\x{376}\x{377}\x{37b}-\x{37d}\x{37f}\x{386}\x{388}-\x{38a}\x{38c}\x{38e}-\x{3a1}\x{3a3}-\x{3f5}\x{3f7}-\x{481}\x{48a}-\x{52f}\x{531}-\x{556}\x{10a0}-\x{10c5}\x{13a0}-\x{13f5}\x{13f8}-\x{13fd}\x{1c90}-\x{1cba}\x{1cbd}-\x{1cbf}\x{1d00}-\x{1d2b}\x{1d6b}-\x{1d77}\x{1d79}-\x{1d9a}\x{1e00}-\x{1f15}\x{1f18}-\x{1f1d}\x{1f20}-\x{1f45}\x{1f48}-\x{1f4d}\x{1f50}-\x{1f57}\x{1f59}\x{1f5b}\x{1f5d}\x{1f5f}-\x{1f7d}\x{1f80}-\x{1fb4}\x{1fb6}-\x{1fbc}\x{1fbe}\x{1fc2}-\x{1fc4}\x{1fc6}-\x{1fcc}\x{1fd0}-\x{1fd3}\x{1fd6}-\x{1fdb}\x{1fe0}-\x{1fec}\x{1ff2}-\x{1ff4}\x{1ff6}-\x{1ffc}\x{2102}\x{2107}\x{210a}-\x{2113}\x{2115}\x{2119}-\x{211d}\x{2124}\x{2126}\x{2128}\x{212a}-\x{212d}\x{212f}-\x{2134}\x{2139}\x{213c}-\x{213f}\x{2145}-\x{2149}\x{214e}\x{2183}\x{2184}\x{2c00}-\x{2c7b}\x{2c7e}-\x{2ce4}\x{2ceb}-\x{2cee}\x{2cf2}\x{2cf3}\x{a640}-\x{a66d}\x{a680}-\x{a69b}\x{a722}-\x{a76f}\x{a771}-\x{a787}\x{a78b}-\x{a78e}\x{ab70}-\x{abbf}\x{fb00}-\x{fb06}\x{fb13}-\x{fb17}\x{ff21}-\x{ff3a}\x{ff41}-\x{ff5a}\x{10400}-\x{1044f}\x{104b0}-\x{104d3}\x{104d8}-\x{104fb}\x{10c80}-\x{10cb2}\x{10cc0}-\x{10cf2}\x{118a0}-\x{118df}\x{1e900}-\x{1e943}]+",
    r"\s?[!-/:-~\x{ff01}-\x{ff0f}\x{ff1a}-\x{ff5e}\x{2018}-\x{201f}\x{3000}-\x{3002}]+",
    r"\s+$",
    CJK,
    r"\p{N}+",
];
const DEEPSEEK_V3: [&str; 3] = [
    r"\p{N}{1,3}",
    r"[\x{4e00}-\x{9fa5}\x{3040}-\x{309f}\x{30a0}-\x{30ff}]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
];
const CJK: &str = r"[\x{4e00}-\x{9fa5}\x{800}-\x{4e00}\x{ac00}-\x{d7ff}]+";
const DEEPSEEK_CODER: [&str; 5] = [r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", CJK, r"\p{N}"];
const FALCON: [&str; 3] = [r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"];
const BLOOM: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const SEED_CODER: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How a `tokenizer.ggml.pre` value tokenizes: its patterns and the flags llama.cpp sets.
#[derive(Debug, Clone, Copy)]
pub struct PreConfig {
    pub patterns: &'static [&'static str],
    /// A piece that is already a token is emitted whole, without merging (llama3).
    pub ignore_merges: bool,
    /// The family adds BOS unless `tokenizer.ggml.add_bos_token` says otherwise.
    pub add_bos: bool,
}

const fn cfg(patterns: &'static [&'static str]) -> PreConfig {
    PreConfig { patterns, ignore_merges: false, add_bos: false }
}

/// The `tokenizer.ggml.pre` values hearth knows, with llama.cpp's meaning of each.
const TABLE: &[(&[&str], PreConfig)] = &[
    (&["default"], cfg(&DEFAULT)),
    (
        &["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"],
        PreConfig { patterns: &[LLAMA3], ignore_merges: true, add_bos: true },
    ),
    (&["dbrx", "smaug-bpe"], cfg(&[LLAMA3])),
    (&["deepseek-llm"], cfg(&DEEPSEEK_LLM)),
    (&["deepseek-coder"], cfg(&DEEPSEEK_CODER)),
    (&["deepseek-v3", "hunyuan-dense"], cfg(&DEEPSEEK_V3)),
    (&["falcon"], cfg(&FALCON)),
    (
        &["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"],
        cfg(&[DIGIT, GPT2]),
    ),
    (
        &[
            "gpt-2",
            "gpt2",
            "phi-2",
            "mpt",
            "olmo",
            "jais",
            "trillion",
            "granite-docling",
            "jina-es",
            "jina-de",
            "gigachat",
            "jina-v2-es",
            "jina-v2-de",
            "jina-v1-en",
            "jina-v2-code",
            "roberta-bpe",
            "exaone4",
            "mellum",
            "a.x-4.0",
        ],
        cfg(&[GPT2]),
    ),
    (
        &[
            "qwen2",
            "deepseek-r1-qwen",
            "kormo",
            "f2llmv2",
            "megrez",
            "stablelm2",
            "hunyuan",
            "grok-2",
            "solar-open",
        ],
        cfg(&[QWEN2]),
    ),
    (&["qwen35"], cfg(&[QWEN35])),
    (&["poro-chat", "bloom", "gpt3-finnish"], cfg(&[BLOOM])),
    (&["viking"], cfg(&[BLOOM, DIGIT])),
    (&["chatglm-bpe"], cfg(&[LLAMA3])),
    (&["glm4", "glm5"], PreConfig { patterns: &[LLAMA3], ignore_merges: true, add_bos: false }),
    (&["tekken"], PreConfig { patterns: &[TEKKEN], ignore_merges: true, add_bos: true }),
    (&["gpt-4o", "llama4", "minimax-m2"], cfg(&[GPT4O])),
    (&["seed-coder"], cfg(&[SEED_CODER])),
];

/// The configuration of a `tokenizer.ggml.pre` value; an unknown value is an error, never
/// a silent fallback (a wrong split degrades every answer).
pub fn config(pre: &str) -> Result<PreConfig> {
    TABLE.iter().find(|(names, _)| names.contains(&pre)).map(|(_, c)| *c).ok_or_else(|| {
        Error::unsupported(format!(
            "unknown pre-tokenizer '{pre}' (known: {})",
            known_names().join(", ")
        ))
        .with_key(KEY_PRE)
    })
}

/// Every `tokenizer.ggml.pre` value hearth accepts.
pub fn known_names() -> Vec<&'static str> {
    TABLE.iter().flat_map(|(names, _)| names.iter().copied()).collect()
}

/// A compiled pre-tokenizer.
#[derive(Debug, Clone)]
pub struct PreTokenizer {
    stages: Vec<Regex>,
}

impl PreTokenizer {
    pub fn new(config: &PreConfig) -> Result<PreTokenizer> {
        let stages = config
            .patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| {
                    Error::failed(format!("pre-tokenizer pattern does not compile: {e}"))
                        .with_key(KEY_PRE)
                })
            })
            .collect::<Result<_>>()?;
        Ok(PreTokenizer { stages })
    }

    /// Splits `text` into pieces that together are `text`, in order; appends them to `out`
    /// as byte ranges of `text`.
    pub fn split(&self, text: &str, out: &mut Vec<(usize, usize)>) {
        let first = out.len();
        if !text.is_empty() {
            out.push((0, text.len()));
        }
        let mut next = Vec::new();
        for re in &self.stages {
            next.clear();
            for &(start, end) in &out[first..] {
                split_one(re, text, start, end, &mut next);
            }
            out.truncate(first);
            out.extend_from_slice(&next);
        }
    }
}

/// Splits `text[start..end]` by the matches of `re` (each match and each gap between
/// matches becomes a piece). The regex sees only this piece, as in llama.cpp.
fn split_one(re: &Regex, text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let piece = &text[start..end];
    let mut last = 0;
    for m in re.find_iter(piece) {
        // A regex that fails at run time (backtrack limit) leaves the rest as one piece.
        let Ok(m) = m else { break };
        if m.start() > last {
            out.push((start + last, start + m.start()));
        }
        if m.end() > m.start() {
            out.push((start + m.start(), start + m.end()));
        }
        last = m.end();
    }
    if last < piece.len() {
        out.push((start + last, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(pre: &str, text: &str) -> Vec<String> {
        let p = PreTokenizer::new(&config(pre).unwrap()).unwrap();
        let mut out = Vec::new();
        p.split(text, &mut out);
        out.iter().map(|&(s, e)| text[s..e].to_string()).collect()
    }

    #[test]
    fn every_known_pattern_compiles() {
        for name in known_names() {
            if let Err(e) = PreTokenizer::new(&config(name).unwrap()) {
                panic!("{name}: {e}");
            }
        }
    }

    #[test]
    fn unknown_pre_is_an_error_naming_the_key() {
        let e = config("no-such-pre").unwrap_err();
        assert_eq!(e.key(), Some(KEY_PRE));
        assert!(e.message().contains("'no-such-pre'"));
    }

    #[test]
    fn gpt2_keeps_a_space_with_the_next_word() {
        assert_eq!(
            pieces("gpt-2", "Hello  world's 42!"),
            ["Hello", " ", " world", "'s", " 42", "!"]
        );
    }

    #[test]
    fn llama3_groups_three_digits_and_newlines() {
        assert_eq!(pieces("llama3", "12345 x\n\n  y"), ["123", "45", " x", "\n\n", " ", " y"]);
    }

    #[test]
    fn qwen2_splits_single_digits() {
        assert_eq!(pieces("qwen2", "v12 DON'T"), ["v", "1", "2", " DON", "'T"]);
        // qwen35 keeps a combining mark in its word; qwen2 splits it off.
        assert_eq!(pieces("qwen35", "cafe\u{301}s"), ["cafe\u{301}s"]);
        assert_eq!(pieces("qwen2", "cafe\u{301}s"), ["cafe", "\u{301}s"]);
    }

    #[test]
    fn smollm_splits_digits_before_the_gpt2_pattern() {
        // The digit stage isolates each digit; the space before it becomes its own piece.
        assert_eq!(pieces("smollm", "a 12"), ["a", " ", "1", "2"]);
    }

    #[test]
    fn pieces_cover_the_text() {
        let text = "fn main() {\n\tlet x = 1_000; // ünïcödé 🙂\r\n}";
        for name in known_names() {
            assert_eq!(pieces(name, text).concat(), text, "{name}");
        }
    }
}
