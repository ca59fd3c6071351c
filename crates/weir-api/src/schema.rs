//! OpenAPI schemas of the enums that live in `weir-core`, which knows nothing of OpenAPI.
//! Fields of those types name these markers with `#[schema(value_type = …)]`; the allowed
//! values are read from the core types themselves, so the document cannot drift from what
//! the server writes.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};
use weir_core::access::{CallerKind, LogReaders, TeamRole};
use weir_core::governance::{ApprovalState, VersionStatus};
use weir_core::state::{DagRunState, RunType, TaskState};
use weir_core::trigger_rule::TriggerRule;

/// A string schema allowing exactly `values`.
fn string_enum(description: &str, values: Vec<&'static str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

macro_rules! enum_schema {
    ($(#[doc = $doc:literal])* $marker:ident as $name:literal = $values:expr) => {
        $(#[doc = $doc])*
        pub struct $marker;

        impl PartialSchema for $marker {
            fn schema() -> RefOr<Schema> {
                string_enum(concat!($($doc, "\n"),*).trim(), $values)
            }
        }

        impl ToSchema for $marker {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

enum_schema!(
    /// The state of a DAG run.
    DagStateSchema as "DagState" = DagRunState::ALL.iter().map(|s| s.as_str()).collect()
);

enum_schema!(
    /// The state of a task instance (`null` in a task instance is "no status yet").
    TaskStateSchema as "TaskState" = TaskState::ALL.iter().map(|s| s.as_str()).collect()
);

enum_schema!(
    /// When a task runs, judged from its direct upstream tasks.
    TriggerRuleSchema as "TriggerRule" = TriggerRule::ALL.iter().map(|r| r.as_str()).collect()
);

enum_schema!(
    /// How a DAG run came to be.
    RunTypeSchema as "DagRunType" = run_types().iter().map(|t| t.as_str()).collect()
);

enum_schema!(
    /// A role in a team, weakest first.
    TeamRoleSchema as "TeamRole" = TeamRole::NAMES.to_vec()
);

enum_schema!(
    /// How a caller signed in: a local user, a user of the identity provider, or a team's
    /// service account.
    CallerKindSchema as "CallerKind" = caller_kinds().iter().map(|k| caller_kind_name(*k)).collect()
);

enum_schema!(
    /// Who may read a team's task logs: its members, or everyone signed in.
    LogReadersSchema as "LogReaders" = log_readers().iter().map(|r| log_readers_name(*r)).collect()
);

enum_schema!(
    /// The health of a component.
    HealthStatusSchema as "HealthStatus" = vec!["healthy", "unhealthy"]
);

/// Every run type; a new variant fails to compile in the `match` until it is listed.
fn run_types() -> [RunType; 4] {
    let _exhaustive = |t: RunType| match t {
        RunType::Scheduled | RunType::Manual | RunType::Backfill | RunType::DatasetTriggered => {}
    };
    [
        RunType::Scheduled,
        RunType::Manual,
        RunType::Backfill,
        RunType::DatasetTriggered,
    ]
}

/// Every caller kind; a new variant fails to compile in the `match` until it is listed.
fn caller_kinds() -> [CallerKind; 3] {
    [
        CallerKind::User,
        CallerKind::SsoUser,
        CallerKind::ServiceAccount,
    ]
}

fn caller_kind_name(k: CallerKind) -> &'static str {
    match k {
        CallerKind::User => "user",
        CallerKind::SsoUser => "sso_user",
        CallerKind::ServiceAccount => "service_account",
    }
}

/// Every log-readers setting; a new variant fails to compile in the `match` until listed.
fn log_readers() -> [LogReaders; 2] {
    [LogReaders::Team, LogReaders::Everyone]
}

fn log_readers_name(r: LogReaders) -> &'static str {
    match r {
        LogReaders::Team => "team",
        LogReaders::Everyone => "everyone",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The enum values of a marker's schema.
    fn values<T: PartialSchema>() -> Vec<serde_json::Value> {
        let schema = serde_json::to_value(T::schema()).expect("serializes");
        schema["enum"].as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn enum_values_are_what_serde_writes() {
        let run_states: Vec<_> = DagRunState::ALL
            .iter()
            .map(|s| serde_json::to_value(s).expect("serializes"))
            .collect();
        assert_eq!(values::<DagStateSchema>(), run_states);
        let task_states: Vec<_> = TaskState::ALL
            .iter()
            .map(|s| serde_json::to_value(s).expect("serializes"))
            .collect();
        assert_eq!(values::<TaskStateSchema>(), task_states);
        let rules: Vec<_> = TriggerRule::ALL
            .iter()
            .map(|r| serde_json::to_value(r).expect("serializes"))
            .collect();
        assert_eq!(values::<TriggerRuleSchema>(), rules);
        let types: Vec<_> = run_types()
            .iter()
            .map(|t| serde_json::to_value(t).expect("serializes"))
            .collect();
        assert_eq!(values::<RunTypeSchema>(), types);
        assert!(types.contains(&serde_json::json!("dataset_triggered")));
        let roles: Vec<_> = [TeamRole::Viewer, TeamRole::Operator, TeamRole::Admin]
            .iter()
            .map(|r| serde_json::to_value(r).expect("serializes"))
            .collect();
        assert_eq!(values::<TeamRoleSchema>(), roles);
        let kinds: Vec<_> = caller_kinds()
            .iter()
            .map(|k| serde_json::to_value(k).expect("serializes"))
            .collect();
        assert_eq!(values::<CallerKindSchema>(), kinds);
        let readers: Vec<_> = log_readers()
            .iter()
            .map(|r| serde_json::to_value(r).expect("serializes"))
            .collect();
        assert_eq!(values::<LogReadersSchema>(), readers);
    }
}

enum_schema!(
    /// The status of a DAG version under four-eyes approval.
    VersionStatusSchema as "DagVersionStatus" = VersionStatus::ALL.iter().map(|s| s.as_str()).collect()
);

enum_schema!(
    /// The state of an approval request.
    ApprovalStateSchema as "ApprovalState" = ApprovalState::ALL.iter().map(|s| s.as_str()).collect()
);
