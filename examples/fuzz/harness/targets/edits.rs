//! The edit parser and the in-memory appliers: any answer parses into edits and
//! problems; SEARCH/REPLACE blocks and whole-file blocks apply to any original (or fail
//! naming the file); plans over files in context and `hearth edit`'s `edit_text` never
//! panic; a diff is empty exactly when nothing changed; a rewrite equal to its original
//! gives the original back.
//!
//! Input: the answer, then a 0 byte and the original text of `a.txt` (without one, the
//! file as it is in context).

use hearth::assistant::edit_text;
use hearth::context::edits::{
    apply_search_replace, merge_rewrite, parse_edits, plan, unified_diff, EditKind,
};
use hearth::context::{ContextFiles, Root};

use super::super::{class_of, Target};

/// The editable file in context.
const FILE: &str = "a.txt";
const FILE_TEXT: &str = "fn main() {\n    println!(\"hi\");\n}\n";

pub struct Edits {
    files: ContextFiles,
    /// Holds the files in context; removed when the target is dropped.
    _dir: tempfile::TempDir,
}

impl Edits {
    pub fn new() -> Result<Edits, String> {
        let dir = super::scratch_dir()?;
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent"))?;
            std::fs::write(path, text)
        };
        write(FILE, FILE_TEXT).map_err(|e| e.to_string())?;
        write("src/lib.rs", "pub fn f() {}\r\n").map_err(|e| e.to_string())?;
        write("README.md", "# read only\n").map_err(|e| e.to_string())?;
        let root = Root::new(dir.path()).map_err(|e| e.to_string())?;
        let mut files = ContextFiles::new(root);
        let count = |s: &str| s.len() / 4;
        files.add(&[FILE, "src/lib.rs"], false, &count);
        files.add(&["README.md"], true, &count);
        if files.len() != 3 {
            return Err(format!("{} files in context, expected 3", files.len()));
        }
        Ok(Edits { files, _dir: dir })
    }
}

fn check_diff(path: &str, old: &str, new: &str) {
    let diff = unified_diff(path, Some(old), Some(new));
    assert_eq!(diff.is_empty(), old == new, "diff of {old:?} -> {new:?}: {diff:?}");
}

impl Target for Edits {
    fn name(&self) -> &'static str {
        "edits"
    }

    fn dictionary(&self) -> Vec<Vec<u8>> {
        let words: &[&str] = &[
            "<<<<<<< SEARCH\n",
            "=======\n",
            ">>>>>>> REPLACE\n",
            "<<<<<<<<< SEARCH",
            ">>>>> replace",
            "```\n",
            "```rust\n",
            "```rust a.txt\n",
            "~~~\n",
            "````\n",
            "a.txt\n",
            "src/lib.rs\n",
            "README.md\n",
            "**a.txt**\n",
            "`a.txt`:\n",
            "## a.txt\n",
            "../x.rs\n",
            "/etc/x.rs\n",
            "new.rs\n",
            "fn main() {\n",
            "    println!(\"hi\");\n",
            "}\n",
            "\r\n",
            "\0",
            " \t",
        ];
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    fn run(&mut self, input: &[u8]) -> String {
        let (answer, original) = match input.iter().position(|&b| b == 0) {
            Some(i) => (&input[..i], String::from_utf8_lossy(&input[i + 1..]).into_owned()),
            None => (input, FILE_TEXT.to_string()),
        };
        let answer = String::from_utf8_lossy(answer);
        let in_context = |p: &str| self.files.get(p).is_some();
        let parsed = parse_edits(&answer, &in_context);
        // One feature per line: the counts, then each kind of failure.
        let mut class = format!(
            "{} edits, {} problems",
            parsed.edits.len().min(3),
            parsed.problems.len().min(3)
        );
        let mut feature = |what: &str, e: &hearth::Error| {
            class.push_str(&format!("\n{what}{}", class_of(e.message())));
        };
        for edit in &parsed.edits {
            let result = match &edit.kind {
                EditKind::SearchReplace { search, replace } => {
                    apply_search_replace(&edit.path, &original, search, replace)
                }
                EditKind::Whole(content) => {
                    assert_eq!(merge_rewrite(content, content), *content, "merge with itself");
                    Ok(merge_rewrite(&original, content))
                }
            };
            match result {
                Ok(new) => check_diff(&edit.path, &original, &new),
                Err(e) => feature("apply: ", &e),
            }
        }
        let plan = plan(&parsed.edits, &self.files);
        for change in &plan.changes {
            let _ = change.diff();
        }
        for e in &plan.failed {
            feature("plan: ", e);
        }
        match edit_text(&answer, FILE, &original) {
            Ok(new) => check_diff(FILE, &original, &new),
            Err(e) => feature("edit_text: ", &e),
        }
        assert_eq!(merge_rewrite(&original, &original), original, "merge with itself");
        class
    }
}
