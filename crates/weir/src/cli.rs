//! The command-line grammar (clap derive): nouns and verbs, in Airflow's words.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "weir",
    version,
    about = "Weir: workflows and batch compute for many teams, in one binary"
)]
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

/// Where a command that talks to a Weir server finds it.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(
        long,
        env = "WEIR_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// Output as a human-friendly table, or JSON for scripts.
    #[arg(long, short, value_enum, default_value_t, global = true)]
    pub output: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scheduler, executor and HTTP API in one process, with an embedded database.
    Standalone(StandaloneArgs),
    /// Run one replica of a Weir shared by several processes on one PostgreSQL database:
    /// the API, a scheduler, or both (`--role`). Start as many as you need.
    Server(ReplicaServerArgs),
    /// Show the Weir processes sharing the server's database.
    Replicas {
        #[command(subcommand)]
        command: ReplicasCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Work with DAGs.
    #[command(subcommand)]
    Dags(DagsCommand),
    /// Work with DAG runs.
    Runs {
        #[command(subcommand)]
        command: RunsCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Work with task instances and their logs.
    Tasks {
        #[command(subcommand)]
        command: TasksCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Read and write variables (`{{ var.value.NAME }}` in templates).
    Variables {
        #[command(subcommand)]
        command: VariablesCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Manage a team's secrets (team admins): set, list, delete; values go in, never out.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Manage connections (Airflow's): where and how tasks reach outside systems.
    Connections {
        #[command(subcommand)]
        command: ConnectionsCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show pools (slot limits shared by every team); platform admins set and delete them.
    Pools {
        #[command(subcommand)]
        command: PoolsCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Report what tries cost and used, per team, DAG or queue (and day).
    Costs(CostsArgs),
    /// Show job queues: depth per team, and the waiting tries with why they wait.
    Queues {
        #[command(subcommand)]
        command: QueuesCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show notifications: the messages sent (or failing) for DAGs' `notify:`, and the
    /// channels' health.
    Notifications {
        #[command(subcommand)]
        command: NotificationsCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Datasets: list them, their events, and post an event for one your team produces.
    Datasets {
        #[command(subcommand)]
        command: crate::cli_datasets::DatasetsCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Which DAGs produce and consume the datasets around a DAG or a dataset.
    Lineage(crate::cli_datasets::LineageArgs),
    /// Sign in to a server: stores a token that the other commands then use.
    Login(LoginArgs),
    /// Sign out: revoke the stored token and delete it.
    Logout(LogoutArgs),
    /// Show who the server takes you for, and your roles in teams.
    Whoami {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Manage users (platform admins).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Manage API tokens: yours, and your teams' service accounts'.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show teams and manage their members.
    Teams {
        #[command(subcommand)]
        command: TeamsCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show the audit log: who did what to which object, newest first.
    Audit(AuditArgs),
    /// The Git repository DAGs are delivered from: its sync state, and sync now.
    Repo {
        #[command(subcommand)]
        command: crate::cli_delivery::RepoCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Upload a folder's DAGs and job definitions (for teams without Git hosting); they
    /// go through the same versions and approvals as a commit.
    Deploy(crate::cli_delivery::DeployArgs),
    /// Four-eyes approval of production DAG versions: list, show, approve, reject.
    Approvals {
        #[command(subcommand)]
        command: crate::cli_delivery::ApprovalsCommand,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Scaffold a new team's DAG repository: an example DAG and job definition, CI
    /// snippets that validate and sync, editor schema wiring, and a README.
    Init(crate::cli_delivery::InitArgs),
}

/// How the server writes its own log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The user to sign in as; asked for on a terminal if not given.
    #[arg(long, short)]
    pub username: Option<String>,
    /// Read the password from the first line of standard input instead of asking
    /// (WEIR_PASSWORD is also read, when set).
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Only sign out if the stored token is for this server.
    #[arg(long)]
    pub server: Option<String>,
}

/// A role in a team, from least to most allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TeamRole {
    /// Reads the team's DAGs, runs and logs.
    Viewer,
    /// Also triggers, pauses, clears and backfills.
    Operator,
    /// Also manages the team's members and service-account tokens.
    Admin,
}

impl From<TeamRole> for weir_core::access::TeamRole {
    fn from(role: TeamRole) -> Self {
        match role {
            TeamRole::Viewer => weir_core::access::TeamRole::Viewer,
            TeamRole::Operator => weir_core::access::TeamRole::Operator,
            TeamRole::Admin => weir_core::access::TeamRole::Admin,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a local user. Without --password-stdin, a strong password is generated and
    /// printed once.
    Create {
        /// The new user's name (what they sign in with).
        username: String,
        /// The user's email address.
        #[arg(long)]
        email: Option<String>,
        /// Make the user a platform admin (all teams, users and settings).
        #[arg(long)]
        platform_admin: bool,
        /// Read the password (at least 8 characters) from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users, with their teams and roles.
    List,
    /// Delete a user.
    Delete {
        /// The user's name.
        username: String,
    },
    /// Set a local user's password (your own, or anyone's as a platform admin). Changing
    /// your own asks for your current password first.
    SetPassword {
        /// The user whose password to set.
        username: String,
        /// Read the new password from standard input instead of asking (its first line, or
        /// its second with --current-password-stdin).
        #[arg(long)]
        password_stdin: bool,
        /// Read your current password from the first line of standard input instead of
        /// asking (needed to change your own password; ignored for someone else's).
        #[arg(long)]
        current_password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it (the only time it is shown). With --team and --role,
    /// a token of the team's service account (needs the team's admin role).
    Create {
        /// A name to recognize the token by, e.g. `ci-deploy`.
        name: String,
        /// Make a service token of this team's service account (with --role).
        #[arg(long, requires = "role")]
        team: Option<String>,
        /// The service account's role in the team (with --team).
        #[arg(long, value_enum, requires = "team")]
        role: Option<TeamRole>,
        /// Days until the token expires (default 90, or less when the token you signed
        /// in with expires sooner: a token never outlives the token that made it).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=365), conflicts_with = "no_expiry")]
        expires_in_days: Option<u32>,
        /// The token never expires: only for service tokens (--team, --role) made by a
        /// platform admin.
        #[arg(long)]
        no_expiry: bool,
    },
    /// List the tokens you can see: yours, your teams' service accounts' as a team admin,
    /// everyone's as a platform admin. Never their secrets.
    List {
        /// Only this user's tokens.
        #[arg(long)]
        username: Option<String>,
        /// Only this team's service-account tokens.
        #[arg(long)]
        team: Option<String>,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's id (`weir tokens list`), not its secret.
        token_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamsCommand {
    /// List teams.
    List,
    /// Show a team: its settings and members.
    Show {
        /// The team's name.
        team: String,
    },
    /// Give a user a role in a team (or change it).
    AddMember {
        /// The team's name.
        team: String,
        /// The user's name.
        username: String,
        /// The role to give.
        #[arg(long, value_enum)]
        role: TeamRole,
    },
    /// Take a user out of a team.
    RemoveMember {
        /// The team's name.
        team: String,
        /// The user's name.
        username: String,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only what this user (or service account) did.
    #[arg(long)]
    pub actor: Option<String>,
    /// Only events on objects of this type, or on this one object: `dag`, `dag:finance_close`.
    #[arg(long, value_name = "TYPE[:ID]")]
    pub object: Option<String>,
    /// Only this action, e.g. `dag.pause`, `variable.update`, `login`.
    #[arg(long)]
    pub action: Option<String>,
    /// Only events with this outcome.
    #[arg(long, value_enum)]
    pub outcome: Option<AuditOutcome>,
    /// Only events since: a span back from now (30m, 1h, 2d, 1w), a date (2026-03-01) or an
    /// RFC 3339 date-time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before: same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many events (the newest).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// How an audited request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditOutcome {
    Success,
    /// Refused for lack of a role.
    Denied,
    Failed,
}

impl AuditOutcome {
    /// The outcome's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Args)]
pub struct StandaloneArgs {
    /// The DAG folder to load and watch.
    #[arg(long, env = "WEIR_DAGS", default_value = "dags")]
    pub dags: PathBuf,
    /// Where the database, logs and try folders live.
    #[arg(long, env = "WEIR_HOME", default_value = ".weir")]
    pub home: PathBuf,
    /// Database URL: a SQLite path (default `<home>/weir.db`) or `postgres://…`.
    #[arg(long, env = "WEIR_DB")]
    pub db: Option<String>,
    /// The port to listen on (0: any free port).
    #[arg(long, env = "WEIR_PORT", default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on (0.0.0.0: every interface).
    #[arg(long, env = "WEIR_BIND", default_value = "127.0.0.1")]
    pub bind: String,
    /// Start every newly seen DAG unpaused, whatever its file says.
    #[arg(long)]
    pub unpause_all: bool,
    /// The server's own log: `text` for people, `json` (one object a line, with the
    /// DAG run's and try's spans) for a log pipeline.
    #[arg(long, env = "WEIR_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// Most tries running at once.
    #[arg(long, default_value_t = 32)]
    pub parallelism: usize,
    /// The platform config: compute environments, queues, teams' image policies, prices.
    /// Default: one sized to this host (and Docker, when its daemon answers).
    #[arg(long, env = "WEIR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Job definitions folder. Default: `jobs/` beside the DAG folder, if present.
    #[arg(long, env = "WEIR_JOBS")]
    pub jobs: Option<PathBuf>,
    /// The Docker daemon's socket. Default: /var/run/docker.sock.
    #[arg(long, env = "WEIR_DOCKER_SOCKET")]
    pub docker_socket: Option<PathBuf>,
    /// The master key file that seals secrets and connection passwords (owner-only).
    /// Default: `<home>/master.key`, created on first start. `WEIR_MASTER_KEY` (base64
    /// keys, comma-separated, last one current) takes its place when set.
    #[arg(long, env = "WEIR_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
}

/// `weir server`: the standalone settings, plus the replica's role and lease.
#[derive(Debug, Args)]
pub struct ReplicaServerArgs {
    #[command(flatten)]
    pub common: StandaloneArgs,
    /// What this replica does: `all` (API and scheduler), `api` (the API and the web UI
    /// only) or `scheduler` (runs DAGs; answers /health and /metrics only).
    #[arg(long, env = "WEIR_ROLE", value_enum, default_value_t)]
    pub role: ReplicaRoleArg,
    /// Seconds a replica's leases hold without a heartbeat: a replica that dies loses
    /// its DAGs and tries to the others after at most this long.
    #[arg(long, env = "WEIR_LEASE_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_seconds: u64,
}

/// `weir server --role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReplicaRoleArg {
    #[default]
    All,
    Api,
    Scheduler,
}

#[derive(Debug, Subcommand)]
pub enum ReplicasCommand {
    /// List the replicas: role, host, version, last heartbeat, DAGs held.
    List,
}

#[derive(Debug, Subcommand)]
pub enum DagsCommand {
    /// Check DAG files (or folders of them, recursively) and print every problem.
    Validate {
        /// Files or folders; folders are searched for `*.yaml` and `*.yml`.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// `table` (rustc-style diagnostics) or `json` (for CI); exit 1 when any error is found.
        #[arg(long, short, value_enum, default_value_t)]
        output: OutputFormat,
        /// Also check against this platform config (images, queues, job definitions).
        #[arg(long, env = "WEIR_CONFIG")]
        config: Option<PathBuf>,
        /// Job definitions folder for `job` tasks (with --config).
        #[arg(long)]
        jobs: Option<PathBuf>,
    },
    /// Print the JSON Schema of the DAG file format (for editor completion).
    Schema,
    /// Run one DAG run to completion in this process, without a server.
    Test(DagsTestArgs),
    /// List DAGs.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show one DAG: its schedule, state and tasks.
    Show {
        /// The DAG's id.
        dag_id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Start a DAG run now.
    Trigger {
        /// The DAG's id.
        dag_id: String,
        /// The run's conf, a JSON object (`{{ conf.x }}`, and it overrides params).
        #[arg(long)]
        conf: Option<String>,
        /// The run's logical date (RFC 3339 or YYYY-MM-DD); default now.
        #[arg(long)]
        logical_date: Option<String>,
        /// A note on the run for whoever looks at it later (Airflow's `note`).
        #[arg(long)]
        note: Option<String>,
        /// Wait for the run to finish; exit 1 if it failed.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Pause a DAG: no new runs start.
    Pause {
        /// The DAG's id.
        dag_id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Unpause a DAG.
    Unpause {
        /// The DAG's id.
        dag_id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Create runs for every schedule interval between two dates.
    Backfill {
        /// The DAG's id.
        dag_id: String,
        /// The first logical date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        from: String,
        /// The last logical date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List files that failed to load.
    Errors {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List a DAG's versions, newest first, with their commit, author and status.
    Versions {
        /// The DAG's id.
        dag_id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Compare two versions of a DAG: what changed, and the diff of its file.
    Diff {
        /// The DAG's id.
        dag_id: String,
        /// The older version (a hash, or its first 8 or more characters).
        from: String,
        /// The newer version.
        to: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Break-glass (platform admins): make a version active without approval. Flagged on
    /// the version and in the audit trail.
    Activate {
        /// The DAG's id.
        dag_id: String,
        /// The version (a hash, or its first 8 or more characters).
        version: String,
        /// Why this cannot wait for a second person (required).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Debug, Args)]
pub struct DagsTestArgs {
    /// The DAG (or factory) file.
    pub file: PathBuf,
    /// Which DAG of the file (needed for a factory that makes several).
    #[arg(long)]
    pub dag: Option<String>,
    /// The run's logical date (RFC 3339 or YYYY-MM-DD); default now.
    #[arg(long)]
    pub date: Option<String>,
    /// The run's conf, a JSON object.
    #[arg(long)]
    pub conf: Option<String>,
    /// Keep the database and logs here instead of a temporary folder.
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// A variable for the run's templates (`{{ var.value.KEY }}`), repeatable; wins over
    /// --vars and WEIR_VAR_<KEY> (Airflow's AIRFLOW_VAR_<KEY>), which are read too.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// A JSON object of variables (a string value as is, others as JSON text).
    #[arg(long = "vars", value_name = "FILE.json")]
    pub vars_file: Option<PathBuf>,
    /// Print only the tasks' states, not their log lines and XComs.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List DAG runs, newest first.
    List {
        /// Only this DAG's runs.
        #[arg(long)]
        dag: Option<String>,
        /// At most this many runs (the newest).
        #[arg(long, default_value_t = 25)]
        limit: u32,
    },
    /// Show one run and its task instances.
    Show {
        /// The DAG's id.
        dag_id: String,
        /// The run's id (`weir runs list`).
        run_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List the task instances of a run.
    List {
        /// The DAG's id.
        dag_id: String,
        /// The run's id (`weir runs list`).
        run_id: String,
    },
    /// Print a try's log; `-f` follows it while the try runs.
    Logs {
        /// The DAG's id.
        dag_id: String,
        /// The run's id (`weir runs list`).
        run_id: String,
        /// The task's id.
        task_id: String,
        /// Default: the latest try.
        #[arg(long)]
        try_number: Option<u32>,
        /// The map index of a mapped task instance (-1: not mapped).
        #[arg(long, default_value_t = -1)]
        map_index: i32,
        /// Keep printing the log while the try runs.
        #[arg(short, long)]
        follow: bool,
    },
    /// Print the XCom a task instance returned (or another of its keys).
    Xcom {
        /// The DAG's id.
        dag_id: String,
        /// The run's id (`weir runs list`).
        run_id: String,
        /// The task's id.
        task_id: String,
        /// The map index of a mapped task instance (default: not mapped).
        #[arg(long)]
        map_index: Option<i32>,
        /// The XCom's key (`weir runs show` lists them).
        #[arg(long, default_value = "return_value")]
        key: String,
    },
    /// Clear task instances so they run again.
    Clear {
        /// The DAG's id.
        dag_id: String,
        /// Only this run (default: all runs).
        #[arg(long)]
        run_id: Option<String>,
        /// Only these tasks (default: all).
        #[arg(long = "task")]
        tasks: Vec<String>,
        /// Also clear their downstream tasks.
        #[arg(long)]
        downstream: bool,
        /// Only failed and upstream_failed instances.
        #[arg(long)]
        only_failed: bool,
        /// Run the cleared tasks on the DAG's latest version (the run moves to it);
        /// default: the version the run started with.
        #[arg(long)]
        latest_version: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum VariablesCommand {
    /// Print a variable's value.
    Get {
        /// The variable's key.
        key: String,
    },
    /// Create a variable or replace its value.
    Set {
        /// The variable's key (`{{ var.value.KEY }}` in templates).
        key: String,
        /// The value (text; `{{ var.json.KEY }}` reads it as JSON).
        value: String,
        /// What the variable is for.
        #[arg(long)]
        description: Option<String>,
        /// The team that owns a new variable: its admins manage it, its members and
        /// its DAGs' templates read it (default: your only admin team; none, i.e.
        /// platform-wide, for a platform admin).
        #[arg(long)]
        team: Option<String>,
    },
    /// List the variables you may read (your teams' and platform-wide ones).
    List,
    /// Delete a variable.
    Delete {
        /// The variable's key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Set a secret's value, read from standard input (or `--from-file`), never from the
    /// command line, where other users could see it.
    Set {
        /// `TEAM/NAME`.
        secret: String,
        /// Read the value from this file instead of standard input (taken as it is,
        /// without a final newline removed).
        #[arg(long)]
        from_file: Option<PathBuf>,
    },
    /// List secrets (metadata only): a team's, or every one you administer.
    List {
        /// Only this team's.
        #[arg(long)]
        team: Option<String>,
    },
    /// Delete a secret.
    Delete {
        /// `TEAM/NAME`.
        secret: String,
    },
    /// Add a new master key and re-seal every secret and connection password under it
    /// (platform admins).
    RotateKey,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionsCommand {
    /// List connections (yours and platform-wide ones).
    List,
    /// Show one connection (never its password; credentials in `extra` as `***`).
    Get {
        /// The connection id.
        id: String,
    },
    /// Create a connection, or change the given fields of an existing one.
    Set {
        /// The connection id.
        id: String,
        /// The type: `postgres`, `http`, `aws`, … (required to create).
        #[arg(long = "type")]
        conn_type: Option<String>,
        /// The host name or address.
        #[arg(long)]
        host: Option<String>,
        /// The port.
        #[arg(long)]
        port: Option<i32>,
        /// The user name to sign in with.
        #[arg(long)]
        login: Option<String>,
        /// The schema (database) name.
        #[arg(long)]
        schema: Option<String>,
        /// Extra settings as a JSON object.
        #[arg(long)]
        extra: Option<String>,
        /// What the connection is for.
        #[arg(long)]
        description: Option<String>,
        /// Read the password from standard input (never from the command line).
        #[arg(long)]
        password_stdin: bool,
        /// The owning team of a new connection (default: your only admin team).
        #[arg(long)]
        team: Option<String>,
    },
    /// Delete a connection.
    Delete {
        /// The connection id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoolsCommand {
    /// List pools with their slots: open, running and queued.
    List,
    /// Create a pool, or change the slots (and description) of an existing one.
    Set {
        /// The pool's name.
        name: String,
        /// How many task instances may run in the pool at once; -1 for unlimited.
        #[arg(allow_hyphen_values = true)]
        slots: i64,
        /// What the pool is for (kept as it is when not given).
        description: Option<String>,
        /// Count deferred task instances against the slots (Airflow's flag; Weir has no
        /// deferred state).
        #[arg(long)]
        include_deferred: bool,
    },
    /// Delete a pool (not `default_pool`). Task instances already in it finish; those
    /// still waiting for one of its slots fail.
    Delete {
        /// The pool's name.
        name: String,
    },
}

/// `weir costs`. It has its own `--server` and `--output` (not [`ServerArgs`]) because
/// its output may also be CSV.
#[derive(Debug, Args)]
pub struct CostsArgs {
    /// Group by team, DAG or queue.
    #[arg(long, value_enum, default_value_t = CostsBy::Team)]
    pub by: CostsBy,
    /// Count tries that started since: a span back from now (30d, 12h, 2w), a date
    /// (2026-03-01) or an RFC 3339 date-time.
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// Also group by day (UTC, of each try's start).
    #[arg(long)]
    pub per_day: bool,
    /// Only this team's tries.
    #[arg(long)]
    pub team: Option<String>,
    /// The server's base URL.
    #[arg(long, env = "WEIR_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Output as a table, JSON, or CSV for spreadsheets.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: CostsOutput,
}

/// What `weir costs` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CostsBy {
    #[default]
    Team,
    Dag,
    Queue,
}

/// How `weir costs` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CostsOutput {
    #[default]
    Table,
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Recent messages, newest first, with their delivery state.
    List {
        /// Only this DAG's.
        #[arg(long)]
        dag: Option<String>,
        /// pending, sent or failed.
        #[arg(long)]
        state: Option<String>,
        /// Only this channel's.
        #[arg(long)]
        channel: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The channels of weir.toml: how many messages are pending, sent and failed, and
    /// the last error.
    Channels,
}

#[derive(Debug, Subcommand)]
pub enum QueuesCommand {
    /// List job queues and compute environments.
    List,
    /// Show one queue: its depth per team, then its waiting tries with their place in
    /// line and why each waits.
    Show {
        /// The queue's name.
        name: String,
    },
}
