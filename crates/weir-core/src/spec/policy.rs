//! The platform's rules applied to a DAG: a team that `weir.toml` declares (when it
//! declares teams), container images within the team's allowed prefixes, job
//! definitions that exist for the team, queues that exist. Checked when a
//! DAG is loaded, so a disallowed image is a validation error, not a run-time surprise.

use super::DagSpec;
use super::diagnostic::{Diagnostic, Pos, did_you_mean, locate_from};
use super::model::TaskKind;
use crate::job_def::JobCatalog;
use crate::platform::PlatformConfig;

/// Every rule the DAG breaks, located in `source` as well as text search allows (the
/// spec keeps no positions).
pub fn check(
    spec: &DagSpec,
    source: &str,
    platform: &PlatformConfig,
    jobs: &JobCatalog,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    if !platform.teams.is_empty() && platform.team(&spec.team).is_none() {
        let names: Vec<&str> = platform.teams.iter().map(|t| t.name.as_str()).collect();
        let pos = source
            .find("team:")
            .and_then(|at| locate_from(source, &spec.team, at))
            .unwrap_or(Pos::new(1, 1));
        let d = Diagnostic::error(
            pos,
            format!(
                "team `{}` is not declared in weir.toml, so nobody could operate this DAG",
                spec.team
            ),
        );
        diags.push(match did_you_mean(&spec.team, names.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "the teams are: {}; or ask the platform team to add a [[teams]] entry",
                names.join(", ")
            )),
        });
    }
    let queues: Vec<&str> = platform.queues.iter().map(|q| q.name.as_str()).collect();
    let tasks_at = source.find("tasks:").unwrap_or(0);
    for (id, task) in &spec.tasks {
        // Each task's own lines start at its key; its values are searched from there.
        let task_offset = source
            .get(tasks_at..)
            .and_then(|rest| rest.find(&format!("{id}:")))
            .map_or(tasks_at, |o| o + tasks_at);
        let at_task = locate_from(source, &format!("{id}:"), tasks_at).unwrap_or(Pos::new(1, 1));
        let mut queue = spec.effective(task).queue;
        match &task.kind {
            TaskKind::Container(c) => {
                if !c.image.contains("{{")
                    && let Err(why) = platform.image_allowed(&spec.team, &c.image)
                {
                    let pos = locate_from(source, &c.image, task_offset).unwrap_or(at_task);
                    diags.push(Diagnostic::error(pos, why).with_help(
                        "use an image under one of the team's prefixes, or ask the platform team to allow this one in weir.toml",
                    ));
                }
                let allowed = platform.container_policy(&spec.team);
                let asks = [
                    (
                        "privileged",
                        c.privileged,
                        allowed.privileged,
                        "allow_privileged",
                    ),
                    (
                        "host_network",
                        c.host_network,
                        allowed.host_network,
                        "allow_host_network",
                    ),
                    (
                        "mounts",
                        !c.mounts.is_empty(),
                        allowed.host_mounts,
                        "allow_host_mounts",
                    ),
                ];
                for (key, asked, ok, setting) in asks {
                    if asked && !ok {
                        let pos =
                            locate_from(source, &format!("{key}:"), task_offset).unwrap_or(at_task);
                        diags.push(
                            Diagnostic::error(pos, format!("task `{id}` asks for `{key}`, which team `{}` may not use", spec.team))
                                .with_help(format!("the platform team can set `{setting} = true` for the team in weir.toml")),
                        );
                    }
                }
            }

            TaskKind::Job(name) => match jobs.get(&spec.team, name) {
                Ok(job) => queue = job.queue.clone().unwrap_or(queue),
                Err(e) => {
                    let pos = locate_from(source, &format!("job: {name}"), task_offset)
                        .unwrap_or(at_task);
                    diags.push(
                        Diagnostic::error(pos, e.to_string())
                            .with_help("job definitions live in `jobs/` beside `dags/`"),
                    );
                }
            },
            TaskKind::Sensor(sensor) => {
                // A templated path is checked when rendered; the roots are checked now.
                if let Some(path) = &sensor.file {
                    let team = spec.team.as_str();
                    let no_roots = platform.sensors.file_roots_for(team).is_empty();
                    let checked = if path.contains("{{") && !no_roots {
                        None
                    } else {
                        // With no roots, any path is refused; "/" stands for a templated one.
                        let shown = if path.contains("{{") { "/" } else { path };
                        crate::platform::file_refusal(&platform.sensors, team, shown)
                    };
                    if let Some(why) = checked {
                        let pos = locate_from(source, path, task_offset).unwrap_or(at_task);
                        diags.push(Diagnostic::error(pos, format!("task `{id}`: {why}")));
                    }
                }
            }
            _ => {}
        }
        for outlet in &task.outlets {
            if let Some(problem) =
                crate::dataset::outlet_problem(spec.team.as_str(), outlet, &platform.teams)
            {
                let pos = locate_from(source, outlet, task_offset).unwrap_or(at_task);
                diags.push(Diagnostic::error(pos, problem).with_help(
                    "produce under your team's own prefix; any team may read another's datasets",
                ));
            }
        }
        if platform.queue(&queue).is_none() {
            let d = Diagnostic::error(
                at_task,
                format!("task `{id}` uses queue `{queue}`, which this platform does not have"),
            );
            diags.push(match did_you_mean(&queue, queues.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the queues are: {}", queues.join(", "))),
            });
        }
    }
    check_channels(spec, source, platform, &mut diags);
    diags
}

