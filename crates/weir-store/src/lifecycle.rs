//! A try's start and end, each as one transaction: fewer commits on the scheduler's hot
//! path, and no half-written start or end after a crash.

use chrono::Utc;
use serde_json::Value;
use sqlx::types::Json;
use weir_core::ids::TryKey;

use crate::connect::BeginWrite;
use crate::datasets::NewDatasetEvent;
use weir_core::cost::UsageRecord;

use crate::records::{TaskInstanceKey, TaskInstanceUpdate, TryOutcome, TryRecord};
use crate::sql::Ts;
use crate::{Result, Store};

impl Store {
    /// Claims a task instance and records its new try: applies `claim` (normally
    /// [`TaskInstanceUpdate::Claim`], scheduled → queued with the new try number), inserts
    /// `record`, then applies `running` ([`TaskInstanceUpdate::Run`], queued → running).
    /// Returns false, changing nothing, when the claim loses (the instance was no longer
    /// in the expected state).
    pub async fn start_try(
        &self,
        claim: &TaskInstanceUpdate,
        record: &TryRecord,
        running: &TaskInstanceUpdate,
    ) -> Result<bool> {
        claim.check()?;
        running.check()?;
        let key = TaskInstanceKey::from(&record.key);
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if update_ti_query!(&key, claim)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                != 1
            {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_try_query!(record).execute(&mut *tx).await?;
            update_ti_query!(&key, running).execute(&mut *tx).await?;
            tx.commit().await?;
            self.observer.moved(&key, &[claim, running]);
            Ok(true)
        })
    }

    /// Records the end of a try: its XCom (if any), its outcome (once), its usage (if
    /// measured; once), and the task instance's new state (compare-and-set), then — when
    /// the instance moved — the dataset events of its outlets (once each). Returns
    /// whether the task instance moved; the try's outcome is recorded either way.
    pub async fn end_try(
        &self,
        key: &TryKey,
        outcome: &TryOutcome,
        xcom: Option<(&str, &Value)>,
        usage: Option<(&UsageRecord, Option<&str>)>,
        update: Option<&TaskInstanceUpdate>,
        events: &[NewDatasetEvent],
    ) -> Result<bool> {
        if let Some((u, _)) = usage {
            crate::usage::check(key, u)?;
        }
        if let Some(u) = update {
            u.check()?;
        }
        let ti = TaskInstanceKey::from(key);
        let now = Ts(Utc::now());
        with_db!(self, |pool, dialect| {
            let mut tx = pool.begin_write().await?;
            if let Some((xcom_key, value)) = xcom {
                sqlx::query(crate::xcom::SET_XCOM)
                    .bind(ti.dag_id.as_str())
                    .bind(ti.run_id.as_str())
                    .bind(ti.task_id.as_str())
                    .bind(i64::from(ti.map_index))
                    .bind(xcom_key)
                    .bind(Json(value))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            finish_try_query!(key, outcome).execute(&mut *tx).await?;
            if let Some((u, job_revision)) = usage {
                insert_usage_query!(key, u, outcome.finished_at, job_revision)
                    .execute(&mut *tx)
                    .await?;
            }
            let moved = match update {
                Some(u) => {
                    update_ti_query!(&ti, u)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1
                }
                None => false,
            };
            if moved {
                insert_dataset_events!(tx, dialect, events).await?;
            }
            tx.commit().await?;
            if let (true, Some(u)) = (moved, update) {
                self.observer.moved(&ti, &[u]);
            }
            Ok(moved)
        })
    }
}
