//! The `hearth` binary: parse arguments, dispatch, print `hearth: {err}`, exit by policy
//! (0 ok, 1 the model or task failed, 2 bad input or usage, 130 interrupted).

use clap::Parser;
use hearth::cli::Cli;

fn main() {
    let cli = Cli::parse_from(hearth::cli::normalize_args(std::env::args_os()));
    let Some(command) = cli.command else {
        use clap::CommandFactory;
        // The REPL is not built yet: without a subcommand, show what there is.
        let _ = Cli::command().print_help();
        std::process::exit(2);
    };
    if let Err(err) = hearth::modes::dispatch(command) {
        eprintln!("hearth: {err}");
        std::process::exit(err.exit_code());
    }
}
