//! `weir replicas list`: the Weir processes sharing the server's database, from
//! `GET /api/v1/health`.

use std::process::ExitCode;

use weir_api::HealthInfo;

use crate::cli::{OutputFormat, ReplicasCommand, ServerArgs};
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

pub fn run(cmd: ReplicasCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    match cmd {
        ReplicasCommand::List => with_client(server, |client| async move {
            let health: HealthInfo = client.get(&["health"], &[]).await?;
            if format == OutputFormat::Json {
                print_json(&serde_json::json!({ "replicas": health.replicas }))?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = output::table([
                "REPLICA",
                "ROLE",
                "HOST",
                "VERSION",
                "STATUS",
                "DAGS",
                "LAST HEARTBEAT",
                "STARTED",
            ]);
            for r in &health.replicas {
                let id = if r.this_replica {
                    format!("{} (this)", r.replica_id)
                } else {
                    r.replica_id.clone()
                };
                t.add_row(vec![
                    id,
                    r.role.as_str().to_string(),
                    r.host.clone(),
                    r.version.clone(),
                    r.status.clone(),
                    r.dags.to_string(),
                    r.latest_heartbeat.to_rfc3339(),
                    r.started_at.to_rfc3339(),
                ]);
            }
            outln!("{t}")?;
            Ok(ExitCode::SUCCESS)
        }),
    }
}
