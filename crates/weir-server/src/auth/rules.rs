//! The access rule of every route, in one table: what the route does (its audit action),
//! what it acts on, and what its caller must hold. The guard ([`super::guard`]) looks the
//! matched route up here before any handler runs; a route missing from the table is
//! refused (fail closed), and a test checks that every route of the OpenAPI document has
//! a rule.

use axum::http::Method;

/// What a route asks of its caller; the guard turns it into a
/// [`weir_core::access::Permission`] once it knows the object's team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, signed in or not.
    Public,
    /// Anyone signed in (the shared view of every team's DAGs, runs, code and costs).
    SignedIn,
    /// Trigger, clear, pause or mark the DAG named in the path (or the body's `dag_id`).
    OperateDag,
    /// Manage the DAG in the path (delete its history): its team's admins.
    ManageDag,
    /// Read the task logs (and XComs) of the DAG in the path.
    ReadDagLogs,
    /// Read a variable or connection: its team's members; platform-wide ones: anyone.
    ReadTeamObject,
    /// Change a variable or connection: its team's admins; platform-wide ones: platform admins.
    ManageTeamObject,
    /// Create a variable or connection owned by the body's `team` (default: the caller's
    /// only admin team).
    CreateTeamObject,
    /// Change the members (or the secrets) of the team in the path: its admins.
    ManageTeamPath,
    /// Create a token: for oneself, or (with a body `team`) a team's service token.
    CreateToken,
    /// Revoke a token: its owner, its team's admins, platform admins.
    RevokeToken,
    /// The user in the path, or a platform admin.
    SelfOrPlatformAdmin,
    /// An admin of some team (what they see is narrowed to their teams).
    AdminOfAnyTeam,
    /// An operator of some team, or a platform admin (sync the repository).
    OperatorOfAnyTeam,
    /// Decide the approval request in the path: an operator of some team, or a platform
    /// admin; who may decide this very version is the four-eyes rule, asked by the engine.
    ReviewApproval,
    /// Act for the team named in the body's `team` (a deployment): its operators.
    OperateBodyTeam,
    PlatformAdmin,
}

/// One route's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The audit action, `object_type.verb` (e.g. `dag.pause`).
    pub action: &'static str,
    /// What kind of object the path's parameters name.
    pub object_type: &'static str,
    pub need: Need,
    /// Whether the call is written to the audit trail (every change, and sensitive reads).
    pub audited: bool,
}

use Need::*;

const fn read(action: &'static str, object_type: &'static str, need: Need) -> Rule {
    Rule {
        action,
        object_type,
        need,
        audited: false,
    }
}

const fn sensitive_read(action: &'static str, object_type: &'static str, need: Need) -> Rule {
    Rule {
        action,
        object_type,
        need,
        audited: true,
    }
}

const fn change(action: &'static str, object_type: &'static str, need: Need) -> Rule {
    Rule {
        action,
        object_type,
        need,
        audited: true,
    }
}

const DAG_RUN: &str = "/dags/{dag_id}/dagRuns/{dag_run_id}";
const TASK_INSTANCE: &str = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}";

