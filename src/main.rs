//! The `hearth` binary: parse arguments, dispatch, print `hearth: {err}`, exit by policy
//! (0 ok, 1 the model or task failed, 2 bad input or usage, 130 interrupted).

use std::io::IsTerminal;

use clap::Parser;
use hearth::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse_from(hearth::cli::normalize_args(std::env::args_os()));
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
