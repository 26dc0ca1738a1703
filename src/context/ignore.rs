//! Ignore rules: `.gitignore` files (the root's and nested ones, each for its subtree),
//! the root's `.hearthignore`, and `.git/` always. Our own matcher of the gitignore
//! pattern subset people use.
//!
//! Precedence follows git: the last matching rule wins, rules of a deeper `.gitignore`
//! come after those of its parents, and `.hearthignore` comes last of all, so it can
//! both ignore more and re-include (`!pattern`) what a `.gitignore` ignores. A path inside
//! an ignored directory is ignored whatever the rules say about the path itself.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::pattern::Glob;

/// The per-directory ignore file git reads.
pub const GITIGNORE: &str = ".gitignore";
/// hearth's own ignore file, read at the project root only.
pub const HEARTHIGNORE: &str = ".hearthignore";

/// One line of an ignore file.
#[derive(Debug, Clone)]
pub struct Rule {
    glob: Glob,
    /// `!pattern`: re-include what an earlier rule ignored.
    negated: bool,
    /// `pattern/`: matches directories only.
    dir_only: bool,
}

impl Rule {
    /// Parses one line; `None` for blank lines and comments.
    pub fn parse(line: &str) -> Option<Rule> {
        let line = trim_trailing_spaces(line.strip_suffix('\r').unwrap_or(line));
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let (negated, rest) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            // `\#` and `\!` are literal; the glob reads the backslash as an escape.
            None => (false, line),
        };
        let (dir_only, rest) = match rest.strip_suffix('/') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if rest.is_empty() || rest == "/" {
            return None;
        }
        // A `/` at the start or in the middle anchors the pattern to the ignore file's
        // directory; otherwise it matches a name at any depth below it.
        let pattern = if rest.contains('/') {
            rest.trim_start_matches('/').to_string()
        } else {
            format!("**/{rest}")
        };
        Some(Rule { glob: Glob::new(&pattern), negated, dir_only })
    }

    /// Whether this rule matches `rel` (relative to the ignore file's directory).
    pub fn matches(&self, rel: &str, is_dir: bool) -> bool {
        (!self.dir_only || is_dir) && self.glob.matches(rel)
    }

    pub fn negated(&self) -> bool {
        self.negated
    }
}

/// Trailing spaces are dropped unless escaped with a backslash.
fn trim_trailing_spaces(line: &str) -> &str {
    let mut end = line.len();
    while end > 0 && line.as_bytes()[end - 1] == b' ' {
        let backslashes = line[..end - 1].bytes().rev().take_while(|&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            break;
        }
        end -= 1;
    }
    &line[..end]
}

/// Parses the text of an ignore file into its rules, in order.
pub fn parse_rules(text: &str) -> Vec<Rule> {
    text.lines().filter_map(Rule::parse).collect()
}

/// The ignore rules of a project. Nested `.gitignore` files are read when a path below
/// them is first asked about, and kept; make a new `Ignore` to see edits to them.
#[derive(Debug)]
pub struct Ignore {
    root: PathBuf,
    /// `.hearthignore` at the root, applied after every `.gitignore`.
    hearth: Vec<Rule>,
    /// `.gitignore` rules by directory relative to the root (`""` is the root).
    gitignores: RefCell<HashMap<String, Rc<Vec<Rule>>>>,
}

impl Ignore {
    /// The rules of the project at `root` (a canonical directory).
    pub fn load(root: &Path) -> Ignore {
        let hearth = read_rules(&root.join(HEARTHIGNORE));
        Ignore { root: root.to_path_buf(), hearth, gitignores: RefCell::default() }
    }

    /// Rules given directly (for tests and callers with their own sources): `gitignores`
    /// maps a directory relative to the root to the text of its `.gitignore`.
    pub fn from_texts(root: &Path, gitignores: &[(&str, &str)], hearthignore: &str) -> Ignore {
        let map = gitignores
            .iter()
            .map(|(dir, text)| (dir.to_string(), Rc::new(parse_rules(text))))
            .collect();
        Ignore {
            root: root.to_path_buf(),
            hearth: parse_rules(hearthignore),
            gitignores: RefCell::new(map),
        }
    }

