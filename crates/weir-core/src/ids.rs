//! Typed identifiers: DAG, task and run ids, so a task id can never be passed where a
//! DAG id is expected, and every id is checked against one rule in one place.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Longest id Weir accepts (Airflow's limit for DAG and task ids).
pub const MAX_ID_LEN: usize = 250;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("an id may not be empty")]
    Empty,
    #[error("an id may be at most {MAX_ID_LEN} characters long, this one has {0}")]
    TooLong(usize),
    #[error("`{0}` may not appear in an id: use letters, digits, `_`, `.` and `-`")]
    BadChar(char),
}

/// Checks `s` against the id rule: `[A-Za-z0-9_.-]{1,250}`.
pub fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(IdError::BadChar(c));
    }
    let len = s.chars().count();
    if len > MAX_ID_LEN {
        return Err(IdError::TooLong(len));
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                ($check)(&s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        // An id reads as the string it is (it can only be built checked, never changed).
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        // Hash, Eq and Ord are the string's, so maps keyed by the id can be looked up
        // with a `&str`.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
        // The id's schema is exactly a string's: DAG files and stored versions hold the
        // plain string, and `weir dags schema` must not change when a field is typed.
        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                String::inline_schema()
            }
            fn schema_name() -> Cow<'static, str> {
                String::schema_name()
            }
            fn schema_id() -> Cow<'static, str> {
                String::schema_id()
            }
            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                String::json_schema(generator)
            }
        }
    };
}

string_id!(
    /// A DAG's id (`dag:` in its file).
    DagId,
    check_id
);
string_id!(
    /// A task's id within its DAG (its key under `tasks:`).
    TaskId,
    check_id
);
string_id!(
    /// A team's id (`team:` in a DAG file).
    TeamId,
    check_id
);
string_id!(
    /// A DAG run's id, unique within its DAG, e.g. `scheduled__2026-01-01T03:00:00+00:00`.
    /// Airflow's run ids hold `:` and `+`, so they follow a looser rule than DAG ids.
    RunId,
    check_run_id
);

/// Run ids may also hold `:`, `+` and `~`-free punctuation Airflow puts in them.
fn check_run_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '+')))
    {
        return Err(IdError::BadChar(c));
    }
    let len = s.chars().count();
    if len > MAX_ID_LEN {
        return Err(IdError::TooLong(len));
    }
    Ok(())
}

/// The map index of a task instance: `-1` for an unmapped task (Airflow's convention),
/// `0..n` for the instances a `for_each` fans out to.
pub type MapIndex = i32;

/// Map index of a task that is not mapped.
pub const UNMAPPED: MapIndex = -1;

/// One-based number of a try of a task instance.
pub type TryNumber = u32;

/// The stable identity of one try: the name a backend gives the job it runs, so that after
/// a crash the engine finds (adopts) the job instead of starting it twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TryKey {
    pub dag_id: DagId,
    pub run_id: RunId,
    pub task_id: TaskId,
    pub map_index: MapIndex,
    pub try_number: TryNumber,
}

impl TryKey {
    /// A file-system- and container-name-safe rendering of the key: only
    /// `[A-Za-z0-9_.-]`, unique per try.
    pub fn slug(&self) -> String {
        let run: String = self
            .run_id
            .as_str()
            .chars()
            .map(|c| if matches!(c, ':' | '+') { '_' } else { c })
            .collect();
        format!(
            "{}.{}.{}.{}.{}",
            self.dag_id, run, self.task_id, self.map_index, self.try_number
        )
    }
}

impl fmt::Display for TryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}[{}]#{}",
            self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_rule() {
        assert!(DagId::new("daily_revenue-v1.2").is_ok());
        assert_eq!(DagId::new(""), Err(IdError::Empty));
        assert_eq!(TaskId::new("a b"), Err(IdError::BadChar(' ')));
        assert_eq!(TaskId::new("x".repeat(251)), Err(IdError::TooLong(251)));
        assert!(TaskId::new("x".repeat(250)).is_ok());
        assert!(RunId::new("scheduled__2026-01-01T03:00:00+00:00").is_ok());
        assert_eq!(RunId::new("a/b"), Err(IdError::BadChar('/')));
    }

    #[test]
    fn ids_serialize_and_describe_themselves_as_plain_strings() {
        // DAG versions are stored (and hashed) as JSON, and `weir dags schema` is derived
        // from the model: a typed id must look exactly like the string it replaced.
        let id = TaskId::new("extract").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"extract\"");
        let map: indexmap::IndexMap<TaskId, u8> = serde_json::from_str(r#"{"a":1}"#).unwrap();
        assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"a":1}"#);
        assert!(serde_json::from_str::<TaskId>("\"a b\"").is_err());
        assert_eq!(schemars::schema_for!(DagId), schemars::schema_for!(String));
        assert_eq!(
            schemars::schema_for!(indexmap::IndexMap<TaskId, u8>),
            schemars::schema_for!(indexmap::IndexMap<String, u8>)
        );
        assert_eq!(map.get("a"), Some(&1));
    }

    #[test]
    fn try_slug_is_safe() {
        let key = TryKey {
            dag_id: DagId::new("d").unwrap(),
            run_id: RunId::new("manual__2026-01-01T00:00:00+00:00").unwrap(),
            task_id: TaskId::new("t").unwrap(),
            map_index: 3,
            try_number: 2,
        };
        let slug = key.slug();
        assert!(
            slug.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        );
        assert_eq!(slug, "d.manual__2026-01-01T00_00_00_00_00.t.3.2");
    }
}
