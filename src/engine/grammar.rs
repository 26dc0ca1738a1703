//! Grammar-constrained decoding on llguidance: our vocabulary as its token trie (built
//! once per tokenizer), grammars (Lark with JSON Schema inside, or JSON Schema alone)
//! compiled into matchers, and the [`Constraint`]s sampling applies — one that holds from
//! the first token (`--json-schema`), and one that wakes when the model writes a trigger
//! (a tool call's opening tag, or a call at the start of an answer) and lets go when the
//! call is complete.

use std::sync::Arc;
use std::time::{Duration, Instant};

use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher, ParserFactory};
use toktrie::{TokEnv, TokRxInfo, TokTrie, TokenizerEnv};

use crate::error::{Error, Result};
use crate::tokenizer::{TokenType, Tokenizer};

/// What the sampler asks of a constraint, token by token.
pub trait Constraint: Send {
    /// Sets the logits of tokens the grammar does not allow here to -inf.
    fn mask(&mut self, logits: &mut [f32]) -> Result<()>;
    /// Takes the token that was sampled.
    fn commit(&mut self, token: u32) -> Result<()>;
    /// Time spent computing masks so far, and how many.
    fn cost(&self) -> (Duration, usize);
}

/// Our tokenizer as llguidance sees it: every token's bytes (control tokens marked as
/// special), and tokenization for the grammar's literals.
struct Env {
    trie: TokTrie,
    tokenizer: Arc<Tokenizer>,
}

impl TokenizerEnv for Env {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<u32> {
        let text = String::from_utf8_lossy(s);
        self.tokenizer.encode(&text, false, false).unwrap_or_default()
    }
}

/// The compiled vocabulary and the factory of matchers for one tokenizer.
#[derive(Clone)]
pub struct Grammars {
    factory: Arc<ParserFactory>,
}

impl Grammars {
    /// Builds the token trie of `tokenizer` (a few tens of milliseconds for 150k tokens).
    pub fn new(tokenizer: Arc<Tokenizer>) -> Result<Grammars> {
        let n = tokenizer.n_vocab();
        let words: Vec<Vec<u8>> = (0..n as u32).map(|id| token_bytes(&tokenizer, id)).collect();
        let eos = tokenizer.eos().or_else(|| tokenizer.eot()).unwrap_or(0);
        let info = TokRxInfo::new(n as u32, eos);
        let trie = TokTrie::from(&info, &words);
        let env: TokEnv = Arc::new(Env { trie, tokenizer });
        let mut factory = ParserFactory::new_simple(&env).map_err(grammar_error)?;
        factory.quiet();
        Ok(Grammars { factory: Arc::new(factory) })
    }

    /// A matcher for `grammar`; the error says what is wrong with it.
    pub fn matcher(&self, grammar: &Grammar) -> Result<Matcher> {
        let top = match grammar {
            Grammar::JsonSchema(schema) => TopLevelGrammar::from_json_schema(schema.clone()),
            Grammar::Lark(text) => TopLevelGrammar::from_lark(text.clone()),
        };
        let parser = self.factory.create_parser(top).map_err(grammar_error)?;
        let m = Matcher::new(Ok(parser));
        match m.get_error() {
            Some(e) => Err(Error::bad_input(format!("grammar: {e}"))),
            None => Ok(m),
        }
    }
}

/// A token's bytes for the trie: control tokens as their text behind the special marker
/// (so no literal matches them by accident); the rest as they decode.
fn token_bytes(tokenizer: &Tokenizer, id: u32) -> Vec<u8> {
    let piece = tokenizer.token_to_piece(id, true).map(<[u8]>::to_vec).unwrap_or_default();
    match tokenizer.token_type(id) {
        Some(TokenType::Control | TokenType::Unknown) => {
            let mut marked = vec![TokTrie::SPECIAL_TOKEN_MARKER];
            marked.extend_from_slice(&piece);
            marked
        }
        _ => piece,
    }
}

