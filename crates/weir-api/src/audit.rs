//! The audit trail (`GET /auditEvents`): who did what to which object, from where, and
//! whether it was allowed.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::time;

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    #[serde(with = "time")]
    #[schema(value_type = String, format = DateTime)]
    pub time: DateTime<Utc>,
    pub actor: String,
    /// `object_type.verb`, e.g. `dag.update`, `variable.delete`; `login` for sign-ins.
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub team: Option<String>,
    pub outcome: AuditOutcome,
    pub source_address: Option<String>,
    /// The request (secrets redacted) and, for some changes, a before/after summary.
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEventCollection {
    pub audit_events: Vec<AuditEvent>,
    pub total_entries: i64,
}

/// How an audited request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Allowed, and it worked.
    Success,
    /// Refused: the caller may not do it (or did not prove who it is).
    Denied,
    /// Allowed, but it failed.
    Failed,
}

impl AuditOutcome {
    pub const ALL: [AuditOutcome; 3] = [
        AuditOutcome::Success,
        AuditOutcome::Denied,
        AuditOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Success => "success",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }
}

impl fmt::Display for AuditOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An outcome that is none of `success`, `denied` and `failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownOutcome(pub String);

impl fmt::Display for UnknownOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown audit outcome `{}`; use one of: success, denied, failed",
            self.0
        )
    }
}

impl std::error::Error for UnknownOutcome {}

impl FromStr for AuditOutcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownOutcome(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_spelled_alike_everywhere() {
        for o in AuditOutcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
            assert_eq!(o.as_str().parse::<AuditOutcome>(), Ok(o));
        }
        assert!("allowed".parse::<AuditOutcome>().is_err());
    }
}
