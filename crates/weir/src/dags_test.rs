//! `weir dags test FILE`: the developer's inner loop. Runs one DAG run to completion in
//! this process (no server; a temporary home unless `--home`), printing each task's
//! progress as it happens; exit 0 if the run succeeded, 1 if it failed. Each task's
//! log lines are printed as they are written, prefixed by the task (`--quiet`: states
//! only), and the XCom each task returned at the end. Variables come from `--vars
//! FILE.json`, `WEIR_VAR_<KEY>` environment variables and `--var KEY=VALUE`, in that
//! order (a later source wins), as platform-wide variables of the run's own store.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use weir_core::state::{DagRunState, TaskState};
use weir_engine::{Engine, TriggerRequest};
use weir_store::Store;

use crate::cli::DagsTestArgs;

pub fn run(args: DagsTestArgs) -> anyhow::Result<ExitCode> {
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let path = args.file.display().to_string();
    let report = weir_core::spec::load_file(&source);
    for d in &report.diagnostics {
        eprintln!("{}", d.render(&path, &source));
    }
    if report.has_errors() {
        eprintln!("{path} has errors; fix them first (`weir dags validate {path}`)");
        return Ok(ExitCode::from(1));
    }
    let spec = match (&args.dag, report.dags.len()) {
        (Some(id), _) => report
            .dags
            .iter()
            .find(|d| &d.dag == id)
            .cloned()
            .with_context(|| {
                let ids: Vec<&str> = report.dags.iter().map(|d| d.dag.as_str()).collect();
                format!("{path} has no DAG `{id}`; it has: {}", ids.join(", "))
            })?,
        (None, 1) => report.dags[0].clone(),
        (None, _) => {
            let ids: Vec<&str> = report.dags.iter().map(|d| d.dag.as_str()).collect();
            eprintln!(
                "error: {path} makes {} DAGs; pick one with --dag ({})",
                ids.len(),
                ids.join(", ")
            );
            return Ok(ExitCode::from(2));
        }
    };
    let logical_date = match args
        .date
        .as_deref()
        .map(crate::standalone::parse_date_arg)
        .transpose()
    {
        Ok(date) => date,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let conf = match &args.conf {
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) if v.is_object() => Some(v),
            _ => {
                eprintln!("error: --conf must be a JSON object, e.g. '{{\"country\": \"FR\"}}'");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };

    let variables = match variables(&args, std::env::vars()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let quiet = args.quiet;

    let temp;
    let home = match &args.home {
        Some(h) => h.clone(),
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary home")?;
            temp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = Store::open(&home.join("weir.db").display().to_string()).await?;
        let platform = crate::platform_config::effective(None, None).await;
        let mut config = crate::platform_config::engine_config(home.clone(), platform)?;
        config.run_schedules = false;
        let engine = Engine::start(config, store.clone()).await?;
        let handle = engine.handle();
        for (key, value) in &variables {
            store.set_variable(key, value, None, None).await?;
        }
        handle.register_dag(&spec, &path, &source).await?;
        let dag_id = spec.dag.clone();
        let run = handle
            .trigger_dag(
                &dag_id,
                TriggerRequest {
                    run_id: None,
                    logical_date,
                    conf,
                },
            )
            .await?;
        println!(
            "running DAG `{}` (run {}) with home {}",
            dag_id,
            run.run_id,
            home.display()
        );
        let color = std::io::stdout().is_terminal();
        let started = std::time::Instant::now();
        let mut seen: HashMap<(String, i32), (TaskState, u32)> = HashMap::new();
        let mut read: HashMap<(String, i32, u32), u64> = HashMap::new();
        let final_state = loop {
            let finished = store
                .get_dag_run(&dag_id, &run.run_id)
                .await?
                .map(|r| r.state)
                .filter(|s| s.is_finished());
            for ti in store.list_task_instances(&dag_id, &run.run_id).await? {
                if !quiet && ti.try_number > 0 {
                    let key = ti.key.try_key(ti.try_number);
                    if let Some(log) = handle.log_path(&key).await? {
                        let at = read
                            .entry((ti.key.task_id.to_string(), ti.key.map_index, ti.try_number))
                            .or_insert(0);
                        *at = print_new_lines(&log, *at, &task_name(&ti.key));
                    }
                }
                let id = (ti.key.task_id.to_string(), ti.key.map_index);
                if seen.get(&id) != Some(&(ti.state, ti.try_number)) {
                    seen.insert(id.clone(), (ti.state, ti.try_number));
                    if ti.state != TaskState::None {
                        let name = if id.1 >= 0 {
                            format!("{}[{}]", id.0, id.1)
                        } else {
                            id.0.clone()
                        };
                        println!(
                            "{:>7.2}s  {:<32} {}{}",
                            started.elapsed().as_secs_f64(),
                            name,
                            paint(ti.state, color),
                            if ti.try_number > 1 {
                                format!(" (try {})", ti.try_number)
                            } else {
                                String::new()
                            }
                        );
                    }
                }
            }
            // Checked before this pass's logs, so the last lines are printed too.
            if let Some(state) = finished {
                break state;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if !quiet {
            for x in store.list_xcoms(&dag_id, &run.run_id, None).await? {
                println!(
                    "{} returned {} = {}",
                    task_name(&x.key),
                    x.xcom_key,
                    x.value
                );
            }
        }
        for ti in store.list_task_instances(&dag_id, &run.run_id).await? {
            if quiet && ti.state == TaskState::Failed && ti.try_number > 0 {
                if let Some(log) = handle.log_path(&ti.key.try_key(ti.try_number)).await? {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(20).collect();
                    println!(
                        "\n--- last lines of {} try {} ({}) ---",
                        ti.key.task_id,
                        ti.try_number,
                        log.display()
                    );
                    for line in tail.into_iter().rev() {
                        println!("{line}");
                    }
                } else if let Some(note) = &ti.note {
                    println!("\n{}: {note}", ti.key.task_id);
                }
            }
        }
        println!(
            "DAG run {} in {:.2}s",
            paint_run(final_state, color),
            started.elapsed().as_secs_f64()
        );
        engine.shutdown().await;
        if final_state == DagRunState::Success {
            Ok(ExitCode::SUCCESS)
        } else {
            Ok(ExitCode::from(1))
        }
    })
}

/// `task` or `task[2]`.
fn task_name(key: &weir_store::TaskInstanceKey) -> String {
    if key.map_index >= 0 {
        format!("{}[{}]", key.task_id, key.map_index)
    } else {
        key.task_id.to_string()
    }
}

/// Prints the complete lines of `log` after byte `from`, prefixed by `task`; returns
/// where the next read starts (a line still being written waits for its end).
fn print_new_lines(log: &std::path::Path, from: u64, task: &str) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(log) else {
        return from;
    };
    let mut buf = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut buf).is_err() {
        return from;
    }
    let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
        return from;
    };
    for line in String::from_utf8_lossy(&buf[..end]).lines() {
        println!("{task} | {line}");
    }
    from + end as u64 + 1
}

