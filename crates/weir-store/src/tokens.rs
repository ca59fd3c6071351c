//! API tokens: a user's, or a team's service account's (a team and a role, no user).
//!
//! Only a token's hash is stored, and it is only ever an input (to find the token a
//! request presented): records never carry it. Finding a token does not check it:
//! whether an expired or revoked token is refused is the caller's decision, made on the
//! record's times.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use crate::access_records::{NewToken, TokenFilter, TokenRecord};
use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::records::Page;
use crate::sql::{Ts, ts};
use crate::{Result, Store, StoreError};

/// The `WHERE` clause of [`Store::list_tokens`] (binds `$1` username, `$2` team).
const TOKEN_FILTER: &str = "\
WHERE ($1 IS NULL AND $2 IS NULL)
   OR username = $1
   OR (username IS NULL AND team = $2)";

impl Store {
    /// Creates a token (created now). [`StoreError::UserNotFound`] for an unknown user,
    /// [`StoreError::InvalidInput`] for a token with neither a user nor a team and a
    /// role, or whose id or hash is taken.
    pub async fn create_token(&self, new: &NewToken<'_>) -> Result<TokenRecord> {
        if new.username.is_none() && (new.team.is_none() || new.role.is_none()) {
            return Err(StoreError::InvalidInput {
                what: "token",
                detail: "a token needs a user, or a team and a role (a service account)"
                    .to_string(),
            });
        }
        let map_err = |e: sqlx::Error| {
            if is_foreign_key_violation(&e) {
                StoreError::UserNotFound(new.username.unwrap_or_default().to_string())
            } else if is_unique_violation(&e) {
                // The hash is not named: it is a secret's stand-in.
                StoreError::InvalidInput {
                    what: "token",
                    detail: format!("token `{}` or its hash already exists", new.id),
                }
            } else {
                StoreError::Database(e)
            }
        };
        let now = Ts(Utc::now());
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO api_token (id, name, token_hash, username, team, role, created_by,
                     created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 RETURNING *",
            )
            .bind(new.id)
            .bind(new.name)
            .bind(new.token_hash)
            .bind(new.username)
            .bind(new.team)
            .bind(new.role)
            .bind(new.created_by)
            .bind(now)
            .bind(ts(new.expires_at))
            .fetch_one(pool)
            .await
            .map_err(map_err)?)
        })
    }

    /// The token with this hash, revoked or expired ones included.
    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM api_token WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// One token.
    pub async fn get_token(&self, id: &str) -> Result<Option<TokenRecord>> {
        with_db!(self, |pool| {
            Ok(sqlx::query_as("SELECT * FROM api_token WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// One page of the tokens `filter` selects, newest first, with the count of all it
    /// selects.
    pub async fn list_tokens(
        &self,
        filter: &TokenFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Page<TokenRecord>> {
        crate::sql::check_page(limit, offset)?;
        let list = format!(
            "SELECT * FROM api_token {TOKEN_FILTER} ORDER BY created_at DESC, id DESC
             LIMIT $3 OFFSET $4"
        );
        let count = format!("SELECT COUNT(*) FROM api_token {TOKEN_FILTER}");
        with_db!(self, |pool| {
            let items = sqlx::query_as(AssertSqlSafe(list))
                .bind(&filter.username)
                .bind(&filter.team)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let total_entries: i64 = sqlx::query_scalar(AssertSqlSafe(count))
                .bind(&filter.username)
                .bind(&filter.team)
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Revokes a token as of `at`; `false` if it is unknown or already revoked (the first
    /// revocation time stays).
    pub async fn revoke_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        with_db!(self, |pool| {
            let updated = sqlx::query(
                "UPDATE api_token SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(Ts(at))
            .execute(pool)
            .await?
            .rows_affected();
            Ok(updated > 0)
        })
    }

    /// Records that a token was used at `at` (an unknown token is ignored).
    pub async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query("UPDATE api_token SET last_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(Ts(at))
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
