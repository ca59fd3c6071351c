//! What a secret is called and how a task refers to one, and a connection's URI as a
//! task receives it (`WEIR_CONN_<ID>`, Airflow's `AIRFLOW_CONN_<ID>` format).
//!
//! A secret lives in its team's namespace: `TEAM/NAME`. A task names a secret of its own
//! team as `NAME` or `TEAM/NAME`; a reference to another team's namespace is refused
//! wherever it is seen (validation, dispatch), never looked up.

use crate::ids::TeamId;
use crate::mask::MIN_SECRET_LEN;

/// The longest secret name.
pub const MAX_NAME_LEN: usize = 128;

/// Checks a secret's name: 1 to 128 of `A-Z a-z 0-9 . _ -`, starting with a letter or
/// digit (names go into paths, URLs and AWS Secrets Manager names unescaped).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "a secret name has 1 to {MAX_NAME_LEN} characters, `{name}` has {}",
            name.len()
        ));
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let all_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !first_ok || !all_ok {
        return Err(format!(
            "`{name}` is not a valid secret name: use letters, digits, `.`, `_` and `-`, starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a value before it is stored: long enough to be masked.
pub fn check_value(value: &str) -> Result<(), String> {
    if value.chars().count() < MIN_SECRET_LEN {
        return Err(format!(
            "a secret value must have at least {MIN_SECRET_LEN} characters: a shorter one \
             could not be masked in logs without masking ordinary text"
        ));
    }
    Ok(())
}

/// The name a task of `team` refers to with `reference` (`NAME` or `TEAM/NAME`), or why
/// it may not: another team's namespace, or not a valid name.
pub fn own_secret<'a>(team: &TeamId, reference: &'a str) -> Result<&'a str, String> {
    let name = match reference.split_once('/') {
        None => reference,
        Some((owner, name)) if owner == team.as_str() => name,
        Some((owner, _)) => {
            return Err(format!(
                "secret `{reference}` belongs to team `{owner}`'s namespace; a task of team \
                 `{team}` may only use its own team's secrets"
            ));
        }
    };
    check_name(name)?;
    Ok(name)
}

/// Words in an `extra` field's name that mark its value as a credential (Airflow's
/// list): such values are sealed at rest, hidden in API answers and masked in logs.
const SENSITIVE_WORDS: [&str; 10] = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "authorization",
    "keyfile_dict",
];

/// Whether a connection's `extra` field named `key` holds a credential.
pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE_WORDS.iter().any(|w| key.contains(w))
}

/// The credentials in a connection's `extra`: the string values of fields named like
/// credentials. What is sealed at rest, hidden in answers and masked in logs.
pub fn extra_credentials(
    extra: &serde_json::Map<String, serde_json::Value>,
) -> impl Iterator<Item = (&str, &str)> {
    extra.iter().filter_map(|(key, value)| match value {
        serde_json::Value::String(v) if is_sensitive_key(key) => Some((key.as_str(), v.as_str())),
        _ => None,
    })
}

/// The environment variable a task gets a connection's URI in: `WEIR_CONN_` and the id
/// upper-cased, other characters than letters and digits as `_`.
pub fn connection_env_name(conn_id: &str) -> String {
    let id: String = conn_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("WEIR_CONN_{id}")
}

/// A connection's fields, as [`connection_uri`] writes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionParts<'a> {
    pub conn_type: &'a str,
    pub host: Option<&'a str>,
    pub port: Option<u16>,
    pub login: Option<&'a str>,
    pub password: Option<&'a str>,
    pub schema: Option<&'a str>,
    pub extra: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

/// A connection as Airflow writes it in `AIRFLOW_CONN_*`:
/// `type://login:password@host:port/schema?extra_key=value`, each part percent-encoded
/// (underscores in the type as dashes, as Airflow does), extra values that are not
/// strings as JSON.
pub fn connection_uri(c: &ConnectionParts<'_>) -> String {
    let mut uri = format!("{}://", c.conn_type.replace('_', "-"));
    if c.login.is_some() || c.password.is_some() {
        uri.push_str(&percent_encode(c.login.unwrap_or("")));
        if let Some(password) = c.password {
            uri.push(':');
            uri.push_str(&percent_encode(password));
        }
        uri.push('@');
    }
    uri.push_str(&percent_encode(c.host.unwrap_or("")));
    if let Some(port) = c.port {
        uri.push_str(&format!(":{port}"));
    }
    if let Some(schema) = c.schema.filter(|s| !s.is_empty()) {
        uri.push('/');
        uri.push_str(&percent_encode(schema));
    }
    if let Some(extra) = c.extra.filter(|e| !e.is_empty()) {
        let query: Vec<String> = extra
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!("{}={}", percent_encode(k), percent_encode(&value))
            })
            .collect();
        uri.push('?');
        uri.push_str(&query.join("&"));
    }
    uri
}

/// Percent-encoding of every byte but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(name: &str) -> TeamId {
        TeamId::new(name).expect("team")
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("redshift-password").is_ok());
        assert!(check_name("a.b_c-1").is_ok());
        for bad in ["", "-x", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_value("abc").is_err());
        assert!(check_value("abcd").is_ok());
    }

    #[test]
    fn a_task_refers_only_to_its_own_team() {
        let growth = team("growth");
        assert_eq!(own_secret(&growth, "db-pw"), Ok("db-pw"));
        assert_eq!(own_secret(&growth, "growth/db-pw"), Ok("db-pw"));
        let err = own_secret(&growth, "finance/db-pw").expect_err("cross-team");
        assert!(
            err.contains("team `finance`") && err.contains("`growth`"),
            "{err}"
        );
        assert!(own_secret(&growth, "growth/a/b").is_err());
    }

    #[test]
    fn connection_uris_are_airflows() {
        let extra = serde_json::json!({"sslmode": "require", "retries": 3});
        let uri = connection_uri(&ConnectionParts {
            conn_type: "postgres",
            host: Some("db.internal"),
            port: Some(5432),
            login: Some("etl"),
            password: Some("p@ss/w:rd"),
            schema: Some("analytics"),
            extra: extra.as_object(),
        });
        assert_eq!(
            uri,
            "postgres://etl:p%40ss%2Fw%3Ard@db.internal:5432/analytics?sslmode=require&retries=3"
        );
        assert_eq!(
            connection_env_name("my-warehouse.1"),
            "WEIR_CONN_MY_WAREHOUSE_1"
        );
        assert!(is_sensitive_key("Api_Key") && is_sensitive_key("refresh_token"));
        assert!(!is_sensitive_key("sslmode"));
        let bare = connection_uri(&ConnectionParts {
            conn_type: "google_cloud_platform",
            ..ConnectionParts::default()
        });
        assert_eq!(bare, "google-cloud-platform://");
    }
}
