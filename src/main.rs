//! The `hearth` binary: parse arguments, dispatch, print `hearth: {err}`, exit by policy
//! (0 ok, 1 the model or task failed, 2 bad input or usage, 130 interrupted).

use std::io::IsTerminal;

use clap::Parser;
use hearth::cli::{Cli, Command};

fn main() {
    let cli = match Cli::try_parse_from(hearth::cli::normalize_args(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    if let Some(max) = cli.max_input {
        hearth::modes::set_max_input(max);
    }
    let command = match cli.command {
        Some(command) => command,
        // Without a subcommand: the REPL on a terminal, the help otherwise.
        None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
            match Cli::parse_from(["hearth", "chat"]).command {
                Some(chat @ Command::Chat(_)) => chat,
                _ => unreachable!("`hearth chat` parses as the chat command"),
            }
        }
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            std::process::exit(2);
        }
    };
    let result = match command {
        Command::Chat(args) => hearth::tui::run(&args.config()),
        command => hearth::modes::dispatch(command),
    };
    if let Err(err) = result {
        eprintln!("hearth: {err}");
        std::process::exit(err.exit_code());
    }
}

/// Help and version go out as clap writes them; a usage error is one `hearth:` line and
/// the usage hint, exit 2.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let text = e.render().to_string();
    let message = text
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or_else(|| text.lines().next().unwrap_or("bad arguments"));
    eprintln!("hearth: {message}");
    match text.lines().find(|l| l.starts_with("Usage: ")) {
        Some(usage) => eprintln!("{usage} (--help for more)"),
        None => eprintln!("(hearth --help for more)"),
    }
    std::process::exit(2);
}
