//! The container a try runs in: its name, its labels and its configuration, built from the
//! [`LaunchSpec`] without any IO (so it is unit-tested here).
//!
//! Security defaults, on every container: not privileged, the default (bridge) network,
//! no host folders, all Linux capabilities dropped (configurable), `no-new-privileges`, a
//! limit on the number of processes, no swap beyond the memory limit, and a tiny init
//! process (`--init`) as PID 1 so that a stop reaches the task and zombies are reaped.

use std::collections::HashMap;
use std::time::Duration;

use std::path::Path;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use weir_core::ids::TryKey;

use super::DockerConfig;
use super::xcom::{WEIR_DIR_IN_CONTAINER, XCOM_ENV, XCOM_IN_CONTAINER};
use crate::LaunchSpec;
use crate::container::ContainerLaunch;
use crate::layout::TRY_DIR_ENV;

/// Label naming the try (its slug); with the name, how a restarted Weir finds its work.
pub const LABEL_TRY: &str = "weir.try";
pub const LABEL_TEAM: &str = "weir.team";
pub const LABEL_DAG: &str = "weir.dag";
pub const LABEL_RUN: &str = "weir.run";
pub const LABEL_TASK: &str = "weir.task";
pub const LABEL_TRY_NUMBER: &str = "weir.try_number";
pub const LABEL_MAP_INDEX: &str = "weir.map_index";
/// The try's timeout in milliseconds, so an adopted try keeps its deadline.
pub const LABEL_TIMEOUT_MS: &str = "weir.timeout_ms";
/// Comma-separated *names* of the secret variables (never their values), so an adopted
/// try's log stays masked.
pub const LABEL_SECRET_ENV: &str = "weir.secret_env";

/// The container's name for a try: the configured prefix and the try's slug.
pub(crate) fn container_name(prefix: &str, key: &TryKey) -> String {
    format!("{prefix}{}", key.slug())
}

/// The labels of a try's container.
pub(crate) fn labels(spec: &LaunchSpec, launch: &ContainerLaunch) -> HashMap<String, String> {
    let key = &spec.key;
    let mut labels = HashMap::from([
        (LABEL_TRY.to_owned(), key.slug()),
        (LABEL_DAG.to_owned(), key.dag_id.to_string()),
        (LABEL_RUN.to_owned(), key.run_id.to_string()),
        (LABEL_TASK.to_owned(), key.task_id.to_string()),
        (LABEL_TRY_NUMBER.to_owned(), key.try_number.to_string()),
        (LABEL_MAP_INDEX.to_owned(), key.map_index.to_string()),
    ]);
    if let Some(team) = &launch.team {
        labels.insert(LABEL_TEAM.to_owned(), team.clone());
    }
    if let Some(timeout) = spec.timeout {
        labels.insert(LABEL_TIMEOUT_MS.to_owned(), timeout.as_millis().to_string());
    }
    if !spec.secret_env.is_empty() {
        labels.insert(LABEL_SECRET_ENV.to_owned(), spec.secret_env.join(","));
    }
    labels
}

/// The container's environment: the spec's variables, except that `WEIR_XCOM` names the
/// file inside the container, and host paths (`WEIR_TRY_DIR`) are left out.
pub(crate) fn env(spec: &LaunchSpec) -> Vec<String> {
    spec.env
        .iter()
        .filter(|(k, _)| k != XCOM_ENV && k != TRY_DIR_ENV && !k.is_empty() && !k.contains('='))
        .map(|(k, v)| format!("{k}={v}"))
        .chain([format!("{XCOM_ENV}={XCOM_IN_CONTAINER}")])
        .collect()
}

/// The whole create request; `io_dir` is the try's folder to mount at `/weir` (bind-mount
/// XCom transfer).
pub(crate) fn body(
    spec: &LaunchSpec,
    launch: &ContainerLaunch,
    config: &DockerConfig,
    io_dir: Option<&Path>,
) -> ContainerCreateBody {
    let memory = launch
        .memory_bytes
        .and_then(|m| i64::try_from(m).ok())
        .filter(|m| *m > 0);
    let nano_cpus = launch
        .vcpu
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|v| (v * 1e9).round() as i64);
    let host_config = HostConfig {
        nano_cpus,
        memory,
        // Equal to the memory limit: no swap, so the limit is the limit.
        memory_swap: memory,
        privileged: Some(launch.privileged),
        network_mode: launch.host_network.then(|| "host".to_owned()),
        binds: (!launch.host_mounts.is_empty()).then(|| {
            launch
                .host_mounts
                .iter()
                .map(|m| {
                    let mode = if m.read_only { "ro" } else { "rw" };
                    format!("{}:{}:{mode}", m.source, m.target)
                })
                .collect()
        }),
        // A `Mounts` bind (unlike `Binds`) fails when the daemon cannot see the folder,
        // instead of silently creating an empty one on its side.
        mounts: io_dir.map(|dir| {
            vec![Mount {
                typ: Some(MountType::BIND),
                source: Some(dir.display().to_string()),
                target: Some(WEIR_DIR_IN_CONTAINER.to_owned()),
                read_only: Some(false),
                ..Default::default()
            }]
        }),
        cap_drop: (config.drop_capabilities && !launch.privileged).then(|| vec!["ALL".to_owned()]),
        security_opt: Some(vec!["no-new-privileges".to_owned()]),
        pids_limit: config.pids_limit,
        init: Some(config.init),
        auto_remove: Some(false),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(launch.image.clone()),
        cmd: launch.command.clone(),
        entrypoint: launch.entrypoint.clone(),
        working_dir: launch.workdir.clone(),
        env: Some(env(spec)),
        labels: Some(labels(spec, launch)),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        open_stdin: Some(false),
        tty: Some(false),
        stop_timeout: Some(grace_secs(config.kill_grace)),
        host_config: Some(host_config),
        ..Default::default()
    }
}