/// (method, path as registered under `/api/v1`, rule).
pub static RULES: &[(&str, &str, Rule)] = &[
    ("GET", "/health", read("health.read", "server", Public)),
    ("GET", "/version", read("version.read", "server", Public)),
    (
        "GET",
        "/openapi.json",
        read("openapi.read", "server", Public),
    ),
    ("GET", "/me", read("me.read", "user", SignedIn)),
    // DAGs
    ("GET", "/dags", read("dag.list", "dag", SignedIn)),
    ("GET", "/dags/{dag_id}", read("dag.read", "dag", SignedIn)),
    (
        "PATCH",
        "/dags/{dag_id}",
        change("dag.update", "dag", OperateDag),
    ),
    // Deleting a DAG's whole history (its runs, task instances, logs' records, XComs)
    // is more than operating it: the admins of the DAG's team.
    (
        "DELETE",
        "/dags/{dag_id}",
        change("dag.delete", "dag", ManageDag),
    ),
    // The file's text is the DAG's code, which everyone signed in sees (as the DAG).
    (
        "GET",
        "/dagSources/{file_token}",
        read("dag_source.read", "dag", SignedIn),
    ),
    (
        "GET",
        "/dags/{dag_id}/details",
        read("dag.read", "dag", SignedIn),
    ),
    (
        "GET",
        "/dags/{dag_id}/tasks",
        read("task.list", "dag", SignedIn),
    ),
    (
        "GET",
        "/dags/{dag_id}/tasks/{task_id}",
        read("task.read", "task", SignedIn),
    ),
    (
        "POST",
        "/dags/{dag_id}/clearTaskInstances",
        change("task_instance.clear", "dag", OperateDag),
    ),
    // DAG runs
    (
        "GET",
        "/dags/{dag_id}/dagRuns",
        read("dag_run.list", "dag", SignedIn),
    ),
    (
        "POST",
        "/dags/{dag_id}/dagRuns",
        change("dag_run.trigger", "dag", OperateDag),
    ),
    (
        "POST",
        "/dags/~/dagRuns/list",
        read("dag_run.list", "dag", SignedIn),
    ),
    ("GET", DAG_RUN, read("dag_run.read", "dag_run", SignedIn)),
    (
        "PATCH",
        DAG_RUN,
        change("dag_run.set_state", "dag_run", OperateDag),
    ),
    (
        "DELETE",
        DAG_RUN,
        change("dag_run.delete", "dag_run", OperateDag),
    ),
    (
        "POST",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/clear",
        change("dag_run.clear", "dag_run", OperateDag),
    ),
    (
        "POST",
        "/backfills",
        change("dag_run.backfill", "dag", OperateDag),
    ),
    // Task instances
    (
        "GET",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
        read("task_instance.list", "dag_run", SignedIn),
    ),
    (
        "GET",
        "/dags/~/dagRuns/~/taskInstances",
        read("task_instance.list", "dag_run", SignedIn),
    ),
    (
        "GET",
        "/dags/{dag_id}/dagRuns/~/taskInstances",
        read("task_instance.list", "dag_run", SignedIn),
    ),
    (
        "POST",
        "/dags/~/dagRuns/~/taskInstances/list",
        read("task_instance.list", "dag_run", SignedIn),
    ),
    (
        "GET",
        TASK_INSTANCE,
        read("task_instance.read", "task_instance", SignedIn),
    ),
    (
        "PATCH",
        TASK_INSTANCE,
        change("task_instance.set_state", "task_instance", OperateDag),
    ),
    (
        "GET",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}",
        read("task_instance.read", "task_instance", SignedIn),
    ),
    (
        "GET",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/tries",
        read("task_instance.list_tries", "task_instance", SignedIn),
    ),
    (
        "GET",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}",
        sensitive_read("task_instance.read_log", "task_try", ReadDagLogs),
    ),
    (
        "GET",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries",
        read("xcom.list", "task_instance", ReadDagLogs),
    ),
    (
        "GET",
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
        read("xcom.read", "xcom", ReadDagLogs),
    ),
    // Variables and connections
    (
        "GET",
        "/variables",
        read("variable.list", "variable", SignedIn),
    ),
    (
        "POST",
        "/variables",
        change("variable.create", "variable", CreateTeamObject),
    ),
    (
        "GET",
        "/variables/{*variable_key}",
        read("variable.read", "variable", ReadTeamObject),
    ),
    (
        "PATCH",
        "/variables/{*variable_key}",
        change("variable.update", "variable", ManageTeamObject),
    ),
    (
        "DELETE",
        "/variables/{*variable_key}",
        change("variable.delete", "variable", ManageTeamObject),
    ),
    (
        "GET",
        "/connections",
        read("connection.list", "connection", SignedIn),
    ),
    (
        "POST",
        "/connections",
        change("connection.create", "connection", CreateTeamObject),
    ),
    (
        "GET",
        "/connections/{connection_id}",
        sensitive_read("connection.read", "connection", ReadTeamObject),
    ),
    (
        "PATCH",
        "/connections/{connection_id}",
        change("connection.update", "connection", ManageTeamObject),
    ),
    (
        "DELETE",
        "/connections/{connection_id}",
        change("connection.delete", "connection", ManageTeamObject),
    ),
    // Shared platform resources. Pools are platform-wide slot limits that every team's
    // tasks draw on: everyone sees them, platform admins create, resize and delete them.
    ("GET", "/pools", read("pool.list", "pool", SignedIn)),
    (
        "POST",
        "/pools",
        change("pool.create", "pool", PlatformAdmin),
    ),
    (
        "GET",
        "/pools/{pool_name}",
        read("pool.read", "pool", SignedIn),
    ),
    (
        "PATCH",
        "/pools/{pool_name}",
        change("pool.update", "pool", PlatformAdmin),
    ),
    (
        "DELETE",
        "/pools/{pool_name}",
        change("pool.delete", "pool", PlatformAdmin),
    ),
    (
        "GET",
        "/importErrors",
        read("import_error.list", "import_error", SignedIn),
    ),
    (
        "GET",
        "/importErrors/{import_error_id}",
        read("import_error.read", "import_error", SignedIn),
    ),
    ("GET", "/queues", read("queue.list", "queue", SignedIn)),
    (
        "GET",
        "/queues/{queue_name}",
        read("queue.read", "queue", SignedIn),
    ),
    ("GET", "/costs", read("cost.read", "cost", SignedIn)),
    (
        "GET",
        "/jobDefinitions",
        read("job_definition.list", "job_definition", SignedIn),
    ),
    (
        "GET",
        "/jobDefinitions/{job_definition_name}",
        read("job_definition.read", "job_definition", SignedIn),
    ),
    (
        "GET",
        "/config",
        sensitive_read("config.read", "server", PlatformAdmin),
    ),
    // Identity and access
    ("GET", "/teams", read("team.list", "team", SignedIn)),
    (
        "GET",
        "/teams/{team_name}",
        read("team.read", "team", SignedIn),
    ),
    (
        "PUT",
        "/teams/{team_name}/members/{username}",
        change("team.set_member", "team_member", ManageTeamPath),
    ),
    (
        "DELETE",
        "/teams/{team_name}/members/{username}",
        change("team.remove_member", "team_member", ManageTeamPath),
    ),
    // Secrets: a team's admins manage them; nobody reads a value back.
    (
        "GET",
        "/secrets",
        read("secret.list", "secret", AdminOfAnyTeam),
    ),
    (
        "POST",
        "/secrets/rotateKey",
        change("secret.rotate_key", "server", PlatformAdmin),
    ),
    (
        "GET",
        "/teams/{team_name}/secrets",
        read("secret.list", "secret", ManageTeamPath),
    ),
    (
        "GET",
        "/teams/{team_name}/secrets/{secret_name}",
        read("secret.read", "secret", ManageTeamPath),
    ),
    (
        "PUT",
        "/teams/{team_name}/secrets/{secret_name}",
        change("secret.set", "secret", ManageTeamPath),
    ),
    (
        "DELETE",
        "/teams/{team_name}/secrets/{secret_name}",
        change("secret.delete", "secret", ManageTeamPath),
    ),
    ("GET", "/users", read("user.list", "user", AdminOfAnyTeam)),
    (
        "POST",
        "/users",
        change("user.create", "user", PlatformAdmin),
    ),
    (
        "GET",
        "/users/{username}",
        read("user.read", "user", SelfOrPlatformAdmin),
    ),
    (
        "DELETE",
        "/users/{username}",
        change("user.delete", "user", PlatformAdmin),
    ),
    (
        "POST",
        "/users/{username}/password",
        change("user.set_password", "user", SelfOrPlatformAdmin),
    ),
    ("GET", "/tokens", read("token.list", "token", SignedIn)),
    (
        "POST",
        "/tokens",
        change("token.create", "token", CreateToken),
    ),
    (
        "DELETE",
        "/tokens/{token_id}",
        change("token.revoke", "token", RevokeToken),
    ),
    // Governed delivery: versions and diffs are code, which everyone signed in sees.
    (
        "GET",
        "/dags/{dag_id}/versions",
        read("dag_version.list", "dag", SignedIn),
    ),
    (
        "GET",
        "/dags/{dag_id}/versions/{version}",
        read("dag_version.read", "dag_version", SignedIn),
    ),
    (
        "GET",
        "/dags/{dag_id}/versions/{version}/diff/{other_version}",
        read("dag_version.diff", "dag_version", SignedIn),
    ),
    // Break-glass: a platform admin activates a version without approval, with a reason.
    (
        "POST",
        "/dags/{dag_id}/versions/{version}/activate",
        change("dag_version.break_glass", "dag_version", PlatformAdmin),
    ),
    (
        "GET",
        "/approvals",
        read("approval.list", "approval", SignedIn),
    ),
    (
        "GET",
        "/approvals/{approval_id}",
        read("approval.read", "approval", SignedIn),
    ),
    (
        "POST",
        "/approvals/{approval_id}/approve",
        change("approval.approve", "approval", ReviewApproval),
    ),
    (
        "POST",
        "/approvals/{approval_id}/reject",
        change("approval.reject", "approval", ReviewApproval),
    ),
    (
        "GET",
        "/repository",
        read("repository.read", "repository", SignedIn),
    ),
    (
        "POST",
        "/repository/sync",
        change("repository.sync", "repository", OperatorOfAnyTeam),
    ),
    (
        "POST",
        "/deployments",
        change("deployment.create", "deployment", OperateBodyTeam),
    ),
    // A message carries a try's last log lines: the list narrows to the teams whose
    // logs the caller may read, and is audited as a log read is.
    (
        "GET",
        "/notifications",
        sensitive_read("notification.list", "notification", SignedIn),
    ),
    (
        "GET",
        "/notifications/channels",
        read(
            "notification_channel.list",
            "notification_channel",
            SignedIn,
        ),
    ),
    // Datasets are read by everyone on the platform; posting an event is producing the
    // dataset, decided per team by the handler (its prefix, its DAGs' outlets).
    (
        "GET",
        "/datasets",
        read("dataset.list", "dataset", SignedIn),
    ),
    (
        "GET",
        "/datasets/events",
        read("dataset_event.list", "dataset_event", SignedIn),
    ),
    (
        "POST",
        "/datasets/events",
        change("dataset_event.create", "dataset_event", OperatorOfAnyTeam),
    ),
    ("GET", "/lineage", read("lineage.read", "lineage", SignedIn)),
    (
        "GET",
        "/auditEvents",
        sensitive_read("audit_event.list", "audit_event", AdminOfAnyTeam),
    ),
];

/// The rule of the route `path` (as registered, e.g. `/dags/{dag_id}`) for `method`.
pub fn rule(method: &Method, path: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, r)| *r)
}
