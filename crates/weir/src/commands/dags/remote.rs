//! `weir dags list|show|trigger|pause|unpause|backfill|errors`: DAGs on a server.

use std::process::ExitCode;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use weir_api::ApiDateTime;
use weir_api::{
    BackfillRequest, BackfillResponse, Dag, DagCollection, DagDetail, DagRun, DagRunCollection,
    ImportErrorCollection, TaskCollection, TaskInstanceCollection, TriggerDagRun,
};
use weir_core::state::DagRunState;

use crate::cli::{OutputFormat, ServerArgs};
use crate::commands::client::Client;
use crate::commands::output::outln;
use crate::commands::output::{self, print_json, state_text, usage};
use crate::commands::runs::{run_rows, ti_table};
use crate::commands::server::{parse_conf, parse_date, with_client};

/// How often `--wait` asks for the run's state.
const POLL: Duration = Duration::from_millis(200);

/// Every DAG, page by page.
async fn all_dags(client: &Client) -> anyhow::Result<DagCollection> {
    let mut all = DagCollection {
        dags: Vec::new(),
        total_entries: 0,
    };
    loop {
        let query = [
            ("limit", "1000".to_string()),
            ("offset", all.dags.len().to_string()),
        ];
        let page: DagCollection = client.get(&["dags"], &query).await?;
        all.total_entries = page.total_entries;
        let done = page.dags.is_empty();
        all.dags.extend(page.dags);
        if done || all.dags.len() as i64 >= page.total_entries {
            return Ok(all);
        }
    }
}

