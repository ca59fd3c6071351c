//! Task instances: creation (idempotent), listing, compare-and-set updates, and the
//! counts the dispatcher needs for pool and DAG concurrency limits.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use weir_core::ids::{DagId, RunId, TryNumber};
use weir_core::state::TaskState;

use crate::connect::BeginWrite;
use crate::records::{NewTaskInstance, TaskInstanceKey, TaskInstanceRecord, TaskInstanceUpdate};
use crate::sql::json_list;
use crate::{Result, Store};

/// Used by [`insert_task_instances!`].
pub(crate) const INSERT_TASK_INSTANCE: &str = "\
INSERT INTO task_instance (dag_id, run_id, task_id, map_index, max_tries, pool, queue,
    priority_weight)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (dag_id, run_id, task_id, map_index) DO NOTHING";

pub(crate) const UPDATE_TASK_INSTANCE: &str = "\
UPDATE task_instance SET
    state = $5,
    try_number = COALESCE($7, try_number),
    start_date = CASE WHEN $8 THEN $9 ELSE start_date END,
    end_date = CASE WHEN $10 THEN $11 ELSE end_date END,
    next_retry_at = CASE WHEN $12 THEN $13 ELSE next_retry_at END,
    hostname = CASE WHEN $14 THEN $15 ELSE hostname END,
    pid = CASE WHEN $16 THEN $17 ELSE pid END,
    rendered_command = CASE WHEN $18 THEN $19 ELSE rendered_command END,
    note = CASE WHEN $20 THEN $21 ELSE note END,
    max_tries = COALESCE($22, max_tries)
WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4 AND state = $6";

/// The columns one [`TaskInstanceUpdate`] writes, for [`UPDATE_TASK_INSTANCE`]: `None`
/// leaves a column, `Some(v)` sets it (`Some(None)` to NULL). Only this module and its
/// query macro see this shape; callers name the change.
pub(crate) struct Columns<'a> {
    pub expected: TaskState,
    pub new: TaskState,
    pub try_number: Option<TryNumber>,
    pub start_date: Option<Option<DateTime<Utc>>>,
    pub end_date: Option<Option<DateTime<Utc>>>,
    pub next_retry_at: Option<Option<DateTime<Utc>>>,
    pub hostname: Option<Option<&'a str>>,
    pub pid: Option<Option<u32>>,
    pub rendered_command: Option<Option<&'a str>>,
    pub note: Option<Option<&'a str>>,
    pub max_tries: Option<u32>,
}

impl<'a> Columns<'a> {
    pub(crate) fn of(update: &'a TaskInstanceUpdate) -> Self {
        use TaskInstanceUpdate as U;
        let mut c = Columns {
            expected: update.expected(),
            new: update.new_state(),
            try_number: None,
            start_date: None,
            end_date: None,
            next_retry_at: None,
            hostname: None,
            pid: None,
            rendered_command: None,
            note: None,
            max_tries: None,
        };
        match update {
            U::Schedule => {}
            U::PromoteRetry | U::PromoteReschedule => c.next_retry_at = Some(None),
            U::Reschedule {
                first_check,
                next_check,
                note,
            } => {
                c.start_date = Some(Some(*first_check));
                c.next_retry_at = Some(Some(*next_check));
                c.note = Some(Some(note));
            }
            U::SensorDone {
                try_number,
                first_check,
                at,
                note,
                ..
            } => {
                c.try_number = Some(*try_number);
                c.start_date = Some(Some(*first_check));
                c.end_date = Some(Some(*at));
                c.next_retry_at = Some(None);
                c.note = Some(Some(note));
            }
            U::Settle { at, note, .. } => {
                c.start_date = Some(Some(*at));
                c.end_date = Some(Some(*at));
                c.note = note.as_deref().map(Some);
            }
            U::Noop { try_number, at } => {
                c.try_number = Some(*try_number);
                c.start_date = Some(Some(*at));
                c.end_date = Some(Some(*at));
            }
            U::Claim {
                try_number,
                hostname,
            } => {
                c.try_number = Some(*try_number);
                c.hostname = Some(Some(hostname));
            }
            U::Run {
                start_date,
                pid,
                rendered_command,
            } => {
                c.start_date = Some(Some(*start_date));
                c.end_date = Some(None);
                c.next_retry_at = Some(None);
                c.pid = Some(*pid);
                c.rendered_command = Some(rendered_command.as_deref());
            }
            U::Unclaim { try_number } => c.try_number = Some(*try_number),
            U::Finish {
                end_date, retry_at, ..
            } => {
                c.end_date = Some(Some(*end_date));
                c.next_retry_at = Some(*retry_at);
                c.pid = Some(None);
            }
            U::Requeue => {
                c.start_date = Some(None);
                c.end_date = Some(None);
            }
            U::FailBeforeStart { end_date, note } => {
                c.end_date = Some(Some(*end_date));
                c.note = Some(Some(note));
            }
            U::Clear { max_tries, .. } => {
                c.max_tries = Some(*max_tries);
                c.start_date = Some(None);
                c.end_date = Some(None);
                c.next_retry_at = Some(None);
                c.note = Some(None);
            }
            U::Mark { end_date, .. } => {
                c.end_date = Some(Some(*end_date));
                c.next_retry_at = Some(None);
            }
            U::SetNote { note, .. } => c.note = Some(note.as_deref()),
        }
        c
    }
}

