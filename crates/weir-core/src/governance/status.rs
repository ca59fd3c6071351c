//! The states of a DAG version and of one approval request, as stored and as the API
//! shows them (snake_case strings).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a DAG version stands. A DAG has at most one [`VersionStatus::Active`] version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// The version scheduled and manual runs use now.
    Active,
    /// A production version waiting for a second person to approve it; the previous
    /// active version keeps running meanwhile.
    PendingApproval,
    /// Approved (and active once), since replaced by a newer active version.
    Approved,
    /// A reviewer refused it; it never ran.
    Rejected,
    /// Replaced by a newer version without ever being approved: a pending version a
    /// newer one replaced, or a non-production version replaced by the next one.
    Superseded,
}

/// A string that names no [`VersionStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown version status `{0}`; use one of: active, pending_approval, approved, rejected, superseded"
)]
pub struct UnknownVersionStatus(pub String);

impl VersionStatus {
    pub const ALL: [VersionStatus; 5] = [
        VersionStatus::Active,
        VersionStatus::PendingApproval,
        VersionStatus::Approved,
        VersionStatus::Rejected,
        VersionStatus::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Active => "active",
            VersionStatus::PendingApproval => "pending_approval",
            VersionStatus::Approved => "approved",
            VersionStatus::Rejected => "rejected",
            VersionStatus::Superseded => "superseded",
        }
    }
}

impl FromStr for VersionStatus {
    type Err = UnknownVersionStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVersionStatus(s.to_string()))
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for a reviewer.
    Pending,
    /// A reviewer approved the version.
    Approved,
    /// A reviewer refused the version.
    Rejected,
    /// A newer version of the DAG arrived before anyone decided; nothing is left to
    /// approve here.
    Superseded,
}

/// A string that names no [`ApprovalState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown approval state `{0}`; use one of: pending, approved, rejected, superseded")]
pub struct UnknownApprovalState(pub String);

impl ApprovalState {
    pub const ALL: [ApprovalState; 4] = [
        ApprovalState::Pending,
        ApprovalState::Approved,
        ApprovalState::Rejected,
        ApprovalState::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Superseded => "superseded",
        }
    }
}

impl FromStr for ApprovalState {
    type Err = UnknownApprovalState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownApprovalState(s.to_string()))
    }
}

impl fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_display_and_serde() {
        for s in VersionStatus::ALL {
            assert_eq!(s.as_str().parse::<VersionStatus>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in ApprovalState::ALL {
            assert_eq!(s.as_str().parse::<ApprovalState>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(VersionStatus::PendingApproval.as_str(), "pending_approval");
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = "pending".parse::<VersionStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown version status `pending`; use one of: active, pending_approval, approved, rejected, superseded"
        );
        for s in VersionStatus::ALL {
            assert!(err.to_string().contains(s.as_str()), "{err} misses {s}");
        }
        let err = "active".parse::<ApprovalState>().unwrap_err();
        assert!(
            err.to_string()
                .ends_with("use one of: pending, approved, rejected, superseded"),
            "{err}"
        );
        for s in ApprovalState::ALL {
            assert!(err.to_string().contains(s.as_str()), "{err} misses {s}");
        }
    }
}
