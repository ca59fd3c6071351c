//! The middleware every `/api/v1` route runs behind: authenticate, authorize against the
//! route's rule, run the handler, write the audit event.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};
use weir_api::AuditOutcome;
use weir_core::access::{Caller, CallerKind, Decision, Permission, Principal, TeamRole, decide};
use weir_core::ids::DagId;
use weir_store::NewAuditEvent;

use super::authenticate::SignedIn;
use super::redact::redact;
use super::rules::{self, Need, Rule};
use super::{AuditAction, AuditChange, Authorized, SessionCaller, follow};
use crate::AppState;
use crate::error::ApiError;

/// The guard itself (an `axum::middleware::from_fn_with_state` function).
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match guarded(&state, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(state: &AppState, request: Request, next: Next) -> Result<Response, Response> {
    // HEAD is GET without the body (axum answers it with the GET handler and drops the
    // body), so it has GET's rule.
    let method = match request.method() {
        &Method::HEAD => Method::GET,
        m => m.clone(),
    };
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        return Ok(next.run(request).await);
    };
    let route = route.strip_prefix("/api/v1").unwrap_or(&route).to_string();
    let Some(rule) = rules::rule(&method, &route) else {
        tracing::error!(%method, %route, "a route has no access rule; refusing it");
        return Err(ApiError::PermissionDenied {
            detail: format!("{method} {route} has no access rule yet; it is refused for everyone"),
        }
        .into_response());
    };
    if rule.need == Need::Public {
        return Ok(next.run(request).await);
    }
    let address: Option<IpAddr> = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let signed_in = match request.extensions().get::<SessionCaller>() {
        Some(SessionCaller(caller)) => SignedIn {
            principal: Principal::Caller(caller.clone()),
            expires_at: None,
        },
        None => state
            .auth
            .sign_in(request.headers(), address)
            .await
            .map_err(IntoResponse::into_response)?,
    };
    let principal = signed_in.principal;
    let caller = match &principal {
        Principal::Caller(c) => c.clone(),
        Principal::Anonymous => {
            return Err(ApiError::Unauthenticated {
                detail: "sign in first: send an API token (`weir login`, or `Authorization: \
                         Bearer weir_…`), a user name and password (Basic), or an SSO token"
                    .into(),
            }
            .into_response());
        }
    };

    // Routes that act on an object named in the body, and every audited change, need
    // the body before the handler runs.
    let (mut parts, body) = request.into_parts();
    let params = crate::extract::raw_path_params(&mut parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (request, body_json) = if rule.audited && method != Method::GET {
        let bytes = axum::body::to_bytes(body, state.config.max_body_bytes)
            .await
            .map_err(|_| {
                ApiError::PayloadTooLarge {
                    limit: state.config.max_body_bytes,
                }
                .into_response()
            })?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        (Request::from_parts(parts, Body::from(bytes)), json)
    } else {
        (Request::from_parts(parts, body), None)
    };

    let target = match resolve(state, &rule, &params, body_json.as_ref(), &caller).await {
        Ok(t) => t,
        Err(e) => return Err(e.into_response()),
    };
    let continuation = follow::continues(request.uri().query());
    let audit = |outcome: AuditOutcome, status: u16, change: Option<&AuditChange>| {
        let mut details = Map::new();
        details.insert("method".into(), json!(method.as_str()));
        details.insert("route".into(), json!(route));
        details.insert("status".into(), json!(status));
        if let Some(body) = &body_json {
            details.insert("request".into(), redact(rule.object_type, body));
        }
        if let Some(change) = change {
            if let Some(before) = &change.before {
                details.insert("before".into(), redact(rule.object_type, before));
            }
            if let Some(after) = &change.after {
                details.insert("after".into(), redact(rule.object_type, after));
            }
        }
        NewAuditEvent {
            time: Utc::now(),
            actor: caller.name.clone(),
            action: rule.action.into(),
            object_type: rule.object_type.into(),
            object_id: target.object_id.clone(),
            team: target.team.clone(),
            outcome: outcome.as_str().into(),
            source_addr: address.map(|a| a.to_string()),
            details: Value::Object(details),
        }
    };

    match decide(&principal, &target.permission) {
        Decision::Allow => {}
        Decision::NeedsSignIn => {
            return Err(ApiError::Unauthenticated {
                detail: "sign in first".into(),
            }
            .into_response());
        }
        Decision::Deny(why) => {
            if rule.audited {
                append(state, audit(AuditOutcome::Denied, 403, None)).await;
            }
            return Err(ApiError::PermissionDenied { detail: why }.into_response());
        }
    }
    let mut request = request;
    request.extensions_mut().insert(Authorized {
        caller: caller.clone(),
        team: target.team.clone(),
        address,
        credential_expires_at: signed_in.expires_at,
    });
    let response = next.run(request).await;
    if rule.audited {
        let status = response.status();
        let outcome = if status.is_success() {
            AuditOutcome::Success
        } else if status.as_u16() == 401 || status.as_u16() == 403 {
            AuditOutcome::Denied
        } else {
            AuditOutcome::Failed
        };
        let change = response.extensions().get::<AuditChange>();
        let mut event = audit(outcome, status.as_u16(), change);
        if let Some(AuditAction(action)) = response.extensions().get::<AuditAction>() {
            event.action = (*action).into();
        }
        // A log follow is audited once, not at every poll.
        let once = rule.action != follow::READ_LOG
            || !status.is_success()
            || follow::audit_read(
                &caller.name,
                &target.object_id,
                continuation,
                std::time::Instant::now(),
            );
        if once {
            append(state, event).await;
        }
    }
    Ok(response)
}

async fn append(state: &AppState, event: NewAuditEvent) {
    if let Err(e) = state.store().append_audit_event(&event).await {
        tracing::error!(error = %e, action = %event.action, "cannot write an audit event");
    }
}

/// Whether `caller` may call `method route` (a route of the rule table, e.g.
/// `/dags/{dag_id}/dagRuns`) with these path parameters: what the guard would decide,
/// without calling it. The web UI shows an action only when this allows it.
pub(crate) async fn allows(
    state: &AppState,
    caller: &Caller,
    method: &Method,
    route: &str,
    params: &[(&str, &str)],
) -> bool {
    let Some(rule) = rules::rule(method, route) else {
        return false;
    };
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    match resolve(state, &rule, &params, None, caller).await {
        Ok(target) => matches!(
            decide(&Principal::Caller(caller.clone()), &target.permission),
            Decision::Allow
        ),
        Err(_) => false,
    }
}

/// What a request acts on, and what it takes.
struct Target {
    object_id: String,
    team: Option<String>,
    permission: Permission,
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn body_str<'a>(body: Option<&'a Value>, key: &str) -> Option<&'a str> {
    body?.get(key)?.as_str()
}