/// The states in which a task instance occupies a pool slot and counts against its DAG's
/// concurrency (Airflow counts queued with running).
const OCCUPYING: [TaskState; 2] = [TaskState::Queued, TaskState::Running];

impl Store {
    /// Creates task instances in a run (state `none`, try number 0), skipping those that
    /// exist, in one transaction. Returns how many it created.
    pub async fn create_task_instances(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        tasks: &[NewTaskInstance],
    ) -> Result<u64> {
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let inserted = insert_task_instances!(tx, dag_id, run_id, tasks).await?;
            tx.commit().await?;
            Ok(inserted)
        })
    }

    /// Every task instance of a run, by task id and map index.
    pub async fn list_task_instances(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
    ) -> Result<Vec<TaskInstanceRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM task_instance WHERE dag_id = $1 AND run_id = $2
                 ORDER BY task_id, map_index",
            )
            .bind(dag_id.as_str())
            .bind(run_id.as_str())
            .fetch_all(pool)
            .await?)
        })
    }

    /// One task instance.
    pub async fn get_task_instance(
        &self,
        key: &TaskInstanceKey,
    ) -> Result<Option<TaskInstanceRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM task_instance
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4",
            )
            .bind(key.dag_id.as_str())
            .bind(key.run_id.as_str())
            .bind(key.task_id.as_str())
            .bind(i64::from(key.map_index))
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Compare-and-set update of a task instance: applies only while its state is the one
    /// `update` expects ([`TaskInstanceUpdate::expected`]), and returns whether it applied
    /// (`false`: another writer changed it first, or it does not exist). A change of state
    /// must be legal for [`TaskState::transition`], else
    /// [`crate::StoreError::IllegalTransition`] and nothing is written.
    pub async fn update_task_instance(
        &self,
        key: &TaskInstanceKey,
        update: &TaskInstanceUpdate,
    ) -> Result<bool> {
        update.check()?;
        with_db!(self, |pool| {
            let applied = update_ti_query!(key, update)
                .execute(pool)
                .await?
                .rows_affected()
                == 1;
            if applied {
                self.observer.moved(key, &[update]);
            }
            Ok(applied)
        })
    }

    /// Task instances of every run in any of `states`, highest priority first (for the
    /// dispatcher, and for recovery after a restart).
    pub async fn list_task_instances_in_states(
        &self,
        states: &[TaskState],
    ) -> Result<Vec<TaskInstanceRecord>> {
        let states = json_list(states);
        with_db!(self, |pool, dialect| {
            let sql = format!(
                "SELECT * FROM task_instance WHERE state IN {}
                 ORDER BY priority_weight DESC, dag_id, run_id, task_id, map_index",
                dialect.json_text_elements("$1")
            );
            Ok(sqlx::query_as(AssertSqlSafe(sql))
                .bind(&states)
                .fetch_all(pool)
                .await?)
        })
    }

    /// Task instances occupying a slot of `pool` (queued or running).
    pub async fn count_running_in_pool(&self, pool_name: &str) -> Result<i64> {
        let states = json_list(&OCCUPYING);
        with_db!(self, |pool, dialect| {
            let sql = format!(
                "SELECT COUNT(*) FROM task_instance WHERE pool = $1 AND state IN {}",
                dialect.json_text_elements("$2")
            );
            Ok(sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(pool_name)
                .bind(&states)
                .fetch_one(pool)
                .await?)
        })
    }

    /// Task instances of the DAG, across its runs, that are queued or running.
    pub async fn count_running_for_dag(&self, dag_id: &DagId) -> Result<i64> {
        let states = json_list(&OCCUPYING);
        with_db!(self, |pool, dialect| {
            let sql = format!(
                "SELECT COUNT(*) FROM task_instance WHERE dag_id = $1 AND state IN {}",
                dialect.json_text_elements("$2")
            );
            Ok(sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(dag_id.as_str())
                .bind(&states)
                .fetch_one(pool)
                .await?)
        })
    }
}