/// The run's variables: `--vars FILE.json`, then `WEIR_VAR_<KEY>` (the key lower-cased,
/// as Airflow matches `AIRFLOW_VAR_<KEY>`), then each `--var KEY=VALUE`.
fn variables(
    args: &DagsTestArgs,
    env: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut vars = std::collections::BTreeMap::new();
    if let Some(file) = &args.vars_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read --vars {}", file.display()))?;
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&text) else {
            anyhow::bail!(
                "--vars {} must hold a JSON object, e.g. {{\"region\": \"eu\"}}",
                file.display()
            );
        };
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            vars.insert(k, v);
        }
    }
    for (name, value) in env {
        if let Some(key) = name.strip_prefix("WEIR_VAR_").filter(|k| !k.is_empty()) {
            vars.insert(key.to_lowercase(), value);
        }
    }
    for pair in &args.vars {
        let Some((k, v)) = pair.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            anyhow::bail!("--var `{pair}` must be KEY=VALUE, e.g. --var region=eu");
        };
        vars.insert(k.to_string(), v.to_string());
    }
    Ok(vars)
}

fn paint(state: TaskState, color: bool) -> String {
    if !color {
        return state.to_string();
    }
    let code = match state {
        TaskState::Success => "32",
        TaskState::Failed | TaskState::UpstreamFailed => "31",
        TaskState::Running => "36",
        TaskState::UpForRetry | TaskState::UpForReschedule => "33",
        TaskState::Skipped => "35",
        _ => "2",
    };
    format!("\x1b[{code}m{state}\x1b[0m")
}

fn paint_run(state: DagRunState, color: bool) -> String {
    match (color, state) {
        (false, s) => s.to_string(),
        (true, DagRunState::Success) => format!("\x1b[32m{state}\x1b[0m"),
        (true, s) => format!("\x1b[31m{s}\x1b[0m"),
    }
}
