//! The bodies of `POST /pools` and `PATCH /pools/{pool_name}` (Airflow's `Pool`, its
//! writable fields only). What a pool looks like in a response is still the server's
//! `Pool` (moved here with the other response types).

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// A pool as written: all fields are optional here because `PATCH` with an
/// `update_mask` sends only what it changes; `POST`, and `PATCH` without a mask, need
/// `name` and `slots` (as in Airflow).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolBody {
    /// The pool's name; in a `PATCH`, a different name renames the pool (except
    /// `default_pool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many task instances may occupy the pool at once; `-1` for unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<i64>,
    /// `null` clears it; absent keeps it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Whether deferred task instances count against the slots (Weir has no deferred
    /// state; the flag is stored and shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_deferred: Option<bool>,
}

/// A field that is present (even as `null`) is `Some`; `#[serde(default)]` makes an
/// absent one `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl PoolBody {
    /// The writable fields, by their names in an `update_mask`.
    pub const FIELDS: [&'static str; 4] = ["name", "slots", "description", "include_deferred"];

    /// Whether the body holds `field` (one of [`Self::FIELDS`]).
    pub fn has(&self, field: &str) -> bool {
        match field {
            "name" => self.name.is_some(),
            "slots" => self.slots.is_some(),
            "description" => self.description.is_some(),
            "include_deferred" => self.include_deferred.is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case
mod tests {
    use super::*;

    #[test]
    fn null_and_absent_descriptions_differ() {
        let cleared: PoolBody = serde_json::from_str(r#"{"description": null}"#).unwrap();
        assert_eq!(cleared.description, Some(None));
        let kept: PoolBody = serde_json::from_str(r#"{"slots": 3}"#).unwrap();
        assert_eq!((kept.description, kept.slots), (None, Some(3)));
        assert!(serde_json::from_str::<PoolBody>(r#"{"open_slots": 3}"#).is_err());
    }
}
