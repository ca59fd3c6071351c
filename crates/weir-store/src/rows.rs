//! Decoding rows into records, once for both databases (see [`impl_from_row!`]).
//!
//! Ids and states are checked on the way out: a value that does not parse (a row written
//! by something else than Weir) is a decode error naming the column, never a panic.

use serde_json::Value;
use sqlx::types::Json;
use weir_core::ids::TryKey;

use crate::access_records::*;
use crate::records::*;
use crate::sql::{Ts, int_col, opt_int_col, parse_col};

/// Reads a text column and parses it into a typed id or state.
macro_rules! parsed {
    ($row:ident, $col:literal) => {
        parse_col($col, $row.try_get::<String, _>($col)?)?
    };
}

/// Reads a nullable timestamp column.
macro_rules! opt_time {
    ($row:ident, $col:literal) => {
        $row.try_get::<Option<Ts>, _>($col)?.map(|t| t.0)
    };
}

impl_from_row!(DagRecord, |row| {
    let next_dagrun = match opt_time!(row, "next_logical_date") {
        Some(logical_date) => Some(NextDagRun {
            logical_date,
            data_interval_start: opt_time!(row, "next_data_interval_start"),
            data_interval_end: opt_time!(row, "next_data_interval_end"),
        }),
        None => None,
    };
    let team = match row.try_get::<Option<String>, _>("team")? {
        Some(t) => Some(parse_col("team", t)?),
        None => None,
    };
    Ok(DagRecord {
        dag_id: parsed!(row, "dag_id"),
        team,
        file_path: row.try_get("file_path")?,
        description: row.try_get("description")?,
        tags: row.try_get::<Json<Vec<String>>, _>("tags")?.0,
        schedule: row.try_get("schedule")?,
        timezone: row.try_get("timezone")?,
        latest_version: row.try_get("latest_version")?,
        is_paused: row.try_get("is_paused")?,
        is_active: row.try_get("is_active")?,
        owners: row.try_get::<Json<Vec<String>>, _>("owners")?.0,
        max_active_runs: int_col("max_active_runs", row.try_get("max_active_runs")?)?,
        next_dagrun,
        last_parsed_at: opt_time!(row, "last_parsed_at"),
    })
});

impl_from_row!(DagVersionRecord, |row| {
    Ok(DagVersionRecord {
        dag_id: parsed!(row, "dag_id"),
        version_hash: row.try_get("version_hash")?,
        spec: row.try_get::<Json<Value>, _>("spec")?.0,
        source: row.try_get("source")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
    })
});

impl_from_row!(DagRunRecord, |row| {
    Ok(DagRunRecord {
        dag_id: parsed!(row, "dag_id"),
        run_id: parsed!(row, "run_id"),
        version_hash: row.try_get("version_hash")?,
        run_type: parsed!(row, "run_type"),
        state: parsed!(row, "state"),
        logical_date: row.try_get::<Ts, _>("logical_date")?.0,
        data_interval_start: opt_time!(row, "data_interval_start"),
        data_interval_end: opt_time!(row, "data_interval_end"),
        conf: row.try_get::<Json<Value>, _>("conf")?.0,
        external_trigger: row.try_get("external_trigger")?,
        queued_at: opt_time!(row, "queued_at"),
        start_date: opt_time!(row, "start_date"),
        end_date: opt_time!(row, "end_date"),
        note: row.try_get("note")?,
    })
});

/// Reads the four key columns every task-instance-level table has.
macro_rules! ti_key {
    ($row:ident) => {
        TaskInstanceKey {
            dag_id: parsed!($row, "dag_id"),
            run_id: parsed!($row, "run_id"),
            task_id: parsed!($row, "task_id"),
            map_index: int_col("map_index", $row.try_get("map_index")?)?,
        }
    };
}

impl_from_row!(TaskInstanceRecord, |row| {
    Ok(TaskInstanceRecord {
        key: ti_key!(row),
        state: parsed!(row, "state"),
        try_number: int_col("try_number", row.try_get("try_number")?)?,
        max_tries: int_col("max_tries", row.try_get("max_tries")?)?,
        pool: row.try_get("pool")?,
        queue: row.try_get("queue")?,
        priority_weight: int_col("priority_weight", row.try_get("priority_weight")?)?,
        start_date: opt_time!(row, "start_date"),
        end_date: opt_time!(row, "end_date"),
        next_retry_at: opt_time!(row, "next_retry_at"),
        hostname: row.try_get("hostname")?,
        pid: opt_int_col("pid", row.try_get("pid")?)?,
        rendered_command: row.try_get("rendered_command")?,
        note: row.try_get("note")?,
    })
});

