//! `GET /api/v1/costs` over usage records written through the store: the arithmetic end
//! to end, grouping by team, DAG, queue and day, the `since` and `team` filters, and bad
//! parameters.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use weir_core::cost::UsageRecord;
use weir_core::ids::{DagId, RunId, TaskId, TeamId, TryKey};
use weir_core::platform::Price;

use super::support::{TestApp, assert_problem};

const GIB: u64 = 1024 * 1024 * 1024;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").to_utc()
}

struct Try<'a> {
    team: &'a str,
    dag: &'a str,
    queue: &'a str,
    vcpu: f64,
    memory_bytes: u64,
    wall_seconds: f64,
    price: (f64, f64),
    started_at: DateTime<Utc>,
}

async fn record(t: &TestApp, run: &str, u: Try<'_>) {
    let key = TryKey {
        dag_id: DagId::new(u.dag).expect("dag id"),
        run_id: RunId::new(run).expect("run id"),
        task_id: TaskId::new("work").expect("task id"),
        map_index: -1,
        try_number: 1,
    };
    let usage = UsageRecord {
        team: TeamId::new(u.team).expect("team id"),
        dag_id: key.dag_id.clone(),
        queue: u.queue.into(),
        compute_environment: "docker".into(),
        requested_vcpu: u.vcpu,
        requested_memory_bytes: u.memory_bytes,
        wall_seconds: u.wall_seconds,
        cpu_seconds: Some(u.wall_seconds * u.vcpu / 2.0),
        peak_memory_bytes: Some(u.memory_bytes / 2),
        started_at: u.started_at,
        price: Price {
            vcpu_hour: u.price.0,
            gib_hour: u.price.1,
        },
    };
    let finished = u.started_at + Duration::milliseconds((u.wall_seconds * 1000.0) as i64);
    assert!(
        t.store()
            .insert_usage(&key, &usage, finished, None)
            .await
            .expect("insert usage")
    );
}

/// Five tries:
/// - `a`, `b`: marketing/daily_revenue/default, 2 vCPU and 4 GiB for 1800 s at 0.04 per
///   vCPU-hour and 0.005 per GiB-hour: 0.04 + 0.01 = 0.05 each, on 2025-03-01 and -02;
/// - `c`: finance/ledger/batch, 1 vCPU and 1 GiB for an hour at 0.05 and 0.006: 0.056,
///   late on 2025-03-02;
/// - `d`: finance/ledger/batch, 0.5 vCPU and 0.5 GiB for 90 s at 0.05 and 0.006:
///   0.000625 + 0.000075 = 0.0007, on 2025-02-27;
/// - `e`: marketing/adhoc/default an hour ago, 1 vCPU and 2 GiB for 600 s at 0.04 and
///   0.005: 0.0066667 + 0.0016667 = 0.008333.
async fn app_with_usage() -> (TestApp, DateTime<Utc>) {
    let t = TestApp::start().await;
    let recent = Utc::now() - Duration::hours(1);
    let standard = |dag, started_at| Try {
        team: "marketing",
        dag,
        queue: "default",
        vcpu: 2.0,
        memory_bytes: 4 * GIB,
        wall_seconds: 1800.0,
        price: (0.04, 0.005),
        started_at,
    };
    record(
        &t,
        "a",
        standard("daily_revenue", at("2025-03-01T10:00:00Z")),
    )
    .await;
    record(
        &t,
        "b",
        standard("daily_revenue", at("2025-03-02T10:00:00Z")),
    )
    .await;
    let batch = |vcpu, memory_bytes, wall_seconds, started_at| Try {
        team: "finance",
        dag: "ledger",
        queue: "batch",
        vcpu,
        memory_bytes,
        wall_seconds,
        price: (0.05, 0.006),
        started_at,
    };
    record(&t, "c", batch(1.0, GIB, 3600.0, at("2025-03-02T23:00:00Z"))).await;
    record(
        &t,
        "d",
        batch(0.5, GIB / 2, 90.0, at("2025-02-27T12:00:00Z")),
    )
    .await;
    let e = Try {
        dag: "adhoc",
        vcpu: 1.0,
        memory_bytes: 2 * GIB,
        wall_seconds: 600.0,
        ..standard("adhoc", recent)
    };
    record(&t, "e", e).await;
    (t, recent)
}

async fn report(t: &TestApp, query: &str) -> Value {
    let (status, body) = t.get(&format!("/api/v1/costs{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    body
}

/// `(key, day, tries, cost)` of each row.
fn rows(body: &Value) -> Vec<(String, String, u64, f64)> {
    body["costs"]
        .as_array()
        .expect("costs")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or("").to_string(),
                r["day"].as_str().unwrap_or("").to_string(),
                r["tries"].as_u64().expect("tries"),
                r["cost"].as_f64().expect("cost"),
            )
        })
        .collect()
}

fn row(key: &str, day: &str, tries: u64, cost: f64) -> (String, String, u64, f64) {
    (key.to_string(), day.to_string(), tries, cost)
}