fn grammar_error(e: impl std::fmt::Display) -> Error {
    Error::bad_input(format!("grammar: {e}"))
}

/// A grammar, as users and the tools give them.
#[derive(Debug, Clone, PartialEq)]
pub enum Grammar {
    /// Output that is one JSON value valid under this schema.
    JsonSchema(serde_json::Value),
    /// llguidance's Lark dialect (JSON Schema inside as `%json { … }`).
    Lark(String),
}

impl Grammar {
    /// A grammar file's text: GBNF (the reference engine's format, translated to Lark)
    /// when its first rule reads `name ::=`, else llguidance's Lark as it is.
    pub fn from_text(text: &str) -> Result<Grammar> {
        match super::gbnf::looks_like_gbnf(text) {
            true => Ok(Grammar::Lark(super::gbnf::to_lark(text)?)),
            false => Ok(Grammar::Lark(text.to_string())),
        }
    }
}

/// Masks `logits` by `m`'s allowed set (tokens past the vocabulary are never allowed).
fn apply(m: &mut Matcher, logits: &mut [f32]) -> Result<()> {
    // A complete value leaves only the end of text.
    let allowed = m.compute_mask_or_eos().map_err(grammar_error)?;
    for (id, l) in logits.iter_mut().enumerate() {
        if !allowed.is_allowed(id as u32) {
            *l = f32::NEG_INFINITY;
        }
    }
    Ok(())
}

/// Time spent computing masks, and how many.
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    time: Duration,
    masks: usize,
}

impl Spent {
    fn mask(&mut self, m: &mut Matcher, logits: &mut [f32]) -> Result<()> {
        let t = Instant::now();
        apply(m, logits)?;
        self.time += t.elapsed();
        self.masks += 1;
        Ok(())
    }
}

/// A grammar that holds from the first generated token to the end.
pub struct Whole {
    matcher: Matcher,
    spent: Spent,
}

impl Whole {
    pub fn new(grammars: &Grammars, grammar: &Grammar) -> Result<Whole> {
        Ok(Whole { matcher: grammars.matcher(grammar)?, spent: Spent::default() })
    }
}

impl Constraint for Whole {
    fn mask(&mut self, logits: &mut [f32]) -> Result<()> {
        self.spent.mask(&mut self.matcher, logits)
    }

    fn commit(&mut self, token: u32) -> Result<()> {
        self.matcher.consume_token(token).map_err(grammar_error)
    }

    fn cost(&self) -> (Duration, usize) {
        (self.spent.time, self.spent.masks)
    }
}

/// A call family's grammars, as the assistant builds them from its tools.
pub struct CallSpec {
    /// The text that wakes `call`; `None` where a call has no opening of its own.
    pub trigger: Option<String>,
    /// The grammar from the trigger to the call's end.
    pub call: Option<Grammar>,
    /// The grammar of a call written without the trigger at the start of an answer.
    pub opening: Option<Grammar>,
}

/// The grammar of tool calls: the text that wakes it, the grammar a call follows from
/// there to its end, and optionally a grammar for a call written without the trigger at
/// the very start of an answer (bare or fenced JSON, as small models write them).
/// Both grammars are compiled once, when it is made.
#[derive(Clone)]
pub struct CallGrammar {
    grammars: Grammars,
    /// The trigger and the grammar it wakes, when calls have an opening of their own.
    tagged: Option<(String, Grammar)>,
    opening: Option<Grammar>,
}

impl CallGrammar {
    /// A call family's grammars (`assistant::callgrammar`), each checked by compiling it.
    pub fn new(grammars: &Grammars, spec: CallSpec) -> Result<CallGrammar> {
        for g in spec.call.iter().chain(&spec.opening) {
            grammars.matcher(g)?;
        }
        let tagged = spec.trigger.zip(spec.call);
        Ok(CallGrammar { grammars: grammars.clone(), tagged, opening: spec.opening })
    }

