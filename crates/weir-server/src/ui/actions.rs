//! The forms that change things: trigger (with a conf form generated from the DAG's
//! `params`), pause and unpause, clear and mark a task instance.
//!
//! Each POST must carry the session's CSRF token ([`CheckedForm`]); a POST without it is
//! refused with a 403 and written to the audit trail. The change itself is an in-process
//! API call, so the guard decides and audits it as it would a script's call: a viewer's
//! forged trigger gets the API's 403 and a `denied` audit event.

use std::collections::HashMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, Method, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};
use weir_api::{DagDetail, DagRun};
use weir_store::NewAuditEvent;

use super::UiError;
use super::api::{Api, enc};
use super::layout::Chrome;
use super::session::same_token;
use crate::AppState;

/// A form POST whose `csrf` field matched the session's token, with its fields.
pub struct CheckedForm {
    pub api: Api,
    pub fields: HashMap<String, String>,
    pub headers: HeaderMap,
}

impl CheckedForm {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

impl FromRequest<AppState> for CheckedForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let api = Api::from_request_parts(&mut parts, state).await?;
        let path = parts.uri.path().to_string();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields: HashMap<String, String> = form_urlencoded::parse(&bytes).into_owned().collect();
        let given = fields.get("csrf").map(String::as_str).unwrap_or("");
        if !same_token(given, &api.session.csrf_token) {
            refuse_forged(&api, &path, given.is_empty()).await;
            return Err(UiError::forbidden(
                "This form was not sent from a Weir page of your session (its CSRF token is \
                 missing or wrong). Reload the page and send it again.",
            )
            .into_response());
        }
        Ok(CheckedForm {
            api,
            fields,
            headers: parts.headers,
        })
    }
}

/// Writes the refusal of a POST without the session's CSRF token to the audit trail.
async fn refuse_forged(api: &Api, path: &str, missing: bool) {
    let reason = if missing {
        "no CSRF token"
    } else {
        "wrong CSRF token"
    };
    let event = NewAuditEvent {
        time: Utc::now(),
        actor: api.session.caller.name.clone(),
        action: "session.forged_request".into(),
        object_type: "session".into(),
        object_id: path.to_string(),
        team: None,
        outcome: weir_api::AuditOutcome::Denied.as_str().into(),
        source_addr: api.session.address.map(|a| a.ip().to_string()),
        details: json!({"method": "POST", "path": path, "status": 403, "reason": reason}),
    };
    if let Err(e) = api.state.store().append_audit_event(&event).await {
        tracing::error!(error = %e, "cannot audit a forged UI request");
    }
}

/// One input of the trigger form, from a DAG param.
pub struct ParamField {
    pub name: String,
    pub value: String,
    /// `text`, `number` or `checkbox`-like `select`; JSON for objects and lists.
    pub kind: &'static str,
}

#[derive(Template)]
#[template(path = "trigger.html")]
struct TriggerPage {
    chrome: Chrome,
    dag_id: String,
    fields: Vec<ParamField>,
    conf: String,
    error: Option<String>,
}

fn field_of(name: &str, default: &Value) -> ParamField {
    let (value, kind) = match default {
        Value::String(s) => (s.clone(), "text"),
        Value::Number(n) => (n.to_string(), "number"),
        Value::Bool(b) => (b.to_string(), "bool"),
        Value::Null => (String::new(), "text"),
        other => (other.to_string(), "json"),
    };
    ParamField {
        name: name.to_string(),
        value,
        kind,
    }
}

/// A field's text as the param's type (that of its default).
fn typed(text: &str, default: &Value) -> Result<Value, String> {
    match default {
        Value::Number(_) => text
            .trim()
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .map_err(|_| format!("`{text}` is not a number")),
        Value::Bool(_) => match text {
            "true" | "on" => Ok(Value::Bool(true)),
            "false" | "" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not true or false")),
        },
        Value::Object(_) | Value::Array(_) => {
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
        }
        _ => Ok(Value::String(text.to_string())),
    }
}

async fn trigger_page(
    api: &Api,
    dag_id: &str,
    conf: String,
    values: Option<&HashMap<String, String>>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let detail: DagDetail = api
        .get(&format!("/api/v1/dags/{}/details", enc(dag_id)))
        .await?;
    let fields = detail
        .params
        .iter()
        .map(|(name, default)| {
            let mut field = field_of(name, default);
            if let Some(v) = values.and_then(|v| v.get(&format!("param.{name}"))) {
                field.value = v.clone();
            }
            field
        })
        .collect();
    let status = if error.is_some() {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        axum::http::StatusCode::OK
    };
    let page = TriggerPage {
        chrome: Chrome::new(api, format!("Trigger {dag_id}"), "dags"),
        dag_id: dag_id.to_string(),
        fields,
        conf,
        error,
    };
    Ok((status, Html(page.render()?)).into_response())
}