impl_from_row!(TryRecord, |row| {
    let ti = ti_key!(row);
    let try_number = int_col("try_number", row.try_get("try_number")?)?;
    Ok(TryRecord {
        key: TryKey {
            dag_id: ti.dag_id,
            run_id: ti.run_id,
            task_id: ti.task_id,
            map_index: ti.map_index,
            try_number,
        },
        state: parsed!(row, "state"),
        started_at: row.try_get::<Ts, _>("started_at")?.0,
        finished_at: opt_time!(row, "finished_at"),
        hostname: row.try_get("hostname")?,
        try_dir: row.try_get("try_dir")?,
        pid: opt_int_col("pid", row.try_get("pid")?)?,
        executor: row.try_get("executor")?,
        external_id: row.try_get("external_id")?,
        exit_code: opt_int_col("exit_code", row.try_get("exit_code")?)?,
        reason: row.try_get("reason")?,
        cpu_seconds: row.try_get("cpu_seconds")?,
        peak_rss_bytes: opt_int_col("peak_rss_bytes", row.try_get("peak_rss_bytes")?)?,
        replica_id: row.try_get("replica_id")?,
    })
});

impl_from_row!(XComRecord, |row| {
    Ok(XComRecord {
        key: ti_key!(row),
        xcom_key: row.try_get("key")?,
        value: row.try_get::<Json<Value>, _>("value")?.0,
        timestamp: row.try_get::<Ts, _>("timestamp")?.0,
    })
});

impl_from_row!(VariableRecord, |row| {
    Ok(VariableRecord {
        key: row.try_get("key")?,
        value: row.try_get("value")?,
        description: row.try_get("description")?,
        team: row.try_get("team")?,
    })
});

impl_from_row!(ImportErrorRecord, |row| {
    Ok(ImportErrorRecord {
        import_error_id: row.try_get("import_error_id")?,
        filename: row.try_get("filename")?,
        stack_trace: row.try_get("stack_trace")?,
        timestamp: row.try_get::<Ts, _>("timestamp")?.0,
    })
});

impl_from_row!(PoolRecord, |row| {
    Ok(PoolRecord {
        name: row.try_get("pool")?,
        slots: int_col("slots", row.try_get("slots")?)?,
        description: row.try_get("description")?,
        include_deferred: row.try_get("include_deferred")?,
    })
});

impl_from_row!(UserRecord, |row| {
    Ok(UserRecord {
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
        email: row.try_get("email")?,
        source: row.try_get("source")?,
        platform_admin: row.try_get("platform_admin")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        last_login_at: opt_time!(row, "last_login_at"),
    })
});

impl_from_row!(MembershipRecord, |row| {
    Ok(MembershipRecord {
        team: row.try_get("team")?,
        username: row.try_get("username")?,
        role: row.try_get("role")?,
        source: row.try_get("source")?,
    })
});

// Deliberately never reads `token_hash`: a record may be logged or sent to a client.
impl_from_row!(TokenRecord, |row| {
    Ok(TokenRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        username: row.try_get("username")?,
        team: row.try_get("team")?,
        role: row.try_get("role")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        expires_at: opt_time!(row, "expires_at"),
        revoked_at: opt_time!(row, "revoked_at"),
        last_used_at: opt_time!(row, "last_used_at"),
    })
});

impl_from_row!(AuditEventRecord, |row| {
    Ok(AuditEventRecord {
        id: row.try_get("id")?,
        time: row.try_get::<Ts, _>("time")?.0,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        object_type: row.try_get("object_type")?,
        object_id: row.try_get("object_id")?,
        team: row.try_get("team")?,
        outcome: row.try_get("outcome")?,
        source_addr: row.try_get("source_addr")?,
        details: row.try_get::<Json<Value>, _>("details")?.0,
    })
});

impl_from_row!(ConnectionRecord, |row| {
    Ok(ConnectionRecord {
        conn_id: row.try_get("conn_id")?,
        conn_type: row.try_get("conn_type")?,
        description: row.try_get("description")?,
        host: row.try_get("host")?,
        login: row.try_get("login")?,
        password: row.try_get("password")?,
        schema: row.try_get("schema_name")?,
        port: opt_int_col("port", row.try_get("port")?)?,
        extra: row.try_get("extra")?,
        team: row.try_get("team")?,
    })
});
