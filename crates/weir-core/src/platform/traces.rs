//! The `[tracing]` table: where Weir sends its traces (OpenTelemetry, OTLP over HTTP),
//! and the checks that keep a typo in the endpoint from being found only when the first
//! export fails.
//!
//! Export is off unless the table is there. The headers may hold a collector's API key:
//! they are the server's alone (never a try's, never shown by `GET /config`), and this
//! type's `Debug` does not print their values.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::problem::KeyProblem;

/// The service name spans carry when the table gives none.
pub const DEFAULT_SERVICE_NAME: &str = "weir";
/// The path OTLP/HTTP receivers take traces on, added to an endpoint that lacks it.
pub const OTLP_TRACES_PATH: &str = "/v1/traces";

/// The `[tracing]` table.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TracingSettings {
    /// The collector's OTLP/HTTP endpoint, e.g. `"http://otel-collector:4318"`; spans
    /// are posted (protobuf) to its `/v1/traces`, added when the URL does not end with it.
    pub otlp_endpoint: String,
    /// HTTP headers sent with every export, e.g. a vendor's API key.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The `service.name` of Weir's spans (default `weir`).
    #[serde(default = "default_service_name")]
    pub service_name: String,
}

fn default_service_name() -> String {
    DEFAULT_SERVICE_NAME.to_string()
}

impl fmt::Debug for TracingSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may be credentials: only their names are printed.
        f.debug_struct("TracingSettings")
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("service_name", &self.service_name)
            .finish()
    }
}

impl TracingSettings {
    /// The URL spans are posted to: the endpoint, with `/v1/traces` added unless it
    /// already ends with it.
    pub fn traces_url(&self) -> String {
        let endpoint = self.otlp_endpoint.trim();
        if endpoint.trim_end_matches('/').ends_with(OTLP_TRACES_PATH) {
            return endpoint.to_string();
        }
        format!("{}{OTLP_TRACES_PATH}", endpoint.trim_end_matches('/'))
    }

    /// What is wrong with the settings.
    pub fn problems(&self) -> Vec<KeyProblem> {
        let mut out = Vec::new();
        if let Err(problem) = check_endpoint(&self.otlp_endpoint) {
            out.push(problem);
        }
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                out.push(
                    KeyProblem::new(
                        "headers",
                        format!("header name `{name}` is not a valid HTTP header name"),
                    )
                    .help("use letters, digits and `-`, e.g. \"x-api-key\""),
                );
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                out.push(KeyProblem::new(
                    "headers",
                    format!("the value of header `{name}` may not hold control characters (such as a line break)"),
                ));
            }
        }
        if self.service_name.trim().is_empty() {
            out.push(
                KeyProblem::new("service_name", "`service_name` may not be empty")
                    .help(format!("leave it out for \"{DEFAULT_SERVICE_NAME}\"")),
            );
        }
        out
    }
}

