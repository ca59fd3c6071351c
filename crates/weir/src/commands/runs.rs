//! `weir runs list|show`: DAG runs on a server.

use std::process::ExitCode;

use comfy_table::{Cell, Table};
use serde_json::json;
use weir_api::{DagRun, DagRunCollection, TaskInstance, TaskInstanceCollection, XComCollection};

use crate::cli::{OutputFormat, RunsCommand, ServerArgs};
use crate::commands::output::outln;
use crate::commands::output::{self, print_json, state_cell, state_text};
use crate::commands::server::with_client;

pub fn run(cmd: RunsCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        RunsCommand::List { dag, limit } => with_client(server, |client| async move {
            let dag = dag.as_deref().unwrap_or("~");
            let runs: DagRunCollection = client
                .get(
                    &["dags", dag, "dagRuns"],
                    &[
                        ("order_by", "-execution_date".into()),
                        ("limit", limit.to_string()),
                    ],
                )
                .await?;
            if format == OutputFormat::Json {
                print_json(&runs)?;
            } else if runs.dag_runs.is_empty() {
                outln!("no DAG runs")?;
            } else {
                outln!("{}", run_rows(&runs.dag_runs, true))?;
                let shown = runs.dag_runs.len() as i64;
                if runs.total_entries > shown {
                    outln!("{shown} of {} runs; --limit shows more", runs.total_entries)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
        RunsCommand::Show { dag_id, run_id } => with_client(server, |client| async move {
            let run: DagRun = client
                .get(&["dags", &dag_id, "dagRuns", &run_id], &[])
                .await?;
            let tis: TaskInstanceCollection = client
                .get(
                    &["dags", &dag_id, "dagRuns", &run_id, "taskInstances"],
                    &[("limit", "1000".into())],
                )
                .await?;
            if format == OutputFormat::Json {
                print_json(&json!({"dag_run": run, "task_instances": tis.task_instances}))?;
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "run {} of DAG {}: {}",
                run.dag_run_id,
                run.dag_id,
                state_text(run.state.as_str())
            )?;
            outln!("  type:          {}", run.run_type)?;
            outln!(
                "  DAG version:   {}",
                run.dag_hash.as_deref().unwrap_or("-")
            )?;
            outln!("  logical date:  {}", output::time(Some(run.logical_date)))?;
            outln!(
                "  data interval: {} – {}",
                output::time(run.data_interval_start),
                output::time(run.data_interval_end)
            )?;
            outln!(
                "  started:       {}   ended: {}   took: {}",
                output::time(run.start_date),
                output::time(run.end_date),
                output::duration(output::between(run.start_date, run.end_date))
            )?;
            if run.conf.as_object().is_some_and(|c| !c.is_empty()) {
                outln!("  conf:          {}", run.conf)?;
            }
            outln!("{}", ti_table(&tis.task_instances))?;
            // Each task's XCom keys (`weir tasks xcom DAG RUN TASK [--key K]` prints one).
            let mut tasks: Vec<&str> = tis
                .task_instances
                .iter()
                .map(|t| t.task_id.as_str())
                .collect();
            tasks.dedup();
            let mut lines = Vec::new();
            for task in tasks {
                let path = [
                    "dags",
                    &dag_id,
                    "dagRuns",
                    &run_id,
                    "taskInstances",
                    task,
                    "xcomEntries",
                ];
                let Ok(found) = client.get::<XComCollection>(&path, &[]).await else {
                    continue;
                };
                for e in found.xcom_entries {
                    let at = if e.map_index < 0 {
                        task.to_string()
                    } else {
                        format!("{task}[{}]", e.map_index)
                    };
                    lines.push(format!("  {at}: {}", e.key));
                }
            }
            if !lines.is_empty() {
                outln!("XCom (weir tasks xcom {dag_id} {run_id} TASK [--map-index N] [--key K]):")?;
                for l in lines {
                    outln!("{l}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// A table of runs, with a DAG column when they may belong to several DAGs.
pub fn run_rows(runs: &[DagRun], with_dag: bool) -> Table {
    let mut t = if with_dag {
        output::table([
            "DAG",
            "RUN ID",
            "STATE",
            "TYPE",
            "LOGICAL DATE",
            "STARTED",
            "DURATION",
        ])
    } else {
        output::table([
            "RUN ID",
            "STATE",
            "TYPE",
            "LOGICAL DATE",
            "STARTED",
            "DURATION",
        ])
    };
    for r in runs {
        let mut row = Vec::with_capacity(7);
        if with_dag {
            row.push(Cell::new(&r.dag_id));
        }
        row.extend([
            Cell::new(&r.dag_run_id),
            state_cell(r.state.as_str()),
            Cell::new(r.run_type),
            Cell::new(output::time(Some(r.logical_date))),
            Cell::new(output::time(r.start_date)),
            Cell::new(output::duration(output::between(r.start_date, r.end_date))),
        ]);
        t.add_row(row);
    }
    t
}

/// A table of task instances; NEXT is when one waiting to retry is tried again, or when
/// a waiting sensor is checked next.
pub fn ti_table(tis: &[TaskInstance]) -> Table {
    let mut t = output::table([
        "TASK", "MAP", "STATE", "TRY", "KIND", "STARTED", "DURATION", "NEXT",
    ]);
    for ti in tis {
        t.add_row(vec![
            Cell::new(&ti.task_id),
            Cell::new(if ti.map_index < 0 {
                "-".to_string()
            } else {
                ti.map_index.to_string()
            }),
            state_cell(ti.state().as_str()),
            Cell::new(ti.try_number),
            Cell::new(ti.operator.map_or("-", |k| k.as_str())),
            Cell::new(output::time(ti.start_date)),
            Cell::new(output::duration(ti.duration)),
            Cell::new(output::time(ti.next_check_at.or(ti.next_retry_at))),
        ]);
    }
    t
}
