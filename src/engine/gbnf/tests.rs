//! GBNF read and translated, and the translations run by llguidance over a byte-level
//! vocabulary: what each grammar accepts and refuses.

use super::*;
use crate::engine::grammar::{Grammar, Grammars};
use crate::testutil::{byte_grammars as grammars, grammar_takes};

/// Whether the GBNF grammar takes `text` whole.
fn accepts(g: &Grammars, gbnf: &str, text: &str) -> bool {
    grammar_takes(g, &Grammar::Lark(to_lark(gbnf).unwrap()), text)
}

const ARITH: &str = r#"
# sums and products of numbers
root  ::= expr
expr  ::= term ( [-+] term )*
term  ::= factor ( "*" factor )*
factor ::= number | "(" expr ")"
number ::= [0-9]+
"#;

#[test]
fn writes_one_lark_line_per_rule() {
    let lark = to_lark(ARITH).unwrap();
    assert_eq!(
        lark,
        "start: expr\n\
         expr: term (/[\\x{2D}\\x{2B}]/ term)*\n\
         term: factor (\"*\" factor)*\n\
         factor: number | \"(\" expr \")\"\n\
         number: /[0-9]/+\n"
    );
}

#[test]
fn a_translated_grammar_takes_what_gbnf_takes() {
    let g = grammars();
    for ok in ["1", "12+3", "(1+2)*30-4", "((7))"] {
        assert!(accepts(&g, ARITH, ok), "{ok}");
    }
    for bad in ["", "1+", "(1", "1**2", "a"] {
        assert!(!accepts(&g, ARITH, bad), "{bad}");
    }
}

#[test]
fn classes_escapes_repetitions_and_any() {
    let g = grammars();
    let gbnf = r#"root ::= "\x41\n" [^"\\]{2,3} "-"? .{1} id
id ::=
  "x" |
  ("y"
   "z")"#;
    assert!(accepts(&g, gbnf, "A\nab-🙂x"));
    assert!(accepts(&g, gbnf, "A\nabcyz"));
    assert!(!accepts(&g, gbnf, "A\nax"), "too few of the class");
    assert!(!accepts(&g, gbnf, "A\na\"b-!x"), "a quote is outside the class");
    assert!(!accepts(&g, gbnf, "A\nab-!y"));
}

#[test]
fn names_become_lark_rule_names() {
    let lark = to_lark("root ::= Item-List\nItem-List ::= \"a\" 2x\n2x ::= \"b\"\nstart ::= \"c\"")
        .unwrap();
    assert_eq!(lark, "start: item_list\nitem_list: \"a\" r_2x\nr_2x: \"b\"\nstart_2: \"c\"\n");
    assert!(looks_like_gbnf("# c\n\nroot ::= x"));
    assert!(!looks_like_gbnf("start: \"a\"\n// root ::= x"));
}

#[test]
fn bad_grammars_say_where() {
    let cases = [
        ("root ::= \"a", "line 1, column 12: unterminated string"),
        ("root ::= (\"a\"", "line 1, column 14: expected `)`"),
        ("root ::= x", "line 1, column 10: no rule `x`"),
        ("item ::= \"a\"", "GBNF has no `root` rule"),
        ("root ::= \"a\"\nroot ::= \"b\"", "rule `root` defined twice"),
        ("root ::= [z-a]", "line 1, column 14: class range `z-a` counts down"),
        ("root ::= \"a\"{3,1}", "counts down"),
        ("root ::= \"\\q\"", "unknown escape `\\q`"),
        ("root ::= <think>", "token references"),
        ("root \"a\"", "expected `::=` after `root`"),
    ];
    for (gbnf, want) in cases {
        let e = to_lark(gbnf).unwrap_err().to_string();
        assert!(e.contains(want), "{gbnf:?}: {e}");
    }
}