pub fn list(server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    with_client(server, |client| async move {
        let dags = all_dags(&client).await?;
        if format == OutputFormat::Json {
            print_json(&dags)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut t = output::table(["DAG", "TEAM", "SCHEDULE", "PAUSED", "NEXT RUN", "TAGS"]);
        for d in &dags.dags {
            t.add_row(vec![
                d.dag_id.clone(),
                d.team.clone().unwrap_or_default(),
                schedule(d),
                if d.is_paused { "yes" } else { "no" }.into(),
                // When the next run actually starts (the end of its data interval), not
                // its logical date, which is already past by then.
                output::time(d.next_dagrun_create_after),
                d.tags
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
        }
        outln!("{t}")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The cron expression, or what else starts the DAG's runs.
fn schedule(d: &Dag) -> String {
    let datasets = d
        .timetable_description
        .as_deref()
        .is_some_and(|t| t.contains("dataset"));
    match &d.schedule_interval {
        Some(s) => s.value.clone(),
        None if datasets => "datasets".into(),
        None => "manual".into(),
    }
}

pub fn show(dag_id: &str, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    with_client(server, |client| async move {
        let details: DagDetail = client.get(&["dags", dag_id, "details"], &[]).await?;
        let tasks: TaskCollection = client.get(&["dags", dag_id, "tasks"], &[]).await?;
        let recent: DagRunCollection = client
            .get(
                &["dags", dag_id, "dagRuns"],
                &[
                    ("order_by", "-execution_date".into()),
                    ("limit", "5".into()),
                ],
            )
            .await?;
        if format == OutputFormat::Json {
            print_json(
                &json!({"dag": details, "tasks": tasks.tasks, "recent_runs": recent.dag_runs}),
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        let d = &details.dag;
        outln!(
            "DAG {} (team {})",
            d.dag_id,
            d.team.as_deref().unwrap_or("-")
        )?;
        if let Some(desc) = &d.description {
            outln!("  {desc}")?;
        }
        outln!("  schedule:  {} ({})", schedule(d), details.timezone)?;
        outln!("  paused:    {}", if d.is_paused { "yes" } else { "no" })?;
        outln!(
            "  next run:  starts {} (logical date {})",
            output::time(d.next_dagrun_create_after),
            output::time(d.next_dagrun)
        )?;
        outln!("  file:      {}", d.fileloc)?;
        outln!(
            "  version:   {} (content hash; `weir runs show` gives each run's)",
            details.version.as_deref().unwrap_or("-")
        )?;
        if d.has_import_errors == Some(true) {
            outln!(
                "  warning:   its file has import errors now (`weir dags errors`); the last good version runs"
            )?;
        }
        let mut t = output::table([
            "TASK",
            "KIND",
            "UPSTREAM",
            "TRIGGER RULE",
            "RETRIES",
            "POOL",
        ]);
        for task in &tasks.tasks {
            t.add_row(vec![
                task.task_id.clone(),
                task.kind.to_string(),
                task.upstream_task_ids.join(", "),
                task.trigger_rule.to_string(),
                task.retries.to_string(),
                task.pool.clone(),
            ]);
        }
        outln!("{t}")?;
        if !recent.dag_runs.is_empty() {
            outln!("Recent runs:")?;
            outln!("{}", run_rows(&recent.dag_runs, false))?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub struct TriggerArgs<'a> {
    pub dag_id: &'a str,
    pub conf: Option<&'a str>,
    pub logical_date: Option<&'a str>,
    pub note: Option<String>,
    pub wait: bool,
}

pub fn trigger(args: TriggerArgs<'_>, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let conf = match args.conf.map(parse_conf).transpose() {
        Ok(c) => c,
        Err(e) => return Ok(usage(e)),
    };
    let logical_date = match args
        .logical_date
        .map(|d| parse_date("--logical-date", d))
        .transpose()
    {
        Ok(d) => d.map(ApiDateTime),
        Err(e) => return Ok(usage(e)),
    };
    let format = server.output;
    let dag_id = args.dag_id;
    with_client(server, |client| async move {
        let body = TriggerDagRun {
            logical_date,
            conf,
            note: args.note.clone(),
            ..TriggerDagRun::default()
        };
        let run: DagRun = client
            .send(Method::POST, &["dags", dag_id, "dagRuns"], &[], Some(&body))
            .await?;
        if !args.wait {
            if format == OutputFormat::Json {
                print_json(&run)?;
            } else {
                outln!(
                    "triggered DAG {dag_id}: run {} ({})",
                    run.dag_run_id,
                    state_text(run.state.as_str())
                )?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        if format == OutputFormat::Table {
            eprintln!(
                "triggered DAG {dag_id}: run {}; waiting for it to finish…",
                run.dag_run_id
            );
        }
        let dag: Dag = client.get(&["dags", dag_id], &[]).await?;
        if dag.is_paused {
            eprintln!(
                "note: DAG {dag_id} is paused, so the run waits until `weir dags unpause {dag_id}`"
            );
        }
        let run = wait_for_run(&client, dag_id, &run.dag_run_id).await?;
        let failed = run.state != DagRunState::Success;
        if format == OutputFormat::Json {
            print_json(&run)?;
        } else {
            let tis: TaskInstanceCollection = client
                .get(
                    &["dags", dag_id, "dagRuns", &run.dag_run_id, "taskInstances"],
                    &[("limit", "1000".into())],
                )
                .await?;
            outln!("{}", ti_table(&tis.task_instances))?;
            let took = output::duration(output::between(run.start_date, run.end_date));
            outln!(
                "run {} of DAG {dag_id}: {} in {took}",
                run.dag_run_id,
                state_text(run.state.as_str())
            )?;
        }
        Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Polls the run until it has finished.
pub async fn wait_for_run(client: &Client, dag_id: &str, run_id: &str) -> anyhow::Result<DagRun> {
    loop {
        let run: DagRun = client
            .get(&["dags", dag_id, "dagRuns", run_id], &[])
            .await?;
        if run.state.is_finished() {
            return Ok(run);
        }
        tokio::time::sleep(POLL).await;
    }
}

pub fn set_paused(dag_id: &str, paused: bool, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    with_client(server, |client| async move {
        let dag: Dag = client
            .send(
                Method::PATCH,
                &["dags", dag_id],
                &[("update_mask", "is_paused".into())],
                Some(&json!({ "is_paused": paused })),
            )
            .await?;
        if format == OutputFormat::Json {
            print_json(&dag)?;
        } else {
            outln!(
                "DAG {} is {}",
                dag.dag_id,
                if dag.is_paused { "paused" } else { "unpaused" }
            )?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn backfill(
    dag_id: &str,
    from: &str,
    to: &str,
    server: &ServerArgs,
) -> anyhow::Result<ExitCode> {
    let (from_date, to_date) = match (parse_date("--from", from), parse_date("--to", to)) {
        (Ok(f), Ok(t)) if t < f => return Ok(usage(format!("--to {to} is before --from {from}"))),
        (Ok(f), Ok(t)) => (ApiDateTime(f), ApiDateTime(t)),
        (Err(e), _) | (_, Err(e)) => return Ok(usage(e)),
    };
    let format = server.output;
    with_client(server, |client| async move {
        let body = BackfillRequest {
            dag_id: dag_id.to_string(),
            from_date,
            to_date,
            dag_run_conf: None,
        };
        let created: BackfillResponse = client
            .send(Method::POST, &["backfills"], &[], Some(&body))
            .await?;
        if format == OutputFormat::Json {
            print_json(&created)?;
        } else if created.dag_runs.is_empty() {
            outln!("no new runs: every interval from {from} to {to} already has a run")?;
        } else {
            outln!("{}", run_rows(&created.dag_runs, false))?;
            outln!(
                "created {} backfill run{}",
                created.total_entries,
                if created.total_entries == 1 { "" } else { "s" }
            )?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn errors(server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    with_client(server, |client| async move {
        let errors: ImportErrorCollection = client
            .get(&["importErrors"], &[("limit", "1000".into())])
            .await?;
        if format == OutputFormat::Json {
            print_json(&errors)?;
        } else if errors.import_errors.is_empty() {
            outln!("no import errors: every DAG file loads")?;
        } else {
            for e in &errors.import_errors {
                outln!("{} ({}):", e.filename, output::time(Some(e.timestamp)))?;
                outln!("{}\n", e.stack_trace.trim_end())?;
            }
            let n = errors.total_entries;
            outln!("{n} file{} failed to load", if n == 1 { "" } else { "s" })?;
        }
        Ok(ExitCode::SUCCESS)
    })
}
