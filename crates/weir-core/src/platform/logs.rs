//! The `[logs]` table beyond the size cap: where finished tries' logs are archived
//! (`store = "s3://bucket/prefix"`, with `endpoint`, `region` and `credentials_secret`),
//! how long logs are kept (`retention`), and the object key of a try's log, so the layout
//! (one folder per team, for per-team bucket policies) is declared in one place.
//!
//! Credentials never appear in `weir.toml`: an access key pair is a secret named as
//! `team/name` (`credentials_secret`), or comes from the server's environment.

use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::LogSettings;
use super::read::{EntryPos, entry, refuse_clear_credentials};
use crate::ids::TryKey;
use crate::spec::diagnostic::{Diagnostic, Pos};

/// The shortest `retention` accepted. Short values are for tests; a platform keeps
/// logs for days.
pub const MIN_LOG_RETENTION: Duration = Duration::from_secs(1);

/// Keys someone may write to put a credential in the file itself; each is refused with
/// `credentials_secret` instead.
const CLEAR_CREDENTIAL_KEYS: [&str; 6] = [
    "access_key_id",
    "secret_access_key",
    "session_token",
    "aws_access_key_id",
    "aws_secret_access_key",
    "password",
];

/// Where archived logs go: a bucket and a key prefix (no leading or trailing `/`; empty
/// for the bucket's root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStoreUrl {
    pub bucket: String,
    pub prefix: String,
}

