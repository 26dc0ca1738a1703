//! `search`: a regular expression over the project's files, ripgrep's way (its walker,
//! its regex matcher and line searcher; binary files skipped), each match as
//! `path:line: text`, capped.

use grep_regex::RegexMatcherBuilder;
use grep_searcher::sinks::UTF8;
use grep_searcher::{BinaryDetection, SearcherBuilder};
use serde::Deserialize;
use serde_json::{json, Value};

use super::files::{walk, PathGlob};
use super::paths::{resolve, shown};
use super::{parse_args, Class, Kind, Outcome, Prepared, Refused, Tool, Workspace};

pub const SEARCH: Tool = Tool {
    name: "search",
    description: "Search the project's files for a regular expression (Rust regex syntax); \
                  returns matching lines as `path:line: text`. Optionally only under a \
                  directory or in files matching a glob.",
    kind: Kind::Search,
    class: Class::Read,
    schema,
    prepare,
};

/// Characters of a matching line shown.
const LINE_CHARS: usize = 200;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "A regular expression"},
            "path": {"type": "string", "description": "A directory or file to search in"},
            "glob": {"type": "string", "description": "Only files matching this glob"},
            "case_insensitive": {"type": "boolean"},
        },
        "required": ["pattern"],
        "additionalProperties": false,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    pattern: String,
    #[serde(default)]
    path: String,
    glob: Option<String>,
    #[serde(default)]
    case_insensitive: bool,
}

fn prepare(args: Value, ws: &Workspace) -> Result<Prepared, Refused> {
    let args: Args = parse_args("search", args)?;
    build(args, ws).map_err(Refused::Failed)
}

fn build(args: Args, ws: &Workspace) -> Result<Prepared, String> {
    let root = ws.files.root().clone();
    let (dir, abs) = resolve(&root, &args.path)?;
    if !abs.exists() {
        return Err(format!("`{}` does not exist", shown(&dir)));
    }
    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(args.case_insensitive)
        .build(&args.pattern)
        .map_err(|e| format!("bad pattern `{}`: {e}", args.pattern))?;
    let glob = args.glob.as_deref().map(PathGlob::new).transpose()?;
    let title = format!("search /{}/ in {}", args.pattern, shown(&dir));
    let max = ws.limits.search_matches;
    let run = move |_: &mut Workspace| {
        let mut searcher =
            SearcherBuilder::new().binary_detection(BinaryDetection::quit(0)).build();
        let mut hits: Vec<String> = Vec::new();
        let mut more = 0usize;
        for (rel, path) in walk(&root, &dir, glob.as_ref()) {
            let sink = UTF8(|line_number, line| {
                match hits.len() < max {
                    true => hits.push(format!("{rel}:{line_number}: {}", clip(line.trim_end()))),
                    false => more += 1,
                }
                Ok(true)
            });
            // A file that cannot be read or is not UTF-8 is skipped, as ripgrep does.
            let _ = searcher.search_path(&matcher, &path, sink);
        }
        if hits.is_empty() {
            return Outcome::ok("no matches");
        }
        if more > 0 {
            hits.push(format!("… and {more} more matches (narrow the pattern, path or glob)"));
        }
        Outcome::ok(hits.join("\n"))
    };
    Ok(Prepared::new(title, None, Box::new(run)))
}

/// At most `LINE_CHARS` characters of a line.
fn clip(line: &str) -> String {
    match line.char_indices().nth(LINE_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}
