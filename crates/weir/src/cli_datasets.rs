//! The arguments of `weir datasets …` and `weir lineage`.

use clap::{Args, Subcommand};

use crate::cli::ServerArgs;

#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// Datasets (URIs some event named), with the DAGs that produce and consume each.
    List {
        /// Only URIs containing this text.
        #[arg(long)]
        uri: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Dataset events, newest first.
    Events {
        /// Only this URI's.
        #[arg(long)]
        uri: Option<String>,
        /// Only those this DAG's tasks produced.
        #[arg(long)]
        dag: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Post an event for a dataset your team produces (an external system's update).
    Post {
        /// The dataset's URI.
        uri: String,
        /// A JSON object to attach (`{"rows": 42}`).
        #[arg(long)]
        extra: Option<String>,
        /// The producing team, when you operate several.
        #[arg(long)]
        team: Option<String>,
    },
}

/// `weir lineage DAG|URI`.
#[derive(Debug, Args)]
pub struct LineageArgs {
    /// A DAG id, or a dataset URI (anything with `://`).
    pub target: String,
    /// How many DAGs up and down to follow.
    #[arg(long, default_value_t = 3)]
    pub depth: u32,
    #[command(flatten)]
    pub server: ServerArgs,
}