/// The kill grace in whole seconds, as the stop API wants it (rounded up, at least 1).
pub(crate) fn grace_secs(grace: Duration) -> i64 {
    let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
}

/// Reads back what the labels recorded: the timeout and the secret names.
pub(crate) fn recorded_timeout(labels: &HashMap<String, String>) -> Option<Duration> {
    let ms = labels.get(LABEL_TIMEOUT_MS)?.parse().ok()?;
    Some(Duration::from_millis(ms))
}

pub(crate) fn recorded_secrets(labels: &HashMap<String, String>) -> Vec<String> {
    labels
        .get(LABEL_SECRET_ENV)
        .map(|names| {
            names
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The values of the secret variables in a container's `NAME=value` environment.
pub(crate) fn secret_values(env: &[String], names: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|var| var.split_once('='))
        .filter(|(name, _)| names.iter().any(|n| n == name))
        .map(|(_, value)| value.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::ids::{DagId, RunId, TaskId};

    fn spec() -> (LaunchSpec, ContainerLaunch) {
        let key = TryKey {
            dag_id: DagId::new("d").expect("dag"),
            run_id: RunId::new("manual__2026-11-27T12:00:00+00:00").expect("run"),
            task_id: TaskId::new("t").expect("task"),
            map_index: 2,
            try_number: 3,
        };
        let mut launch = ContainerLaunch::new("img").with_command(["sh", "-c", "true"]);
        launch.vcpu = Some(0.5);
        launch.memory_bytes = Some(64 << 20);
        launch.team = Some("marketing".into());
        let mut spec = LaunchSpec::for_container(key, launch.clone(), "/tmp/x");
        spec.env = vec![
            ("A".into(), "1".into()),
            ("WEIR_XCOM".into(), "/host/path/xcom.json".into()),
            ("WEIR_TRY_DIR".into(), "/host/path".into()),
            ("PW".into(), "s3cret".into()),
        ];
        spec.secret_env = vec!["PW".into()];
        spec.timeout = Some(Duration::from_millis(1500));
        (spec, launch)
    }

    #[test]
    fn body_limits_and_drops_privileges() {
        let (spec, launch) = spec();
        let body = body(
            &spec,
            &launch,
            &DockerConfig::default(),
            Some(Path::new("/t/io")),
        );
        let host = body.host_config.expect("host config");
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(64 << 20));
        assert_eq!(host.privileged, Some(false));
        assert_eq!(host.network_mode, None);
        assert_eq!(host.binds, None);
        let mounts = host.mounts.expect("mounts");
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].source.as_deref(), Some("/t/io"));
        assert_eq!(mounts[0].target.as_deref(), Some("/weir"));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_owned()])
        );
        assert_eq!(body.cmd, launch.command);
        let env = body.env.expect("env");
        assert_eq!(env, ["A=1", "PW=s3cret", "WEIR_XCOM=/weir/xcom.json"]);
    }

    #[test]
    fn labels_name_the_try_and_round_trip() {
        let (spec, launch) = spec();
        let labels = labels(&spec, &launch);
        assert_eq!(labels[LABEL_TRY], spec.key.slug());
        assert_eq!(labels[LABEL_TEAM], "marketing");
        assert_eq!(labels[LABEL_RUN], "manual__2026-11-27T12:00:00+00:00");
        assert_eq!(labels[LABEL_MAP_INDEX], "2");
        assert_eq!(labels[LABEL_TRY_NUMBER], "3");
        assert_eq!(recorded_timeout(&labels), Some(Duration::from_millis(1500)));
        assert_eq!(recorded_secrets(&labels), ["PW"]);
        let env = [
            "A=1".to_owned(),
            "PW=s3cret".to_owned(),
            "PWX=no".to_owned(),
        ];
        assert_eq!(secret_values(&env, &recorded_secrets(&labels)), ["s3cret"]);
        assert_eq!(
            container_name("weir-", &spec.key),
            format!("weir-{}", spec.key.slug())
        );
        assert_eq!(grace_secs(Duration::from_millis(1500)), 2);
        assert_eq!(grace_secs(Duration::ZERO), 1);
    }
}