/// Every channel a `notify:` names exists in weir.toml and lets the DAG's team use it.
fn check_channels(
    spec: &DagSpec,
    source: &str,
    platform: &PlatformConfig,
    diags: &mut Vec<Diagnostic>,
) {
    let notify_at = source.find("notify:").unwrap_or(0);
    let mut named: Vec<&str> = spec.notify.all_channels();
    named.extend(spec.defaults.notify.all_channels());
    for task in spec.tasks.values() {
        named.extend(task.notify.all_channels());
    }
    let mut seen: Vec<&str> = Vec::new();
    for name in named {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let pos = locate_from(source, name, notify_at).unwrap_or(Pos::new(1, 1));
        match platform.channel(name) {
            None => {
                let d =
                    Diagnostic::error(pos, format!("notification channel `{name}` does not exist"));
                let names = platform.channels.iter().map(|c| c.name.as_str());
                diags.push(match did_you_mean(name, names) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None if platform.channels.is_empty() => d.with_help(
                        "weir.toml defines no channels: ask the platform team for a [[channels]] entry",
                    ),
                    None => d.with_help(format!(
                        "the channels are: {}",
                        platform
                            .channels
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                });
            }
            Some(channel) if !channel.allows(spec.team.as_str()) => {
                diags.push(
                    Diagnostic::error(
                        pos,
                        format!(
                            "notification channel `{name}` is kept to team(s) {}; team `{}` may not use it",
                            channel.teams.join(", "),
                            spec.team
                        ),
                    )
                    .with_help("use one of your team's channels, or ask the platform team to add yours"),
                );
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLATFORM: &str = r#"
[[compute_environments]]
name = "docker"
backend = "docker"
max_vcpus = 8
max_memory = "16Gi"

[[compute_environments]]
name = "local"
backend = "process"
max_vcpus = 2
max_memory = "4Gi"

[[queues]]
name = "default"
compute_environments = ["docker", "local"]

[[teams]]
name = "marketing"
image_prefixes = ["registry.example.com/marketing/"]
"#;

    #[test]
    fn file_sensors_need_roots_and_stay_inside_them() {
        let src = "dag: d\nteam: marketing\ntasks:\n  land: {sensor: {file: /data/landing/x/_SUCCESS}}\n  key: {sensor: {file: /etc/weir/master.key}}\n  later: {sensor: {file: \"/data/{{ ds }}\"}}\n";
        let report = crate::spec::load_file(src);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        let found = |platform: &str| {
            let platform = crate::platform::parse(platform).config.expect("valid");
            check(&report.dags[0], src, &platform, &JobCatalog::default())
                .into_iter()
                .map(|d| (d.pos.line, d.message))
                .collect::<Vec<_>>()
        };
        let none = found(PLATFORM);
        assert_eq!(none.len(), 3, "{none:#?}");
        assert_eq!(none[0].0, 4);
        assert!(
            none[0].1.starts_with("task `land`: `file` sensors are not allowed for team `marketing` on this platform: the platform team adds `[sensors] file_roots"),
            "{}",
            none[0].1
        );
        let roots = found(&format!(
            "{PLATFORM}\n[sensors]\nfile_roots = [\"/data/landing\"]\n"
        ));
        assert_eq!(roots.len(), 1, "only the key file: {roots:#?}");
        assert_eq!(roots[0].0, 5);
        assert!(
            roots[0]
                .1
                .contains("`/etc/weir/master.key` is outside the folders"),
            "{}",
            roots[0].1
        );
    }

    #[test]
    fn privileges_need_the_platform_s_permission() {
        let platform = crate::platform::parse(PLATFORM)
            .config
            .expect("valid platform");
        let src = "dag: d\nteam: marketing\ntasks:\n  p:\n    container:\n      image: registry.example.com/marketing/x:1\n      privileged: true\n      mounts: [{source: /data, target: /data}]\n";
        let report = crate::spec::load_file(src);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        let diags = check(&report.dags[0], src, &platform, &JobCatalog::default());
        let msgs: Vec<(u32, &str)> = diags
            .iter()
            .map(|d| (d.pos.line, d.message.as_str()))
            .collect();
        assert_eq!(
            msgs,
            [
                (
                    7,
                    "task `p` asks for `privileged`, which team `marketing` may not use"
                ),
                (
                    8,
                    "task `p` asks for `mounts`, which team `marketing` may not use"
                ),
            ]
        );
        let allowing = PLATFORM.replace("image_prefixes = [\"registry.example.com/marketing/\"]", "image_prefixes = [\"registry.example.com/marketing/\"]\nallow_privileged = true\nallow_host_mounts = true");
        let platform = crate::platform::parse(&allowing)
            .config
            .expect("valid platform");
        assert!(check(&report.dags[0], src, &platform, &JobCatalog::default()).is_empty());
        let bad = crate::spec::load_file(
            "dag: d\nteam: t\ntasks:\n  p: {container: {image: x, mounts: [{source: data, target: /d}]}}\n",
        );
        assert_eq!(
            bad.diagnostics[0].message,
            "`source` must be an absolute path, not `data`"
        );
    }

    #[test]
    fn disallowed_images_unknown_jobs_and_queues_are_errors() {
        let platform = crate::platform::parse(PLATFORM)
            .config
            .expect("valid platform");
        let src = "dag: d\nteam: marketing\ntasks:\n  ok: {container: {image: registry.example.com/marketing/etl:1}}\n  bad:\n    container: {image: docker.io/evil/miner:latest}\n  job_task: {job: nope}\n  other_queue: {shell: echo, queue: gpu}\n";
        let report = crate::spec::load_file(src);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        let diags = check(&report.dags[0], src, &platform, &JobCatalog::default());
        let msgs: Vec<(u32, String)> = diags
            .iter()
            .map(|d| (d.pos.line, d.message.clone()))
            .collect();
        assert_eq!(msgs.len(), 3, "{msgs:#?}");
        assert_eq!(msgs[0].0, 6);
        assert!(
            msgs[0].1.contains("docker.io/evil/miner:latest") && msgs[0].1.contains("marketing"),
            "{}",
            msgs[0].1
        );
        assert!(msgs[1].1.contains("nope"), "{}", msgs[1].1);
        assert_eq!(
            msgs[2].1,
            "task `other_queue` uses queue `gpu`, which this platform does not have"
        );
    }

    #[test]
    fn an_outlet_in_another_teams_prefix_is_refused_where_written() {
        let toml = PLATFORM.replace(
            "[[teams]]\nname = \"marketing\"\n",
            "[[teams]]\nname = \"data-eng\"\ndatasets = [\"s3://lake/raw/\"]\n\n[[teams]]\nname = \"marketing\"\ndatasets = [\"s3://lake/marketing/\"]\n",
        );
        let platform = crate::platform::parse(&toml)
            .config
            .expect("valid platform");
        let src = "dag: d\nteam: data-eng\ntasks:\n  ok: {noop: {}, outlets: [\"s3://lake/raw/orders/{{ ds }}\"]}\n  bad:\n    noop: {}\n    outlets: [\"s3://lake/marketing/revenue\"]\n";
        let report = crate::spec::load_file(src);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        let diags = check(&report.dags[0], src, &platform, &JobCatalog::default());
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!((diags[0].pos.line, diags[0].pos.col), (7, 16));
        assert_eq!(
            diags[0].message,
            "outlet `s3://lake/marketing/revenue` is under a dataset prefix team `marketing` owns; only its DAGs produce there"
        );
    }
}
