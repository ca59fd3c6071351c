//! The two macros that let one function body serve both databases.
//!
//! [`with_db!`] expands its body once per backend, so the same SQL and the same binds are
//! type-checked against `sqlx::Sqlite` and `sqlx::Postgres`; [`impl_from_row!`] does the
//! same for decoding a row into a record.

/// Runs `body` with `pool` bound to the store's `SqlitePool` or `PgPool` (and optionally
/// `dialect` bound to the matching [`crate::sql::Dialect`]), timed for the store's
/// observer under the enclosing method's name ([`crate::observe`]).
macro_rules! with_db {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {{
        let _timer = $store.observer.time(operation_name!());
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => {
                let $dialect = $crate::sql::Dialect::Sqlite;
                $body
            }
            $crate::Backend::Postgres($pool) => {
                let $dialect = $crate::sql::Dialect::Postgres;
                $body
            }
        }
    }};
    ($store:expr, |$pool:ident| $body:expr) => {{
        let _timer = $store.observer.time(operation_name!());
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    }};
}

/// The name of the enclosing method, as a `&'static str` ([`crate::observe::method_name`]),
/// worked out once per call site.
macro_rules! operation_name {
    () => {{
        fn here() {}
        static NAME: ::std::sync::OnceLock<&'static str> = ::std::sync::OnceLock::new();
        *NAME.get_or_init(|| $crate::observe::method_name(::std::any::type_name_of_val(&here)))
    }};
}

/// Implements `sqlx::FromRow` for both `SqliteRow` and `PgRow` with one body.
macro_rules! impl_from_row {
    ($ty:ty, |$row:ident| $body:block) => {
        impl<'r> ::sqlx::FromRow<'r, ::sqlx::sqlite::SqliteRow> for $ty {
            fn from_row(
                $row: &'r ::sqlx::sqlite::SqliteRow,
            ) -> ::std::result::Result<Self, ::sqlx::Error> {
                #[allow(unused_imports)]
                use ::sqlx::Row as _;
                $body
            }
        }
        impl<'r> ::sqlx::FromRow<'r, ::sqlx::postgres::PgRow> for $ty {
            fn from_row(
                $row: &'r ::sqlx::postgres::PgRow,
            ) -> ::std::result::Result<Self, ::sqlx::Error> {
                #[allow(unused_imports)]
                use ::sqlx::Row as _;
                $body
            }
        }
    };
}

/// Inserts task instances (state `none`) into a run inside the open transaction `$tx`,
/// skipping any that exist; evaluates to `Result<u64>`, the number inserted. An unknown
/// run is [`crate::StoreError::DagRunNotFound`].
macro_rules! insert_task_instances {
    ($tx:ident, $dag_id:expr, $run_id:expr, $tasks:expr) => {
        async {
            let dag_id: &::weir_core::ids::DagId = $dag_id;
            let run_id: &::weir_core::ids::RunId = $run_id;
            let mut inserted = 0u64;
            for task in $tasks {
                let task: &$crate::records::NewTaskInstance = task;
                inserted += ::sqlx::query($crate::task_instances::INSERT_TASK_INSTANCE)
                    .bind(dag_id.as_str())
                    .bind(run_id.as_str())
                    .bind(task.task_id.as_str())
                    .bind(i64::from(task.map_index))
                    .bind(i64::from(task.max_tries))
                    .bind(&task.pool)
                    .bind(&task.queue)
                    .bind(i64::from(task.priority_weight))
                    .execute(&mut *$tx)
                    .await
                    .map_err(|e| {
                        if $crate::error::is_foreign_key_violation(&e) {
                            $crate::StoreError::DagRunNotFound {
                                dag_id: dag_id.clone(),
                                run_id: run_id.clone(),
                            }
                        } else {
                            $crate::StoreError::Database(e)
                        }
                    })?
                    .rows_affected();
            }
            Ok::<u64, $crate::StoreError>(inserted)
        }
    };
}

/// The compare-and-set update of a task instance, ready to execute on a pool or inside a
/// transaction. `$key` is a `&TaskInstanceKey`, `$u` a `&TaskInstanceUpdate`.
macro_rules! update_ti_query {
    ($key:expr, $u:expr) => {{
        let key: &$crate::records::TaskInstanceKey = $key;
        let c = $crate::task_instances::Columns::of($u);
        sqlx::query($crate::task_instances::UPDATE_TASK_INSTANCE)
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(c.new.as_str())
            .bind(c.expected.as_str())
            .bind(c.try_number.map(i64::from))
            .bind(c.start_date.is_some())
            .bind($crate::sql::ts(c.start_date.flatten()))
            .bind(c.end_date.is_some())
            .bind($crate::sql::ts(c.end_date.flatten()))
            .bind(c.next_retry_at.is_some())
            .bind($crate::sql::ts(c.next_retry_at.flatten()))
            .bind(c.hostname.is_some())
            .bind(c.hostname.flatten())
            .bind(c.pid.is_some())
            .bind(c.pid.flatten().map(i64::from))
            .bind(c.rendered_command.is_some())
            .bind(c.rendered_command.flatten())
            .bind(c.note.is_some())
            .bind(c.note.flatten())
            .bind(c.max_tries.map(i64::from))
    }};
}

