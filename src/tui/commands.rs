//! The REPL's slash commands: one table (name, aliases, arguments, help) that parsing,
//! `/help` and Tab completion all read, and the parsed [`SlashCommand`].

/// A parsed slash command.
#[derive(Clone, Debug, PartialEq)]
pub enum SlashCommand {
    Help,
    Exit,
    Clear,
    Add(Vec<String>),
    /// No paths: drop every file.
    Drop(Vec<String>),
    Ls,
    ReadOnly(Vec<String>),
    Tokens,
    Compact,
    Model(String),
    /// `/set KEY VALUE`; no key: show the settings.
    Set(Option<(String, String)>),
    Sessions,
    Resume(Option<String>),
    Regen,
    Diff,
    Apply,
    Undo,
    /// `/escalate [URL]`: the next turns on the remote engine.
    Escalate(Option<String>),
    /// `/local`: back to the local model.
    Local,
}

/// One row of the command table.
pub struct CommandInfo {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub args: &'static str,
    pub help: &'static str,
}

const fn cmd(
    name: &'static str,
    aliases: &'static [&'static str],
    args: &'static str,
    help: &'static str,
) -> CommandInfo {
    CommandInfo { name, aliases, args, help }
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[CommandInfo] = &[
    cmd("help", &["?"], "", "this list"),
    cmd("add", &[], "PATH|GLOB...", "add files to the context (also: @path in a message)"),
    cmd("drop", &[], "[PATH|GLOB...]", "drop files from the context (all without arguments)"),
    cmd("ls", &[], "", "the files in context with their token counts"),
    cmd("read-only", &[], "PATH|GLOB...", "mark files read-only (added when not in context)"),
    cmd("tokens", &[], "", "the context budget, part by part"),
    cmd("compact", &[], "", "forget the older half of the conversation to make room"),
    cmd("diff", &[], "", "show the changes the last answer proposes"),
    cmd("apply", &[], "", "write the proposed changes, after confirmation"),
    cmd("undo", &[], "", "restore the files the last /apply wrote"),
    cmd("regen", &[], "", "regenerate the last answer"),
    cmd("escalate", &[], "[URL]", "send the next turns to the remote engine (--remote, or URL)"),
    cmd("local", &[], "", "back to the local model after /escalate"),
    cmd("clear", &[], "", "start the conversation afresh (files stay in context)"),
    cmd("model", &[], "PATH|NAME", "switch to another model"),
    cmd("set", &[], "KEY VALUE", "sampling: temp, top-k, top-p, min-p, repeat-penalty, seed, n"),
    cmd("sessions", &[], "", "list stored sessions"),
    cmd("resume", &[], "[NAME]", "continue a stored session (the last one without NAME)"),
    cmd("exit", &["bye", "quit"], "", "leave hearth (also Ctrl-D, or Ctrl-C twice)"),
];

/// The table row for `name` or one of its aliases.
pub fn find(name: &str) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.name == name || c.aliases.contains(&name))
}

/// Parses a line starting with `/`. Errors are one line for the user.
pub fn parse(line: &str) -> Result<SlashCommand, String> {
    let line = line.trim();
    let body = line.strip_prefix('/').unwrap_or(line);
    let mut words = body.split_whitespace();
    let name = words.next().unwrap_or("");
    let args: Vec<String> = words.map(str::to_string).collect();
    let Some(info) = find(name) else {
        return Err(format!("unknown command /{name}: /help lists them"));
    };
    let no_args = |c: SlashCommand| match args.is_empty() {
        true => Ok(c),
        false => Err(format!("/{} takes no arguments", info.name)),
    };
    let needs_args = |c: fn(Vec<String>) -> SlashCommand| match args.is_empty() {
        true => Err(format!("usage: /{} {}", info.name, info.args)),
        false => Ok(c(args.clone())),
    };
    match info.name {
        "help" => no_args(SlashCommand::Help),
        "exit" => no_args(SlashCommand::Exit),
        "clear" => no_args(SlashCommand::Clear),
        "ls" => no_args(SlashCommand::Ls),
        "tokens" => no_args(SlashCommand::Tokens),
        "compact" => no_args(SlashCommand::Compact),
        "sessions" => no_args(SlashCommand::Sessions),
        "regen" => no_args(SlashCommand::Regen),
        "diff" => no_args(SlashCommand::Diff),
        "apply" => no_args(SlashCommand::Apply),
        "undo" => no_args(SlashCommand::Undo),
        "add" => needs_args(SlashCommand::Add),
        "read-only" => needs_args(SlashCommand::ReadOnly),
        "drop" => Ok(SlashCommand::Drop(args)),
        "model" => match args.as_slice() {
            [one] => Ok(SlashCommand::Model(one.clone())),
            _ => Err("usage: /model PATH|NAME".into()),
        },
        "set" => match args.as_slice() {
            [] => Ok(SlashCommand::Set(None)),
            [key, value] => Ok(SlashCommand::Set(Some((key.clone(), value.clone())))),
            _ => Err(format!("usage: /set {}", info.args)),
        },
        "local" => no_args(SlashCommand::Local),
        "escalate" => match args.as_slice() {
            [] => Ok(SlashCommand::Escalate(None)),
            [one] => Ok(SlashCommand::Escalate(Some(one.clone()))),
            _ => Err("usage: /escalate [URL]".into()),
        },
        "resume" => match args.as_slice() {
            [] => Ok(SlashCommand::Resume(None)),
            [one] => Ok(SlashCommand::Resume(Some(one.clone()))),
            _ => Err("usage: /resume [NAME]".into()),
        },
        other => Err(format!("/{other} is not handled")),
    }
}

