//! Users and their team memberships: local users (with a password hash) and users that
//! SSO logins create and keep in sync, each with a role per team.
//!
//! A membership's `source` says who owns it: `local` ones are set by an admin and left
//! alone by SSO logins; `sso` ones are replaced wholesale at each SSO login, so a user
//! removed from a group in the identity provider loses the team at the next login.

use chrono::{DateTime, Utc};

use crate::access_records::{MembershipRecord, NewUser, UserRecord};
use crate::connect::BeginWrite;
use crate::error::{is_foreign_key_violation, is_unique_violation};
use crate::records::Page;
use crate::sql::Ts;
use crate::{Result, Store, StoreError};

/// Creates an SSO user, or updates an existing SSO user; touches no local user (the
/// `WHERE` of the update then matches nothing and no row comes back).
const UPSERT_SSO_USER: &str = "\
INSERT INTO weir_user (username, password_hash, email, source, platform_admin, created_at,
    last_login_at)
VALUES ($1, NULL, $2, 'sso', $3, $4, $4)
ON CONFLICT (username) DO UPDATE
SET email = excluded.email, platform_admin = excluded.platform_admin,
    last_login_at = excluded.last_login_at
WHERE weir_user.source = 'sso'
RETURNING *";

/// Refuses a source other than the two the schema knows, with a clearer message than the
/// database's check constraint.
fn check_source(source: &str) -> Result<()> {
    if source == "local" || source == "sso" {
        Ok(())
    } else {
        Err(StoreError::InvalidInput {
            what: "user source",
            detail: format!("`{source}` (expected `local` or `sso`)"),
        })
    }
}

