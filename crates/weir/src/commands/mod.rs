//! One module per noun; each verb returns the process exit code. The nouns that talk to
//! a server share `server` (runtime, client, flag parsing) and `output` (tables, JSON).

mod client;
mod costs;
mod dags;
mod output;
mod queues;
mod runs;
mod server;
mod tasks;
mod variables;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dags(cmd) => dags::run(cmd),
        Command::Standalone(args) => crate::standalone::run(args),
        Command::Runs { command, server } => runs::run(command, &server),
        Command::Tasks { command, server } => tasks::run(command, &server),
        Command::Variables { command, server } => variables::run(command, &server),
        Command::Costs(args) => costs::run(args),
        Command::Queues { command, server } => queues::run(command, &server),
    }
}
