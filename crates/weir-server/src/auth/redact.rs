//! What of a request body (or a handler's before/after summary) the audit trail keeps: the
//! fields known to be safe for the kind of object the route acts on, by name. Every other
//! field's value is replaced by [`MARKER`], so a secret sent under a name nobody foresaw
//! (`pass`, `secret_key`, `passwd`, a connection's `extra`, a run's `conf`) never reaches
//! the trail. A field that is `null` stays `null`: it holds nothing.

use serde_json::Value;

/// What a withheld value shows as.
pub const MARKER: &str = "<redacted>";

/// Fields safe for every kind of object.
const COMMON: &[&str] = &["team", "description", "dry_run"];

/// The fields known to be safe in the bodies and summaries of routes acting on
/// `object_type` (a rule's object type, see [`super::rules`]).
fn safe_fields(object_type: &str) -> &'static [&'static str] {
    match object_type {
        // PATCH /dags/{id}, clearTaskInstances, trigger a run, backfills.
        "dag" => &[
            "is_paused",
            "dag_id",
            "dag_run_id",
            "task_ids",
            "start_date",
            "end_date",
            "only_failed",
            "only_running",
            "reset_dag_runs",
            "include_upstream",
            "include_downstream",
            "include_future",
            "include_past",
            "include_subdags",
            "include_parentdag",
            "logical_date",
            "execution_date",
            "data_interval_start",
            "data_interval_end",
            "note",
            "from_date",
            "to_date",
            "run_backwards",
            "reprocess_behavior",
            "max_active_runs",
            // What `DELETE /dags/{id}` records of the deleted DAG.
            "fileloc",
            "version",
        ],
        "dag_run" => &["state", "note"],
        "task_instance" => &[
            "new_state",
            "state",
            "include_upstream",
            "include_downstream",
            "include_future",
            "include_past",
        ],
        // Never `value`.
        "variable" => &["key"],
        // Never `password` nor `extra`.
        "connection" => &[
            "connection_id",
            "conn_type",
            "host",
            "login",
            "schema",
            "port",
        ],
        // Pools hold no secret; every field of Airflow's `Pool`.
        "pool" => &[
            "name",
            "slots",
            "include_deferred",
            "occupied_slots",
            "running_slots",
            "queued_slots",
            "scheduled_slots",
            "deferred_slots",
            "open_slots",
        ],
        "team_member" => &["role"],
        // Never `password` nor `current_password`.
        "user" => &["username", "email", "platform_admin"],
        // Never the token itself.
        "token" => &[
            "name",
            "expires_in_days",
            "never_expires",
            "role",
            "token_id",
            "username",
            "expires_at",
        ],
        _ => &[],
    }
}

/// A copy of `value` for the audit trail of a route acting on `object_type`: the safe
/// fields (at any depth) as they are, everything else withheld.
pub fn redact(object_type: &str, value: &Value) -> Value {
    let safe = safe_fields(object_type);
    let is_safe = |key: &str| COMMON.contains(&key) || safe.contains(&key);
    fn walk(value: &Value, is_safe: &dyn Fn(&str) -> bool) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = if v.is_null() {
                            Value::Null
                        } else if is_safe(k) {
                            walk(v, is_safe)
                        } else {
                            Value::String(MARKER.into())
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, is_safe)).collect()),
            other => other.clone(),
        }
    }
    match value {
        // A bare value at the top has no name to vouch for it.
        Value::Object(_) | Value::Array(_) | Value::Null => walk(value, &is_safe),
        _ => Value::String(MARKER.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_known_safe_fields_are_kept_at_any_depth() {
        let v = json!({"key": "k", "value": "s3cret", "description": "d",
                       "pass": "p", "secret_key": "s", "passwd": "w",
                       "nested": [{"password": "p", "port": 5432}], "token_info": null});
        assert_eq!(
            redact("variable", &v),
            json!({"key": "k", "value": MARKER, "description": "d",
                   "pass": MARKER, "secret_key": MARKER, "passwd": MARKER,
                   "nested": MARKER, "token_info": null})
        );
        let c = json!({"connection_id": "db", "conn_type": "postgres", "port": 5432,
                       "password": "pw", "extra": "{\"k\": 1}", "Login": "x", "login": "ann"});
        assert_eq!(
            redact("connection", &c),
            json!({"connection_id": "db", "conn_type": "postgres", "port": 5432,
                   "password": MARKER, "extra": MARKER, "Login": MARKER, "login": "ann"})
        );
        // A field safe for one kind of object is not safe for every other.
        assert_eq!(
            redact("variable", &json!({"login": "ann"})),
            json!({"login": MARKER})
        );
        let clear = json!({"dry_run": false, "task_ids": ["a", "b"], "conf": {"k": "v"}});
        assert_eq!(
            redact("dag", &clear),
            json!({"dry_run": false, "task_ids": ["a", "b"], "conf": MARKER})
        );
        assert_eq!(redact("user", &json!("a bare secret")), json!(MARKER));
    }
}
