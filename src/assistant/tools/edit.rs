//! `edit_file`: one SEARCH/REPLACE (the lines to find, quoted exactly, and what replaces
//! them) or a file's whole new content; shown as a diff, written atomically through the
//! edit log (so `/undo` takes it back) once allowed.

use serde::Deserialize;
use serde_json::{json, Value};

use super::paths::resolve;
use super::{parse_args, Class, Kind, Outcome, Prepared, Refused, Tool, Workspace};
use crate::context::edits::{apply_search_replace, diff_text, FileChange};

pub const EDIT_FILE: Tool = Tool {
    name: "edit_file",
    description: "Change a file: give `search` (lines of the file, quoted exactly) and \
                  `replace` (what replaces them), or `content` (the whole new file; creates \
                  it if missing). The user is shown the diff and asked first.",
    kind: Kind::Edit,
    class: Class::Edit,
    schema,
    prepare,
};

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "The file, relative to the project root"},
            "search": {"type": "string", "description": "Lines to replace, exactly as in the file"},
            "replace": {"type": "string", "description": "The lines that replace them"},
            "content": {"type": "string", "description": "The whole new content of the file"},
        },
        "required": ["path"],
        "additionalProperties": false,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    path: String,
    search: Option<String>,
    replace: Option<String>,
    content: Option<String>,
}

fn prepare(args: Value, ws: &Workspace) -> Result<Prepared, Refused> {
    let args: Args = parse_args("edit_file", args)?;
    build(args, ws).map_err(Refused::Failed)
}

fn build(args: Args, ws: &Workspace) -> Result<Prepared, String> {
    let (rel, abs) = resolve(ws.files.root(), &args.path)?;
    if rel.is_empty() || abs.is_dir() {
        return Err(format!("`{}` is not a file", args.path));
    }
    let before = match std::fs::read(&abs) {
        Ok(bytes) => {
            Some(String::from_utf8(bytes).map_err(|_| format!("`{rel}` is not UTF-8 text"))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("`{rel}`: {e}")),
    };
    let after = match (args.search, args.replace, args.content) {
        (None, None, Some(content)) => content,
        (Some(search), Some(replace), None) => {
            let Some(current) = before.as_deref() else {
                return Err(format!("`{rel}` does not exist; give `content` to create it"));
            };
            apply_search_replace(&rel, current, &search, &replace).map_err(|e| format!("{e:#}"))?
        }
        _ => return Err("`edit_file`: give `search` and `replace`, or `content` alone".to_string()),
    };
    if before.as_deref() == Some(after.as_str()) {
        return Err(format!("the edit leaves `{rel}` unchanged"));
    }
    let change = FileChange { path: rel.clone(), before, after };
    let diff = diff_text(&change.diff());
    let title = match change.is_creation() {
        true => format!("create {rel}"),
        false => format!("edit {rel}"),
    };
    let shown = change.clone();
    let run = move |ws: &mut Workspace| {
        let in_context = ws.files.get(&change.path).is_some();
        match ws.log.apply(std::slice::from_ref(&change), ws.files, ws.count) {
            Ok(_) => {
                // The file stays out of the context (and the prompt's prefix) unless it
                // was there already.
                if !in_context {
                    ws.files.forget(&change.path);
                }
                Outcome::ok(format!("{} {}", written(&change), change.path))
            }
            Err(e) => Outcome::error(format!("{e:#}")),
        }
    };
    let mut prepared = Prepared::new(title, Some(diff), Box::new(run));
    prepared.change = Some(shown);
    Ok(prepared)
}

fn written(change: &FileChange) -> &'static str {
    match change.is_creation() {
        true => "created",
        false => "edited",
    }
}
