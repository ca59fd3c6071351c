//! A try's log: `GET .../taskInstances/{task_id}/logs/{task_try_number}`.
//!
//! JSON `{"content", "continuation_token"}` by default, plain text with
//! `Accept: text/plain`. The continuation token is the byte offset the next read starts
//! at, so a client follows a running try by asking again with the token it got (`weir
//! tasks logs -f` does). A chunk never ends inside a UTF-8 character: the incomplete
//! bytes are left for the next read. `?full_content=true` reads to the end (up to a
//! generous cap) instead of one chunk; `?map_index=` picks a mapped instance.
//!
//! The engine says where the log is (`EngineHandle::log_location`): a running try's (or
//! one not archived yet) is read from its file, an archived one by ranges of its object
//! in the log store (`[logs] store`), with the same tokens; a log removed by retention
//! is a 404 that says so, and a log store that cannot be reached a 503. A running try on
//! another host is asked of the replica that runs it (`log_proxy`).

use std::io::SeekFrom;
use std::path::Path;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weir_core::ids::{DagId, RunId, TaskId, TryNumber, UNMAPPED};
use weir_engine::LogLocation;
use weir_store::TaskInstanceKey;

use super::task_instances::load_task_instance;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, path_params};
use crate::json::LogResponse;
use crate::openapi::{BadRequest, NotFound, ServiceUnavailable};

/// Bytes returned per request by default.
const CHUNK: usize = 1024 * 1024;
/// Bytes returned per request with `full_content=true`.
const FULL_CONTENT_CAP: usize = 64 * 1024 * 1024;

path_params!(LogPath {
    dag_id: DagId = "dag_id",
    run_id: RunId = "dag_run_id",
    task_id: TaskId = "task_id",
    try_number: TryNumber = "task_try_number",
});

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_log))
}

/// Get the log of a try.
///
/// JSON by default, plain text with `Accept: text/plain` (the continuation token is then
/// in the `x-continuation-token` header).
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}",
    operation_id = "get_log",
    tag = "TaskInstance",
    params(
        LogPath,
        ("full_content" = Option<bool>, Query, description = "Read the whole log rather than the first chunk."),
        ("map_index" = Option<i32>, Query, description = "The map index of a mapped task instance."),
        ("token" = Option<String>, Query, description = "The `continuation_token` of the previous response: go on from there."),
    ),
    responses(
        (status = 200, description = "Success.", content(
            (LogResponse = "application/json"),
            (String = "text/plain"),
        )),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 503, response = ServiceUnavailable),
    )
)]
async fn get_log(
    State(state): State<AppState>,
    path: LogPath,
    q: QueryParams,
    headers: HeaderMap,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> Result<Response, ApiError> {
    if path.try_number == 0 {
        return Err(ApiError::bad_request("try numbers start at 1"));
    }
    let map_index = q
        .i64("map_index")?
        .map(|i| {
            i32::try_from(i)
                .map_err(|_| ApiError::bad_request(format!("map_index {i} is out of range")))
        })
        .transpose()?
        .unwrap_or(UNMAPPED);
    let offset = match q.str("token") {
        None => 0,
        Some(t) => t.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid continuation token `{t}`: pass back the `continuation_token` of the \
                 previous response"
            ))
        })?,
    };
    let max = if q.bool("full_content")?.unwrap_or(false) {
        FULL_CONTENT_CAP
    } else {
        CHUNK
    };
    let key = TaskInstanceKey {
        dag_id: path.dag_id,
        run_id: path.run_id,
        task_id: path.task_id,
        map_index,
    };
    let (ti, _run) = load_task_instance(&state, &key).await?;
    if path.try_number > ti.try_number {
        return Err(ApiError::not_found(
            "Log not found",
            format!(
                "task instance {key} has had {} tr{}; there is no try {}",
                ti.try_number,
                if ti.try_number == 1 { "y" } else { "ies" },
                path.try_number
            ),
        ));
    }
    let try_key = key.try_key(path.try_number);
    // A running try on another host: its replica has the log.
    if let Some((address, replica)) =
        super::log_proxy::elsewhere(&state, &try_key, &headers).await?
    {
        return super::log_proxy::forward(&address, &replica, &uri, &headers).await;
    }
    let mut location = state.engine.log_location(&try_key).await?;
    let bytes = loop {
        match location {
            // A noop task counts its run as a try (as Airflow does) but nothing ran on a
            // backend, so there is no log to read.
            LogLocation::NoLog => {
                return Err(ApiError::not_found(
                    "Log not found",
                    format!(
                        "try {} of task instance {key} has no log: nothing ran on a backend",
                        path.try_number
                    ),
                ));
            }
            LogLocation::Removed { at, retention } => {
                let kept = retention.map_or(String::new(), |r| {
                    format!(
                        " (logs are kept {})",
                        weir_core::duration::format_duration(r)
                    )
                });
                return Err(ApiError::not_found(
                    "Log not found",
                    format!(
                        "the log of try {} of task instance {key} was removed by the log retention{kept} on {}",
                        path.try_number,
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ));
            }
            LogLocation::Archived { location, size } => {
                break state
                    .engine
                    .read_archived_log(&location, size, offset, max)
                    .await?;
            }
            LogLocation::Local(path) => match read_local(&path, offset, max)
                .await
                .map_err(ApiError::internal)?
            {
                Some(bytes) => break bytes,
                None => {
                    // Not there: not written yet, or archived since we asked.
                    let now = state.engine.log_location(&try_key).await?;
                    if matches!(now, LogLocation::Local(_)) {
                        break Vec::new();
                    }
                    location = now;
                }
            },
        }
    };
    let cut = complete_prefix(&bytes);
    let content = String::from_utf8_lossy(&bytes[..cut]).into_owned();
    let token = (offset + cut as u64).to_string();
    if wants_text(&headers) {
        let mut response = content.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&token) {
            response.headers_mut().insert("x-continuation-token", v);
        }
        return Ok(response);
    }
    Ok(Json(LogResponse {
        content,
        continuation_token: Some(token),
    })
    .into_response())
}

