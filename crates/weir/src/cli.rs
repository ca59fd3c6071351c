//! The command-line grammar (clap derive): nouns and verbs, in Airflow's words.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "weir", version, about = "Weir: workflows and batch compute for many teams, in one binary")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Work with DAGs: validate files, print the schema.
    #[command(subcommand)]
    Dags(DagsCommand),
}

#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// Check DAG files (or folders of them, recursively) and print every problem.
    Validate {
        /// Files or folders; folders are searched for `*.yaml` and `*.yml`.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, short, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Print the JSON Schema of the DAG file format (for editor completion).
    Schema,
}