    /// Whether `rel` (relative to the root, `/`-separated) is ignored, itself or through
    /// one of its parent directories.
    pub fn is_ignored(&self, rel: &str, is_dir: bool) -> bool {
        let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        (1..parts.len()).any(|n| self.is_ignored_here(&parts[..n], true))
            || (!parts.is_empty() && self.is_ignored_here(&parts, is_dir))
    }

    /// Whether `rel` is ignored by a rule naming it, assuming its parent directories are
    /// not ignored (what a directory walk that prunes ignored directories needs).
    pub fn is_ignored_entry(&self, rel: &str, is_dir: bool) -> bool {
        let parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
        !parts.is_empty() && self.is_ignored_here(&parts, is_dir)
    }

    fn is_ignored_here(&self, parts: &[&str], is_dir: bool) -> bool {
        if parts.contains(&".git") {
            return true;
        }
        let mut ignored = false;
        // Each directory from the root down to the path's parent may hold a .gitignore.
        for depth in 0..parts.len() {
            let dir = parts[..depth].join("/");
            let rules = self.gitignore_of(&dir);
            let rel = parts[depth..].join("/");
            for rule in rules.iter() {
                if rule.matches(&rel, is_dir) {
                    ignored = !rule.negated;
                }
            }
        }
        let rel = parts.join("/");
        for rule in &self.hearth {
            if rule.matches(&rel, is_dir) {
                ignored = !rule.negated;
            }
        }
        ignored
    }

    fn gitignore_of(&self, dir: &str) -> Rc<Vec<Rule>> {
        if let Some(rules) = self.gitignores.borrow().get(dir) {
            return rules.clone();
        }
        let path = if dir.is_empty() {
            self.root.join(GITIGNORE)
        } else {
            self.root.join(dir).join(GITIGNORE)
        };
        let rules = Rc::new(read_rules(&path));
        self.gitignores.borrow_mut().insert(dir.to_string(), rules.clone());
        rules
    }
}