/// The `/help` text: keys, then one line per command.
pub fn help_text() -> String {
    let mut out = String::from(
        "Keys: Enter sends · Shift-Enter, Alt-Enter or Ctrl-J: new line · Up/Down: history · \
         Tab: complete @paths and commands · Ctrl-G: edit in $EDITOR · Ctrl-O: tool results whole or in one line · \
         PageUp/PageDown, \
         mouse wheel: scroll · Esc or Ctrl-C: stop the answer · Ctrl-C twice or Ctrl-D: exit\n",
    );
    let width = COMMANDS.iter().map(|c| c.name.len() + c.args.len() + 2).max().unwrap_or(0);
    for c in COMMANDS {
        let usage = format!("/{} {}", c.name, c.args);
        let aliases: Vec<String> = c.aliases.iter().map(|a| format!("/{a}")).collect();
        let also =
            if aliases.is_empty() { String::new() } else { format!(" ({})", aliases.join(", ")) };
        out.push_str(&format!("{:<width$}  {}{also}\n", usage.trim_end(), c.help));
    }
    out.trim_end().to_string()
}

/// Command names (with `/`) starting with `prefix` (which starts with `/`).
pub fn complete(prefix: &str) -> Vec<String> {
    let p = prefix.strip_prefix('/').unwrap_or(prefix);
    COMMANDS.iter().filter(|c| c.name.starts_with(p)).map(|c| format!("/{}", c.name)).collect()
}

/// Whether the arguments of the command at the start of `line` are paths.
pub fn takes_paths(line: &str) -> bool {
    let name = line.trim_start().strip_prefix('/').and_then(|l| l.split_whitespace().next());
    matches!(name, Some("add" | "drop" | "read-only"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_aliases() {
        assert_eq!(parse("/bye"), Ok(SlashCommand::Exit));
        assert_eq!(parse("/quit "), Ok(SlashCommand::Exit));
        assert_eq!(
            parse("/add src/*.rs README.md"),
            Ok(SlashCommand::Add(vec!["src/*.rs".into(), "README.md".into()]))
        );
        assert_eq!(parse("/drop"), Ok(SlashCommand::Drop(vec![])));
        assert_eq!(
            parse("/set temp 0.2"),
            Ok(SlashCommand::Set(Some(("temp".into(), "0.2".into()))))
        );
        assert_eq!(parse("/resume work"), Ok(SlashCommand::Resume(Some("work".into()))));
        assert_eq!(parse("/model smol.gguf"), Ok(SlashCommand::Model("smol.gguf".into())));
    }

    #[test]
    fn bad_commands_say_why() {
        assert_eq!(
            parse("/frobnicate").unwrap_err(),
            "unknown command /frobnicate: /help lists them"
        );
        assert_eq!(parse("/add").unwrap_err(), "usage: /add PATH|GLOB...");
        assert_eq!(parse("/ls x").unwrap_err(), "/ls takes no arguments");
        assert!(parse("/set temp").is_err());
    }

    #[test]
    fn help_lists_every_command() {
        let help = help_text();
        for c in COMMANDS {
            assert!(help.contains(&format!("/{}", c.name)), "{}", c.name);
        }
        assert!(help.contains("/exit  ") || help.contains("(/bye, /quit)"));
    }

    #[test]
    fn completes_names_and_knows_path_commands() {
        assert_eq!(complete("/re"), ["/read-only", "/regen", "/resume"]);
        assert!(takes_paths("/add src/"));
        assert!(!takes_paths("/model x"));
    }
}
