//! Notifications through the real binary (issue 13): a DAG's `notify:` sends webhook
//! messages (JSON and Slack-compatible) to a receiver in the test and e-mail to a real
//! SMTP server (aiosmtpd), once per event, with the masked log tail; deadlines notify
//! once while the run goes on; a failing channel is retried, then marked failed, and
//! never holds up runs; a DAG naming a channel it may not use does not load.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::receivers::{SmtpSink, WebhookReceiver};
use support::server::Server;

const SECRET: &str = "n0tify-S3cret-Value";
const PASSWORD: &str = "a-password-for-tests";

/// A server with `config` as its weir.toml; on PostgreSQL when CI runs the suite there
/// (`WEIR_ENGINE_TEST_POSTGRES_URL`), else on SQLite.
async fn start(files: &[(&str, &str)], config: &str) -> Server {
    support::configured_server(files, config).await
}

/// The messages Weir recorded, as the API shows them to the platform admin.
async fn notifications(server: &Server, query: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/notifications{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["notifications"].as_array().unwrap().clone()
}

async fn wait_all_sent(server: &Server, n: usize) -> Vec<Value> {
    server
        .wait_for(
            "/notifications?limit=100",
            "the notifications to be sent",
            |b| {
                let items = b["notifications"].as_array().unwrap();
                items.len() >= n && items.iter().all(|m| m["state"] == "sent")
            },
        )
        .await["notifications"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_task_sends_one_webhook_message_and_one_email_with_the_masked_log_tail() {
    let hooks = WebhookReceiver::start().await;
    let smtp = SmtpSink::start();
    let mut config = format!(
        r#"
[[channels]]
name = "data-eng-alerts"
webhook = "{}"
{}

[[channels]]
name = "chat"
webhook = "{}"
format = "slack"
"#,
        hooks.url("alerts"),
        if smtp.is_some() {
            r#"email = ["oncall@example.com", "lead@example.com"]"#
        } else {
            ""
        },
        hooks.url("slack"),
    );
    if let Some(smtp) = &smtp {
        config.push_str(&format!(
            "\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Weir <weir@example.com>\"\n",
            smtp.port
        ));
    }
    // 25 numbered lines, the secret among them, then a failure.
    let dag = r#"dag: load
team: data-eng
defaults:
  notify: {on_failure: [data-eng-alerts, chat]}
tasks:
  extract:
    shell: |
      for i in $(seq 1 25); do echo "line $i"; done
      echo "password is $S"
      exit 3
    secrets: {S: db-password}
"#;
    let server = start(&[("load.yaml", dag)], &config).await;
    let out = server.cli_with_stdin(&["secrets", "set", "data-eng/db-password"], SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let run_id = server.trigger("load").await;
    let run = server.wait_run_finished("load", &run_id).await;
    assert_eq!(run["state"], "failed", "{run}");
    let media = if smtp.is_some() { 3 } else { 2 };
    let recorded = wait_all_sent(&server, media).await;

    let alerts = hooks.wait_for("alerts", 1).await;
    let message = &alerts[0];
    assert_eq!(message["event"], "failure", "{message}");
    assert_eq!(message["team"], "data-eng");
    assert_eq!(message["dag_id"], "load");
    assert_eq!(message["run_id"], run_id.as_str());
    assert_eq!(message["task_id"], "extract");
    assert_eq!(message["try_number"], 1);
    assert_eq!(message["state"], "failed");
    assert!(
        message["reason"].as_str().unwrap().contains("exit code 3"),
        "{message}"
    );
    assert!(
        message["url"].as_str().unwrap().starts_with(&server.url),
        "the link points at this server: {message}"
    );
    let tail: Vec<&str> = message["log_tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(tail.len(), 20, "{tail:?}");
    assert!(tail.iter().any(|l| l.contains("line 25")), "{tail:?}");
    assert!(
        !tail.iter().any(|l| l.ends_with("line 5")),
        "only the last lines: {tail:?}"
    );
    assert!(
        tail.iter().any(|l| l.contains("password is ***")),
        "{tail:?}"
    );

    let slack = hooks.wait_for("slack", 1).await;
    let text = slack[0]["text"].as_str().unwrap();
    assert!(
        text.contains("data-eng/load: task extract (try 1) failed"),
        "{text}"
    );
    assert!(text.contains("Reason: exit code 3"), "{text}");

    if let Some(smtp) = &smtp {
        let mails = smtp.wait_for(1).await;
        let mail = &mails[0];
        assert!(
            mail.contains("Subject: [Weir] data-eng/load: task extract (try 1) failed"),
            "{mail}"
        );
        assert!(
            mail.contains("oncall@example.com") && mail.contains("lead@example.com"),
            "{mail}"
        );
        assert!(
            mail.contains("line 25") && mail.contains("exit code 3"),
            "{mail}"
        );
        assert!(smtp.maildir().exists());
    }

    // Exactly one message per channel and medium, however long one waits.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hooks.bodies("alerts").len(), 1);
    assert_eq!(hooks.bodies("slack").len(), 1);
    if let Some(smtp) = &smtp {
        assert_eq!(smtp.messages().len(), 1);
    }
    assert_eq!(
        notifications(&server, "").await.len(),
        media,
        "{recorded:?}"
    );

    // Nothing Weir sent or shows holds the secret.
    let mut everything = serde_json::to_string(&hooks.bodies("alerts")).unwrap();
    everything.push_str(&serde_json::to_string(&hooks.bodies("slack")).unwrap());
    everything.push_str(&serde_json::to_string(&notifications(&server, "").await).unwrap());
    if let Some(smtp) = &smtp {
        everything.push_str(&smtp.messages().join("\n"));
    }
    assert!(
        !everything.contains(SECRET),
        "a notification holds the secret"
    );

    // Another team's member sees none of data-eng's messages (they carry its log).
    let body = json!({"username": "mia", "password": PASSWORD, "platform_admin": false});
    let (status, answer) = server.send("POST", "/users", &body.to_string()).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = server
        .send(
            "PUT",
            "/teams/marketing/members/mia",
            &json!({"role": "admin"}).to_string(),
        )
        .await;
    assert!(status == 200 || status == 201, "{answer}");
    let resp = reqwest::Client::new()
        .get(server.api("/notifications"))
        .basic_auth("mia", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let theirs: Value = resp.json().await.unwrap();
    assert_eq!(theirs["total_entries"], 0, "{theirs}");

    // The CLI lists them.
    let out = server.cli(&["notifications", "list", "--dag", "load"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("failure") && text.contains("data-eng-alerts (webhook)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_then_a_recovery_and_the_run_s_own_events() {
    let hooks = WebhookReceiver::start().await;
    let config = format!(
        "[[channels]]\nname = \"hooks\"\nwebhook = \"{}\"\n",
        hooks.url("h")
    );
    // Fails its first try, succeeds its second.
    let dag = r#"dag: flaky
team: data-eng
notify: {on_success: [hooks], on_failure: [hooks]}
defaults:
  retries: 1
  retry_delay: 1s
  notify: {on_retry: [hooks], on_recovery: hooks}
tasks:
  wobble:
    shell: test {{ ti.try_number }} -ge 2
"#;
    let server = start(&[("flaky.yaml", dag)], &config).await;
    let run_id = server.trigger("flaky").await;
    let run = server.wait_run_finished("flaky", &run_id).await;
    assert_eq!(run["state"], "success", "{run}");
    wait_all_sent(&server, 3).await;
    let got = hooks.wait_for("h", 3).await;
    let events: Vec<(&str, Value, Value)> = got
        .iter()
        .map(|m| {
            (
                m["event"].as_str().unwrap(),
                m["task_id"].clone(),
                m["try_number"].clone(),
            )
        })
        .collect();
    assert!(
        events.contains(&("retry", json!("wobble"), json!(1))),
        "{events:?}"
    );
    assert!(
        events.contains(&("recovery", json!("wobble"), json!(2))),
        "{events:?}"
    );
    assert!(
        events.contains(&("success", Value::Null, Value::Null)),
        "the run's own: {events:?}"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(hooks.bodies("h").len(), 3, "{:?}", hooks.bodies("h"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_deadline_notifies_once_while_the_run_goes_on() {
    let hooks = WebhookReceiver::start().await;
    let config = format!(
        "[[channels]]\nname = \"late\"\nwebhook = \"{}\"\n",
        hooks.url("late")
    );
    // A manual run's data interval ends at its logical date (now): due within a second.
    let dag = r#"dag: slow
team: data-eng
deadline: {run_within: 1s}
notify: {on_deadline_miss: [late]}
tasks:
  crawl:
    shell: sleep 5
"#;
    let server = start(&[("slow.yaml", dag)], &config).await;
    let run_id = server.trigger("slow").await;
    let got = hooks.wait_for("late", 1).await;
    let (_, run) = server.get(&format!("/dags/slow/dagRuns/{run_id}")).await;
    assert_eq!(
        run["state"], "running",
        "notified while the run goes on: {run}"
    );
    assert_eq!(got[0]["event"], "deadline_miss", "{got:?}");
    assert_eq!(got[0]["run_id"], run_id.as_str());
    assert!(got[0]["deadline"].is_string(), "{got:?}");
    let run = server.wait_run_finished("slow", &run_id).await;
    assert_eq!(run["state"], "success");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        hooks.bodies("late").len(),
        1,
        "once: {:?}",
        hooks.bodies("late")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_answering_500_is_retried_then_marked_failed_without_holding_up_runs() {
    let hooks = WebhookReceiver::start().await;
    hooks.answer("down", 500);
    let config = format!(
        "[notifications]\nretry_delay = \"1s\"\nmax_attempts = 3\n\n[[channels]]\nname = \"broken\"\nwebhook = \"{}\"\n",
        hooks.url("down")
    );
    let failing = "dag: fails\nteam: data-eng\nnotify: {on_failure: [broken]}\ntasks:\n  boom:\n    shell: exit 1\n";
    let quick = "dag: quick\nteam: data-eng\ntasks:\n  hello:\n    shell: echo hello\n";
    let server = start(&[("fails.yaml", failing), ("quick.yaml", quick)], &config).await;
    let run_id = server.trigger("fails").await;
    server.wait_run_finished("fails", &run_id).await;
    hooks.wait_for("down", 1).await;

    // The channel's trouble does not hold up the next run: it is done while the
    // message still waits for its next attempt (1 s, then 2 s later).
    let next = server.trigger("quick").await;
    let run = server.wait_run_finished("quick", &next).await;
    assert_eq!(run["state"], "success");
    let now = notifications(&server, "?channel=broken").await;
    assert_eq!(now[0]["state"], "pending", "{now:?}");

    let failed = server
        .wait_for(
            "/notifications?state=failed",
            "the message to be given up",
            // The list, not the count: the two are read one after the other.
            |b| b["notifications"].as_array().is_some_and(|n| n.len() == 1),
        )
        .await;
    let message = &failed["notifications"][0];
    assert_eq!(message["attempts"], 3, "{message}");
    let error = message["last_error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 500") && error.contains("gave up after 3 attempts"),
        "{error}"
    );
    assert_eq!(hooks.bodies("down").len(), 3, "three attempts, then none");

    let (status, channels) = server.get("/notifications/channels").await;
    assert_eq!(status, 200, "{channels}");
    let broken = &channels["channels"][0];
    assert_eq!(broken["name"], "broken");
    assert_eq!(broken["failed"], 1, "{channels}");
    assert!(
        broken["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{channels}"
    );
    assert!(
        !channels.to_string().contains(&hooks.base),
        "the URL is not shown: {channels}"
    );

    // The metrics count each attempt.
    let metrics = reqwest::Client::new()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (outcome, n) in [("retry", 2), ("failed", 1)] {
        let line = format!(
            "weir_notification_deliveries_total{{channel=\"broken\",medium=\"webhook\",outcome=\"{outcome}\"}} {n}"
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    let out = server.cli(&["notifications", "channels"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("broken") && text.contains("HTTP 500"),
        "{text}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hooks.bodies("down").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_naming_a_missing_or_another_team_s_channel_does_not_load() {
    let config = r#"
[[channels]]
name = "data-eng-alerts"
webhook = "http://127.0.0.1:9/hook"
teams = ["data-eng"]
"#;
    let typo = "dag: typo\nteam: data-eng\nnotify: {on_failure: [data-eng-alert]}\ntasks:\n  a:\n    shell: echo a\n";
    let theirs = "dag: theirs\nteam: marketing\ntasks:\n  a:\n    shell: echo a\n    notify: {on_failure: [data-eng-alerts]}\n";
    let retry = "dag: runretry\nteam: data-eng\nnotify: {on_retry: [data-eng-alerts]}\ntasks:\n  a:\n    shell: echo a\n";
    let server = start(
        &[
            ("typo.yaml", typo),
            ("theirs.yaml", theirs),
            ("runretry.yaml", retry),
        ],
        config,
    )
    .await;
    let (status, errors) = server.get("/importErrors").await;
    assert_eq!(status, 200, "{errors}");
    let text = errors.to_string();
    assert!(
        text.contains("notification channel `data-eng-alert` does not exist")
            && text.contains("did you mean `data-eng-alerts`?"),
        "{text}"
    );
    assert!(text.contains("typo.yaml:3:"), "located: {text}");
    assert!(
        text.contains("is kept to team(s) data-eng; team `marketing` may not use it"),
        "{text}"
    );
    assert!(text.contains("a DAG run is never retried"), "{text}");
    let (_, dags) = server.get("/dags").await;
    assert_eq!(dags["total_entries"], 0, "{dags}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_channels_table_is_refused_at_start_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.toml");
    std::fs::write(
        &path,
        "[[channels]]\nname = \"x\"\nemail = [\"not an address\"]\nmax_per_minute = 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["standalone", "--port", "0", "--config"])
        .arg(&path)
        .arg("--home")
        .arg(dir.path().join("home"))
        .arg("--dags")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`not an address` is not an e-mail address"),
        "{err}"
    );
    assert!(err.contains("no [smtp] table"), "{err}");
    assert!(err.contains("`max_per_minute` must be at least 1"), "{err}");
    assert!(err.contains("weir.toml:3:"), "located: {err}");
}
