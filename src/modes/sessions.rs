//! `hearth sessions`: list, show, export, rename, fork and remove stored sessions,
//! `gc` to drop snapshots of model files that are gone and compact the database, and
//! `repair` to rescue what a damaged database still holds.

use serde_json::{json, Value};

use super::output::{self, human_bytes};
use crate::cli::{ExportFormat, SessionsArgs, SessionsCommand};
use crate::error::{Error, Result};
use crate::store::{self, MessageRow, Repair, SessionRow, Store, REPAIR_HINT};

pub fn run(args: &SessionsArgs) -> Result<()> {
    let open = Store::open_default;
    match &args.command {
        SessionsCommand::List { json } => list(&open()?, *json),
        SessionsCommand::Show { session, json } => show(&open()?, session, *json),
        SessionsCommand::Export { session, format } => export(&open()?, session, *format),
        SessionsCommand::Rename { session, name } => {
            let mut store = open()?;
            let row = store.resolve_session(session)?;
            store.rename_session(row.id, name)?;
            eprintln!("renamed {} to {name}", row.label());
            Ok(())
        }
        SessionsCommand::Fork { session, name } => {
            let mut store = open()?;
            let row = store.resolve_session(session)?;
            let fork = store.fork_session(row.id, name)?;
            eprintln!("forked {} into {} (#{})", row.label(), name, fork.id);
            Ok(())
        }
        SessionsCommand::Rm { sessions } => rm(&mut open()?, sessions),
        SessionsCommand::Gc => gc(&mut open()?),
        // Not through `Store::open`: a damaged file may not open, or take migrations.
        SessionsCommand::Repair { force } => repair(*force),
    }
}

/// Removes each session it can (all names are checked first); says which it could not.
fn rm(store: &mut Store, keys: &[String]) -> Result<()> {
    let rows = keys.iter().map(|s| store.resolve_session(s)).collect::<Result<Vec<_>>>()?;
    let mut failed: Vec<(String, Error)> = Vec::new();
    for row in rows {
        match store.remove_session(row.id) {
            Ok(0) => eprintln!("removed {}", row.label()),
            Ok(n) => eprintln!(
                "removed {}; {n} segment(s) of its KV snapshot on damaged pages stay in the file ({REPAIR_HINT})",
                row.label()
            ),
            Err(e) => failed.push((row.label(), e)),
        }
    }
    let Some((_, first)) = failed.first() else { return Ok(()) };
    let labels: Vec<&str> = failed.iter().map(|f| f.0.as_str()).collect();
    let msg = format!("not removed: {}: {}", labels.join(", "), first.message());
    let mut err = Error::new(first.kind(), msg);
    if let Some(file) = first.file() {
        err = err.with_file(file);
    }
    Err(err)
}

/// Local time of a Unix timestamp, to the minute.
fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn session_json(row: &SessionRow) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "title": row.title,
        "model": row.model_path,
        "created": row.created,
        "updated": row.updated,
        "messages": row.n_messages,
        "snapshot_tokens": row.snapshot_tokens,
        "snapshot_bytes": row.snapshot_bytes,
        "settings": row.settings,
    })
}

fn message_json(m: &MessageRow) -> Value {
    json!({ "seq": m.seq, "role": m.role, "content": m.content, "tokens": m.n_tokens, "created": m.created })
}

fn list(store: &Store, as_json: bool) -> Result<()> {
    let rows = store.sessions()?;
    if as_json {
        return output::print_json(&Value::Array(rows.iter().map(session_json).collect()));
    }
    if rows.is_empty() {
        eprintln!("no sessions yet: `hearth ask --session NAME \"…\"` starts one");
        return Ok(());
    }
    let mut text = format!(
        "{:>4}  {:<16}  {:<16}  {:>4}  {:>16}  {}\n",
        "ID", "NAME", "UPDATED", "MSGS", "SNAPSHOT", "TITLE"
    );
    for r in &rows {
        let snap = match r.snapshot_tokens {
            0 => "-".to_string(),
            n => format!("{n} tok {}", human_bytes(r.snapshot_bytes)),
        };
        let name = r.name.as_deref().unwrap_or("-");
        text.push_str(&format!(
            "{:>4}  {:<16}  {:<16}  {:>4}  {:>16}  {}\n",
            r.id,
            name,
            when(r.updated),
            r.n_messages,
            snap,
            r.title
        ));
    }
    output::print(&text)
}

fn show(store: &Store, key: &str, as_json: bool) -> Result<()> {
    let row = store.resolve_session(key)?;
    let msgs = store.messages(row.id)?;
    if as_json {
        let mut v = session_json(&row);
        v["messages"] = Value::Array(msgs.iter().map(message_json).collect());
        return output::print_json(&v);
    }
    let mut text = format!("session {} (#{}): {}\n", row.label(), row.id, row.title);
    text.push_str(&format!("model:    {}\n", row.model_path.as_deref().unwrap_or("-")));
    text.push_str(&format!("created:  {}   updated: {}\n", when(row.created), when(row.updated)));
    text.push_str(&format!(
        "snapshot: {} tokens, {}\n",
        row.snapshot_tokens,
        human_bytes(row.snapshot_bytes)
    ));
    for m in &msgs {
        text.push_str(&format!(
            "\n[{}] {} ({} tokens)\n{}\n",
            m.seq, m.role, m.n_tokens, m.content
        ));
    }
    output::print(&text)
}

