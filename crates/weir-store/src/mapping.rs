//! Dynamic task mapping: replacing a mapped task's placeholder instance (map index -1)
//! by one instance per item, atomically, so a crash leaves either the placeholder or
//! every item.

use weir_core::ids::{DagId, RunId, TaskId, UNMAPPED};
use weir_core::state::TaskState;

use crate::connect::BeginWrite;
use crate::records::NewTaskInstance;
use crate::{Result, Store};

impl Store {
    /// Deletes the placeholder instance (`map_index = -1`, still in state `none`) of
    /// `task_id` and creates `items` in its place, in one transaction. Returns false (and
    /// changes nothing) when the placeholder is gone or already decided, e.g. because
    /// another scheduler replica expanded it first.
    pub async fn expand_mapped_task(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        task_id: &TaskId,
        items: &[NewTaskInstance],
    ) -> Result<bool> {
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let deleted = sqlx::query(
                "DELETE FROM task_instance
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4 AND state = $5",
            )
            .bind(dag_id.as_str())
            .bind(run_id.as_str())
            .bind(task_id.as_str())
            .bind(UNMAPPED)
            .bind(TaskState::None.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_task_instances!(tx, dag_id, run_id, items).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Deletes every mapped instance (`map_index >= 0`) of a task in a run, with their
    /// tries and XComs; used when a cleared mapped task is to fan out again.
    pub async fn delete_mapped_instances(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        task_id: &TaskId,
    ) -> Result<u64> {
        with_db!(self, |pool| {
            Ok(sqlx::query(
                "DELETE FROM task_instance
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index >= 0",
            )
            .bind(dag_id.as_str())
            .bind(run_id.as_str())
            .bind(task_id.as_str())
            .execute(pool)
            .await?
            .rows_affected())
        })
    }

    /// Forgets import errors of files that are no longer in the DAG folder.
    pub async fn retain_import_errors(&self, files: &[String]) -> Result<u64> {
        let list = crate::sql::json_list(files);
        with_db!(self, |pool, dialect| {
            let sql = format!(
                "DELETE FROM import_error WHERE filename NOT IN {}",
                dialect.json_text_elements("$1")
            );
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&list)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}