async fn resolve(
    state: &AppState,
    rule: &Rule,
    params: &[(String, String)],
    body: Option<&Value>,
    caller: &Caller,
) -> Result<Target, ApiError> {
    let mut object_id = params
        .iter()
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join("/");
    if object_id.is_empty() {
        object_id = ["key", "connection_id", "dag_id", "username", "name"]
            .iter()
            .find_map(|k| body_str(body, k))
            .unwrap_or("-")
            .to_string();
    }
    let signed_in = |team: Option<String>| (team, Permission::SignedIn);
    let (team, permission) = match rule.need {
        Need::Public | Need::SignedIn => signed_in(None),
        Need::OperateDag | Need::ReadDagLogs | Need::ManageDag => {
            let dag = param(params, "dag_id").or_else(|| body_str(body, "dag_id"));
            match dag_team(state, dag).await? {
                // An unknown DAG: the handler answers 404 (or 400), with no side effect.
                None => signed_in(None),
                Some(team) => {
                    let permission = match rule.need {
                        Need::OperateDag => Permission::Operate { team: team.clone() },
                        Need::ManageDag => Permission::ManageTeam { team: team.clone() },
                        _ => read_logs(state, team.clone()),
                    };
                    (team, permission)
                }
            }
        }
        Need::ReadTeamObject | Need::ManageTeamObject | Need::CreateTeamObject => {
            let existing = owned_object(state, rule, params, body).await?;
            match (rule.need, existing) {
                (Need::ReadTeamObject, Some(None)) => signed_in(None),
                (Need::ReadTeamObject, Some(Some(team))) => (
                    Some(team.clone()),
                    Permission::ReadTeam { team: Some(team) },
                ),
                (Need::ReadTeamObject, None) => signed_in(None),
                (_, Some(team)) => (team.clone(), manage(rule, team)),
                (Need::ManageTeamObject, None) => signed_in(None),
                (_, None) => {
                    let team = new_object_team(caller, body, manager_role(rule))?;
                    (team.clone(), manage(rule, team))
                }
            }
        }
        Need::ManageTeamPath => {
            let team = param(params, "team_name").map(str::to_string);
            (team.clone(), Permission::ManageTeam { team })
        }
        Need::CreateToken => match body_str(body, "team") {
            Some(team) => (
                Some(team.to_string()),
                Permission::ManageTeam {
                    team: Some(team.to_string()),
                },
            ),
            None if caller.kind == CallerKind::ServiceAccount => {
                return Err(ApiError::PermissionDenied {
                    detail: "a service account cannot create tokens for itself; a team admin \
                             creates service tokens with `team` and `role`"
                        .into(),
                });
            }
            None => signed_in(None),
        },
        Need::RevokeToken => {
            let token = match param(params, "token_id") {
                Some(id) => state.store().get_token(id).await?,
                None => None,
            };
            match token {
                None => signed_in(None),
                Some(t) if t.username.as_deref() == Some(caller.name.as_str()) => signed_in(None),
                Some(t) => match t.team {
                    Some(team) => (
                        Some(team.clone()),
                        Permission::ManageTeam { team: Some(team) },
                    ),
                    None => (None, Permission::PlatformAdmin),
                },
            }
        }
        Need::SelfOrPlatformAdmin => {
            let own = param(params, "username") == Some(caller.name.as_str())
                && caller.kind != CallerKind::ServiceAccount;
            if own {
                signed_in(None)
            } else {
                (None, Permission::PlatformAdmin)
            }
        }
        Need::AdminOfAnyTeam => (None, Permission::AdminOfAnyTeam),
        Need::OperatorOfAnyTeam => (None, Permission::OperatorOfAnyTeam),
        Need::ReviewApproval => {
            let id = param(params, "approval_id").and_then(|id| id.parse::<i64>().ok());
            let team = match id {
                Some(id) => state.store().get_approval(id).await?.map(|a| a.team),
                None => None,
            };
            (team, Permission::OperatorOfAnyTeam)
        }
        Need::OperateBodyTeam => match body_str(body, "team") {
            Some(team) => (
                Some(team.to_string()),
                Permission::Operate {
                    team: Some(team.to_string()),
                },
            ),
            // No team: the handler answers 400 naming the missing field.
            None => signed_in(None),
        },
        Need::PlatformAdmin => (None, Permission::PlatformAdmin),
    };
    Ok(Target {
        object_id,
        team,
        permission,
    })
}