fn export(store: &Store, key: &str, format: ExportFormat) -> Result<()> {
    let row = store.resolve_session(key)?;
    let msgs = store.messages(row.id)?;
    match format {
        ExportFormat::Json => {
            let mut v = session_json(&row);
            v["messages"] = Value::Array(msgs.iter().map(message_json).collect());
            output::print_json(&v)
        }
        ExportFormat::Md => output::print(&markdown(&row, &msgs)),
    }
}

/// A conversation as a Markdown document: a title, then one section per message.
fn markdown(row: &SessionRow, msgs: &[MessageRow]) -> String {
    let title = if row.title.is_empty() { row.label() } else { row.title.clone() };
    let mut md = format!("# {title}\n\n");
    md.push_str(&format!("Session `{}`, {}", row.label(), when(row.created)));
    if let Some(model) = &row.model_path {
        md.push_str(&format!(", model `{model}`"));
    }
    md.push('\n');
    for m in msgs {
        let heading = match m.role.as_str() {
            "system" => "System",
            "user" => "User",
            "assistant" => "Assistant",
            other => other,
        };
        md.push_str(&format!("\n## {heading}\n\n{}\n", m.content.trim_end()));
    }
    md
}

/// Drops the snapshots of model files no longer present (or changed) and the segments
/// no snapshot owns, then vacuums. On a damaged database it does what it can and says
/// what it could not.
fn gc(store: &mut Store) -> Result<()> {
    let before = store.file_bytes();
    let present: Vec<String> =
        store.models()?.into_iter().filter(|(_, here)| *here).map(|(m, _)| m.sha256).collect();
    let dropped = store.drop_snapshots_except(&present);
    let orphans = store.free_orphan_segments();
    let (n_dropped, mut stuck) = *dropped.as_ref().unwrap_or(&(0, 0));
    stuck += orphans.as_ref().map_or(0, |o| o.1);
    let vacuumed = store.vacuum();
    eprintln!(
        "dropped {n_dropped} snapshot(s) of models no longer present; database {} -> {}",
        human_bytes(before),
        human_bytes(store.file_bytes())
    );
    if stuck > 0 {
        eprintln!(
            "hearth: warning: {stuck} snapshot segment(s) on damaged pages could not be removed"
        );
    }
    dropped?;
    orphans?;
    vacuumed
}

/// `hearth sessions repair [--force]`.
fn repair(force: bool) -> Result<()> {
    let path = store::data_dir()?.join(store::DB_FILE);
    let report = match store::repair(&path, force)? {
        Repair::Missing => {
            eprintln!("no session database at {}: nothing to repair", path.display());
            return Ok(());
        }
        Repair::Healthy => {
            eprintln!(
                "{}: healthy (SQLite's quick_check finds nothing wrong); nothing changed \
                 (--force rebuilds it anyway)",
                path.display()
            );
            return Ok(());
        }
        Repair::Repaired(report) => report,
    };
    let r = &report;
    match r.problem.as_str() {
        "ok" => eprintln!("{}: rebuilt on request", path.display()),
        problem => eprintln!("{}: damaged ({problem}); rebuilt", path.display()),
    }
    eprintln!(
        "kept: {} session(s), {} message(s), {} KV snapshot(s)",
        r.sessions, r.messages, r.snapshots
    );
    let mut lost = format!(
        "lost: {} session(s), at least {} message(s), {} KV snapshot(s)",
        r.lost_sessions, r.lost_messages, r.dropped_snapshots
    );
    if r.dropped_snapshots > 0 {
        lost.push_str(" (damaged, or of a session that lost rows: re-read on its next turn)");
    }
    eprintln!("{lost}");
    if !r.recreated.is_empty() {
        eprintln!(
            "rebuilt from their messages (their name, model and settings were lost): {}",
            r.recreated.join(", ")
        );
    }
    eprintln!("the old file is kept as {}", r.kept_as.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_has_a_section_per_message() {
        let row = SessionRow {
            id: 3,
            name: Some("fix".into()),
            model_id: None,
            model_path: None,
            created: 0,
            updated: 0,
            title: "Find the bug".into(),
            settings: json!({}),
            n_messages: 2,
            snapshot_tokens: 0,
            snapshot_bytes: 0,
        };
        let msg = |seq, role: &str, content: &str| MessageRow {
            seq,
            role: role.into(),
            content: content.into(),
            n_tokens: 1,
            created: 0,
        };
        let md = markdown(
            &row,
            &[msg(1, "user", "Find the bug\n"), msg(2, "assistant", "`a - b` should be `a + b`.")],
        );
        assert!(md.starts_with("# Find the bug\n\nSession `fix`"), "{md}");
        assert!(
            md.ends_with(
                "\n## User\n\nFind the bug\n\n## Assistant\n\n`a - b` should be `a + b`.\n"
            ),
            "{md}"
        );
    }
}
