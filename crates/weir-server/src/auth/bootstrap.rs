//! The first user: `weir standalone` creates `admin` (a platform admin) on an empty
//! database, with `WEIR_ADMIN_PASSWORD` or a generated password that is printed once.

use chrono::Utc;
use serde_json::json;
use weir_api::AuditOutcome;
use weir_store::{NewAuditEvent, NewUser, Store, StoreError};

use super::api_tokens;
use super::password::{self, HashCost, PasswordError};

/// What [`ensure_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminBootstrap {
    /// The user existed; nothing changed.
    Existed,
    /// Created with the password given.
    Created,
    /// Created with this generated password, to be shown once.
    CreatedWithPassword(String),
}

/// Why the first user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("WEIR_ADMIN_PASSWORD is not usable: {0}")]
    Password(#[from] PasswordError),
    #[error("cannot generate a password: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates platform admin `username` unless it exists.
pub async fn ensure_admin(
    store: &Store,
    username: &str,
    password: Option<&str>,
    cost: HashCost,
) -> Result<AdminBootstrap, BootstrapError> {
    if store.get_user(username).await?.is_some() {
        return Ok(AdminBootstrap::Existed);
    }
    let (password, generated) = match password {
        Some(p) => (p.to_string(), false),
        None => (
            api_tokens::random_password().map_err(|e| BootstrapError::Random(e.to_string()))?,
            true,
        ),
    };
    let given = password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&given, cost))
        .await
        .map_err(|e| BootstrapError::Random(e.to_string()))??;
    match store
        .create_user(&NewUser {
            username,
            password_hash: Some(&hash),
            email: None,
            source: "local",
            platform_admin: true,
        })
        .await
    {
        Ok(_) => {}
        // Another replica created it first.
        Err(StoreError::UserExists(_)) => return Ok(AdminBootstrap::Existed),
        Err(e) => return Err(e.into()),
    }
    store
        .append_audit_event(&NewAuditEvent {
            time: Utc::now(),
            actor: "weir".into(),
            action: "user.create".into(),
            object_type: "user".into(),
            object_id: username.into(),
            team: None,
            outcome: AuditOutcome::Success.as_str().into(),
            source_addr: None,
            details: json!({"after": {"platform_admin": true}, "reason": "first start"}),
        })
        .await?;
    Ok(if generated {
        AdminBootstrap::CreatedWithPassword(password)
    } else {
        AdminBootstrap::Created
    })
}
