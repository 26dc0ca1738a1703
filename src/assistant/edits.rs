//! The edits an answer proposes to the files in context: read from the answer (labelled
//! blocks and SEARCH/REPLACE blocks; an unlabelled block taken for the one editable
//! file), planned in memory, and written to disk with undo — only when the face asks;
//! and the new text an answer gives a single text (`hearth edit`).

use super::chat::Assistant;
use crate::context::edits::{
    apply_search_replace, merge_rewrite, parse_edits, plan, EditKind, ParsedEdits, Plan,
};
use crate::error::{Error, Result};

/// What an answer proposes, planned against the files in context.
#[derive(Debug, Default)]
pub struct Proposal {
    pub plan: Plan,
    /// Blocks that could not be read as edits, and edits that cannot apply.
    pub problems: Vec<String>,
    /// The file an unlabelled code block was taken for, when it was.
    pub guessed: Option<String>,
}

impl Assistant {
    /// The edits `answer` proposes, and the file an unlabelled block was taken for: when
    /// no block names a file, one editable file is in context and the answer holds one
    /// complete code block, that block is read as the file's new content (the user sees
    /// the diff before anything is written).
    pub fn edits_of(&self, answer: &str) -> (ParsedEdits, Option<String>) {
        let in_context = |p: &str| self.files.get(p).is_some();
        let parsed = parse_edits(answer, &in_context);
        if !parsed.edits.is_empty() {
            return (parsed, None);
        }
        let editable: Vec<&str> =
            self.files.list().iter().filter(|f| !f.read_only).map(|f| f.path.as_str()).collect();
        let fences = answer.lines().filter(|l| l.trim_start().starts_with("```")).count();
        match (editable.as_slice(), fences) {
            ([path], 2) => {
                let block: Vec<&str> =
                    answer.lines().skip_while(|l| !l.trim_start().starts_with("```")).collect();
                let labelled = format!("{path}\n{}", block.join("\n"));
                let guess = parse_edits(&labelled, &in_context);
                match guess.edits.is_empty() {
                    true => (parsed, None),
                    false => (guess, Some(path.to_string())),
                }
            }
            _ => (parsed, None),
        }
    }

    /// The changes `answer` proposes, planned against the files in context as they are
    /// on disk now.
    pub fn proposal(&mut self, answer: &str) -> Proposal {
        self.refresh_files();
        let (parsed, guessed) = self.edits_of(answer);
        let plan = plan(&parsed.edits, &self.files);
        let mut problems = parsed.problems;
        problems.extend(plan.failed.iter().map(|e| e.to_string()));
        Proposal { plan, problems, guessed }
    }

    /// The paths `answer` proposes edits to, in order, each once.
    pub fn proposed_paths(&self, answer: &str) -> Vec<String> {
        let mut paths: Vec<String> = Vec::new();
        for edit in self.edits_of(answer).0.edits {
            if !paths.contains(&edit.path) {
                paths.push(edit.path);
            }
        }
        paths
    }

    /// Writes planned changes to disk (atomically, under the root); returns the paths.
    pub fn apply(&mut self, plan: &Plan) -> Result<Vec<String>> {
        let loaded = self.loaded.clone();
        let count = |s: &str| loaded.count_tokens(s);
        self.log.apply(&plan.changes, &mut self.files, &count)
    }

    /// Undoes the last apply; `None` when there is nothing to undo.
    pub fn undo(&mut self) -> Result<Option<Vec<String>>> {
        let loaded = self.loaded.clone();
        let count = |s: &str| loaded.count_tokens(s);
        self.log.undo(&mut self.files, &count)
    }
}

