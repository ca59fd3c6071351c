//! Small SQL helpers shared by every entity module: the dialect switch, the timestamp
//! column type, and conversions between Rust's integer and id types and the columns.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};

/// Which SQL dialect a query is for, where the two differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A sub-select yielding the text elements of the JSON array bound at `param` (e.g.
    /// `$2`), for `col IN (…)` filters over a list of any length with one bind.
    pub(crate) fn json_text_elements(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("(SELECT value FROM json_each({param}))"),
            Dialect::Postgres => format!("(SELECT jsonb_array_elements_text({param}))"),
        }
    }
}

/// A timestamp column: `TIMESTAMPTZ` on PostgreSQL, fixed-width UTC text
/// (`2026-01-01T03:00:00.000000Z`) on SQLite, so that text order is time order. Both keep
/// microseconds; finer digits are truncated on write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ts(pub DateTime<Utc>);

impl Ts {
    /// Truncates to whole microseconds, the precision both databases keep.
    pub(crate) fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
        let nanos = t.nanosecond();
        t.with_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
    }

    fn to_sqlite_text(self) -> String {
        Self::micros(self.0).to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// Wraps an optional time for binding.
pub(crate) fn ts(t: Option<DateTime<Utc>>) -> Option<Ts> {
    t.map(Ts)
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.to_sqlite_text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        let t = DateTime::parse_from_rfc3339(text)
            .map_err(|e| format!("bad timestamp `{text}`: {e}"))?;
        Ok(Ts(t.with_timezone(&Utc)))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode(Self::micros(self.0), buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts(<DateTime<Utc> as Decode<Postgres>>::decode(value)?))
    }
}

/// A decode error for column `col`.
pub(crate) fn column_error(col: &str, detail: impl Display) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.to_string(),
        source: detail.to_string().into(),
    }
}

/// Parses a text column into a typed id or state.
pub(crate) fn parse_col<T>(col: &str, text: String) -> Result<T, sqlx::Error>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse::<T>()
        .map_err(|e| column_error(col, format!("`{text}`: {e}")))
}

/// Narrows an integer column into the record's integer type.
pub(crate) fn int_col<T>(col: &str, v: i64) -> Result<T, sqlx::Error>
where
    T: TryFrom<i64>,
{
    T::try_from(v).map_err(|_| column_error(col, format!("{v} is out of range")))
}

/// Narrows an optional integer column.
pub(crate) fn opt_int_col<T>(col: &str, v: Option<i64>) -> Result<Option<T>, sqlx::Error>
where
    T: TryFrom<i64>,
{
    v.map(|v| int_col(col, v)).transpose()
}

/// An unsigned 64-bit quantity as a signed column value, saturating (no byte count or
/// duration Weir records comes near 2^63).
pub(crate) fn u64_to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The JSON text of a list of states, for binding to [`Dialect::json_text_elements`].
pub(crate) fn json_list<T: Display>(items: &[T]) -> sqlx::types::Json<Vec<String>> {
    sqlx::types::Json(items.iter().map(ToString::to_string).collect())
}

/// Checks a page request: both databases must see the same thing, and they disagree on
/// negative values (SQLite: no limit; PostgreSQL: an error).
pub(crate) fn check_page(limit: i64, offset: i64) -> Result<(), crate::StoreError> {
    if limit < 0 || offset < 0 {
        return Err(crate::StoreError::InvalidInput {
            what: "page",
            detail: format!("limit {limit} and offset {offset} may not be negative"),
        });
    }
    Ok(())
}
