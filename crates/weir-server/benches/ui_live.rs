//! How fast a task's state change reaches an open grid: the web UI's live-update latency
//! (its bar: 200 ms).
//!
//! A real engine on a temporary SQLite store, with a paused DAG (so nothing but this
//! benchmark moves its task); a browser session's server-sent-event stream of the grid
//! (`GET /dags/live/live?run=…`, through the real router, in process); then, over and
//! over, the task instance is marked success or failed through the API and the time
//! until the stream carries the new state is measured. Prints p50, p95 and max.
//!
//! ```text
//! cargo bench -p weir-server --bench ui_live          # WEIR_BENCH_REPEAT (default 50)
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, header};
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::json;
use tower::ServiceExt;
use weir_engine::{Engine, EngineConfig};
use weir_server::{ApiConfig, AppState, HashCost, router};
use weir_store::{NewToken, NewUser, Store, UiSessionRecord};

type Error = Box<dyn std::error::Error + Send + Sync>;

const DAG: &str = "\
dag: live
team: data
paused: true
tasks:
  first:
    noop: {}
  second:
    noop: {}
    depends_on: [first]
";

fn main() -> Result<(), Error> {
    let repeat: usize = std::env::var("WEIR_BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(measure(repeat.max(1)))
}

async fn measure(repeat: usize) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let dags = dir.path().join("dags");
    std::fs::create_dir_all(&dags)?;
    std::fs::write(dags.join("live.yaml"), DAG)?;
    let store = Store::open(dir.path().join("weir.db").to_str().ok_or("path")?).await?;
    let host = weir_compute::HostResources::probe(None).await;
    let platform = Arc::new(weir_compute::effective_platform(None, host));
    let mut config = EngineConfig::new(
        dir.path().join("home"),
        vec!["/bin/false".into()],
        platform.clone(),
    );
    config.dags_folder = Some(dags);
    config.run_schedules = false;
    let engine = Engine::start(config, store.clone()).await?;
    let api = ApiConfig {
        password_cost: HashCost::FAST_FOR_TESTS,
        ..ApiConfig::default()
    };
    let app = router(AppState::with_config(engine.handle(), api, platform));

    // A platform admin with an API token (for the changes) and a browser session (for
    // the stream).
    store
        .create_user(&NewUser {
            username: "admin",
            password_hash: None,
            email: None,
            source: "local",
            platform_admin: true,
        })
        .await?;
    let (token, digest) = weir_server::auth::api_tokens::generate().map_err(|e| e.to_string())?;
    store
        .create_token(&NewToken {
            id: "bench",
            name: "bench",
            token_hash: &digest,
            username: Some("admin"),
            team: None,
            role: None,
            created_by: "bench",
            expires_at: None,
        })
        .await?;
    let cookie = "bench-session";
    let now = Utc::now();
    store
        .create_ui_session(
            &weir_server::auth::api_tokens::digest(cookie),
            &UiSessionRecord {
                username: "admin".into(),
                method: "password".into(),
                csrf_token: "bench".into(),
                created_at: now,
                last_seen_at: now,
                expires_at: now + chrono::Duration::hours(1),
            },
        )
        .await?;
    let api_call = |method: Method, uri: String, body: serde_json::Value| {
        let app = app.clone();
        let token = token.clone();
        async move {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))?;
            let response = app.oneshot(request).await?;
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
            if !status.is_success() {
                return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)).into());
            }
            Ok::<_, Error>(serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default())
        }
    };
    // The engine reads the DAG folder in the background.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        match api_call(
            Method::POST,
            "/api/v1/dags/live/dagRuns".into(),
            json!({"dag_run_id": "bench"}),
        )
        .await
        {
            Ok(run) => break run,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let run_id = run["dag_run_id"].as_str().ok_or("no run id")?.to_string();

    let stream = Request::builder()
        .uri(format!("/dags/live/live?run={run_id}"))
        .header(header::COOKIE, format!("weir_session={cookie}"))
        .body(Body::empty())?;
    let response = app.clone().oneshot(stream).await?;
    if !response.status().is_success() {
        return Err(format!("the live stream answered {}", response.status()).into());
    }
    let mut events = response.into_body().into_data_stream();
    // The stream's first event: the states as they are.
    events.next().await.ok_or("the stream ended")??;

    let mut times = Vec::with_capacity(repeat);
    for i in 0..repeat {
        let state = if i % 2 == 0 { "success" } else { "failed" };
        let wanted = format!(r#"["{run_id}","first","{state}"]"#);
        let started = Instant::now();
        api_call(
            Method::PATCH,
            format!("/api/v1/dags/live/dagRuns/{run_id}/taskInstances/first"),
            json!({"dry_run": false, "new_state": state}),
        )
        .await?;
        loop {
            let chunk = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .map_err(|_| format!("no event within 10 s of marking {state}"))?
                .ok_or("the stream ended")??;
            if String::from_utf8_lossy(&chunk).contains(&wanted) {
                break;
            }
        }
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "a state change reaches an open grid: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({} changes)",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(times[times.len() - 1]),
        times.len()
    );
    engine.shutdown().await;
    Ok(())
}