impl LogStoreUrl {
    /// Reads `s3://bucket/prefix`; the error says what is wrong and what to write.
    pub fn parse(url: &str) -> Result<LogStoreUrl, String> {
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(format!(
                "`store` must be an S3 URL such as \"s3://bucket/prefix\", found `{url}`"
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        bucket_problem(bucket)?;
        let prefix = prefix.trim_matches('/');
        for part in prefix.split('/').filter(|_| !prefix.is_empty()) {
            if part.is_empty() || part == "." || part == ".." {
                return Err(format!(
                    "the prefix of `store` may not hold empty, `.` or `..` parts, found `{prefix}`"
                ));
            }
            if part.chars().any(|c| c.is_control() || c == '\\') {
                return Err(format!(
                    "the prefix of `store` may not hold control characters or `\\`, found `{prefix}`"
                ));
            }
        }
        Ok(LogStoreUrl {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The object key of a try's log: `<prefix>/<team>/<dag>/<run>/<task>/<map index>/<try>.log`.
    /// The team comes first so a bucket policy can grant each team its own folder.
    pub fn key(&self, team: &str, key: &TryKey) -> String {
        let tail = format!(
            "{team}/{}/{}/{}/{}/{}.log",
            key.dag_id, key.run_id, key.task_id, key.map_index, key.try_number
        );
        if self.prefix.is_empty() {
            tail
        } else {
            format!("{}/{tail}", self.prefix)
        }
    }

    /// The location of `key` as recorded for a try: `s3://bucket/key`.
    pub fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The object key of a recorded `location`, when it is in this bucket.
    pub fn key_of<'a>(&self, location: &'a str) -> Option<&'a str> {
        location
            .strip_prefix("s3://")?
            .strip_prefix(self.bucket.as_str())?
            .strip_prefix('/')
    }
}

/// S3's rules for a bucket name: 3 to 63 lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit.
fn bucket_problem(bucket: &str) -> Result<(), String> {
    let ok_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ok_ends = bucket
        .chars()
        .next()
        .zip(bucket.chars().last())
        .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
    if (3..=63).contains(&bucket.len()) && ok_chars && ok_ends {
        Ok(())
    } else {
        Err(format!(
            "`{bucket}` is not a bucket name: 3 to 63 lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit"
        ))
    }
}

impl LogSettings {
    /// Where logs are archived, when `store` is set (and valid).
    pub fn store_url(&self) -> Option<LogStoreUrl> {
        LogStoreUrl::parse(self.store.as_deref()?).ok()
    }

    /// What is wrong with the settings, each with the key it is about; `teams` are the
    /// teams `[[teams]]` declares, which `credentials_secret` must name.
    pub fn problems(&self, teams: &[&str]) -> Vec<(&'static str, Diagnostic)> {
        let mut out = Vec::new();
        let mut error = |key, message: String, help: Option<&str>| {
            let d = Diagnostic::error(Pos::new(1, 1), format!("[logs] {message}"));
            out.push((
                key,
                match help {
                    Some(h) => d.with_help(h),
                    None => d,
                },
            ));
        };
        if let Some(store) = &self.store
            && let Err(e) = LogStoreUrl::parse(store)
        {
            error("store", e, None);
        }
        if let Some(endpoint) = &self.endpoint {
            let host = endpoint
                .strip_prefix("http://")
                .or_else(|| endpoint.strip_prefix("https://"));
            if host.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
                error(
                    "endpoint",
                    format!("`endpoint` must be an http:// or https:// URL, found `{endpoint}`"),
                    Some(
                        "leave it out for AWS itself; give it for another S3 service, e.g. \"https://minio.internal:9000\"",
                    ),
                );
            } else if endpoint.contains('@') {
                error(
                    "endpoint",
                    "`endpoint` may not hold credentials".into(),
                    Some("name a secret with `credentials_secret = \"team/name\"`"),
                );
            }
        }
        if let Some(region) = &self.region
            && (region.is_empty() || region.chars().any(|c| c.is_whitespace()))
        {
            error(
                "region",
                format!("`region` must be a region name such as \"eu-west-1\", found `{region}`"),
                None,
            );
        }
        if let Some(reference) = &self.credentials_secret
            && let Some(p) =
                super::repository::secret_problem("credentials_secret", reference, teams)
        {
            error(p.key, p.message, p.help.as_deref());
        }
        if let Some(retention) = self.retention
            && retention.0 < MIN_LOG_RETENTION
        {
            error(
                "retention",
                format!(
                    "`retention` must be at least 1s, found {}",
                    crate::duration::format_duration(retention.0)
                ),
                Some("write e.g. \"30d\"; leave it out to keep logs forever"),
            );
        }
        if self.store.is_none() {
            for key in ["endpoint", "region", "credentials_secret"] {
                let given = match key {
                    "endpoint" => self.endpoint.is_some(),
                    "region" => self.region.is_some(),
                    _ => self.credentials_secret.is_some(),
                };
                if given {
                    let d = Diagnostic::warning(
                        Pos::new(1, 1),
                        format!("[logs] `{key}` has no effect without `store`"),
                    )
                    .with_help("set `store = \"s3://bucket/prefix\"` to archive logs there");
                    out.push((key, d));
                }
            }
        }
        out
    }
}

/// The `[logs]` table, and where its keys are. A credential written in clear is refused
/// with `credentials_secret` named instead, rather than as a mere unknown key.
pub(super) fn logs_section(
    key_pos: Pos,
    value: &Spanned<DeValue<'_>>,
    source: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(LogSettings, EntryPos)> {
    let mut value = value.clone();
    let help = "put the key pair in a secret (JSON with `access_key_id` and `secret_access_key`) and name it with credentials_secret = \"team/name\", or give the server AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    refuse_clear_credentials(
        "logs",
        CLEAR_CREDENTIAL_KEYS.map(|key| (key, help.to_string())),
        &mut value,
        source,
        diags,
    );
    let logs = entry::<LogSettings>(&value, "[logs] table", source, diags)?;
    let mut at = EntryPos::of(&value, source);
    at.pos = key_pos;
    Some((logs, at))
}

/// The `[logs]` table's problems, each at the key it is about.
pub(super) fn validate(
    logs: &LogSettings,
    at: Option<&EntryPos>,
    teams: &[&str],
    diags: &mut Vec<Diagnostic>,
) {
    for (key, mut d) in logs.problems(teams) {
        d.pos = at.map_or(Pos::new(1, 1), |at| at.key(key));
        diags.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{DagId, RunId, TaskId};

    #[test]
    fn store_urls_name_a_bucket_and_a_prefix() {
        let url = LogStoreUrl::parse("s3://weir-logs/prod/tries/").expect("valid");
        assert_eq!(url.bucket, "weir-logs");
        assert_eq!(url.prefix, "prod/tries");
        assert_eq!(
            LogStoreUrl::parse("s3://weir-logs").expect("valid").prefix,
            ""
        );
        for bad in [
            "weir-logs",
            "https://weir-logs/x",
            "s3://",
            "s3://Weir_Logs/x",
            "s3://ab",
            "s3://logs-/x",
            "s3://logs/a//b",
            "s3://logs/a/../b",
        ] {
            assert!(LogStoreUrl::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn a_trys_key_starts_with_its_team() {
        let url = LogStoreUrl::parse("s3://weir-logs/prod").expect("valid");
        let key = TryKey {
            dag_id: DagId::new("etl").expect("id"),
            run_id: RunId::new("manual__1").expect("id"),
            task_id: TaskId::new("load").expect("id"),
            map_index: -1,
            try_number: 2,
        };
        let object = url.key("growth", &key);
        assert_eq!(object, "prod/growth/etl/manual__1/load/-1/2.log");
        let location = url.location(&object);
        assert_eq!(
            location,
            "s3://weir-logs/prod/growth/etl/manual__1/load/-1/2.log"
        );
        assert_eq!(url.key_of(&location), Some(object.as_str()));
        assert_eq!(url.key_of("s3://other/prod/x.log"), None);
        let root = LogStoreUrl::parse("s3://weir-logs").expect("valid");
        assert_eq!(
            root.key("growth", &key),
            "growth/etl/manual__1/load/-1/2.log"
        );
    }

    #[test]
    fn the_table_is_read_and_each_problem_is_located() {
        let src = "[[teams]]\nname = \"platform\"\n\n[logs]\nstore = \"s3://weir-logs/prod\"\nendpoint = \"http://127.0.0.1:5000\"\nregion = \"us-east-1\"\ncredentials_secret = \"platform/log-store\"\nretention = \"30d\"\n";
        let report = crate::platform::parse(src);
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
        let logs = report.config.expect("config").logs;
        assert_eq!(
            logs.store_url(),
            Some(LogStoreUrl {
                bucket: "weir-logs".into(),
                prefix: "prod".into()
            })
        );
        assert_eq!(logs.retention.map(|r| r.0.as_secs()), Some(30 * 86_400));
        assert_eq!(
            logs.credentials_secret.as_deref(),
            Some("platform/log-store")
        );

        let bad = "[logs]\nstore = \"weir-logs\"\nretention = \"0s\"\ncredentials_secret = \"nobody/x\"\nsecret_access_key = \"abc\"\nendpoint = \"ftp://x\"\n";
        let report = crate::platform::parse(bad);
        assert!(report.config.is_none());
        let found: Vec<(u32, &str)> = report
            .diagnostics
            .iter()
            .map(|d| (d.pos.line, d.message.as_str()))
            .collect();
        for (line, words) in [
            (2, "`store` must be an S3 URL"),
            (3, "`retention` must be at least 1s"),
            (4, "names team `nobody`"),
            (5, "credential in clear (`secret_access_key`)"),
            (6, "`endpoint` must be an http:// or https:// URL"),
        ] {
            assert!(
                found.iter().any(|(l, m)| *l == line && m.contains(words)),
                "no `{words}` at line {line}: {found:?}"
            );
        }
        let unused = crate::platform::parse("[logs]\nregion = \"eu-west-1\"\n");
        assert!(unused.config.is_some());
        assert!(
            unused.diagnostics[0]
                .message
                .contains("no effect without `store`"),
            "{:?}",
            unused.diagnostics
        );
    }
}
