//! `weir`: the command line, and the one binary that runs the whole platform.
//!
//! Exit codes: 0 success, 1 the thing asked for failed (a DAG run failed, validation
//! found errors), 2 bad usage.

mod cli;
mod cli_datasets;
mod cli_delivery;
mod cli_help;
mod commands;
mod dag_files;
mod dags_test;
mod master_key;
mod platform_config;
mod standalone;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `weir supervise …` watches one try for the engine. It must start before any thread
    // exists (it sets the signal mask every later thread inherits), so it is dispatched
    // here, before argument parsing and before any runtime.
    if std::env::args_os().nth(1).is_some_and(|a| a == "supervise") {
        let code = weir_compute::supervisor::main(
            std::env::args_os().skip(2),
            std::env::vars_os().collect(),
        );
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
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
