//! `GET /dagSources/{file_token}`: the text of a DAG's file, and the token that names it.
//!
//! A file token names a registered DAG, never a path: it is the DAG id, hex-encoded. The
//! server answers with the text it stored when it last read that DAG's file, so no token
//! can make it read a file from disk, let alone one that is not a DAG file.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The file's text as Weir stored it when it last read the file (the current version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DagSource {
    pub content: String,
}

/// The `file_token` of DAG `dag_id` (Airflow's DAG field of that name).
pub fn file_token(dag_id: &str) -> String {
    dag_id.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The DAG id a `file_token` names; `None` for anything [`file_token`] never makes.
pub fn token_dag_id(token: &str) -> Option<String> {
    if token.is_empty() || !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            let pair = token.get(i..i + 2)?;
            // Lower-case only, so every DAG has exactly one token.
            if pair.bytes().any(|c| c.is_ascii_uppercase()) {
                return None;
            }
            u8::from_str_radix(pair, 16).ok()
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_the_rest() {
        let token = file_token("hello_world");
        assert_eq!(token, "68656c6c6f5f776f726c64");
        assert_eq!(token_dag_id(&token).as_deref(), Some("hello_world"));
        for bad in ["", "6", "zz", "68656C", "../etc", "ff"] {
            assert_eq!(token_dag_id(bad), None, "{bad}");
        }
    }
}
