//! XComs: small JSON values a task instance passes to its downstream.

use chrono::Utc;
use serde_json::Value;
use sqlx::types::Json;
use weir_core::ids::{DagId, RunId, TaskId};

use crate::error::is_foreign_key_violation;
use crate::records::{TaskInstanceKey, XComRecord};
use crate::sql::Ts;
use crate::{Result, Store, StoreError};

pub(crate) const SET_XCOM: &str = "\
INSERT INTO xcom (dag_id, run_id, task_id, map_index, key, value, timestamp)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (dag_id, run_id, task_id, map_index, key)
DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp";

impl Store {
    /// Sets (inserts or replaces) the XCom `xcom_key` of a task instance.
    /// [`StoreError::TaskInstanceNotFound`] for an unknown task instance.
    pub async fn set_xcom(
        &self,
        ti: &TaskInstanceKey,
        xcom_key: &str,
        value: &Value,
    ) -> Result<()> {
        let now = Ts(Utc::now());
        with_db!(self, |pool| {
            sqlx::query(SET_XCOM)
                .bind(ti.dag_id.as_str())
                .bind(ti.run_id.as_str())
                .bind(ti.task_id.as_str())
                .bind(i64::from(ti.map_index))
                .bind(xcom_key)
                .bind(Json(value))
                .bind(now)
                .execute(pool)
                .await
                .map_err(|e| {
                    if is_foreign_key_violation(&e) {
                        StoreError::TaskInstanceNotFound(ti.clone())
                    } else {
                        StoreError::Database(e)
                    }
                })?;
        });
        Ok(())
    }

    /// One XCom of a task instance.
    pub async fn get_xcom(
        &self,
        ti: &TaskInstanceKey,
        xcom_key: &str,
    ) -> Result<Option<XComRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM xcom
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4
                   AND key = $5",
            )
            .bind(ti.dag_id.as_str())
            .bind(ti.run_id.as_str())
            .bind(ti.task_id.as_str())
            .bind(i64::from(ti.map_index))
            .bind(xcom_key)
            .fetch_optional(pool)
            .await?)
        })
    }

    /// The XComs of a run, or of one task of it (every map index), sorted by task id, map
    /// index and key.
    pub async fn list_xcoms(
        &self,
        dag_id: &DagId,
        run_id: &RunId,
        task_id: Option<&TaskId>,
    ) -> Result<Vec<XComRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM xcom
                 WHERE dag_id = $1 AND run_id = $2 AND ($3 IS NULL OR task_id = $3)
                 ORDER BY task_id, map_index, key",
            )
            .bind(dag_id.as_str())
            .bind(run_id.as_str())
            .bind(task_id.map(TaskId::as_str))
            .fetch_all(pool)
            .await?)
        })
    }

    /// Deletes every XCom of a task instance (before it runs again); returns how many.
    pub async fn clear_xcoms(&self, ti: &TaskInstanceKey) -> Result<u64> {
        with_db!(self, |pool| {
            Ok(sqlx::query(
                "DELETE FROM xcom
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3 AND map_index = $4",
            )
            .bind(ti.dag_id.as_str())
            .bind(ti.run_id.as_str())
            .bind(ti.task_id.as_str())
            .bind(i64::from(ti.map_index))
            .execute(pool)
            .await?
            .rows_affected())
        })
    }
}
