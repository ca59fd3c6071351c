//! One module per noun; each verb returns the process exit code.

mod dags;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dags(cmd) => dags::run(cmd),
        Command::Standalone(args) => crate::standalone::run(args),
        Command::Runs { .. } | Command::Tasks { .. } | Command::Variables { .. } => {
            anyhow::bail!("this command is not built yet")
        }
    }
}
