//! `weir datasets list|events|post` and `weir lineage DAG|URI`.

use std::process::ExitCode;

use chrono::SecondsFormat;
use reqwest::Method;
use weir_api::{
    CreateDatasetEvent, DatasetCollection, DatasetEvent, DatasetEventCollection, Lineage,
};

use crate::cli::{OutputFormat, ServerArgs};
use crate::cli_datasets::{DatasetsCommand, LineageArgs};
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

pub fn run(cmd: DatasetsCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        DatasetsCommand::List { uri, limit } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(uri) = uri {
                query.push(("uri_pattern", uri));
            }
            with_client(server, |client| async move {
                let all: DatasetCollection = client.get(&["datasets"], &query).await?;
                if format == OutputFormat::Json {
                    print_json(&all)?;
                } else {
                    print_datasets(&all)?;
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        DatasetsCommand::Events { uri, dag, limit } => {
            let mut query = vec![
                ("limit", limit.to_string()),
                ("order_by", "-timestamp".into()),
            ];
            if let Some(uri) = uri {
                query.push(("dataset_uri", uri));
            }
            if let Some(dag) = dag {
                query.push(("source_dag_id", dag));
            }
            with_client(server, |client| async move {
                let all: DatasetEventCollection =
                    client.get(&["datasets", "events"], &query).await?;
                if format == OutputFormat::Json {
                    print_json(&all)?;
                } else {
                    print_events(&all.dataset_events)?;
                    outln!(
                        "{} of {} shown",
                        all.dataset_events.len(),
                        all.total_entries
                    )?;
                }
                Ok(ExitCode::SUCCESS)
            })
        }
        DatasetsCommand::Post { uri, extra, team } => {
            let extra = match extra {
                None => None,
                Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                    anyhow::anyhow!(
                        "--extra is not JSON ({e}); write an object like '{{\"rows\": 42}}'"
                    )
                })?),
            };
            let body = CreateDatasetEvent {
                dataset_uri: uri,
                extra,
                team,
            };
            with_client(server, |client| async move {
                let event: DatasetEvent = client
                    .send(Method::POST, &["datasets", "events"], &[], Some(&body))
                    .await?;
                if format == OutputFormat::Json {
                    print_json(&event)?;
                } else {
                    print_events(std::slice::from_ref(&event))?;
                }
                Ok(ExitCode::SUCCESS)
            })
        }
    }
}

pub fn lineage(args: LineageArgs) -> anyhow::Result<ExitCode> {
    let format = args.server.output;
    let key = if args.target.contains("://") {
        "dataset"
    } else {
        "dag"
    };
    let query = vec![
        (key, args.target.clone()),
        ("depth", args.depth.to_string()),
    ];
    with_client(&args.server, |client| async move {
        let l: Lineage = client.get(&["lineage"], &query).await?;
        if format == OutputFormat::Json {
            print_json(&l)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut t = output::table(["DEPTH", "DAG", "TEAM"]);
        let mut dags = l.dags.clone();
        dags.sort_by_key(|d| (d.depth, d.dag_id.clone()));
        for d in &dags {
            t.add_row(vec![d.depth.to_string(), d.dag_id.clone(), d.team.clone()]);
        }
        outln!("{t}")?;
        let mut t = output::table(["DATASET", "OWNER", "PRODUCED BY", "CONSUMED BY"]);
        for d in &l.datasets {
            let producers: Vec<String> = d
                .producers
                .iter()
                .map(|p| format!("{}.{} ({})", p.dag_id, p.task_id, p.team))
                .collect();
            let consumers: Vec<String> = d
                .consumers
                .iter()
                .map(|c| match &c.task_id {
                    Some(task) => format!("{}.{} ({})", c.dag_id, task, c.team),
                    None => format!("{} schedule ({})", c.dag_id, c.team),
                })
                .collect();
            t.add_row(vec![
                d.uri.clone(),
                d.owner_team.clone().unwrap_or_default(),
                producers.join(", "),
                consumers.join(", "),
            ]);
        }
        outln!("{t}")?;
        Ok(ExitCode::SUCCESS)
    })
}

fn print_datasets(all: &DatasetCollection) -> anyhow::Result<()> {
    if all.datasets.is_empty() {
        return outln!(
            "no datasets yet: an outlet on a successful try, or `weir datasets post`, makes one"
        );
    }
    let mut t = output::table([
        "URI",
        "OWNER",
        "EVENTS",
        "UPDATED",
        "PRODUCED BY",
        "CONSUMED BY",
    ]);
    for d in &all.datasets {
        let producers: Vec<String> = d
            .producing_tasks
            .iter()
            .map(|p| format!("{}.{}", p.dag_id, p.task_id))
            .collect();
        let consumers: Vec<String> = d.consuming_dags.iter().map(|c| c.dag_id.clone()).collect();
        t.add_row(vec![
            d.uri.clone(),
            d.owner_team.clone().unwrap_or_default(),
            d.events.to_string(),
            d.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            producers.join(", "),
            consumers.join(", "),
        ]);
    }
    outln!("{t}")?;
    outln!("{} of {} shown", all.datasets.len(), all.total_entries)
}

fn print_events(events: &[DatasetEvent]) -> anyhow::Result<()> {
    if events.is_empty() {
        return outln!("no dataset events");
    }
    let mut t = output::table(["ID", "WHEN", "URI", "TEAM", "FROM", "TRIGGERED"]);
    for e in events {
        let from = match (&e.source_dag_id, &e.source_task_id, &e.posted_by) {
            (Some(dag), Some(task), _) => format!("{dag}.{task}"),
            (_, _, Some(who)) => format!("posted by {who}"),
            _ => String::new(),
        };
        let runs: Vec<String> = e
            .created_dagruns
            .iter()
            .map(|r| format!("{}/{}", r.dag_id, r.run_id))
            .collect();
        t.add_row(vec![
            e.id.to_string(),
            e.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
            e.dataset_uri.clone(),
            e.team.clone(),
            from,
            runs.join(", "),
        ]);
    }
    outln!("{t}")
}