/// Reading the task logs of a DAG of `team` (`None`: a DAG of no team), under the team's
/// `logs_readable_by`. Also what shows a run's conf and rendered fields
/// ([`super::visibility`]).
pub(crate) fn read_logs(state: &AppState, team: Option<String>) -> Permission {
    Permission::ReadLogs {
        readers: team
            .as_deref()
            .map(|t| state.platform.log_readers(t))
            .unwrap_or_default(),
        team,
    }
}

/// The team of DAG `dag_id`: `None` when there is no such DAG, `Some(None)` for a DAG of
/// no team.
pub(crate) async fn dag_team(
    state: &AppState,
    dag_id: Option<&str>,
) -> Result<Option<Option<String>>, ApiError> {
    let Some(dag_id) = dag_id.and_then(|d| DagId::new(d).ok()) else {
        return Ok(None);
    };
    Ok(state
        .store()
        .get_dag(&dag_id)
        .await?
        .map(|d| d.team.map(|t| t.to_string())))
}

/// The owning team of the variable or connection the request names (in the path, or for
/// a creation in the body): `None` when it does not exist.
async fn owned_object(
    state: &AppState,
    rule: &Rule,
    params: &[(String, String)],
    body: Option<&Value>,
) -> Result<Option<Option<String>>, ApiError> {
    match rule.object_type {
        "variable" => {
            let Some(key) = param(params, "variable_key").or_else(|| body_str(body, "key")) else {
                return Ok(None);
            };
            let key = key.trim_start_matches('/');
            Ok(state.store().get_variable(key).await?.map(|v| v.team))
        }
        "connection" => {
            let Some(id) =
                param(params, "connection_id").or_else(|| body_str(body, "connection_id"))
            else {
                return Ok(None);
            };
            Ok(state.store().get_connection(id).await?.map(|c| c.team))
        }
        _ => Ok(None),
    }
}

/// The team a new variable or connection will belong to: the body's `team`, else the
/// caller's only admin team; platform admins create platform-wide ones by default.
fn new_object_team(
    caller: &Caller,
    body: Option<&Value>,
    role: TeamRole,
) -> Result<Option<String>, ApiError> {
    if let Some(team) = body_str(body, "team") {
        return Ok(Some(team.to_string()));
    }
    if caller.platform_admin {
        return Ok(None);
    }
    let managed: Vec<&str> = caller.teams_with(role).collect();
    match managed.as_slice() {
        [only] => Ok(Some((*only).to_string())),
        // Leave it to `decide`, which says what role it takes.
        [] => Ok(None),
        several => Err(ApiError::bad_request(format!(
            "`{}` is an {role} of several teams ({}): name the owning team with `team`",
            caller.name,
            several.join(", ")
        ))),
    }
}

/// The role that changes a team's object of this route's kind: a team's operators
/// manage its variables; its admins everything else it owns (connections, …).
fn manager_role(rule: &Rule) -> TeamRole {
    if rule.object_type == "variable" {
        TeamRole::Operator
    } else {
        TeamRole::Admin
    }
}

/// The permission to change (or create) a team's object of this route's kind.
fn manage(rule: &Rule, team: Option<String>) -> Permission {
    match manager_role(rule) {
        TeamRole::Admin => Permission::ManageTeam { team },
        _ => Permission::ManageVariables { team },
    }
}