    /// The constraint of one generation.
    pub fn constraint(&self, tokenizer: Arc<Tokenizer>) -> Triggered {
        Triggered {
            spec: self.clone(),
            tokenizer,
            recent: String::new(),
            active: None,
            to_the_end: false,
            start: self.opening.as_ref().map(|_| Vec::new()),
            spent: Spent::default(),
        }
    }
}

/// A [`CallGrammar`] at work: asleep until the text ends with the trigger, then holding
/// until the call is complete, then asleep until the next trigger. While the answer so
/// far could still begin a call without the trigger, its tokens are kept; once it can
/// only be that, the opening grammar takes them and holds to the end of the answer.
pub struct Triggered {
    spec: CallGrammar,
    tokenizer: Arc<Tokenizer>,
    /// The tail of the text since the last call (as long as the trigger).
    recent: String,
    active: Option<Matcher>,
    /// The active grammar is the opening one: it holds to the end of the answer (a call
    /// written without tags is the whole answer).
    to_the_end: bool,
    /// The answer's tokens while the opening grammar may still apply.
    start: Option<Vec<u32>>,
    spent: Spent,
}

/// Beginnings of an answer that open a loose call: `{`, or a fence marked json.
const OPENINGS: [&str; 2] = ["{", "```json"];

impl Triggered {
    /// Follows the answer's start: keeps its tokens while it may open a loose call, arms
    /// the opening grammar once it surely does (and the grammar takes what was written).
    fn watch_start(&mut self, token: u32) -> Result<()> {
        let (Some(tokens), Some(opening)) = (self.start.as_mut(), self.spec.opening.as_ref())
        else {
            return Ok(());
        };
        tokens.push(token);
        let text = self.tokenizer.decode(tokens).unwrap_or_default();
        let start = text.trim_start();
        // Still only whitespace, or the beginning (or more) of one of the openings.
        if !OPENINGS.iter().any(|o| o.starts_with(start) || start.starts_with(o)) {
            self.start = None;
            return Ok(());
        }
        if start.starts_with('{') || (start.starts_with("```json") && start.contains('{')) {
            let mut m = self.spec.grammars.matcher(opening)?;
            let taken = m.consume_tokens(tokens).is_ok();
            self.start = None;
            if taken && !m.is_stopped() {
                self.active = Some(m);
                self.to_the_end = true;
            }
        }
        Ok(())
    }

    /// Follows the text for the trigger; wakes the call grammar when it ends with it.
    fn watch_trigger(&mut self, token: u32) -> Result<()> {
        let Some((trigger, call)) = self.spec.tagged.as_ref() else { return Ok(()) };
        let piece = self.tokenizer.token_to_piece(token, true).unwrap_or_default();
        self.recent.push_str(&String::from_utf8_lossy(piece));
        if self.recent.ends_with(trigger.as_str()) {
            self.recent.clear();
            self.start = None;
            self.active = Some(self.spec.grammars.matcher(call)?);
            return Ok(());
        }
        // Only a tail as long as the trigger can still end with it.
        let keep = self.recent.len().saturating_sub(trigger.len());
        let cut = (keep..=self.recent.len()).find(|&i| self.recent.is_char_boundary(i));
        self.recent.drain(..cut.unwrap_or(0));
        Ok(())
    }
}

impl Constraint for Triggered {
    fn mask(&mut self, logits: &mut [f32]) -> Result<()> {
        match self.active.as_mut() {
            Some(m) => self.spent.mask(m, logits),
            None => Ok(()),
        }
    }

    fn commit(&mut self, token: u32) -> Result<()> {
        if let Some(m) = self.active.as_mut() {
            m.consume_token(token).map_err(grammar_error)?;
            let closed = m.is_stopped() || m.is_accepting().unwrap_or(false);
            if closed && !self.to_the_end {
                self.active = None;
            }
            return Ok(());
        }
        self.watch_start(token)?;
        if self.active.is_none() {
            self.watch_trigger(token)?;
        }
        Ok(())
    }

    fn cost(&self) -> (Duration, usize) {
        (self.spent.time, self.spent.masks)
    }
}
