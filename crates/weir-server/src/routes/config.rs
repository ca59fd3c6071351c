//! `GET /config`: Weir's effective settings in Airflow's `Config` shape (JSON, or Airflow's `text/plain` form when the
//! client asks for it).
//!
//! Sections: `[api]` (this API's limits), `[database]` (the backend and its URL without a
//! password), `[engine]` (the engine's settings), `[platform]` (queues, compute
//! environments, teams) and, when single sign-on is on, `[auth.oidc]` (the provider, no
//! secrets). Nothing here is a secret: a password in a URL is replaced by Airflow's
//! `< hidden >`. Who may read this is the authorization layer's business, not this
//! module's.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::json::config::{Config, ConfigSection, HIDDEN};
use crate::openapi::{BadRequest, NotFound};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_config))
}

/// `url` with the password of its user info, and the values of password-like query
/// parameters, replaced by `< hidden >`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{HIDDEN}@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _))
                        if [
                            "password",
                            "passwd",
                            "pwd",
                            "secret",
                            "token",
                            "sslpassword",
                        ]
                        .contains(&k.to_ascii_lowercase().as_str()) =>
                    {
                        format!("{k}={HIDDEN}")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn path_text(p: Option<&std::path::Path>) -> String {
    p.map(|p| p.display().to_string()).unwrap_or_default()
}

/// Every section of Weir's effective settings.
fn sections(state: &AppState) -> Vec<ConfigSection> {
    let api = &state.config;
    let engine = state.engine.config();
    let platform = &state.platform;
    let store = state.store();
    let mut sections = vec![
        ConfigSection::new("api")
            .option("maximum_page_limit", api.max_page_limit)
            .option("fallback_page_limit", api.default_page_limit)
            .option("max_body_bytes", api.max_body_bytes)
            .option("shutdown_timeout", api.shutdown_timeout.as_secs()),
        ConfigSection::new("database")
            .option("backend", store.backend_name())
            .option("url", redact_url(&store.display_url())),
        ConfigSection::new("engine")
            .option("home", engine.home.display())
            .option("dags_folder", path_text(engine.dags_folder.as_deref()))
            .option("jobs_folder", path_text(engine.jobs_folder.as_deref()))
            .option("parallelism", engine.parallelism)
            .option("unpause_all", engine.unpause_all)
            .option(
                "max_catchup_runs_per_pass",
                engine.max_catchup_runs_per_pass,
            )
            .option("run_schedules", engine.run_schedules)
            .option("hostname", &engine.hostname)
            .option(
                "docker_socket",
                engine.docker_socket.as_deref().map_or_else(
                    || "/var/run/docker.sock".into(),
                    |p| p.display().to_string(),
                ),
            ),
    ];
    let origin = match platform.origin {
        weir_core::platform::ConfigOrigin::File => "file",
        weir_core::platform::ConfigOrigin::StandaloneDefault => "standalone default",
    };
    let environments: Vec<String> = platform
        .compute_environments
        .iter()
        .map(|e| {
            format!(
                "{} ({}, {} vCPU, {} bytes)",
                e.name, e.backend, e.max_vcpus, e.max_memory.0
            )
        })
        .collect();
    let queues: Vec<String> = platform
        .queues
        .iter()
        .map(|q| {
            let policy = match q.scheduling_policy {
                weir_core::platform::SchedulingPolicy::Fifo => "fifo",
                weir_core::platform::SchedulingPolicy::FairShare => "fair_share",
            };
            format!(
                "{} (priority {}, {policy}, feeds {})",
                q.name,
                q.priority,
                q.compute_environments.join(" ")
            )
        })
        .collect();
    let teams: Vec<String> = platform
        .teams
        .iter()
        .map(|t| format!("{} (weight {})", t.name, t.weight))
        .collect();
    sections.push(
        ConfigSection::new("platform")
            .option("origin", origin)
            .option("compute_environments", environments.join(", "))
            .option("queues", queues.join(", "))
            .option("teams", teams.join(", ")),
    );
    if let Some(oidc) = &platform.auth.oidc {
        sections.push(
            ConfigSection::new("auth.oidc")
                .option("issuer", redact_url(&oidc.issuer))
                .option("audience", oidc.audience.join(", "))
                .option(
                    "jwks_url",
                    oidc.jwks_url.as_deref().map(redact_url).unwrap_or_default(),
                )
                .option("leeway_seconds", oidc.leeway_seconds)
                .option("username_claim", &oidc.username_claim)
                .option("email_claim", &oidc.email_claim)
                .option("groups_claim", &oidc.groups_claim)
                .option("role_mappings", oidc.role_mappings.len())
                .option(
                    "token_revalidate_after",
                    weir_core::duration::format_duration(oidc.token_revalidate_after.0),
                ),
        );
    }
    sections
}

/// Whether the client prefers `text/plain` to JSON (Airflow serves both).
fn wants_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let quality = |media: &str| -> Option<f32> {
        accept
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';').map(str::trim);
                let m = parts.next()?.to_ascii_lowercase();
                (m == media).then(|| {
                    parts
                        .find_map(|p| p.strip_prefix("q="))
                        .and_then(|q| q.parse::<f32>().ok())
                        .unwrap_or(1.0)
                })
            })
            .reduce(f32::max)
    };
    match (quality("text/plain"), quality("application/json")) {
        (Some(t), Some(j)) => t > j,
        (Some(t), None) => t > 0.0,
        _ => false,
    }
}

fn respond(config: Config, headers: &HeaderMap) -> Response {
    if wants_text(headers) {
        let mut response = config.to_text().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    } else {
        axum::Json(config).into_response()
    }
}

/// Get the current configuration.
///
/// Weir's effective settings, by section; `section` keeps one. Never a secret.
#[utoipa::path(
    get,
    path = "/config",
    operation_id = "get_config",
    tag = "Config",
    params(
        ("section" = Option<String>, Query, description = "If given, only return config of this section."),
    ),
    responses(
        (status = 200, description = "Success.", content(
            (Config = "application/json"),
            (String = "text/plain"),
        )),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
async fn get_config(
    State(state): State<AppState>,
    q: QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut sections = sections(&state);
    if let Some(section) = q.str("section") {
        sections.retain(|s| s.name == section);
        if sections.is_empty() {
            return Err(ApiError::not_found(
                "section not found.",
                format!("section={section} not found."),
            ));
        }
    }
    Ok(respond(Config { sections }, &headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            redact_url("postgres://weir:s3cret@db:5432/weir?sslmode=require&password=x"),
            "postgres://weir:< hidden >@db:5432/weir?sslmode=require&password=< hidden >"
        );
        assert_eq!(
            redact_url("postgres://weir@db/weir"),
            "postgres://weir@db/weir"
        );
        assert_eq!(
            redact_url("https://u:p@idp.example.com/keys"),
            "https://u:< hidden >@idp.example.com/keys"
        );
        assert_eq!(redact_url("sqlite:///tmp/w.db"), "sqlite:///tmp/w.db");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn text_only_when_preferred() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(wants_text(&h("text/plain")));
        assert!(!wants_text(&h("application/json")));
        assert!(!wants_text(&h("*/*")));
        assert!(!wants_text(&h("text/plain;q=0.5, application/json")));
        assert!(!wants_text(&HeaderMap::new()));
    }
}