/// `GET /dags/{dag_id}/trigger`: the conf form.
pub async fn trigger_form(api: Api, Path(dag_id): Path<String>) -> Result<Response, UiError> {
    if !api
        .allows(
            Method::POST,
            "/dags/{dag_id}/dagRuns",
            &[("dag_id", &dag_id)],
        )
        .await
    {
        return Err(UiError::forbidden(format!(
            "you may not trigger `{dag_id}`: it takes an operator of the DAG's team"
        )));
    }
    trigger_page(&api, &dag_id, "{}".into(), None, None).await
}

/// `POST /dags/{dag_id}/trigger`: `param.<name>` fields and a `conf` JSON object merged
/// over them; then the grid, with the new run highlighted.
pub async fn trigger(Path(dag_id): Path<String>, form: CheckedForm) -> Result<Response, UiError> {
    let api = &form.api;
    let detail: DagDetail = api
        .get(&format!("/api/v1/dags/{}/details", enc(&dag_id)))
        .await?;
    let mut conf = Map::new();
    let mut problems = Vec::new();
    for (name, default) in &detail.params {
        if let Some(text) = form.field(&format!("param.{name}")) {
            match typed(text, default) {
                Ok(v) => {
                    conf.insert(name.clone(), v);
                }
                Err(e) => problems.push(format!("param `{name}`: {e}")),
            }
        }
    }
    let conf_text = form.field("conf").unwrap_or("").trim().to_string();
    if !conf_text.is_empty() {
        match serde_json::from_str::<Value>(&conf_text) {
            Ok(Value::Object(extra)) => conf.extend(extra),
            Ok(_) => problems.push("conf must be a JSON object, e.g. {\"key\": \"value\"}".into()),
            Err(e) => problems.push(format!("conf is not JSON: {e}")),
        }
    }
    if !problems.is_empty() {
        return trigger_page(
            api,
            &dag_id,
            conf_text,
            Some(&form.fields),
            Some(problems.join("; ")),
        )
        .await;
    }
    let run: DagRun = serde_json::from_value(
        api.call(
            Method::POST,
            &format!("/api/v1/dags/{}/dagRuns", enc(&dag_id)),
            Some(&json!({ "conf": conf })),
        )
        .await?,
    )
    .map_err(|e| UiError::internal(format!("a triggered run came back unreadable: {e}")))?;
    Ok(Redirect::to(&format!(
        "/dags/{}?run={}",
        enc(&dag_id),
        enc(&run.dag_run_id)
    ))
    .into_response())
}

/// Where to go back to after an action: the page the form was on, if it is one of ours.
fn back(headers: &HeaderMap, fallback: String) -> Response {
    let referer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|r| r.find('/').map(|i| r[i..].to_string()));
    let to = referer
        .filter(|r| super::login::safe_next(Some(r)) == r.as_str())
        .unwrap_or(fallback);
    Redirect::to(&to).into_response()
}

/// `POST /dags/{dag_id}/pause` (`paused` = `true` or `false`).
pub async fn pause(Path(dag_id): Path<String>, form: CheckedForm) -> Result<Response, UiError> {
    let paused = match form.field("paused") {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(UiError::bad_request("`paused` must be true or false")),
    };
    form.api
        .call(
            Method::PATCH,
            &format!("/api/v1/dags/{}", enc(&dag_id)),
            Some(&json!({ "is_paused": paused })),
        )
        .await?;
    Ok(back(&form.headers, format!("/dags/{}", enc(&dag_id))))
}

/// `POST /dags/{dag_id}/runs/{run_id}/tasks/{task_id}/{map_index}/clear`: the task runs
/// again (for a mapped task, all its instances in the run).
pub async fn clear_task(
    Path((dag_id, run_id, task_id, map_index)): Path<(String, String, String, i32)>,
    form: CheckedForm,
) -> Result<Response, UiError> {
    let body = json!({
        "dry_run": false,
        "task_ids": [task_id],
        "dag_run_id": run_id,
        "only_failed": false,
        "reset_dag_runs": true,
        "include_downstream": form.field("downstream") == Some("true"),
    });
    form.api
        .call(
            Method::POST,
            &format!("/api/v1/dags/{}/clearTaskInstances", enc(&dag_id)),
            Some(&body),
        )
        .await?;
    Ok(Redirect::to(&super::run::ti_url(&dag_id, &run_id, &task_id, map_index)).into_response())
}

/// `POST …/{map_index}/mark` (`state` = `success` or `failed`).
pub async fn mark_task(
    Path((dag_id, run_id, task_id, map_index)): Path<(String, String, String, i32)>,
    form: CheckedForm,
) -> Result<Response, UiError> {
    let state = match form.field("state") {
        Some(s @ ("success" | "failed")) => s.to_string(),
        _ => return Err(UiError::bad_request("`state` must be success or failed")),
    };
    let mut uri = format!(
        "/api/v1/dags/{}/dagRuns/{}/taskInstances/{}",
        enc(&dag_id),
        enc(&run_id),
        enc(&task_id)
    );
    if map_index >= 0 {
        uri.push_str(&format!("/{map_index}"));
    }
    form.api
        .call(
            Method::PATCH,
            &uri,
            Some(&json!({ "dry_run": false, "new_state": state })),
        )
        .await?;
    Ok(Redirect::to(&super::run::ti_url(&dag_id, &run_id, &task_id, map_index)).into_response())
}
