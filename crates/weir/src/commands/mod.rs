//! One module per noun; each verb returns the process exit code.

mod dags;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dags(cmd) => dags::run(cmd),
    }
}
