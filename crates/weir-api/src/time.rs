//! The API's date-times: written as Airflow writes them (RFC 3339 with `+00:00`, and
//! microseconds only when there are any, as Python's `isoformat()` does), and read from
//! request bodies and query strings only with a time zone ([`ApiDateTime`]).
//!
//! Use the module itself on a `DateTime<Utc>` field (`#[serde(with = "time")]`) and
//! [`option`] on an optional one.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `2026-01-01T03:00:00+00:00`, or `…03:00:00.250000+00:00` (Python's datetimes have no
/// nanoseconds).
pub fn format(t: &DateTime<Utc>) -> String {
    let precision = if t.nanosecond() / 1000 == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Micros
    };
    t.to_rfc3339_opts(precision, false)
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    DateTime::<Utc>::deserialize(d)
}

/// The same for an optional time (`null` when absent).
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(d)
    }
}

/// Parses an RFC 3339 date-time with a time zone; naive date-times are refused (as
/// Airflow refuses them), because their meaning depends on the server's zone.
pub fn parse_datetime(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            format!(
                "`{s}` is not an RFC 3339 date-time with a time zone, e.g. 2026-01-01T00:00:00Z \
                 or 2026-01-01T03:00:00+01:00"
            )
        })
}

/// A date-time in a request body, parsed by [`parse_datetime`] and written by [`format`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiDateTime(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for ApiDateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_datetime(&s)
            .map(ApiDateTime)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for ApiDateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_airflow_writes_them() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T03:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(format(&t), "2026-01-01T03:00:00+00:00");
        let t = DateTime::parse_from_rfc3339("2026-01-01T03:00:00.25Z")
            .unwrap()
            .to_utc();
        assert_eq!(format(&t), "2026-01-01T03:00:00.250000+00:00");
    }

    #[test]
    fn request_times_need_a_zone() {
        let t: ApiDateTime = serde_json::from_str(r#""2026-01-01T03:00:00+01:00""#).unwrap();
        assert_eq!(format(&t.0), "2026-01-01T02:00:00+00:00");
        let e = serde_json::from_str::<ApiDateTime>(r#""2026-01-01T03:00:00""#).unwrap_err();
        assert!(e.to_string().contains("time zone"), "{e}");
    }
}
