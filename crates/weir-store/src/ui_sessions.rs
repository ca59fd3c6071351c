//! Sessions of the web UI, kept server-side so that they can be revoked: the browser holds
//! a random cookie, the store only its digest (the caller hashes it), with the user, how
//! they signed in, the session's CSRF token and when it expires.
//!
//! A session of a deleted user goes with the user (foreign key). Expiry is the caller's
//! decision at each read ([`Store::get_ui_session`] returns expired rows too);
//! [`Store::delete_expired_ui_sessions`] sweeps them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::is_foreign_key_violation;
use crate::sql::Ts;
use crate::{Result, Store, StoreError};

/// A web UI session (never its cookie: only the digest finds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiSessionRecord {
    pub username: String,
    /// `password` or `sso`.
    pub method: String,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl_from_row!(UiSessionRecord, |row| {
    Ok(UiSessionRecord {
        username: row.try_get("username")?,
        method: row.try_get("method")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: row.try_get::<Ts, _>("created_at")?.0,
        last_seen_at: row.try_get::<Ts, _>("last_seen_at")?.0,
        expires_at: row.try_get::<Ts, _>("expires_at")?.0,
    })
});

impl Store {
    /// Starts a session found by `id_hash`. [`StoreError::UserNotFound`] when the user
    /// does not exist (any more).
    pub async fn create_ui_session(&self, id_hash: &str, session: &UiSessionRecord) -> Result<()> {
        let map_err = |e: sqlx::Error| {
            if is_foreign_key_violation(&e) {
                StoreError::UserNotFound(session.username.clone())
            } else {
                StoreError::Database(e)
            }
        };
        with_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO ui_session (id_hash, username, method, csrf_token, created_at,
                     last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id_hash)
            .bind(&session.username)
            .bind(&session.method)
            .bind(&session.csrf_token)
            .bind(Ts(session.created_at))
            .bind(Ts(session.last_seen_at))
            .bind(Ts(session.expires_at))
            .execute(pool)
            .await
            .map_err(map_err)?;
            Ok(())
        })
    }

    /// The session with this digest, expired or not.
    pub async fn get_ui_session(&self, id_hash: &str) -> Result<Option<UiSessionRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM ui_session WHERE id_hash = $1")
                    .bind(id_hash)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Notes that the session was used at `at` and moves its expiry to `expires_at`
    /// (a sliding expiry; the caller caps it).
    pub async fn touch_ui_session(
        &self,
        id_hash: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query(
                "UPDATE ui_session SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1",
            )
            .bind(id_hash)
            .bind(Ts(at))
            .bind(Ts(expires_at))
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Ends one session; returns whether it existed.
    pub async fn delete_ui_session(&self, id_hash: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let done = sqlx::query("DELETE FROM ui_session WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Ends every session of `username` (a password change, a revocation); returns how
    /// many there were.
    pub async fn delete_ui_sessions_of(&self, username: &str) -> Result<u64> {
        with_db!(self, |pool| {
            let done = sqlx::query("DELETE FROM ui_session WHERE username = $1")
                .bind(username)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    /// Removes the sessions that expired before `now`; returns how many.
    pub async fn delete_expired_ui_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        with_db!(self, |pool| {
            let done = sqlx::query("DELETE FROM ui_session WHERE expires_at < $1")
                .bind(Ts(now))
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }
}
