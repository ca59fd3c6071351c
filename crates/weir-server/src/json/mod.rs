//! The JSON of the API: the shapes themselves are `weir-api`'s (re-exported here, so a
//! handler names `json::DagRun` or `json::access::TokenInfo`), and this module builds them
//! from what only the server sees — the store's records and the engine's views — as free
//! functions (`json::dag_run(record)`), since `weir-api` knows neither.

mod from_access;
mod from_dags;
mod from_governance;
mod from_records;
mod from_runs;

pub use from_access::{audit_event, membership, team_roles, token_info, user};
pub use from_dags::{dag, dag_detail, task};
pub use from_governance::{approval, dag_version, repository_status, run_version};
pub use from_records::{
    compute_environment, connection, connection_item, import_error, pool, queue, variable,
};
pub use from_runs::{dag_run, task_instance, xcom_entry};
pub use weir_api::*;
