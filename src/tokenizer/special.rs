//! Special tokens in text: control, user-defined and unknown tokens are cut out of the
//! text before the tokenizer sees it, longest token first, the way llama.cpp's
//! tokenizer_st_partition does (each token in turn claims its leftmost non-overlapping
//! occurrences in the text not yet claimed).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::vocab::{Attr, Vocab};

/// A piece of partitioned text: plain text for the tokenizer, or a special token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// The attributes that make a token special (matched in text before tokenizing).
const SPECIAL: Attr = Attr::CONTROL.union(Attr::USER_DEFINED).union(Attr::UNKNOWN);
/// Special tokens that are still matched when special-token parsing is off are the
/// user-defined ones; these are skipped.
const PARSED_ONLY: Attr = Attr::CONTROL.union(Attr::UNKNOWN);

#[derive(Debug, Clone, Default)]
struct Node {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    /// (priority rank, token id) of the token whose text ends here.
    token: Option<(u32, u32)>,
    /// The nearest proper ancestor that ends a token (its text is the longest special
    /// token that is a proper prefix of this one); 0 for none.
    shorter: u32,
    /// Bytes from the root.
    depth: u32,
}

/// A byte trie over the texts of all special tokens.
#[derive(Debug, Clone)]
pub struct SpecialMatcher {
    nodes: Vec<Node>,
    /// Whether each rank's token is matched only when parsing special tokens.
    parsed_only: Vec<bool>,
}

impl SpecialMatcher {
    pub fn new(vocab: &Vocab) -> SpecialMatcher {
        let mut ids: Vec<u32> =
            (0..vocab.len() as u32).filter(|&id| vocab.attr(id).any(SPECIAL)).collect();
        // Longer texts first; ties by id, for a stable order.
        ids.sort_by_key(|&id| (std::cmp::Reverse(vocab.texts[id as usize].len()), id));
        let mut m = SpecialMatcher { nodes: vec![Node::default()], parsed_only: Vec::new() };
        for (rank, &id) in ids.iter().enumerate() {
            m.insert(vocab.texts[id as usize].as_bytes(), rank as u32, id);
            m.parsed_only.push(vocab.attr(id).any(PARSED_ONLY));
        }
        m.link_shorter();
        m
    }