#[tokio::test]
async fn costs_add_up_per_team() {
    let (t, _) = app_with_usage().await;
    let body = report(&t, "?by=team&since=2025-03-01").await;
    assert_eq!(
        rows(&body),
        [
            row("finance", "", 1, 0.056),
            row("marketing", "", 3, 0.108333)
        ]
    );
    // Reserved hours and measured usage of one group.
    let finance = &body["costs"][0];
    assert_eq!(finance["wall_seconds"], 3600.0);
    assert_eq!(finance["vcpu_hours"], 1.0);
    assert_eq!(finance["gib_hours"], 1.0);
    assert_eq!(finance["cpu_seconds"], 1800.0);
    assert_eq!(finance["peak_memory_bytes"], GIB / 2);
    assert!(finance.get("day").is_none(), "{finance}");
    let marketing = &body["costs"][1];
    // 2 × 2 × 0.5 h + 1 × 1/6 h; 2 × 4 × 0.5 h + 2 × 1/6 h.
    assert_eq!(marketing["vcpu_hours"], 2.166667);
    assert_eq!(marketing["gib_hours"], 4.333333);
    assert_eq!(
        body["total"],
        json!({
            "tries": 4,
            "wall_seconds": 7800.0,
            "vcpu_hours": 3.166667,
            "gib_hours": 5.333333,
            "cpu_seconds": 5700.0,
            "peak_memory_bytes": 2 * GIB,
            "cost": 0.164333,
        })
    );
    assert_eq!(body["since"], "2025-03-01T00:00:00+00:00");
    assert_eq!(body["group_by"], "team");
    assert_eq!(body["per_day"], false);
    assert!(
        body["currency_note"]
            .as_str()
            .is_some_and(|n| n.contains("weir.toml"))
    );
    assert!(body.get("team").is_none());
}

#[tokio::test]
async fn costs_default_to_the_last_30_days_per_team() {
    let (t, recent) = app_with_usage().await;
    let body = report(&t, "").await;
    assert_eq!(rows(&body), [row("marketing", "", 1, 0.008333)]);
    assert_eq!(body["group_by"], "team");
    let since = at(body["since"].as_str().expect("since"));
    let expected = Utc::now() - Duration::days(30);
    assert!(
        (since - expected).num_seconds().abs() < 60,
        "since {since}, expected about {expected}"
    );
    assert!(since < recent);
}

#[tokio::test]
async fn costs_group_by_dag_queue_and_day() {
    let (t, recent) = app_with_usage().await;
    let today = recent.date_naive().to_string();
    let body = report(&t, "?by=dag&since=2025-03-01&per_day=true").await;
    assert_eq!(
        rows(&body),
        [
            row("daily_revenue", "2025-03-01", 1, 0.05),
            row("daily_revenue", "2025-03-02", 1, 0.05),
            row("ledger", "2025-03-02", 1, 0.056),
            row("adhoc", &today, 1, 0.008333),
        ]
    );
    assert_eq!(
        (&body["group_by"], &body["per_day"]),
        (&json!("dag"), &json!(true))
    );

    let body = report(&t, "?by=queue&since=2025-02-01").await;
    assert_eq!(
        rows(&body),
        [row("batch", "", 2, 0.0567), row("default", "", 3, 0.108333)]
    );
    assert_eq!(body["total"]["cost"], 0.165033);
}

#[tokio::test]
async fn costs_filter_by_time_and_team() {
    let (t, _) = app_with_usage().await;
    // An RFC 3339 date-time, inclusive: `b` started exactly then.
    let body = report(&t, "?since=2025-03-02T10:00:00Z&by=dag").await;
    assert_eq!(
        rows(&body),
        [
            row("adhoc", "", 1, 0.008333),
            row("daily_revenue", "", 1, 0.05),
            row("ledger", "", 1, 0.056),
        ]
    );
    // An offset is honoured: 11:00+01:00 is 10:00Z.
    for offset in ["%2B01:00", "+01:00"] {
        let body = report(&t, &format!("?since=2025-03-02T11:00:00{offset}&by=dag")).await;
        assert_eq!(body["costs"].as_array().map(Vec::len), Some(3), "{body}");
    }

    let body = report(&t, "?team=finance&since=2025-01-01").await;
    assert_eq!(rows(&body), [row("finance", "", 2, 0.0567)]);
    assert_eq!(body["team"], "finance");

    let body = report(&t, "?since=2099-01-01").await;
    assert_eq!(body["costs"], json!([]));
    assert_eq!(body["total"]["tries"], 0);
    assert_eq!(body["total"]["cost"], 0.0);
}

#[tokio::test]
async fn bad_cost_parameters_are_400() {
    let t = TestApp::start().await;
    for (query, needle) in [
        ("by=teams", "cannot group costs by `teams`"),
        ("by=", "`by`"),
        ("since=yesterday", "`since`"),
        ("since=30y", "30d"),
        ("since=-3d", "`since`"),
        ("per_day=maybe", "`per_day`"),
    ] {
        let (status, body) = t.get(&format!("/api/v1/costs?{query}")).await;
        if query == "by=" {
            // An empty value is no value: the default applies.
            assert_eq!(status, StatusCode::OK, "{body}");
            continue;
        }
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "Bad Request");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(needle), "{query}: {detail}");
    }
}

/// Validates `body` against the schema `name` of the served OpenAPI document.
async fn assert_matches_schema(t: &TestApp, name: &str, body: &Value) {
    let (status, doc) = t.get("/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "$ref": format!("#/components/schemas/{name}"),
    });
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {name}: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:?}\n{body:#}");
}

#[tokio::test]
async fn cost_and_queue_answers_match_the_openapi_document() {
    let (t, _) = app_with_usage().await;
    let (_, doc) = t.get("/api/v1/openapi.json").await;
    for (path, id) in [
        ("/costs", "get_costs"),
        ("/queues", "get_queues"),
        ("/queues/{queue_name}", "get_queue"),
    ] {
        assert_eq!(doc["paths"][path]["get"]["operationId"], id, "{path}");
    }
    let body = report(&t, "?by=dag&per_day=true&since=2025-01-01&team=finance").await;
    assert_matches_schema(&t, "CostReport", &body).await;
    let (_, body) = t.get("/api/v1/queues").await;
    assert_matches_schema(&t, "QueueCollection", &body).await;
    let (_, body) = t.get("/api/v1/queues/default").await;
    assert_matches_schema(&t, "Queue", &body).await;
}