/// The insert of a DAG run, answering its record. `$run` is a `&NewDagRun`.
macro_rules! insert_run_query {
    ($run:expr) => {{
        let run: &$crate::records::NewDagRun = $run;
        sqlx::query_as::<_, $crate::records::DagRunRecord>($crate::dag_runs::INSERT_RUN)
            .bind(run.dag_id.as_str())
            .bind(run.run_id.as_str())
            .bind(&run.version_hash)
            .bind(run.run_type.as_str())
            .bind(run.state.as_str())
            .bind($crate::sql::Ts(run.logical_date))
            .bind($crate::sql::ts(run.data_interval_start))
            .bind($crate::sql::ts(run.data_interval_end))
            .bind(::sqlx::types::Json(&run.conf))
            .bind(run.external_trigger)
            .bind($crate::sql::Ts(run.queued_at))
    }};
}

/// The insert of a try record. `$t` is a `&TryRecord`.
macro_rules! insert_try_query {
    ($t:expr) => {{
        let t: &$crate::records::TryRecord = $t;
        let k = &t.key;
        sqlx::query($crate::tries::INSERT_TRY)
            .bind(k.dag_id.as_str())
            .bind(k.run_id.as_str())
            .bind(k.task_id.as_str())
            .bind(i64::from(k.map_index))
            .bind(i64::from(k.try_number))
            .bind(t.state.as_str())
            .bind($crate::sql::Ts(t.started_at))
            .bind($crate::sql::ts(t.finished_at))
            .bind(&t.hostname)
            .bind(&t.try_dir)
            .bind(t.pid.map(i64::from))
            .bind(&t.executor)
            .bind(&t.external_id)
            .bind(t.exit_code.map(i64::from))
            .bind(&t.reason)
            .bind(t.cpu_seconds)
            .bind(t.peak_rss_bytes.map($crate::sql::u64_to_i64))
            .bind(&t.replica_id)
    }};
}

/// The once-only completion of a try. `$key` is a `&TryKey`, `$o` a `&TryOutcome`.
macro_rules! finish_try_query {
    ($key:expr, $o:expr) => {{
        let key: &::weir_core::ids::TryKey = $key;
        let o: &$crate::records::TryOutcome = $o;
        sqlx::query($crate::tries::FINISH_TRY)
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(i64::from(key.try_number))
            .bind(o.state.as_str())
            .bind(o.exit_code.map(i64::from))
            .bind(&o.reason)
            .bind($crate::sql::Ts(o.finished_at))
            .bind(o.cpu_seconds)
            .bind(o.peak_rss_bytes.map($crate::sql::u64_to_i64))
    }};
}

/// The insert of a try's usage record (idempotent on the try).
macro_rules! insert_usage_query {
    ($key:expr, $usage:expr, $finished_at:expr, $job_revision:expr) => {{
        let key: &::weir_core::ids::TryKey = $key;
        let usage: &::weir_core::cost::UsageRecord = $usage;
        sqlx::query($crate::usage::INSERT_USAGE)
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .bind(i64::from(key.try_number))
            .bind(usage.team.as_str())
            .bind(&usage.queue)
            .bind(&usage.compute_environment)
            .bind(usage.requested_vcpu)
            .bind($crate::sql::u64_to_i64(usage.requested_memory_bytes))
            .bind(usage.wall_seconds)
            .bind(usage.cpu_seconds)
            .bind(usage.peak_memory_bytes.map($crate::sql::u64_to_i64))
            .bind($crate::sql::Ts(usage.started_at))
            .bind($crate::sql::Ts($finished_at))
            .bind(usage.price.vcpu_hour)
            .bind(usage.price.gib_hour)
            .bind($job_revision)
    }};
}

/// Records dataset events inside the open transaction `$tx` ([`crate::datasets`]): takes
/// the events' lock on PostgreSQL (so ids commit in the order they are given), makes each
/// URI's `dataset` row, and inserts each event once (a try's outlet again is skipped).
/// Evaluates to `Result<Vec<i64>>`, the ids of the events inserted.
macro_rules! insert_dataset_events {
    ($tx:ident, $dialect:expr, $events:expr) => {
        async {
            let events: &[$crate::datasets::NewDatasetEvent] = $events;
            let mut ids: Vec<i64> = Vec::new();
            if events.is_empty() {
                return Ok::<_, $crate::StoreError>(ids);
            }
            if $dialect == $crate::sql::Dialect::Postgres {
                ::sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind($crate::datasets::EVENT_LOCK)
                    .execute(&mut *$tx)
                    .await?;
            }
            for e in events {
                let at = $crate::sql::Ts(e.created_at);
                let dataset_id: i64 = ::sqlx::query_scalar($crate::datasets::UPSERT_DATASET)
                    .bind(&e.uri)
                    .bind(at)
                    .fetch_one(&mut *$tx)
                    .await?;
                let source = e.source.as_ref();
                let id: Option<i64> = ::sqlx::query_scalar($crate::datasets::INSERT_EVENT)
                    .bind(dataset_id)
                    .bind(&e.uri)
                    .bind(e.extra.as_ref().map(::sqlx::types::Json))
                    .bind(&e.team)
                    .bind(source.map(|s| s.dag_id.as_str()))
                    .bind(source.map(|s| s.run_id.as_str()))
                    .bind(source.map(|s| s.task_id.as_str()))
                    .bind(source.map(|s| i64::from(s.map_index)))
                    .bind(source.map(|s| i64::from(s.try_number)))
                    .bind(&e.posted_by)
                    .bind(at)
                    .fetch_optional(&mut *$tx)
                    .await?;
                ids.extend(id);
            }
            Ok(ids)
        }
    };
}
