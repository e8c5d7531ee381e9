//! `wsbench`: parse the command line, call the library crates, map outcomes to exit codes
//! (0 ok, 1 run error, 2 usage or scenario error, 3 a threshold failed, 130 interrupted).

mod args;
mod list;
mod results;
mod run;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

/// Exit codes of docs/design.md §6.
pub mod exit {
    pub const OK: u8 = 0;
    pub const RUN_ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const THRESHOLD: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WSBENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let code = match cli.command {
        Command::Serve(a) => serve::main(a),
        Command::Run(a) => run::main(a),
        Command::List(a) => list::main(a),
        Command::Report(a) => results::report(a),
        Command::Compare(a) => results::compare(a),
    };
    ExitCode::from(code)
}
