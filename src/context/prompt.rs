//! The context part of the prompt as text (project notes, then each file in a fenced
//! block labelled with its path) and the token budget check against the context size.

use std::fmt;

use super::files::ContextFile;
use super::resolve::{read_text, Limits, Refusal, RefusalReason};
use super::root::Root;
use crate::error::{Error, Result};

/// Project notes files looked for at the root, in this order; the first one present is
/// used. `HEARTH.md` comes first so a project can say something to hearth alone;
/// `AGENTS.md` is the cross-tool convention; `CLAUDE.md` is read when it is all there is.
pub const NOTES_FILES: [&str; 3] = ["HEARTH.md", "AGENTS.md", "CLAUDE.md"];

/// The prompt is reported as nearly full above this fraction of the context size.
pub const WARN_FRACTION: f64 = 0.9;

/// The project's notes for the assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notes {
    /// The file's name at the root (one of `NOTES_FILES`).
    pub path: String,
    pub content: String,
}

/// The first of `NOTES_FILES` present at the root; a notes file that cannot be used
/// (binary, too large) is reported rather than silently skipped.
pub fn load_notes(root: &Root, limits: Limits) -> std::result::Result<Option<Notes>, Refusal> {
    for name in NOTES_FILES {
        let path = root.join(name);
        if !path.is_file() {
            continue;
        }
        return match read_text(&path, limits.max_file_bytes) {
            Ok((content, _)) => Ok(Some(Notes { path: name.to_string(), content })),
            Err(RefusalReason::NotFound) => continue,
            Err(reason) => Err(Refusal::new(name, reason)),
        };
    }
    Ok(None)
}

/// The fence for `content`: backticks, at least three and more than any run inside.
pub fn fence_for(content: &str) -> String {
    let (mut longest, mut run) = (0, 0);
    for c in content.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

/// The fence's language tag for a path, from its file name or extension; `""` if unknown.
pub fn language_for(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "Makefile" | "makefile" | "GNUmakefile" => return "make",
        "Dockerfile" => return "dockerfile",
        "CMakeLists.txt" => return "cmake",
        "Cargo.lock" => return "toml",
        _ => {}
    }
    let Some((_, ext)) = name.rsplit_once('.') else { return "" };
    LANGUAGES
        .iter()
        .find(|(exts, _)| exts.split(' ').any(|e| e.eq_ignore_ascii_case(ext)))
        .map_or("", |&(_, lang)| lang)
}

/// Extensions (space-separated) and their fence language.
const LANGUAGES: &[(&str, &str)] = &[
    ("rs", "rust"),
    ("py pyi", "python"),
    ("js mjs cjs", "javascript"),
    ("ts mts cts", "typescript"),
    ("jsx", "jsx"),
    ("tsx", "tsx"),
    ("c h", "c"),
    ("cc cpp cxx hpp hh hxx", "cpp"),
    ("go", "go"),
    ("java", "java"),
    ("kt kts", "kotlin"),
    ("swift", "swift"),
    ("rb", "ruby"),
    ("php", "php"),
    ("cs", "csharp"),
    ("sh bash zsh", "bash"),
    ("fish", "fish"),
    ("ps1", "powershell"),
    ("lua", "lua"),
    ("zig", "zig"),
    ("hs", "haskell"),
    ("ml mli", "ocaml"),
    ("ex exs", "elixir"),
    ("erl", "erlang"),
    ("scala", "scala"),
    ("dart", "dart"),
    ("r", "r"),
    ("jl", "julia"),
    ("sql", "sql"),
    ("html htm", "html"),
    ("css", "css"),
    ("scss", "scss"),
    ("vue", "vue"),
    ("svelte", "svelte"),
    ("json", "json"),
    ("jsonc", "jsonc"),
    ("yaml yml", "yaml"),
    ("toml", "toml"),
    ("xml", "xml"),
    ("md markdown", "markdown"),
    ("rst", "rst"),
    ("tex", "latex"),
    ("glsl comp vert frag", "glsl"),
    ("wgsl", "wgsl"),
    ("proto", "protobuf"),
    ("nix", "nix"),
    ("ini cfg", "ini"),
    ("diff patch", "diff"),
    ("vim", "vim"),
    ("el", "elisp"),
    ("clj cljs", "clojure"),
];

/// A file as it appears in the prompt: its path on a line (marked when read-only), then
/// its content in a fence longer than any backtick run inside it.
pub fn render_file(path: &str, content: &str, read_only: bool) -> String {
    let fence = fence_for(content);
    let label = if read_only { format!("{path} (read-only)") } else { path.to_string() };
    let newline = if content.is_empty() || content.ends_with('\n') { "" } else { "\n" };
    format!("{label}\n{fence}{}\n{content}{newline}{fence}\n", language_for(path))
}

