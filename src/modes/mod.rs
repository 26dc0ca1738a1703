//! The thin faces over the assistant layer (`ask`) and the model tools (inspect,
//! tokenize, run, perplexity, bench, sessions, devices). Each takes its resolved
//! arguments and writes its answer to stdout. The REPL is `tui`.

pub mod acp;
pub mod ask;
pub mod ask_remote;
pub mod bench;
mod bench_resume;
mod bench_spec;
pub mod devices;
pub mod edit;
mod input;
pub mod inspect;
mod output;
pub mod perplexity;
mod roofline;
pub mod run;
pub mod serve;
pub mod sessions;
pub mod tokenize;

pub use input::{set_max_input, DEFAULT_MAX_INPUT};

use crate::cli::Command;
use crate::error::Result;

/// Runs one subcommand.
pub fn dispatch(command: Command) -> Result<()> {
    match command {
        // The binary runs the REPL itself (`tui` sits above the modes).
        Command::Chat(_) => Err(crate::error::Error::usage("`hearth chat` is run by the binary")),
        Command::Inspect(args) => inspect::run(&args),
        Command::Tokenize(args) => tokenize::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Perplexity(args) => perplexity::run(&args),
        Command::Ask(args) => ask::run(&args),
        Command::Edit(args) => edit::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Sessions(args) => sessions::run(&args),
        Command::Devices(args) => devices::run(&args),
        Command::Acp(args) => acp::run(&args),
        Command::Serve(args) => serve::run(&args),
    }
}
