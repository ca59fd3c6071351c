//! `weir`: the command line, and the one binary that runs the whole platform.
//!
//! Exit codes: 0 success, 1 the thing asked for failed (a DAG run failed, validation
//! found errors), 2 bad usage.

mod cli;
mod commands;
mod dag_files;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with exit 0, usage errors with exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