    fn insert(&mut self, text: &[u8], rank: u32, id: u32) {
        let mut node = 0usize;
        for &b in text {
            let children = &self.nodes[node].children;
            node = match children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => children[i].1 as usize,
                Err(i) => {
                    let new = self.nodes.len() as u32;
                    let depth = self.nodes[node].depth + 1;
                    self.nodes[node].children.insert(i, (b, new));
                    self.nodes.push(Node { depth, ..Node::default() });
                    new as usize
                }
            };
        }
        self.nodes[node].token.get_or_insert((rank, id));
    }

    /// Sets `shorter` on every node (children are always created after their parent).
    fn link_shorter(&mut self) {
        for node in 0..self.nodes.len() {
            let here = if self.nodes[node].token.is_some() {
                node as u32
            } else {
                self.nodes[node].shorter
            };
            for i in 0..self.nodes[node].children.len() {
                let child = self.nodes[node].children[i].1 as usize;
                self.nodes[child].shorter = here;
            }
        }
    }

    fn child(&self, node: usize, b: u8) -> Option<usize> {
        let children = &self.nodes[node].children;
        children.binary_search_by_key(&b, |c| c.0).ok().map(|i| children[i].1 as usize)
    }

    /// The node of the longest special token that starts at `start`, if any.
    fn longest_at(&self, text: &[u8], start: usize) -> Option<usize> {
        let (mut node, mut best) = (0, None);
        for &b in &text[start..] {
            let Some(next) = self.child(node, b) else { break };
            node = next;
            if self.nodes[node].token.is_some() {
                best = Some(node);
            }
        }
        best
    }

    /// Cuts the special tokens out of `text`. Every position where a special token starts
    /// is visited once per token starting there, in llama.cpp's order (by rank, then by
    /// position); a position already claimed by a match drops out entirely, which keeps
    /// long runs of whitespace tokens (gemma's "   …") cheap.
    pub fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let bytes = text.as_bytes();
        // (rank, start, node): the longest not yet visited match at each start.
        let mut queue = BinaryHeap::new();
        for start in 0..bytes.len() {
            if let Some(node) = self.longest_at(bytes, start) {
                let (rank, _) = self.nodes[node].token.unwrap_or_default();
                queue.push(Reverse((rank, start as u32, node as u32)));
            }
        }
        let mut claimed = vec![false; bytes.len()];
        let mut accepted: Vec<(usize, usize, u32)> = Vec::new();
        let mut last = (u32::MAX, 0usize); // (rank, end of its last accepted match)
        while let Some(Reverse((rank, start, node))) = queue.pop() {
            let start = start as usize;
            if claimed[start] {
                continue;
            }
            if last.0 != rank {
                last = (rank, 0);
            }
            let (_, id) = self.nodes[node as usize].token.unwrap_or_default();
            let len = self.nodes[node as usize].depth as usize;
            let usable = parse_special || !self.parsed_only[rank as usize];
            if usable && start >= last.1 && !claimed[start..start + len].iter().any(|&c| c) {
                claimed[start..start + len].iter_mut().for_each(|c| *c = true);
                accepted.push((start, len, id));
                last.1 = start + len;
                continue;
            }
            // Not taken: the next shorter token at this start gets its turn later.
            let shorter = self.nodes[node as usize].shorter;
            if shorter != 0 {
                let (rank, _) = self.nodes[shorter as usize].token.unwrap_or_default();
                queue.push(Reverse((rank, start as u32, shorter)));
            }
        }
        accepted.sort_unstable();
        let mut out = Vec::with_capacity(2 * accepted.len() + 1);
        let mut pos = 0;
        for (start, len, id) in accepted {
            if start > pos {
                out.push(Fragment::Text(&text[pos..start]));
            }
            out.push(Fragment::Token(id));
            pos = start + len;
        }
        if pos < text.len() {
            out.push(Fragment::Text(&text[pos..]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Array, Value};
    use crate::tokenizer::testutil::meta_with_tokens;
    use crate::tokenizer::vocab::KEY_TOKEN_TYPE;
    use Fragment::{Text, Token};

    fn matcher(tokens: &[(&str, i32)]) -> SpecialMatcher {
        let texts: Vec<&str> = tokens.iter().map(|t| t.0).collect();
        let mut meta = meta_with_tokens(&texts);
        let types = tokens.iter().map(|t| t.1).collect();
        meta.insert(KEY_TOKEN_TYPE, Value::Array(Array::I32(types)));
        SpecialMatcher::new(&Vocab::from_gguf(&meta).unwrap())
    }

    #[test]
    fn control_tokens_are_cut_out_when_parsing() {
        let m = matcher(&[("a", 1), ("<s>", 3), ("<|im_start|>", 3)]);
        let parts = m.partition("x<|im_start|>y<s>", true);
        assert_eq!(parts, [Text("x"), Token(2), Text("y"), Token(1)]);
        assert_eq!(m.partition("x<s>", false), [Text("x<s>")]);
    }

    #[test]
    fn user_defined_tokens_are_cut_out_even_without_parsing() {
        let m = matcher(&[("  ", 4), ("   ", 4), ("<b>", 3)]);
        // The longest token claims first: "   " then "  " in what is left.
        assert_eq!(m.partition("a     b", false), [Text("a"), Token(1), Token(0), Text("b")]);
        assert_eq!(m.partition("<b>", false), [Text("<b>")]);
    }

    #[test]
    fn a_rejected_long_match_leaves_room_for_shorter_ones_at_the_same_place() {
        // "<a>" is control (skipped without parsing); "<a" is user-defined.
        let m = matcher(&[("<a>", 3), ("<a", 4), ("a>", 4)]);
        assert_eq!(m.partition("x<a>", true), [Text("x"), Token(0)]);
        assert_eq!(m.partition("x<a>", false), [Text("x"), Token(1), Text(">")]);
    }

    #[test]
    fn long_whitespace_runs_stay_cheap() {
        let runs: Vec<String> = (2..=31).map(|n| " ".repeat(n)).collect();
        let tokens: Vec<(&str, i32)> = runs.iter().map(|r| (r.as_str(), 4)).collect();
        let m = matcher(&tokens);
        let text = " ".repeat(1_000_000);
        let parts = m.partition(&text, true);
        // 32258 runs of 31 spaces, then the 2 left over.
        assert_eq!(parts.len(), 1_000_000 / 31 + 1);
        assert_eq!(parts.last(), Some(&Token(0)));
    }

    #[test]
    fn longer_tokens_claim_before_earlier_shorter_ones() {
        // llama.cpp's order: "bcd" (longer) is matched before "ab", though "ab" starts first.
        let m = matcher(&[("ab", 4), ("bcd", 4)]);
        assert_eq!(m.partition("abcd", true), [Text("a"), Token(1)]);
    }
}
