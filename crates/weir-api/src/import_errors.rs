//! DAG files that failed to load (`/importErrors`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time;

/// A DAG file that failed to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportError {
    pub import_error_id: i64,
    #[serde(with = "time")]
    pub timestamp: DateTime<Utc>,
    pub filename: String,
    pub stack_trace: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportErrorCollection {
    pub import_errors: Vec<ImportError>,
    pub total_entries: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_airflow_writes_them() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T03:00:00Z")
            .unwrap()
            .to_utc();
        let e = ImportError {
            import_error_id: 1,
            timestamp: t,
            filename: "f.yaml".into(),
            stack_trace: "boom".into(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["timestamp"], "2026-01-01T03:00:00+00:00");
        let back: ImportError = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
