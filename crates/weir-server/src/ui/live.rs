//! Live views over server-sent events: the states of the runs a page shows (the grid,
//! the graph, a run page) and a running try's log.
//!
//! A state stream wakes at each scheduling pass of the engine ([`weir_engine::EngineHandle::passes`],
//! which follows every state change this replica makes) and at least every
//! [`FALLBACK`] (changes made by another replica), waits [`COALESCE`] so a burst of
//! changes is sent once, reads the states through the API, and sends them only when they
//! changed. A log stream reads on from the continuation token every [`LOG_POLL`] until
//! the try has ended and its log is read to the end. Both end when the browser goes away.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, RawQuery};
use axum::http::Method;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use weir_api::{DagRun, LogResponse, TaskTryCollection};

use super::UiError;
use super::api::{Api, enc};
use super::charts::grid;
use super::dag::{label, recent_runs, task_instances};

/// The longest a state stream goes without looking.
const FALLBACK: Duration = Duration::from_secs(3);
/// How long a state stream lets changes gather before it reads them.
const COALESCE: Duration = Duration::from_millis(60);
/// How often a followed log is read while nothing new came.
const LOG_POLL: Duration = Duration::from_millis(250);

type Stream = Response;

fn sse(rx: mpsc::Receiver<Result<Event, Infallible>>) -> Stream {
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `GET /dags/{dag_id}/live?run=…` and `GET /dags/{dag_id}/runs/{run_id}/live`: `states`
/// events `{"tis": [[run, task, state]…], "runs": [[run, state]…], "new_runs": bool}`.
pub async fn dag_states(
    api: Api,
    Path(path): Path<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Result<Stream, UiError> {
    let dag_id = path
        .get("dag_id")
        .cloned()
        .ok_or_else(|| UiError::bad_request("no DAG in the path"))?;
    let one_run = path.get("run_id").cloned();
    let runs: Vec<String> = match &one_run {
        Some(run) => vec![run.clone()],
        None => form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .filter(|(k, _)| k == "run")
            .map(|(_, v)| v.into_owned())
            .take(100)
            .collect(),
    };
    // The first read fails here, as a page would, rather than inside the stream.
    let first = states(&api, &dag_id, one_run.as_deref(), &runs).await?;
    let (tx, rx) = mpsc::channel(4);
    let mut passes = api.state.engine.passes();
    tokio::spawn(async move {
        let mut last = String::new();
        let mut next = Ok(first);
        loop {
            match next {
                Ok(payload) if payload != last => {
                    let event = Event::default().event("states").data(payload.clone());
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                    last = payload;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = ?e, dag = %dag_id, "a live view stopped");
                    return;
                }
            }
            tokio::select! {
                changed = passes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = tokio::time::sleep(FALLBACK) => {}
                () = tx.closed() => return,
            }
            tokio::time::sleep(COALESCE).await;
            next = states(&api, &dag_id, one_run.as_deref(), &runs).await;
        }
    });
    Ok(sse(rx))
}

/// The payload of a `states` event.
async fn states(
    api: &Api,
    dag_id: &str,
    one_run: Option<&str>,
    runs: &[String],
) -> Result<String, UiError> {
    let tis = task_instances(api, dag_id, runs).await?;
    let mut cells: Vec<(String, String, String)> = grid::cells(&tis)
        .into_iter()
        .map(|((run, task), cell)| (run, task, cell.state))
        .collect();
    cells.sort();
    let (run_states, new_runs) = match one_run {
        Some(run) => {
            let r: DagRun = api
                .get(&format!(
                    "/api/v1/dags/{}/dagRuns/{}",
                    enc(dag_id),
                    enc(run)
                ))
                .await?;
            (vec![(r.dag_run_id, label(&r.state))], false)
        }
        None => {
            let shown: HashSet<&String> = runs.iter().collect();
            let newest = recent_runs(api, dag_id, runs.len().max(1)).await?;
            let new_runs = newest.iter().any(|r| !shown.contains(&r.dag_run_id));
            let mut states: Vec<(String, String)> = newest
                .iter()
                .filter(|r| shown.contains(&r.dag_run_id))
                .map(|r| (r.dag_run_id.clone(), label(&r.state)))
                .collect();
            states.sort();
            (states, new_runs)
        }
    };
    Ok(json!({ "tis": cells, "runs": run_states, "new_runs": new_runs }).to_string())
}

/// `GET /dags/{dag_id}/runs/{run_id}/tasks/{task_id}/{map_index}/logs/{try_number}?token=`:
/// unnamed events each holding a JSON string of new log text, then an `end` event once
/// the try has ended and its log was read to the end.
pub async fn log(
    api: Api,
    Path((dag_id, run_id, task_id, map_index, try_number)): Path<(
        String,
        String,
        String,
        i32,
        u32,
    )>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Stream, UiError> {
    let base = format!(
        "/api/v1/dags/{}/dagRuns/{}/taskInstances/{}",
        enc(&dag_id),
        enc(&run_id),
        enc(&task_id)
    );
    let map_q = if map_index >= 0 {
        format!("&map_index={map_index}")
    } else {
        String::new()
    };
    let mut token = query.get("token").cloned().unwrap_or_else(|| "0".into());
    // A log the user may not read fails here with the API's 403, not inside the stream.
    let mut chunk: LogResponse = api
        .get(&format!(
            "{base}/logs/{try_number}?token={}{map_q}",
            enc(&token)
        ))
        .await?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            if let Some(next) = chunk.continuation_token.take() {
                token = next;
            }
            let got_text = !chunk.content.is_empty();
            if got_text {
                let text = serde_json::Value::String(std::mem::take(&mut chunk.content));
                if tx
                    .send(Ok(Event::default().data(text.to_string())))
                    .await
                    .is_err()
                {
                    return;
                }
            } else if ended(&api, &base, &map_q, try_number).await {
                // Read once more: the last lines may have landed after the empty read.
                match api
                    .get::<LogResponse>(&format!(
                        "{base}/logs/{try_number}?token={}{map_q}",
                        enc(&token)
                    ))
                    .await
                {
                    Ok(last) if !last.content.is_empty() => {
                        chunk = last;
                        continue;
                    }
                    _ => {}
                }
                let _ = tx.send(Ok(Event::default().event("end").data("end"))).await;
                return;
            }
            if !got_text {
                tokio::select! {
                    () = tokio::time::sleep(LOG_POLL) => {}
                    () = tx.closed() => return,
                }
            }
            chunk = match api
                .get(&format!(
                    "{base}/logs/{try_number}?token={}{map_q}",
                    enc(&token)
                ))
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = ?e, "a followed log stopped");
                    return;
                }
            };
        }
    });
    Ok(sse(rx))
}

/// Whether the try has ended (or cannot be looked at any more).
async fn ended(api: &Api, base: &str, map_q: &str, try_number: u32) -> bool {
    match api
        .raw(
            Method::GET,
            &format!("{base}/tries?{}", map_q.trim_start_matches('&')),
            None,
        )
        .await
    {
        Ok((status, body)) if status.is_success() => {
            serde_json::from_slice::<TaskTryCollection>(&body)
                .ok()
                .and_then(|c| {
                    c.tries
                        .iter()
                        .find(|t| t.try_number == try_number)
                        .map(|t| t.end_date.is_some())
                })
                .unwrap_or(true)
        }
        _ => true,
    }
}
