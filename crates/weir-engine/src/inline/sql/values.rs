//! Between JSON and PostgreSQL values: parameters bound from JSON, and rows read into
//! JSON objects by column name.
//!
//! Rows of the simple protocol come as text and are read by their column's type;
//! rows of the extended protocol (a query with parameters) come in binary and are
//! decoded by type. `numeric` becomes a JSON number when it has at most 15 significant
//! digits (what a double holds exactly), else a string, so no digit is lost silently.
//! A type with no JSON form fails the try, naming the column and suggesting a cast.

use serde_json::{Map, Number, Value};
use sqlx::postgres::{PgArguments, PgRow, PgValueFormat, PgValueRef};
use sqlx::query::Query;
use sqlx::{Column, Decode, Postgres, Row, TypeInfo, ValueRef};

/// `query` with `value` bound as its next parameter.
pub(super) fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    value: &Value,
) -> Query<'q, Postgres, PgArguments> {
    match value {
        Value::Bool(b) => query.bind(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => query.bind(i),
            None => query.bind(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => query.bind(s.clone()),
        // The reader lets only scalars through; anything else binds as its JSON text.
        Value::Null => query.bind(None::<String>),
        other => query.bind(other.to_string()),
    }
}

/// One row as a JSON object.
pub(crate) fn row_json(row: &PgRow) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let raw = row
            .try_get_raw(i)
            .map_err(|e| format!("cannot read column `{}`: {e}", column.name()))?;
        let type_name = raw.type_info().name().to_ascii_uppercase();
        let value = if raw.is_null() {
            Some(Value::Null)
        } else {
            match raw.format() {
                PgValueFormat::Text => raw.as_str().ok().map(|text| from_text(&type_name, text)),
                PgValueFormat::Binary => from_binary(&type_name, raw),
            }
        };
        let value = value.ok_or_else(|| {
            format!(
                "column `{}` has type {type_name}, which Weir cannot turn into JSON: cast it in the query (e.g. `{}::text`)",
                column.name(),
                column.name()
            )
        })?;
        out.insert(column.name().to_string(), value);
    }
    Ok(out)
}

/// A value PostgreSQL sent as text.
fn from_text(type_name: &str, text: &str) -> Value {
    match type_name {
        "BOOL" => Value::Bool(text == "t"),
        "INT2" | "INT4" | "INT8" | "OID" => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.into()), Value::from),
        "FLOAT4" | "FLOAT8" | "NUMERIC" => numeric(text),
        "JSON" | "JSONB" => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))
        }
        _ => Value::String(text.into()),
    }
}

/// A value PostgreSQL sent in binary; `None` for a type without a JSON form here.
fn from_binary(type_name: &str, raw: PgValueRef<'_>) -> Option<Value> {
    fn decode<'r, T: Decode<'r, Postgres>>(raw: PgValueRef<'r>) -> Option<T> {
        T::decode(raw).ok()
    }
    Some(match type_name {
        "BOOL" => Value::Bool(decode(raw)?),
        "INT2" => Value::from(decode::<i16>(raw)?),
        "INT4" => Value::from(decode::<i32>(raw)?),
        "INT8" => Value::from(decode::<i64>(raw)?),
        "FLOAT4" => float(f64::from(decode::<f32>(raw)?)),
        "FLOAT8" => float(decode::<f64>(raw)?),
        "NUMERIC" => numeric(&numeric_text(raw.as_bytes().ok()?)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" | "UNKNOWN" => {
            Value::String(decode(raw)?)
        }
        "JSON" | "JSONB" => decode::<sqlx::types::Json<Value>>(raw)?.0,
        "TIMESTAMPTZ" => Value::String(
            decode::<chrono::DateTime<chrono::Utc>>(raw)?
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        "TIMESTAMP" => Value::String(decode::<chrono::NaiveDateTime>(raw)?.to_string()),
        "DATE" => Value::String(decode::<chrono::NaiveDate>(raw)?.to_string()),
        "TIME" => Value::String(decode::<chrono::NaiveTime>(raw)?.to_string()),
        _ => return None,
    })
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
}

/// A decimal text as a JSON number when a double holds it exactly, else as a string.
fn numeric(text: &str) -> Value {
    let significant = text
        .chars()
        .filter(char::is_ascii_digit)
        .skip_while(|c| *c == '0')
        .count();
    match text.parse::<f64>() {
        Ok(f) if significant <= 15 && f.is_finite() => float(f),
        _ => Value::String(text.into()),
    }
}

/// The decimal text of a binary `numeric`: digits in base 10000 with a weight (the
/// power of 10000 of the first), a sign and a display scale.
fn numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = usize::from(word(6)?);
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Option<_>>()?;
    // Digit `i` stands for digits[i] * 10000^(weight - i).
    let digit = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut int = String::new();
    for i in 0..=weight {
        if int.is_empty() {
            int = digit(i).to_string();
        } else {
            int.push_str(&format!("{:04}", digit(i)));
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let mut i = weight + 1;
    while frac.len() < dscale {
        frac.push_str(&format!("{:04}", digit(i)));
        i += 1;
    }
    frac.truncate(dscale);
    let minus = if sign == 0x4000 { "-" } else { "" };
    Some(if frac.is_empty() {
        format!("{minus}{int}")
    } else {
        format!("{minus}{int}.{frac}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [digits.len() as u16, weight as u16, sign, dscale] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn binary_numerics_read_as_postgres_prints_them() {
        let text = |w, s, d, digits: &[u16]| numeric_text(&encode(w, s, d, digits));
        assert_eq!(text(0, 0, 2, &[12, 3400]).as_deref(), Some("12.34"));
        assert_eq!(text(1, 0x4000, 0, &[1, 2]).as_deref(), Some("-10002"));
        assert_eq!(text(-1, 0, 4, &[5]).as_deref(), Some("0.0005"));
        assert_eq!(text(-2, 0, 8, &[12]).as_deref(), Some("0.00000012"));
        assert_eq!(text(0, 0, 0, &[]).as_deref(), Some("0"));
        assert_eq!(text(0, 0xC000, 0, &[]).as_deref(), Some("NaN"));
        assert_eq!(numeric_text(&[0, 1]), None, "truncated input");
    }

    #[test]
    fn numerics_stay_exact() {
        assert_eq!(numeric("12.50"), serde_json::json!(12.5));
        assert_eq!(numeric("0.001"), serde_json::json!(0.001));
        let big = "12345678901234567890.5";
        assert_eq!(numeric(big), Value::String(big.into()));
        assert_eq!(numeric("NaN"), Value::String("NaN".into()));
        assert_eq!(from_text("INT8", "42"), serde_json::json!(42));
        assert_eq!(from_text("BOOL", "t"), Value::Bool(true));
        assert_eq!(
            from_text("JSONB", r#"{"a":1}"#),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            from_text("DATE", "2026-01-01"),
            serde_json::json!("2026-01-01")
        );
    }
}
