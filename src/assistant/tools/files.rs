//! `list_files` and `read_file`: the project's files as the ignore rules leave them
//! (ripgrep's own walker: `.gitignore` files, `.hearthignore`, hidden files skipped),
//! and one file's text, whole or by lines, capped.

use std::path::PathBuf;

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde_json::{json, Value};

use super::paths::{resolve, shown};
use super::{parse_args, Class, Kind, Outcome, Prepared, Refused, Tool, Workspace};
use crate::context::Root;
use crate::context::HEARTHIGNORE;

pub const LIST_FILES: Tool = Tool {
    name: "list_files",
    description: "List the project's files (ignored and hidden files left out), optionally \
                  only those under a directory or matching a glob such as `*.rs` or \
                  `src/**/*.py`.",
    kind: Kind::Search,
    class: Class::Read,
    schema: list_schema,
    prepare: prepare_list,
};

pub const READ_FILE: Tool = Tool {
    name: "read_file",
    description: "Read a text file of the project, whole or from `start_line` to `end_line` \
                  (1-based, inclusive).",
    kind: Kind::Read,
    class: Class::Read,
    schema: read_schema,
    prepare: prepare_read,
};

fn list_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "A directory, relative to the project root"},
            "glob": {"type": "string", "description": "Only paths matching this glob"},
        },
        "additionalProperties": false,
    })
}

fn read_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "The file, relative to the project root"},
            "start_line": {"type": "integer", "minimum": 1},
            "end_line": {"type": "integer", "minimum": 1},
        },
        "required": ["path"],
        "additionalProperties": false,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    #[serde(default)]
    path: String,
    glob: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    start_line: Option<usize>,
    end_line: Option<usize>,
}

/// A glob over relative paths: with a `/` it matches the whole path, without one the
/// file name (so `*.rs` finds Rust files at any depth).
pub(super) struct PathGlob {
    matcher: GlobMatcher,
    whole_path: bool,
}

impl PathGlob {
    pub(super) fn new(glob: &str) -> Result<PathGlob, String> {
        let whole_path = glob.contains('/');
        let matcher = GlobBuilder::new(glob)
            .literal_separator(whole_path)
            .build()
            .map_err(|e| format!("bad glob `{glob}`: {e}"))?
            .compile_matcher();
        Ok(PathGlob { matcher, whole_path })
    }

    pub(super) fn matches(&self, rel: &str) -> bool {
        match self.whole_path {
            true => self.matcher.is_match(rel),
            false => self.matcher.is_match(rel.rsplit('/').next().unwrap_or(rel)),
        }
    }
}

/// The files under `dir` (relative to the root) the ignore rules leave, sorted, as
/// (relative path, absolute path).
pub(super) fn walk(root: &Root, dir: &str, glob: Option<&PathGlob>) -> Vec<(String, PathBuf)> {
    let walker = ignore::WalkBuilder::new(root.join(dir))
        .require_git(false)
        .add_custom_ignore_filename(HEARTHIGNORE)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    walker
        .filter_map(|entry| entry.ok())
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| Some((root.relative(e.path())?, e.into_path())))
        .filter(|(rel, _)| glob.is_none_or(|g| g.matches(rel)))
        .collect()
}

fn prepare_list(args: Value, ws: &Workspace) -> Result<Prepared, Refused> {
    let args: ListArgs = parse_args("list_files", args)?;
    build_list(args, ws).map_err(Refused::Failed)
}

fn build_list(args: ListArgs, ws: &Workspace) -> Result<Prepared, String> {
    let root = ws.files.root().clone();
    let (dir, abs) = resolve(&root, &args.path)?;
    if !abs.is_dir() {
        return Err(format!("`{}` is not a directory of the project", shown(&dir)));
    }
    let glob = args.glob.as_deref().map(PathGlob::new).transpose()?;
    let title = match &args.glob {
        Some(g) => format!("list {g} in {}", shown(&dir)),
        None => format!("list {}", shown(&dir)),
    };
    let max = ws.limits.list_entries;
    let run = move |_: &mut Workspace| {
        let files = walk(&root, &dir, glob.as_ref());
        if files.is_empty() {
            return Outcome::ok("no files");
        }
        let mut text: Vec<&str> = files.iter().take(max).map(|(rel, _)| rel.as_str()).collect();
        let more = files.len().saturating_sub(max);
        let tail = format!("… and {more} more (narrow it with `path` or `glob`)");
        if more > 0 {
            text.push(&tail);
        }
        Outcome::ok(text.join("\n"))
    };
    Ok(Prepared::new(title, None, Box::new(run)))
}

fn prepare_read(args: Value, ws: &Workspace) -> Result<Prepared, Refused> {
    let args: ReadArgs = parse_args("read_file", args)?;
    build_read(args, ws).map_err(Refused::Failed)
}

fn build_read(args: ReadArgs, ws: &Workspace) -> Result<Prepared, String> {
    let (rel, abs) = resolve(ws.files.root(), &args.path)?;
    if abs.is_dir() {
        return Err(format!("`{}` is a directory; list_files lists it", shown(&rel)));
    }
    if !abs.exists() {
        return Err(format!("`{}` does not exist", shown(&rel)));
    }
    let (start, end) = (args.start_line.unwrap_or(1).max(1), args.end_line);
    let title = match (args.start_line, end) {
        (None, None) => format!("read {rel}"),
        _ => format!("read {rel}:{start}-{}", end.map_or(String::new(), |e| e.to_string())),
    };
    let cap = ws.limits.read_bytes;
    let run = move |_: &mut Workspace| match std::fs::read(&abs) {
        Ok(bytes) => read_lines(&rel, &bytes, start, end, cap),
        Err(e) => Outcome::error(format!("`{rel}`: {e}")),
    };
    Ok(Prepared::new(title, None, Box::new(run)))
}

/// Lines `start..=end` of a file's bytes, at most `cap` bytes of them, under a header
/// saying which lines these are.
fn read_lines(rel: &str, bytes: &[u8], start: usize, end: Option<usize>, cap: usize) -> Outcome {
    if bytes.contains(&0) {
        return Outcome::error(format!("`{rel}` is a binary file"));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Outcome::error(format!("`{rel}` is not UTF-8 text"));
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let total = lines.len();
    if total == 0 {
        return Outcome::ok(format!("{rel} is empty"));
    }
    if start > total {
        return Outcome::error(format!("`{rel}` has {total} lines; line {start} is past its end"));
    }
    let end = end.unwrap_or(total).clamp(start, total);
    let mut body = String::new();
    let mut last = start - 1;
    for line in &lines[start - 1..end] {
        if body.len() + line.len() > cap && last >= start {
            break;
        }
        body.push_str(line);
        last += 1;
    }
    let mut header = format!("{rel}, lines {start}-{last} of {total}:\n");
    if last < end {
        header = format!(
            "{rel}, lines {start}-{last} of {total} (cut at {} KiB; read on from start_line={}):\n",
            cap >> 10,
            last + 1
        );
    }
    Outcome::ok(header + &body)
}