/// The notes as they appear in the prompt.
pub fn render_notes(notes: &Notes) -> String {
    let newline = if notes.content.ends_with('\n') { "" } else { "\n" };
    format!("Project notes ({}):\n\n{}{newline}", notes.path, notes.content)
}

/// The context part of the prompt: notes first, then each file in the order given
/// (the order they were added, so the prompt's prefix stays the same turn after turn).
/// Empty when there is neither.
pub fn render_context(notes: Option<&Notes>, files: &[ContextFile]) -> String {
    let mut out = String::new();
    if let Some(notes) = notes {
        out.push_str(&render_notes(notes));
    }
    if !files.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("Files in context:\n");
        for file in files {
            out.push('\n');
            out.push_str(&render_file(&file.path, &file.content, file.read_only));
        }
    }
    out
}

/// Where the prompt's tokens go, checked against the context size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The context size in tokens.
    pub n_ctx: usize,
    /// The system prompt (given by the caller).
    pub system: usize,
    /// The project notes, with the notes' file name; 0 when there are none.
    pub notes: usize,
    /// Each file in context, in prompt order.
    pub files: Vec<(String, usize)>,
    /// The conversation so far (given by the caller).
    pub history: usize,
    /// Room kept for the answer.
    pub reserve: usize,
}

/// A budget that fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BudgetStatus {
    Fits {
        needed: usize,
        n_ctx: usize,
    },
    /// Over `WARN_FRACTION` of the context: one or two more turns may not fit.
    NearlyFull {
        needed: usize,
        n_ctx: usize,
    },
}

impl BudgetStatus {
    /// A one-line warning for the user when the context is nearly full.
    pub fn warning(&self) -> Option<String> {
        match *self {
            BudgetStatus::Fits { .. } => None,
            BudgetStatus::NearlyFull { needed, n_ctx } => Some(format!(
                "context nearly full: {needed} of {n_ctx} tokens ({}%); /drop files or /clear",
                percent(needed, n_ctx)
            )),
        }
    }
}

fn percent(part: usize, whole: usize) -> usize {
    (part as u128 * 100 / whole.max(1) as u128) as usize
}

/// The three files with the most tokens, largest first, as `path tokens, …` (for the
/// messages that say what to drop); `None` when there are none.
pub fn largest_files<'a>(files: impl Iterator<Item = (&'a str, usize)>) -> Option<String> {
    let mut largest: Vec<(&str, usize)> = files.collect();
    largest.sort_by_key(|f| std::cmp::Reverse(f.1));
    let names: Vec<String> = largest.iter().take(3).map(|(p, n)| format!("{p} {n}")).collect();
    (!names.is_empty()).then(|| names.join(", "))
}

impl Budget {
    /// The tokens of the files in context.
    pub fn files_total(&self) -> usize {
        self.files.iter().map(|(_, n)| n).sum()
    }

    /// Everything the prompt needs: its parts and the room for the answer.
    pub fn needed(&self) -> usize {
        self.system + self.notes + self.files_total() + self.history + self.reserve
    }

    /// `Ok` when the prompt fits (with a warning status past `WARN_FRACTION`), an error
    /// naming the largest files when it does not. Nothing is ever truncated.
    pub fn check(&self) -> Result<BudgetStatus> {
        let (needed, n_ctx) = (self.needed(), self.n_ctx);
        if needed > n_ctx {
            let files = self.files.iter().map(|(p, n)| (p.as_str(), *n));
            let hint =
                largest_files(files).map_or(String::new(), |l| format!("; largest files: {l}"));
            return Err(Error::bad_input(format!(
                "the prompt would not fit: it needs {needed} tokens and the context holds \
                 {n_ctx}{hint}; /drop files, /clear the history or raise -c"
            )));
        }
        if needed as f64 > n_ctx as f64 * WARN_FRACTION {
            Ok(BudgetStatus::NearlyFull { needed, n_ctx })
        } else {
            Ok(BudgetStatus::Fits { needed, n_ctx })
        }
    }
}

/// The `/tokens` table: one line per part, then the total against the context size.
impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<(String, usize)> = vec![("system".into(), self.system)];
        if self.notes > 0 {
            rows.push(("project notes".into(), self.notes));
        }
        rows.extend(self.files.iter().cloned());
        rows.push(("history".into(), self.history));
        if self.reserve > 0 {
            rows.push(("reserved for the answer".into(), self.reserve));
        }
        let width = rows.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
        for (name, n) in &rows {
            writeln!(f, "{name:<width$}  {n:>8}")?;
        }
        let needed = self.needed();
        write!(f, "total {needed} of {} tokens ({}%)", self.n_ctx, percent(needed, self.n_ctx))
    }
}
