//! Variables: plain key/value configuration (`{{ var.value.x }}`), each owned by a team
//! or platform-wide.

use crate::records::{Page, VariableRecord};
use crate::{Result, Store};

impl Store {
    /// One variable.
    pub async fn get_variable(&self, key: &str) -> Result<Option<VariableRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as("SELECT * FROM variable WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Creates or replaces a variable (value and description) and returns it. `team`
    /// (`None`: platform-wide) is the owner of a variable this creates; replacing keeps
    /// the stored owner, so rewriting a value cannot move a variable to another team.
    pub async fn set_variable(
        &self,
        key: &str,
        value: &str,
        description: Option<&str>,
        team: Option<&str>,
    ) -> Result<VariableRecord> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO variable (key, value, description, team) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE
                 SET value = excluded.value, description = excluded.description
                 RETURNING *",
            )
            .bind(key)
            .bind(value)
            .bind(description)
            .bind(team)
            .fetch_one(pool)
            .await?)
        })
    }

    /// One page of variables sorted by key, with the total count.
    pub async fn list_variables(&self, limit: i64, offset: i64) -> Result<Page<VariableRecord>> {
        crate::sql::check_page(limit, offset)?;
        with_db!(self, |pool| {
            let items = sqlx::query_as("SELECT * FROM variable ORDER BY key LIMIT $1 OFFSET $2")
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total_entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM variable")
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Every variable a DAG of `team` may read in its templates: the team's own and the
    /// platform-wide ones (no team), sorted by key. Never another team's.
    pub async fn variables_of_team(&self, team: &str) -> Result<Vec<VariableRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "SELECT * FROM variable WHERE team IS NULL OR team = $1 ORDER BY key",
            )
            .bind(team)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Deletes a variable; returns whether it existed.
    pub async fn delete_variable(&self, key: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM variable WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }
}
