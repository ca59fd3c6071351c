//! `weir queues list|show`: job queues and compute environments on a server, as its
//! dispatcher last saw them.

use std::process::ExitCode;

use weir_api::{ComputeEnvironment, Queue, QueueCollection};

use crate::cli::{OutputFormat, QueuesCommand, ServerArgs};
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

pub fn run(cmd: QueuesCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        QueuesCommand::List => with_client(server, |client| async move {
            let all: QueueCollection = client.get(&["queues"], &[]).await?;
            if format == OutputFormat::Json {
                print_json(&all)?;
            } else {
                print_list(&all)?;
            }
            Ok(ExitCode::SUCCESS)
        }),
        QueuesCommand::Show { name } => with_client(server, |client| async move {
            let queue: Queue = client.get(&["queues", &name], &[]).await?;
            if format == OutputFormat::Json {
                print_json(&queue)?;
            } else {
                print_queue(&queue)?;
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}

fn print_list(all: &QueueCollection) -> anyhow::Result<()> {
    if all.queues.is_empty() {
        outln!("no queues")?;
    } else {
        let mut t = output::table([
            "QUEUE",
            "PRIORITY",
            "POLICY",
            "ENVIRONMENTS",
            "WAITING",
            "RUNNING",
        ]);
        for q in &all.queues {
            let waiting: u64 = q.depth.iter().map(|d| d.waiting).sum();
            let running: u64 = q.depth.iter().map(|d| d.running).sum();
            t.add_row(vec![
                q.name.clone(),
                q.priority.to_string(),
                q.scheduling_policy.clone(),
                q.compute_environments.join(", "),
                waiting.to_string(),
                running.to_string(),
            ]);
        }
        outln!("{t}")?;
    }
    if !all.compute_environments.is_empty() {
        let mut t = output::table(["ENVIRONMENT", "BACKEND", "VCPUS", "MEMORY", "STATUS"]);
        for e in &all.compute_environments {
            t.add_row(environment_row(e));
        }
        outln!("{t}")?;
    }
    Ok(())
}

/// `docker-small  docker  2/8  4.0Gi/32.0Gi  available`.
fn environment_row(e: &ComputeEnvironment) -> Vec<String> {
    vec![
        e.name.clone(),
        e.backend.clone(),
        format!("{}/{}", e.used_vcpus, e.max_vcpus),
        format!(
            "{}/{}",
            output::bytes(e.used_memory_bytes),
            output::bytes(e.max_memory_bytes)
        ),
        if e.available {
            "available".to_string()
        } else {
            "unavailable".to_string()
        },
    ]
}

fn print_queue(q: &Queue) -> anyhow::Result<()> {
    outln!(
        "queue {}: priority {}, {}, feeds {}",
        q.name,
        q.priority,
        q.scheduling_policy,
        if q.compute_environments.is_empty() {
            "no environment".to_string()
        } else {
            q.compute_environments.join(", ")
        }
    )?;
    if q.depth.is_empty() {
        outln!("no tries waiting or running")?;
    } else {
        let mut t = output::table(["TEAM", "WAITING", "RUNNING"]);
        for d in &q.depth {
            t.add_row(vec![
                d.team.clone(),
                d.waiting.to_string(),
                d.running.to_string(),
            ]);
        }
        outln!("{t}")?;
    }
    if q.waiting.is_empty() {
        return outln!("nothing waits");
    }
    let mut t = output::table(["#", "DAG", "RUN", "TASK", "TEAM", "WAITS FOR", "REASON"]);
    for w in &q.waiting {
        let task = if w.map_index >= 0 {
            format!("{}[{}]", w.task_id, w.map_index)
        } else {
            w.task_id.clone()
        };
        t.add_row(vec![
            w.position.to_string(),
            w.dag_id.clone(),
            w.dag_run_id.clone(),
            task,
            w.team.clone(),
            w.reason_code.clone(),
            w.reason.clone(),
        ]);
    }
    outln!("{t}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_show_use_of_capacity() {
        let e = ComputeEnvironment {
            name: "docker-small".into(),
            backend: "docker".into(),
            max_vcpus: 8.0,
            max_memory_bytes: 32 << 30,
            used_vcpus: 2.5,
            used_memory_bytes: 4 << 30,
            available: false,
        };
        assert_eq!(
            environment_row(&e),
            [
                "docker-small",
                "docker",
                "2.5/8",
                "4.0Gi/32.0Gi",
                "unavailable"
            ]
        );
    }
}
