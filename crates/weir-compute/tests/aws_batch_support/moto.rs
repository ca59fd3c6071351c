//! moto's server as AWS Batch: Batch without Docker (`POST /moto-api/config`), an IAM
//! role, an UNMANAGED compute environment and a job queue, all named for this test only
//! (the server is shared by tests running in parallel: nothing is ever reset), and the
//! CloudWatch Logs stream a job names, written as Batch's log driver would.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use aws_sdk_batch::types::{CeState, CeType, ComputeEnvironmentOrder, JqState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A name no other test (or earlier run against the same moto) uses.
pub fn unique(what: &str) -> String {
    format!(
        "weirtest-{what}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 100_000_000
    )
}

/// moto's URL, or None (with the reason printed) when the tests should skip.
pub fn url() -> Option<String> {
    match std::env::var("WEIR_TEST_MOTO_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("WEIR_REQUIRE_MOTO").is_some() => {
            panic!("WEIR_REQUIRE_MOTO is set but WEIR_TEST_MOTO_URL is not: run scripts/test")
        }
        Err(_) => {
            eprintln!(
                "skipped: no WEIR_TEST_MOTO_URL (crates/weir-secrets/scripts/start-moto.sh prints one)"
            );
            None
        }
    }
}

/// One POST over plain HTTP/1.1; returns the status and the body. moto routes a request
/// to a service by the credential scope of its (unchecked) signature.
pub async fn post(url: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    post_to(url, "moto", path, content_type, body).await
}

/// [`post`] for `service` (`iam`, …).
pub async fn post_to(
    url: &str,
    service: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

pub async fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .load()
        .await
}

/// A Batch job queue of this test's own on moto, with Batch's Docker use turned off.
/// Returns the job queue's name.
pub async fn job_queue(url: &str, what: &str) -> String {
    let (status, body) = post(
        url,
        "/moto-api/config",
        "application/json",
        r#"{"batch": {"use_docker": false}}"#,
    )
    .await;
    assert!((200..300).contains(&status), "moto config: {status} {body}");
    let role = unique(&format!("{what}-role"));
    let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
    let (status, body) = post_to(
        url,
        "iam",
        "/",
        "application/x-www-form-urlencoded",
        &format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument={policy}"
        ),
    )
    .await;
    assert_eq!(status, 200, "IAM CreateRole: {body}");
    let arn = body
        .split("<Arn>")
        .nth(1)
        .and_then(|rest| rest.split("</Arn>").next())
        .unwrap_or_else(|| panic!("no role ARN in {body}"))
        .to_owned();
    let batch = aws_sdk_batch::Client::new(&sdk_config(url).await);
    let ce = unique(&format!("{what}-ce"));
    let created = batch
        .create_compute_environment()
        .compute_environment_name(&ce)
        .r#type(CeType::Unmanaged)
        .state(CeState::Enabled)
        .service_role(&arn)
        .send()
        .await
        .unwrap();
    let queue = unique(&format!("{what}-q"));
    batch
        .create_job_queue()
        .job_queue_name(&queue)
        .state(JqState::Enabled)
        .priority(1)
        .compute_environment_order(
            ComputeEnvironmentOrder::builder()
                .order(1)
                .compute_environment(created.compute_environment_arn().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    queue
}

/// Writes `lines` into the log stream of job `job_id`, as Batch's `awslogs` driver does:
/// the stream named by the job's `container.logStreamName`, in `/aws/batch/job`.
/// Returns the stream's name.
pub async fn write_job_log(url: &str, job_id: &str, lines: &[&str]) -> String {
    let config = sdk_config(url).await;
    let batch = aws_sdk_batch::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let mut stream = None;
    for _ in 0..100 {
        let out = batch.describe_jobs().jobs(job_id).send().await.unwrap();
        stream = out
            .jobs()
            .first()
            .and_then(|j| j.container())
            .and_then(|c| c.log_stream_name())
            .map(str::to_owned);
        if stream.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stream = stream.expect("moto names the job's log stream");
    let group = "/aws/batch/job";
    // The group is shared by every test: it may exist already.
    let _ = logs.create_log_group().log_group_name(group).send().await;
    logs.create_log_stream()
        .log_group_name(group)
        .log_stream_name(&stream)
        .send()
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let events = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now + i as i64)
                .message(*l)
                .build()
                .unwrap()
        })
        .collect();
    logs.put_log_events()
        .log_group_name(group)
        .log_stream_name(&stream)
        .set_log_events(Some(events))
        .send()
        .await
        .unwrap();
    stream
}
