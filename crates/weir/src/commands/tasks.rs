//! `weir tasks list|logs|xcom|clear`: task instances on a server. `logs -f` follows a running
//! try by asking for what follows the last continuation token until the try is over and
//! its log drained.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::Method;
use weir_api::{
    ClearTaskInstances, LogResponse, TaskInstance, TaskInstanceCollection,
    TaskInstanceReferenceCollection,
};
use weir_core::state::TaskState;

use crate::cli::{OutputFormat, ServerArgs, TasksCommand};
use crate::commands::client::Client;
use crate::commands::output::outln;
use crate::commands::output::{self, print_json};
use crate::commands::runs::ti_table;
use crate::commands::server::with_client;

/// How often `logs -f` asks for more.
const POLL: Duration = Duration::from_millis(200);

pub fn run(cmd: TasksCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        TasksCommand::List { dag_id, run_id } => with_client(server, |client| async move {
            let tis: TaskInstanceCollection = client
                .get(
                    &["dags", &dag_id, "dagRuns", &run_id, "taskInstances"],
                    &[("limit", "1000".into())],
                )
                .await?;
            if format == OutputFormat::Json {
                print_json(&tis)?;
            } else {
                outln!("{}", ti_table(&tis.task_instances))?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        TasksCommand::Logs {
            dag_id,
            run_id,
            task_id,
            try_number,
            map_index,
            follow,
        } => with_client(server, |client| async move {
            let ti = TiRef {
                dag_id: &dag_id,
                run_id: &run_id,
                task_id: &task_id,
                map_index,
            };
            logs(&client, &ti, try_number, follow).await
        }),
        TasksCommand::Xcom {
            dag_id,
            run_id,
            task_id,
            map_index,
            key,
        } => with_client(server, |client| async move {
            let query: Vec<(&str, String)> = map_index
                .map(|i| ("map_index", i.to_string()))
                .into_iter()
                .collect();
            let xcom: weir_api::XCom = client
                .get(
                    &[
                        "dags",
                        &dag_id,
                        "dagRuns",
                        &run_id,
                        "taskInstances",
                        &task_id,
                        "xcomEntries",
                        &key,
                    ],
                    &query,
                )
                .await?;
            if format == OutputFormat::Json {
                print_json(&xcom)?;
            } else {
                // The value alone, as JSON, for `$(weir tasks xcom …)` and `| jq`.
                outln!("{}", serde_json::to_string_pretty(&xcom.value)?)?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        TasksCommand::Clear {
            dag_id,
            run_id,
            tasks,
            downstream,
            only_failed,
            latest_version,
        } => with_client(server, |client| async move {
            let body = ClearTaskInstances {
                run_on_latest_version: latest_version,
                dry_run: false,
                dag_run_id: run_id,
                task_ids: (!tasks.is_empty()).then_some(tasks),
                include_downstream: downstream,
                only_failed,
                ..ClearTaskInstances::default()
            };
            let cleared: TaskInstanceReferenceCollection = client
                .send(
                    Method::POST,
                    &["dags", &dag_id, "clearTaskInstances"],
                    &[],
                    Some(&body),
                )
                .await?;
            if format == OutputFormat::Json {
                print_json(&cleared)?;
                return Ok(ExitCode::SUCCESS);
            }
            let n = cleared.task_instances.len();
            if n == 0 {
                outln!("nothing to clear")?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = output::table(["RUN ID", "TASK", "MAP"]);
            for r in &cleared.task_instances {
                let map = if r.map_index < 0 {
                    "-".to_string()
                } else {
                    r.map_index.to_string()
                };
                t.add_row(vec![r.dag_run_id.clone(), r.task_id.clone(), map]);
            }
            outln!("{t}")?;
            outln!(
                "cleared {n} task instance{}; they run again, with their retries, on {}",
                if n == 1 { "" } else { "s" },
                if latest_version {
                    "the DAG's latest version"
                } else {
                    "their run's own DAG version"
                }
            )?;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// One task instance, by its parts.
struct TiRef<'a> {
    dag_id: &'a str,
    run_id: &'a str,
    task_id: &'a str,
    map_index: i32,
}

impl TiRef<'_> {
    async fn get(&self, client: &Client) -> anyhow::Result<TaskInstance> {
        let map = self.map_index.to_string();
        let mut path = vec![
            "dags",
            self.dag_id,
            "dagRuns",
            self.run_id,
            "taskInstances",
            self.task_id,
        ];
        if self.map_index >= 0 {
            path.push(&map);
        }
        Ok(client.get(&path, &[]).await?)
    }
}

/// Prints a try's log (the latest try by default); with `follow`, keeps printing until
/// the try is over.
async fn logs(
    client: &Client,
    ti: &TiRef<'_>,
    try_number: Option<u32>,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    let mut instance = ti.get(client).await?;
    if instance.operator == Some(weir_api::TaskKind::Sensor) {
        // A sensor runs no try, so it has no log: its state and note say where it is.
        let next = instance
            .next_check_at
            .map(|at| {
                format!(
                    ", next check at {}",
                    crate::commands::output::time(Some(at))
                )
            })
            .unwrap_or_default();
        outln!(
            "sensor {}.{} of run {}: {}{next}\n{}",
            ti.dag_id,
            ti.task_id,
            ti.run_id,
            instance.state(),
            instance.note.as_deref().unwrap_or("(not checked yet)")
        )?;
        return Ok(ExitCode::from(if instance.state() == TaskState::Failed {
            1
        } else {
            0
        }));
    }
    let try_number = match try_number {
        Some(n) => n,
        None => loop {
            if instance.try_number > 0 {
                break instance.try_number;
            }
            let state = instance.state();
            if !follow || state.is_finished() {
                eprintln!(
                    "task instance {}.{} of run {} has not run a try (state {state})",
                    ti.dag_id, ti.task_id, ti.run_id
                );
                return Ok(ExitCode::from(if state.is_finished() { 0 } else { 1 }));
            }
            tokio::time::sleep(POLL).await;
            instance = ti.get(client).await?;
        },
    };
    let number = try_number.to_string();
    let path = [
        "dags",
        ti.dag_id,
        "dagRuns",
        ti.run_id,
        "taskInstances",
        ti.task_id,
        "logs",
        &number,
    ];
    let mut token: Option<String> = None;
    let mut finishing = false;
    let mut stdout = std::io::stdout();
    loop {
        let mut query = vec![("map_index", ti.map_index.to_string())];
        if let Some(t) = &token {
            query.push(("token", t.clone()));
        }
        let chunk: LogResponse = client.get(&path, &query).await?;
        if chunk.continuation_token.is_some() {
            token = chunk.continuation_token;
        }
        if !chunk.content.is_empty() {
            stdout.write_all(chunk.content.as_bytes())?;
            stdout.flush()?;
            continue;
        }
        if !follow || finishing {
            return Ok(ExitCode::SUCCESS);
        }
        let now = ti.get(client).await?;
        let running = now.try_number == try_number
            && matches!(now.state(), TaskState::Running | TaskState::Queued);
        if running {
            tokio::time::sleep(POLL).await;
        } else {
            // The try is over: read what it wrote last, then stop.
            finishing = true;
        }
    }
}