/// Whether the client asked for plain text rather than JSON.
fn wants_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    accept.contains("text/plain") && !accept.contains("application/json")
}

/// Up to `max` bytes of the file at `path` from `offset`; None when there is no file.
async fn read_local(path: &Path, offset: u64, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    // A task may write in its try folder: a `log` it replaced by a link (to a server
    // file) or a FIFO is not followed, not waited on, and reads as no log.
    let opened = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .await;
    let mut file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            tracing::warn!(path = %path.display(), "a try's log is a link: not followed");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata().await?;
    if !meta.is_file() {
        tracing::warn!(path = %path.display(), "a try's log is not a regular file: not read");
        return Ok(None);
    }
    let len = meta.len();
    if offset >= len {
        return Ok(Some(Vec::new()));
    }
    file.seek(SeekFrom::Start(offset)).await?;
    let want = (len - offset).min(max as u64);
    let mut buf = Vec::with_capacity(usize::try_from(want).unwrap_or(max));
    file.take(want).read_to_end(&mut buf).await?;
    Ok(Some(buf))
}

/// Reads up to `max` bytes of `path` from `offset`: the text (ending on a character
/// boundary) and the offset after it. A log that does not exist yet reads as empty.
#[cfg(test)]
async fn read_chunk(path: &Path, offset: u64, max: usize) -> std::io::Result<(String, u64)> {
    let buf = read_local(path, offset, max).await?.unwrap_or_default();
    let cut = complete_prefix(&buf);
    let text = String::from_utf8_lossy(&buf[..cut]).into_owned();
    Ok((text, offset + cut as u64))
}

/// The length of `buf` without a UTF-8 sequence cut off at its end.
fn complete_prefix(buf: &[u8]) -> usize {
    let n = buf.len();
    for back in 1..=n.min(3) {
        let b = buf[n - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: look further back for the lead byte
        }
        let needed = match b {
            b if b & 0b1110_0000 == 0b1100_0000 => 2,
            b if b & 0b1111_0000 == 0b1110_0000 => 3,
            b if b & 0b1111_1000 == 0b1111_0000 => 4,
            _ => 1,
        };
        return if needed > back { n - back } else { n };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_on_character_boundaries() {
        let s = "aé€😀".as_bytes();
        assert_eq!(complete_prefix(s), s.len());
        for cut in 0..s.len() {
            let p = complete_prefix(&s[..cut]);
            assert!(std::str::from_utf8(&s[..p]).is_ok(), "cut {cut} -> {p}");
            assert!(cut - p < 4);
        }
        assert_eq!(complete_prefix(&[0xff, b'a']), 2);
    }

    #[tokio::test]
    async fn reads_follow_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        assert_eq!(read_chunk(&log, 0, 10).await.unwrap(), (String::new(), 0));
        std::fs::write(&log, "hello €uro\n").unwrap();
        let (a, next) = read_chunk(&log, 0, 7).await.unwrap();
        assert_eq!((a.as_str(), next), ("hello ", 6));
        let (b, next) = read_chunk(&log, next, 100).await.unwrap();
        assert_eq!((b.as_str(), next), ("€uro\n", 13));
        assert_eq!(
            read_chunk(&log, next, 100).await.unwrap(),
            (String::new(), 13)
        );
    }
}
