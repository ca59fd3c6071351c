//! Reading a running try's log through any replica. A try's log is a file on the host of
//! the replica that runs it until it is archived (`[logs] store`); a replica on another
//! host asks that replica for it, with the caller's own credentials (the replica that
//! answers checks them as it would for the caller), and passes the answer on unchanged.
//! A request already forwarded is never forwarded again.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use weir_core::ids::TryKey;

use crate::AppState;
use crate::error::ApiError;

/// Marks a request forwarded by another replica (and names the replica that answered
/// on the way back).
const FORWARDED: &str = "x-weir-log-replica";

/// Where to ask for `key`'s log: the API address of the live replica that runs it, when
/// that replica is on another host than this one (else None: read it here).
pub(super) async fn elsewhere(
    state: &AppState,
    key: &TryKey,
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, ApiError> {
    if headers.contains_key(FORWARDED) {
        return Ok(None);
    }
    let Some(record) = state.store().get_try(key).await? else {
        return Ok(None);
    };
    let (Some(replica_id), None) = (record.replica_id, record.finished_at) else {
        return Ok(None);
    };
    let replicas = state.store().list_replicas().await?;
    let Some(replica) = replicas.into_iter().find(|r| r.replica_id == replica_id) else {
        return Ok(None);
    };
    if replica.host == state.engine.hostname() || replica.replica_id == state.engine.replica_id() {
        return Ok(None);
    }
    if !replica.alive_at(state.engine.now()) {
        return Err(ApiError::Unavailable {
            detail: format!(
                "try {key} runs on host {}, whose replica is not answering; its log can be read here once another replica on that host adopts it, or once it is archived (`[logs] store`)",
                replica.host
            ),
        });
    }
    let Some(address) = replica.address else {
        return Err(ApiError::Unavailable {
            detail: format!(
                "try {key} runs on host {}, whose replica has no address to ask for its log",
                replica.host
            ),
        });
    };
    Ok(Some((address, replica.replica_id)))
}

/// Asks the replica at `address` for the same log, as the caller.
pub(super) async fn forward(
    address: &str,
    replica_id: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let mut request = reqwest::Client::new()
        .get(format!("{address}{path}"))
        .timeout(std::time::Duration::from_secs(30))
        .header(FORWARDED, "1");
    for name in [header::AUTHORIZATION, header::COOKIE, header::ACCEPT] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = request.send().await.map_err(|e| ApiError::Unavailable {
        detail: format!("the replica running this try ({address}) does not answer: {e}"),
    })?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HeaderMap::new();
    for name in ["content-type", "x-continuation-token"] {
        if let Some(value) = answer
            .headers()
            .get(name)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            out.insert(HeaderName::from_static(name), value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(replica_id) {
        out.insert(HeaderName::from_static(FORWARDED), value);
    }
    let body = answer.bytes().await.map_err(|e| ApiError::Unavailable {
        detail: format!("the replica running this try ({address}) stopped answering: {e}"),
    })?;
    Ok((status, out, body).into_response())
}
