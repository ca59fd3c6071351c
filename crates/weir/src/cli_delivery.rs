//! The command-line grammar of governed delivery: `weir repo`, `weir deploy`,
//! `weir approvals` and `weir init` (`weir dags versions|diff|activate` are in `cli.rs`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::ServerArgs;

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Show the commit in use, when it was synced, and the last sync error.
    Status,
    /// Sync now (what a CI/CD pipeline calls after a merge); exit 1 if the sync failed.
    Sync,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The folder holding `dags/` (and `jobs/`) to upload.
    pub path: PathBuf,
    /// The team deploying; found from the DAG files' `team:` when they name one team.
    #[arg(long)]
    pub team: Option<String>,
    /// What this deployment changes, as a commit message would say.
    #[arg(long, short)]
    pub message: Option<String>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approval requests (the pending ones unless --status says otherwise).
    List {
        /// pending, approved, rejected, superseded, or all.
        #[arg(long, default_value = "pending")]
        status: String,
        /// Only this DAG's requests.
        #[arg(long)]
        dag: Option<String>,
    },
    /// Show one request: the version, its author and commit, what it changes, the diff.
    Show {
        /// The approval request's id.
        id: i64,
    },
    /// Approve a version: it becomes the DAG's active version.
    Approve {
        /// The approval request's id.
        id: i64,
        /// A comment kept with the decision.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a version: the DAG keeps its active version.
    Reject {
        /// The approval request's id.
        id: i64,
        /// Why (kept with the decision, and shown to the author).
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The team the repository is for (its DAGs and job definitions say `team: TEAM`).
    pub team: String,
    /// Where to create it (default: a new folder named after the team).
    pub dir: Option<PathBuf>,
    /// The image prefix the team may run (`[[teams]] image_prefixes` in weir.toml), used
    /// in the example job definition.
    #[arg(long, default_value = "registry.example.com")]
    pub registry: String,
}
