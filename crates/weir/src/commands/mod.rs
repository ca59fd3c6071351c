//! One module per noun; each verb returns the process exit code. The nouns that talk to
//! a server share `server` (runtime, client, flag parsing) and `output` (tables, JSON);
//! `credentials` is the sign-in that `login` stores and the client sends.

mod audit;
mod client;
mod connections;
mod costs;
mod credentials;
mod dags;
mod datasets;
mod delivery;
mod init;
mod login;
mod notifications;
mod output;
mod passwords;
mod pools;
mod queues;
mod replicas;
mod runs;
mod secrets;
mod server;
mod tasks;
mod teams;
mod tokens;
mod users;
mod variables;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dags(cmd) => dags::run(cmd),
        Command::Standalone(args) => crate::standalone::run(args),
        Command::Server(args) => crate::standalone::run_replica(args),
        Command::Replicas { command, server } => replicas::run(command, &server),
        Command::Runs { command, server } => runs::run(command, &server),
        Command::Tasks { command, server } => tasks::run(command, &server),
        Command::Variables { command, server } => variables::run(command, &server),
        Command::Secrets { command, server } => secrets::run(command, &server),
        Command::Connections { command, server } => connections::run(command, &server),
        Command::Pools { command, server } => pools::run(command, &server),
        Command::Costs(args) => costs::run(args),
        Command::Queues { command, server } => queues::run(command, &server),
        Command::Notifications { command, server } => notifications::run(command, &server),
        Command::Datasets { command, server } => datasets::run(command, &server),
        Command::Lineage(args) => datasets::lineage(args),
        Command::Login(args) => login::login(args),
        Command::Logout(args) => login::logout(args),
        Command::Whoami { server } => login::whoami(&server),
        Command::Users { command, server } => users::run(command, &server),
        Command::Tokens { command, server } => tokens::run(command, &server),
        Command::Teams { command, server } => teams::run(command, &server),
        Command::Audit(args) => audit::run(args),
        Command::Repo { command, server } => delivery::repo(command, &server),
        Command::Deploy(args) => delivery::deploy(args),
        Command::Approvals { command, server } => delivery::approvals(command, &server),
        Command::Init(args) => init::run(&args),
    }
}
