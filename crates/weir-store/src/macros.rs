//! The two macros that let one function body serve both databases.
//!
//! [`with_db!`] expands its body once per backend, so the same SQL and the same binds are
//! type-checked against `sqlx::Sqlite` and `sqlx::Postgres`; [`impl_from_row!`] does the
//! same for decoding a row into a record.

/// Runs `body` with `pool` bound to the store's `SqlitePool` or `PgPool` (and optionally
/// `dialect` bound to the matching [`crate::sql::Dialect`]).
macro_rules! with_db {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {
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
    };
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
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