/// The rules of an ignore file; a missing or unreadable file has none.
fn read_rules(path: &Path) -> Vec<Rule> {
    match std::fs::read(path) {
        Ok(bytes) => parse_rules(&String::from_utf8_lossy(&bytes)),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(gitignore: &str) -> Ignore {
        Ignore::from_texts(Path::new("/nonexistent"), &[("", gitignore)], "")
    }

    #[test]
    fn comments_blank_lines_and_escapes() {
        assert!(Rule::parse("").is_none());
        assert!(Rule::parse("   ").is_none());
        assert!(Rule::parse("# comment").is_none());
        let i = ig("# target\n\n\\#hash\n\\!bang\n");
        assert!(!i.is_ignored("target", false));
        assert!(!i.is_ignored("# target", false));
        assert!(i.is_ignored("#hash", false));
        assert!(i.is_ignored("!bang", false));
    }

    #[test]
    fn trailing_spaces_dropped_unless_escaped() {
        let i = ig("foo   \nbar\\ \n");
        assert!(i.is_ignored("foo", false));
        assert!(i.is_ignored("bar ", false));
        assert!(!i.is_ignored("bar", false));
        // CRLF files.
        assert!(ig("baz\r\n").is_ignored("baz", false));
    }

    #[test]
    fn unanchored_names_match_at_any_depth() {
        let i = ig("*.log\nbuild\n");
        assert!(i.is_ignored("x.log", false));
        assert!(i.is_ignored("a/b/x.log", false));
        assert!(!i.is_ignored("x.logs", false));
        assert!(i.is_ignored("build", true));
        assert!(i.is_ignored("build", false));
        assert!(i.is_ignored("src/build", true));
        // Inside an ignored directory.
        assert!(i.is_ignored("src/build/out.rs", false));
    }

    #[test]
    fn leading_and_middle_slash_anchor() {
        let i = ig("/todo.txt\ndoc/frotz\n");
        assert!(i.is_ignored("todo.txt", false));
        assert!(!i.is_ignored("sub/todo.txt", false));
        assert!(i.is_ignored("doc/frotz", false));
        assert!(!i.is_ignored("a/doc/frotz", false));
    }

    #[test]
    fn dir_only_patterns() {
        let i = ig("target/\n/out/\n");
        assert!(i.is_ignored("target", true));
        assert!(!i.is_ignored("target", false), "a file named target is not a directory");
        assert!(i.is_ignored("target/debug/x", false));
        assert!(i.is_ignored("crates/a/target/x", false));
        assert!(i.is_ignored("out", true));
        assert!(!i.is_ignored("src/out", true));
    }

    #[test]
    fn negation_reincludes_but_not_inside_ignored_dirs() {
        let i = ig("*.log\n!keep.log\n");
        assert!(i.is_ignored("a.log", false));
        assert!(!i.is_ignored("keep.log", false));
        assert!(!i.is_ignored("sub/keep.log", false));
        // Order matters: the last matching rule wins.
        let i = ig("!keep.log\n*.log\n");
        assert!(i.is_ignored("keep.log", false));
        // A file cannot be re-included when its directory is ignored.
        let i = ig("logs/\n!logs/keep.log\n");
        assert!(i.is_ignored("logs/keep.log", false));
        // ...but ignoring the contents, not the directory, allows it.
        let i = ig("logs/*\n!logs/keep.log\n");
        assert!(!i.is_ignored("logs/keep.log", false));
        assert!(i.is_ignored("logs/other.log", false));
    }

    #[test]
    fn double_star_forms() {
        let i = ig("**/foo\nabc/**\na/**/b\n");
        assert!(i.is_ignored("foo", false));
        assert!(i.is_ignored("x/y/foo", false));
        assert!(i.is_ignored("abc/x", false));
        assert!(i.is_ignored("abc/x/y", false));
        assert!(!i.is_ignored("abc", false), "abc/** is what is inside abc, not abc");
        assert!(i.is_ignored("a/b", false));
        assert!(i.is_ignored("a/x/y/b", false));
        assert!(!i.is_ignored("x/a/b", false));
    }

    #[test]
    fn classes_and_question_marks() {
        let i = ig("*.py[co]\nfile?.txt\n");
        assert!(i.is_ignored("m.pyc", false));
        assert!(i.is_ignored("m.pyo", false));
        assert!(!i.is_ignored("m.py", false));
        assert!(i.is_ignored("file1.txt", false));
        assert!(!i.is_ignored("file10.txt", false));
    }

    #[test]
    fn git_dir_always_ignored() {
        let i = ig("");
        assert!(i.is_ignored(".git", true));
        assert!(i.is_ignored(".git/config", false));
        assert!(i.is_ignored("sub/.git/HEAD", false));
        assert!(!i.is_ignored(".gitignore", false));
        assert!(!i.is_ignored(".github/workflows/ci.yml", false));
    }

    #[test]
    fn nested_gitignore_applies_to_its_subtree() {
        let root = Path::new("/nonexistent");
        let i = Ignore::from_texts(
            root,
            &[("", "*.tmp\n"), ("sub", "/local.txt\n!keep.tmp\ngen/\n"), ("other", "")],
            "",
        );
        assert!(i.is_ignored("sub/local.txt", false));
        assert!(!i.is_ignored("local.txt", false), "sub's rules do not apply above it");
        assert!(!i.is_ignored("sub/deeper/local.txt", false), "anchored to sub/");
        assert!(i.is_ignored("x.tmp", false));
        assert!(i.is_ignored("sub/x.tmp", false));
        assert!(!i.is_ignored("sub/keep.tmp", false), "deeper rules win");
        assert!(i.is_ignored("keep.tmp", false));
        assert!(i.is_ignored("sub/a/gen/x.rs", false));
        assert!(!i.is_ignored("other/gen/x.rs", false));
    }

    #[test]
    fn hearthignore_comes_last() {
        let root = Path::new("/nonexistent");
        let i = Ignore::from_texts(root, &[("", "*.gen.rs\n")], "secrets/\n!keep.gen.rs\n");
        assert!(i.is_ignored("secrets/key.txt", false));
        assert!(i.is_ignored("a.gen.rs", false));
        assert!(!i.is_ignored("keep.gen.rs", false));
    }

    #[test]
    fn reads_files_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(GITIGNORE), "*.o\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub").join(GITIGNORE), "*.txt\n").unwrap();
        std::fs::write(dir.path().join(HEARTHIGNORE), "private/\n").unwrap();
        let i = Ignore::load(dir.path());
        assert!(i.is_ignored("a.o", false));
        assert!(i.is_ignored("sub/a.txt", false));
        assert!(!i.is_ignored("a.txt", false));
        assert!(i.is_ignored("private", true));
        assert!(i.is_ignored_entry("sub/x.o", false));
        assert!(!i.is_ignored_entry("sub/x.rs", false));
    }
}
