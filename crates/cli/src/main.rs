//! `wsbench`: parse the command line, call the library crates, map outcomes to exit codes
//! (0 ok, 1 run error, 2 usage or scenario error, 3 a threshold failed, 130 interrupted).

mod args;
mod capacity;
mod floor;
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
        // Colour only on a terminal: logs a harness captures stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let code = match cli.command {
        Command::Serve(a) => serve::main(a),
        Command::Run(a) => run::main(a),
        Command::Capacity(a) => capacity::main(a),
        Command::List(a) => {
            end_quietly_when_stdout_closes();
            list::main(a)
        }
        Command::Report(a) => {
            end_quietly_when_stdout_closes();
            results::report(a)
        }
        Command::Floor(a) => floor::main(a),
        Command::Compare(a) => {
            end_quietly_when_stdout_closes();
            results::compare(a)
        }
    };
    ExitCode::from(code)
}

/// The commands that only print (`list`, `report`, `compare`) end quietly when their reader
/// goes away (`wsbench list | head`), as Unix tools do, instead of panicking on a closed
/// stdout. Not `run` or `serve`: a peer closing a socket must stay an error they handle,
/// never a signal that kills them.
fn end_quietly_when_stdout_closes() {
    // SAFETY: restores the default disposition of SIGPIPE before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