/// The new text of `original` (the one file named `path`) that `answer` proposes: its
/// SEARCH/REPLACE blocks applied in order, else its code block (the longest, when there
/// are several) read as the whole new text. Either way every line the edit does not
/// touch keeps its bytes. Fails (kind `Failed`: the model's answer is at fault) naming
/// what was wrong when the answer holds no usable edit or a block does not apply.
pub fn edit_text(answer: &str, path: &str, original: &str) -> Result<String> {
    // A path line on top gives unlabelled SEARCH/REPLACE blocks their file.
    let labelled = format!("{path}\n{answer}");
    let parsed = parse_edits(&labelled, &|p| p == path);
    let mut text = original.to_string();
    let mut applied = 0;
    for edit in &parsed.edits {
        if let EditKind::SearchReplace { search, replace } = &edit.kind {
            text = apply_search_replace(path, &text, search, replace)
                .map_err(|e| Error::failed(e.message().to_string()).with_file(path))?;
            applied += 1;
        }
    }
    if applied > 0 {
        return Ok(text);
    }
    match longest_code_block(answer) {
        Some(block) => Ok(merge_rewrite(original, &block)),
        None => {
            let why = parsed.problems.first().map_or_else(
                || {
                    "the answer holds no usable edit (no SEARCH/REPLACE block, no code block)"
                        .to_string()
                },
                |p| format!("the answer holds no usable edit: {p}"),
            );
            Err(Error::failed(why))
        }
    }
}

/// The content of the longest complete fenced code block of `text`, with a final newline.
fn longest_code_block(text: &str) -> Option<String> {
    let mut best: Option<String> = None;
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                let fence: String = trimmed.chars().take_while(|&c| c == '`' || c == '~').collect();
                if fence.len() >= 3
                    && fence.chars().all(|c| c == fence.chars().next().unwrap_or('`'))
                {
                    open = Some((fence, Vec::new()));
                }
            }
            Some((fence, lines)) if trimmed.trim_end() == fence => {
                let block: String = lines.iter().map(|l| format!("{l}\n")).collect();
                if best.as_ref().is_none_or(|b| block.len() > b.len()) {
                    best = Some(block);
                }
            }
            Some((fence, mut lines)) => {
                lines.push(line);
                open = Some((fence, lines));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::edit_text;
    use crate::error::ErrorKind;

    const FILE: &str = "a = 1\r\nb = 2  \r\nc = 3\r\n";

    #[test]
    fn search_replace_blocks_apply_in_order_and_keep_other_bytes() {
        let answer = "```python\n<<<<<<< SEARCH\nb = 2\n=======\nb = 20\n>>>>>>> REPLACE\n```\n\
                      <<<<<<< SEARCH\nc = 3\n=======\nc = 30\n>>>>>>> REPLACE\n";
        assert_eq!(edit_text(answer, "x.py", FILE).unwrap(), "a = 1\r\nb = 20\r\nc = 30\r\n");
    }

    #[test]
    fn a_code_block_is_the_whole_new_text_laid_over_the_old() {
        let answer = "Here it is:\n```\na = 1\nb = 2\nc = 4\n```\n";
        assert_eq!(edit_text(answer, "input", FILE).unwrap(), "a = 1\r\nb = 2  \r\nc = 4\r\n");
    }

    #[test]
    fn the_longest_block_wins() {
        let answer = "```\nc = 4\n```\nfull:\n```\na = 1\nb = 2\nc = 4\n```\n";
        assert_eq!(edit_text(answer, "input", FILE).unwrap(), "a = 1\r\nb = 2  \r\nc = 4\r\n");
    }

    #[test]
    fn answers_without_a_usable_edit_fail_as_the_models_fault() {
        for answer in ["I cannot do that.", "```\nunfinished", "<<<<<<< SEARCH\nb = 2\n======="] {
            let e = edit_text(answer, "input", FILE).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Failed, "{answer}");
            assert!(e.to_string().contains("no usable edit"), "{e}");
        }
        let miss = "<<<<<<< SEARCH\nd = 4\n=======\nd = 5\n>>>>>>> REPLACE\n";
        let e = edit_text(miss, "input", FILE).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Failed);
        assert!(e.to_string().contains("does not match"), "{e}");
    }
}