/// An `http://` or `https://` URL with a host and no credentials in it.
fn check_endpoint(endpoint: &str) -> Result<(), KeyProblem> {
    let example = "write the collector's OTLP/HTTP URL, e.g. \"http://otel-collector:4318\"";
    let url = endpoint.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(KeyProblem::new(
            "otlp_endpoint",
            format!("`otlp_endpoint` must be an http:// or https:// URL, found `{endpoint}`"),
        )
        .help(example));
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        let help = if scheme.eq_ignore_ascii_case("grpc") {
            "Weir exports OTLP over HTTP (port 4318 by default), not gRPC".to_string()
        } else {
            example.to_string()
        };
        return Err(KeyProblem::new(
            "otlp_endpoint",
            format!("`otlp_endpoint` must be an http:// or https:// URL, found scheme `{scheme}`"),
        )
        .help(help));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(KeyProblem::new(
            "otlp_endpoint",
            "`otlp_endpoint` may not hold spaces or control characters",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if authority.contains('@') {
        return Err(KeyProblem::new(
            "otlp_endpoint",
            "`otlp_endpoint` may not hold credentials (a user name or password before `@`)",
        )
        .help("send a key in `headers`, e.g. headers = { \"x-api-key\" = \"…\" }"));
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| !port.contains(']'))
        .map_or(authority, |(host, _)| host);
    if host.is_empty() {
        return Err(KeyProblem::new(
            "otlp_endpoint",
            format!("`otlp_endpoint` names no host, found `{endpoint}`"),
        )
        .help(example));
    }
    if let Some((_, port)) = authority.rsplit_once(':').filter(|(_, p)| !p.contains(']'))
        && port.parse::<u16>().is_err()
    {
        return Err(KeyProblem::new(
            "otlp_endpoint",
            format!("`otlp_endpoint` has port `{port}`, which is no port number"),
        )
        .help(example));
    }
    Ok(())
}

/// A character HTTP allows in a header name (RFC 9110 `tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str) -> TracingSettings {
        TracingSettings {
            otlp_endpoint: endpoint.into(),
            headers: BTreeMap::new(),
            service_name: DEFAULT_SERVICE_NAME.into(),
        }
    }

    #[test]
    fn the_traces_path_is_added_once() {
        for (endpoint, url) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            (
                "https://otlp.example.com/v1/traces",
                "https://otlp.example.com/v1/traces",
            ),
            (
                "https://otlp.example.com/tenant-a",
                "https://otlp.example.com/tenant-a/v1/traces",
            ),
        ] {
            assert_eq!(settings(endpoint).traces_url(), url, "{endpoint}");
            assert!(settings(endpoint).problems().is_empty(), "{endpoint}");
        }
    }

    #[test]
    fn bad_endpoints_headers_and_names_are_problems() {
        for (endpoint, says) in [
            ("collector:4318", "must be an http:// or https:// URL"),
            ("grpc://collector:4317", "found scheme `grpc`"),
            ("http://", "names no host"),
            ("http://:4318", "names no host"),
            ("http://collector:43x8", "no port number"),
            ("http://user:key@collector:4318", "may not hold credentials"),
            ("http://collector 4318", "spaces"),
        ] {
            let problems = settings(endpoint).problems();
            assert_eq!(problems.len(), 1, "{endpoint}: {problems:?}");
            assert_eq!(problems[0].key, "otlp_endpoint");
            assert!(
                problems[0].message.contains(says),
                "{endpoint}: {problems:?}"
            );
        }
        assert!(settings("http://[::1]:4318").problems().is_empty());
        let mut s = settings("http://collector:4318");
        s.headers.insert("x api key".into(), "k".into());
        s.headers.insert("x-ok".into(), "line\nbreak".into());
        s.service_name = " ".into();
        let keys: Vec<&str> = s.problems().iter().map(|p| p.key).collect();
        assert_eq!(keys, ["headers", "headers", "service_name"]);
    }

    #[test]
    fn debug_never_prints_header_values() {
        let mut s = settings("http://collector:4318");
        s.headers
            .insert("x-api-key".into(), "secret-key-123".into());
        let shown = format!("{s:?}");
        assert!(shown.contains("x-api-key"), "{shown}");
        assert!(!shown.contains("secret-key-123"), "{shown}");
    }
}

#[cfg(test)]
mod read_tests {
    use crate::platform::parse;

    #[test]
    fn the_table_is_read_with_its_defaults_and_off_without_it() {
        assert_eq!(parse("").config.expect("config").tracing, None);
        let src = "[tracing]\notlp_endpoint = \"http://127.0.0.1:4318\"\n";
        let t = parse(src).config.expect("config").tracing.expect("tracing");
        assert_eq!(t.service_name, "weir");
        assert!(t.headers.is_empty());
        assert_eq!(t.traces_url(), "http://127.0.0.1:4318/v1/traces");
        let src = "[tracing]\notlp_endpoint = \"https://otlp.example.com\"\nservice_name = \"weir-prod\"\nheaders = { \"x-api-key\" = \"k\" }\n";
        let t = parse(src).config.expect("config").tracing.expect("tracing");
        assert_eq!(t.service_name, "weir-prod");
        assert_eq!(t.headers.get("x-api-key").map(String::as_str), Some("k"));
    }

    #[test]
    fn problems_are_located_at_their_key() {
        let src = "[[teams]]\nname = \"t\"\n\n[tracing]\nservice_name = \"x\"\notlp_endpoint = \"localhost:4318\"\n";
        let report = parse(src);
        assert!(report.config.is_none());
        let d: Vec<(u32, &str)> = report
            .diagnostics
            .iter()
            .map(|d| (d.pos.line, d.message.as_str()))
            .collect();
        assert_eq!(
            d,
            [(
                6,
                "[tracing] `otlp_endpoint` must be an http:// or https:// URL, found `localhost:4318`"
            )]
        );
        let report = parse("[tracing]\nservice_name = \"x\"\n");
        assert_eq!(
            report.diagnostics[0].message,
            "this [tracing] table is missing the required key `otlp_endpoint`"
        );
        let report = parse("[tracing]\notlp_endpoint = \"http://c:4318\"\nendpoint = \"x\"\n");
        assert_eq!(report.diagnostics[0].pos.line, 3);
        assert_eq!(
            report.diagnostics[0].message,
            "unknown key `endpoint` in this [tracing] table"
        );
        let report = parse("[tracng]\n");
        assert_eq!(
            report.diagnostics[0].help.as_deref(),
            Some("did you mean `[tracing]`?")
        );
    }
}
