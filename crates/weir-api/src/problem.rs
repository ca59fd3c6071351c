//! The body of every error response: an RFC 7807 problem document, as Airflow sends it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error response (RFC 7807, as Airflow sends it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct Problem {
    /// What went wrong, and what to do about it.
    pub detail: Option<String>,
    /// The HTTP status code.
    pub status: u16,
    /// A short summary of the kind of problem.
    pub title: String,
    /// A link to the kind of problem in Airflow's documentation, or `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
}
