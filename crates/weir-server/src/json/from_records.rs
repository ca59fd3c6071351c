//! Conversions to the shapes of variables, connections, pools, import errors and queues
//! from the store's records and the engine's views.

use weir_api::connections::{Connection, ConnectionCollectionItem};
use weir_api::import_errors::ImportError;
use weir_api::pools::Pool;
use weir_api::queues::{ComputeEnvironment, Queue, QueueDepth, WaitingTry};
use weir_api::variables::Variable;
use weir_engine::{EnvironmentView, QueueView, WaitingView};
use weir_store::{ConnectionRecord, ImportErrorRecord, PoolRecord, VariableRecord};

pub fn variable(v: VariableRecord) -> Variable {
    Variable {
        key: v.key,
        value: v.value,
        description: v.description,
        team: v.team,
    }
}

pub fn import_error(e: ImportErrorRecord) -> ImportError {
    ImportError {
        import_error_id: e.import_error_id,
        timestamp: e.timestamp,
        filename: e.filename,
        stack_trace: e.stack_trace,
    }
}

/// A pool and how many of its slots its task instances take.
pub fn pool(p: PoolRecord, running: i64, queued: i64, scheduled: i64) -> Pool {
    let slots = i64::from(p.slots);
    let occupied = running + queued;
    Pool {
        name: p.name,
        slots,
        occupied_slots: occupied,
        running_slots: running,
        queued_slots: queued,
        open_slots: if slots < 0 {
            -1
        } else {
            (slots - occupied).max(0)
        },
        scheduled_slots: scheduled,
        deferred_slots: 0,
        description: p.description,
        include_deferred: p.include_deferred,
    }
}

/// A connection in a list: no `extra`, as in Airflow, and never the password.
pub fn connection_item(c: ConnectionRecord) -> ConnectionCollectionItem {
    ConnectionCollectionItem {
        connection_id: c.conn_id,
        conn_type: c.conn_type,
        description: c.description,
        host: c.host,
        login: c.login,
        schema: c.schema,
        port: c.port,
        team: c.team,
    }
}

/// A connection: every field but the password.
pub fn connection(c: ConnectionRecord) -> Connection {
    Connection {
        connection_id: c.conn_id,
        conn_type: c.conn_type,
        description: c.description,
        host: c.host,
        login: c.login,
        schema: c.schema,
        port: c.port,
        extra: c.extra.map(|e| hide_credentials(&e)),
        team: c.team,
    }
}

/// `extra` with the values of fields named like credentials as `***` (Airflow shows
/// them so too); text that is not a JSON object is shown as stored.
fn hide_credentials(extra: &str) -> String {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(extra)
    else {
        return extra.to_owned();
    };
    let mut hidden = false;
    for (key, value) in map.iter_mut() {
        if weir_core::secrets::is_sensitive_key(key) && value.is_string() {
            *value = serde_json::Value::String(weir_core::mask::MASK.to_owned());
            hidden = true;
        }
    }
    // Shown as written unless something had to be hidden.
    if hidden {
        serde_json::Value::Object(map).to_string()
    } else {
        extra.to_owned()
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A queue as the dispatcher last saw it.
pub fn queue(q: QueueView) -> Queue {
    Queue {
        name: q.name,
        priority: q.priority,
        scheduling_policy: q.scheduling_policy,
        compute_environments: q.compute_environments,
        depth: q
            .depth
            .into_iter()
            .map(|d| QueueDepth {
                queue: d.queue,
                team: d.team.to_string(),
                waiting: count(d.waiting),
                running: count(d.running),
            })
            .collect(),
        waiting: q.waiting.into_iter().map(waiting_try).collect(),
    }
}

fn waiting_try(w: WaitingView) -> WaitingTry {
    WaitingTry {
        dag_id: w.dag_id,
        dag_run_id: w.dag_run_id,
        task_id: w.task_id,
        map_index: w.map_index,
        team: w.team,
        position: count(w.position),
        reason_code: w.reason_code,
        reason: w.reason,
    }
}

/// A compute environment as the dispatcher last saw it.
pub fn compute_environment(e: EnvironmentView) -> ComputeEnvironment {
    ComputeEnvironment {
        name: e.name,
        backend: e.backend,
        max_vcpus: e.max_vcpus,
        max_memory_bytes: e.max_memory_bytes,
        used_vcpus: e.used_vcpus,
        used_memory_bytes: e.used_memory_bytes,
        available: e.available,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_slots_add_up() {
        let p = pool(
            PoolRecord {
                name: "p".into(),
                slots: 4,
                description: None,
                include_deferred: false,
            },
            1,
            2,
            0,
        );
        assert_eq!((p.occupied_slots, p.open_slots), (3, 1));
        let unlimited = pool(
            PoolRecord {
                name: "u".into(),
                slots: -1,
                description: None,
                include_deferred: false,
            },
            5,
            0,
            0,
        );
        assert_eq!(unlimited.open_slots, -1);
    }

    fn connection_record() -> ConnectionRecord {
        ConnectionRecord {
            conn_id: "db".into(),
            conn_type: "postgres".into(),
            description: None,
            host: Some("h".into()),
            login: Some("u".into()),
            password: Some("s3cret".into()),
            schema: Some("public".into()),
            port: Some(5432),
            extra: Some("{}".into()),
            team: Some("data".into()),
        }
    }

    #[test]
    fn no_response_carries_the_password() {
        for text in [
            serde_json::to_string(&connection(connection_record())).unwrap(),
            serde_json::to_string(&connection_item(connection_record())).unwrap(),
        ] {
            assert!(
                !text.contains("s3cret") && !text.contains("password"),
                "{text}"
            );
        }
    }
}