impl Store {
    /// Creates a user (created now); [`StoreError::UserExists`] if the name is taken.
    pub async fn create_user(&self, new: &NewUser<'_>) -> Result<UserRecord> {
        check_source(new.source)?;
        let map_err = |e: sqlx::Error| {
            if is_unique_violation(&e) {
                StoreError::UserExists(new.username.to_string())
            } else {
                StoreError::Database(e)
            }
        };
        let now = Ts(Utc::now());
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO weir_user (username, password_hash, email, source, platform_admin,
                     created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 RETURNING *",
            )
            .bind(new.username)
            .bind(new.password_hash)
            .bind(new.email)
            .bind(new.source)
            .bind(new.platform_admin)
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(map_err)?)
        })
    }

    /// One user.
    pub async fn get_user(&self, username: &str) -> Result<Option<UserRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM weir_user WHERE username = $1")
                    .bind(username)
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// One page of users sorted by username, with the total count.
    pub async fn list_users(&self, limit: i64, offset: i64) -> Result<Page<UserRecord>> {
        crate::sql::check_page(limit, offset)?;
        with_db!(self, |pool| {
            let items =
                sqlx::query_as("SELECT * FROM weir_user ORDER BY username LIMIT $1 OFFSET $2")
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(pool)
                    .await?;
            let total_entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM weir_user")
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// Deletes a user with its memberships and tokens (foreign keys cascade); returns
    /// whether it existed. Its audit events stay: they are history.
    pub async fn delete_user(&self, username: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM weir_user WHERE username = $1")
                .bind(username)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }

    /// Replaces a user's password hash; returns whether the user exists.
    pub async fn set_password_hash(&self, username: &str, hash: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let updated =
                sqlx::query("UPDATE weir_user SET password_hash = $2 WHERE username = $1")
                    .bind(username)
                    .bind(hash)
                    .execute(pool)
                    .await?
                    .rows_affected();
            Ok(updated > 0)
        })
    }

    /// Grants or withdraws platform admin; returns whether the user exists.
    pub async fn set_platform_admin(&self, username: &str, yes: bool) -> Result<bool> {
        with_db!(self, |pool| {
            let updated =
                sqlx::query("UPDATE weir_user SET platform_admin = $2 WHERE username = $1")
                    .bind(username)
                    .bind(yes)
                    .execute(pool)
                    .await?
                    .rows_affected();
            Ok(updated > 0)
        })
    }

    /// Records a successful login (an unknown user is ignored: nothing to record on).
    pub async fn record_login(&self, username: &str, at: DateTime<Utc>) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query("UPDATE weir_user SET last_login_at = $2 WHERE username = $1")
                .bind(username)
                .bind(Ts(at))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// What an SSO login at `at` says about a user, in one transaction: creates the user
    /// (source `sso`, no password, created and last logged in at `at`) or updates the
    /// email, platform admin flag and last login of an existing SSO user, then replaces
    /// its `sso` memberships by `memberships` (`(team, role)` pairs; the first of two for
    /// one team wins). `local` memberships are left alone, and win over an `sso` one for
    /// the same team. [`StoreError::UserExists`] when a local user has that name: an
    /// identity provider may not take over a local account.
    pub async fn sync_sso_user(
        &self,
        username: &str,
        email: Option<&str>,
        platform_admin: bool,
        memberships: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<UserRecord> {
        with_db!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // One statement decides create-or-update-or-refuse, so two concurrent logins
            // of a new user cannot both try to create it.
            let user: Option<UserRecord> = sqlx::query_as(UPSERT_SSO_USER)
                .bind(username)
                .bind(email)
                .bind(platform_admin)
                .bind(Ts(at))
                .fetch_optional(&mut *tx)
                .await?;
            let Some(user) = user else {
                return Err(StoreError::UserExists(username.to_string()));
            };
            sqlx::query("DELETE FROM team_member WHERE username = $1 AND source = 'sso'")
                .bind(username)
                .execute(&mut *tx)
                .await?;
            for (team, role) in memberships {
                sqlx::query(
                    "INSERT INTO team_member (team, username, role, source)
                     VALUES ($1, $2, $3, 'sso')
                     ON CONFLICT (team, username) DO NOTHING",
                )
                .bind(team)
                .bind(username)
                .bind(role)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(user)
        })
    }

    /// Sets a user's role in a team (source `local`, also turning an `sso` membership into
    /// a local one: an admin's decision outlasts the next SSO login) and returns it.
    /// [`StoreError::UserNotFound`] for an unknown user.
    pub async fn set_membership(
        &self,
        team: &str,
        username: &str,
        role: &str,
    ) -> Result<MembershipRecord> {
        let map_err = |e: sqlx::Error| {
            if is_foreign_key_violation(&e) {
                StoreError::UserNotFound(username.to_string())
            } else {
                StoreError::Database(e)
            }
        };
        with_db!(self, |pool| {
            Ok(sqlx::query_as(
                "INSERT INTO team_member (team, username, role, source)
                 VALUES ($1, $2, $3, 'local')
                 ON CONFLICT (team, username) DO UPDATE
                 SET role = excluded.role, source = excluded.source
                 RETURNING *",
            )
            .bind(team)
            .bind(username)
            .bind(role)
            .fetch_one(pool)
            .await
            .map_err(map_err)?)
        })
    }

    /// Removes a user from a team, whatever the membership's source; returns whether it
    /// was a member. (An `sso` membership comes back at the next SSO login if the
    /// identity provider still says so.)
    pub async fn remove_membership(&self, team: &str, username: &str) -> Result<bool> {
        with_db!(self, |pool| {
            let deleted = sqlx::query("DELETE FROM team_member WHERE team = $1 AND username = $2")
                .bind(team)
                .bind(username)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(deleted > 0)
        })
    }

    /// A user's memberships, sorted by team.
    pub async fn memberships_of(&self, username: &str) -> Result<Vec<MembershipRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM team_member WHERE username = $1 ORDER BY team")
                    .bind(username)
                    .fetch_all(pool)
                    .await?,
            )
        })
    }

    /// A team's members, sorted by username.
    pub async fn members_of(&self, team: &str) -> Result<Vec<MembershipRecord>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_as("SELECT * FROM team_member WHERE team = $1 ORDER BY username")
                    .bind(team)
                    .fetch_all(pool)
                    .await?,
            )
        })
    }

    /// Every team with at least one member, sorted.
    pub async fn teams_with_members(&self) -> Result<Vec<String>> {
        with_db!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT DISTINCT team FROM team_member ORDER BY team")
                    .fetch_all(pool)
                    .await?,
            )
        })
    }
}
