//! A rewritten text laid over its original so that every line the rewrite leaves alone
//! comes back byte for byte: line endings, trailing whitespace and the final newline
//! are the original's, whatever the rewrite did to them.

use super::diff::{diff_lines, Op};

/// `rewrite` with each line it shares with `original` (compared without trailing
/// whitespace or line ending) taken from `original` as it was. New lines get the
/// original's line ending (CRLF when its first line has one), and the text ends with a
/// newline exactly when the original does (an empty original: as the rewrite does).
pub fn merge_rewrite(original: &str, rewrite: &str) -> String {
    let old: Vec<&str> = original.split_inclusive('\n').collect();
    let new: Vec<&str> = rewrite.split_inclusive('\n').collect();
    let old_keys: Vec<&str> = old.iter().map(|l| l.trim_end()).collect();
    let new_keys: Vec<&str> = new.iter().map(|l| l.trim_end()).collect();
    let eol = if old.first().is_some_and(|l| l.ends_with("\r\n")) { "\r\n" } else { "\n" };
    let mut out = String::with_capacity(original.len().max(rewrite.len()));
    for op in diff_lines(&old_keys, &new_keys) {
        let line = match op {
            Op::Equal { old: i, .. } => old[i],
            Op::Insert { new: j } => new[j],
            Op::Delete { .. } => continue,
        };
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(eol);
        }
        match op {
            Op::Insert { .. } => {
                out.push_str(line.trim_end_matches(['\r', '\n']));
                out.push_str(eol);
            }
            _ => out.push_str(line),
        }
    }
    let wants_newline = match original.is_empty() {
        true => rewrite.ends_with('\n'),
        false => original.ends_with('\n'),
    };
    if !wants_newline {
        let trimmed = out.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s));
        out.truncate(trimmed.map_or(out.len(), str::len));
    } else if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(eol);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::merge_rewrite;

    #[test]
    fn untouched_lines_keep_their_bytes() {
        let original = "a  \r\n\tb\r\nc\r\n";
        let rewrite = "a\n    b\nC\n";
        // `\tb` → `    b` is a change of indentation, so it is the rewrite's line.
        assert_eq!(merge_rewrite(original, rewrite), "a  \r\n    b\r\nC\r\n");
        assert_eq!(merge_rewrite(original, "a\n\tb\nc\n"), original);
    }

    #[test]
    fn the_final_newline_is_the_originals() {
        assert_eq!(merge_rewrite("x\ny", "x\nz\n"), "x\nz");
        assert_eq!(merge_rewrite("x\ny\n", "x\nz"), "x\nz\n");
        assert_eq!(merge_rewrite("x\ny", "x\ny\nw\n"), "x\ny\nw");
        assert_eq!(merge_rewrite("x\ny", "x\ny"), "x\ny");
    }

    #[test]
    fn lines_are_inserted_and_deleted_in_place() {
        let original = "fn f() {\n    let x = 1; // é\n    x\n}\n";
        let rewrite = "fn f() {\n    let x = 1; // é\n    println!(\"{x}\");\n    x\n}\n";
        assert_eq!(merge_rewrite(original, rewrite), rewrite);
        assert_eq!(merge_rewrite(rewrite, original), original);
    }

    #[test]
    fn an_empty_original_takes_the_rewrite() {
        assert_eq!(merge_rewrite("", "new\n"), "new\n");
        assert_eq!(merge_rewrite("only\n", ""), "");
    }
}
