//! The checks of `weir.toml` that span entries or go beyond types: names, references
//! between sections, and numbers that must be positive or bounded.

use std::collections::HashMap;

use super::read::EntryPos;
use super::{
    DEFAULT_QUEUE, MAX_SHARE_DECAY_SECONDS, PlatformConfig, SchedulingPolicy, prefix_matches,
};
use crate::governance::ApprovalPolicy;
use crate::ids::check_id;
use crate::spec::diagnostic::{Diagnostic, Pos, did_you_mean};

/// Where each deserialized entry was written, parallel to the config's vectors.
#[derive(Default)]
pub(super) struct Located {
    pub environments: Vec<EntryPos>,
    pub queues: Vec<EntryPos>,
    pub teams: Vec<EntryPos>,
    /// The `[repository]` table, when the file has one.
    pub repository: Option<EntryPos>,
    /// The `[logs]` table, when the file has one.
    pub logs: Option<EntryPos>,
}

static NOWHERE: EntryPos = EntryPos {
    pos: Pos { line: 1, col: 1 },
    keys: Vec::new(),
};

fn at(list: &[EntryPos], i: usize) -> &EntryPos {
    list.get(i).unwrap_or(&NOWHERE)
}

pub(super) fn validate(config: &PlatformConfig, located: &Located, diags: &mut Vec<Diagnostic>) {
    names(
        "compute environment",
        config.compute_environments.iter().map(|e| e.name.as_str()),
        &located.environments,
        diags,
    );
    names(
        "queue",
        config.queues.iter().map(|q| q.name.as_str()),
        &located.queues,
        diags,
    );
    names(
        "team",
        config.teams.iter().map(|t| t.name.as_str()),
        &located.teams,
        diags,
    );

    for (i, e) in config.compute_environments.iter().enumerate() {
        let p = at(&located.environments, i);
        if e.backend == super::Backend::Inline {
            diags.push(
                Diagnostic::error(
                    p.key("backend"),
                    format!(
                        "compute environment `{}`: `inline` is not a compute environment's backend",
                        e.name
                    ),
                )
                .with_help("sql and http tasks run inside the server with no environment to configure; use `process`, `docker`, `kubernetes` or `aws-batch`"),
            );
        }
        kubernetes(config, i, p, diags);
        super::aws_batch::validate(config, e, p, diags);
        if !(e.max_vcpus.is_finite() && e.max_vcpus > 0.0) {
            diags.push(Diagnostic::error(
                p.key("max_vcpus"),
                format!(
                    "compute environment `{}`: `max_vcpus` must be a positive number, found {}",
                    e.name, e.max_vcpus
                ),
            ));
        }
        if e.max_memory.0 == 0 {
            diags.push(
                Diagnostic::error(
                    p.key("max_memory"),
                    format!(
                        "compute environment `{}`: `max_memory` must be more than 0",
                        e.name
                    ),
                )
                .with_help("write a size such as \"64Gi\""),
            );
        }
        for (key, value) in [
            ("vcpu_hour", e.price.vcpu_hour),
            ("gib_hour", e.price.gib_hour),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                diags.push(Diagnostic::error(
                    p.key("price"),
                    format!(
                        "compute environment `{}`: price `{key}` must be 0 or more, found {value}",
                        e.name
                    ),
                ));
            }
        }
    }

    let env_names: Vec<&str> = config
        .compute_environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for (i, q) in config.queues.iter().enumerate() {
        let p = at(&located.queues, i);
        if q.compute_environments.is_empty() {
            diags.push(
                Diagnostic::error(
                    p.key("compute_environments"),
                    format!("queue `{}` feeds no compute environment", q.name),
                )
                .with_help("list at least one, e.g. `compute_environments = [\"docker\"]`"),
            );
        }
        for (j, name) in q.compute_environments.iter().enumerate() {
            let pos = p.item("compute_environments", j);
            if !env_names.contains(&name.as_str()) {
                let d = Diagnostic::error(
                    pos,
                    format!(
                        "queue `{}` names an unknown compute environment `{name}`",
                        q.name
                    ),
                );
                diags.push(match did_you_mean(name, env_names.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None if env_names.is_empty() => {
                        d.with_help("define it in a `[[compute_environments]]` section")
                    }
                    None => d.with_help(format!("known environments: {}", env_names.join(", "))),
                });
            } else if q.compute_environments[..j].contains(name) {
                diags.push(Diagnostic::error(
                    pos,
                    format!(
                        "queue `{}` lists compute environment `{name}` twice",
                        q.name
                    ),
                ));
            }
        }
        if let Some(s) = q.share_decay_seconds
            && s > MAX_SHARE_DECAY_SECONDS
        {
            diags.push(Diagnostic::error(
                p.key("share_decay_seconds"),
                format!("queue `{}`: `share_decay_seconds` may be at most {MAX_SHARE_DECAY_SECONDS} (one week), found {s}", q.name),
            ));
        }
        if let Some(r) = q.compute_reservation
            && r > 99
        {
            diags.push(Diagnostic::error(
                p.key("compute_reservation"),
                format!(
                    "queue `{}`: `compute_reservation` is a percentage from 0 to 99, found {r}",
                    q.name
                ),
            ));
        }
        if q.scheduling_policy == SchedulingPolicy::Fifo {
            for key in ["share_decay_seconds", "compute_reservation"] {
                if p.keys.iter().any(|(k, ..)| k == key) {
                    diags.push(
                        Diagnostic::warning(
                            p.key(key),
                            format!("queue `{}` is FIFO, so `{key}` has no effect", q.name),
                        )
                        .with_help("set `scheduling_policy = \"fair_share\"` or remove it"),
                    );
                }
            }
        }
    }
    if !config.queues.is_empty() && config.queue(DEFAULT_QUEUE).is_none() {
        diags.push(
            Diagnostic::warning(
                at(&located.queues, 0).pos,
                format!("there is no queue named `{DEFAULT_QUEUE}`"),
            )
            .with_help(format!(
                "tasks that name no queue go to `{DEFAULT_QUEUE}`: add it, or give every task a `queue`"
            )),
        );
    }

    let team_names: Vec<&str> = config.teams.iter().map(|t| t.name.as_str()).collect();
    for (i, t) in config.teams.iter().enumerate() {
        let p = at(&located.teams, i);
        if !(t.weight.is_finite() && t.weight > 0.0) {
            diags.push(
                Diagnostic::error(
                    p.key("weight"),
                    format!(
                        "team `{}`: `weight` must be a positive number, found {}",
                        t.name, t.weight
                    ),
                )
                .with_help("a team's fair share is proportional to its weight; 1 is the default"),
            );
        }
        if let ApprovalPolicy::Team(reviewers) = &t.approval
            && config.team(reviewers).is_none()
        {
            let d = Diagnostic::error(
                p.key("approval"),
                format!(
                    "team `{}`: `approval` names team `{reviewers}`, which no `[[teams]]` entry declares",
                    t.name
                ),
            );
            diags.push(match did_you_mean(reviewers, team_names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `team:{s}`?")),
                None => d.with_help("declare the reviewing team in a `[[teams]]` section"),
            });
        }
        for (j, entry) in t.paths.iter().enumerate() {
            if let Some(problem) = super::dag_paths::path_entry_problem(entry) {
                diags.push(
                    Diagnostic::error(
                        p.item("paths", j),
                        format!("team `{}`: path `{entry}` {problem}", t.name),
                    )
                    .with_help("write a folder relative to the DAG folder, e.g. \"marketing/\""),
                );
            }
        }
        for (j, prefix) in t.datasets.iter().enumerate() {
            if let Some(problem) = super::datasets::prefix_problem(config, &t.name, prefix) {
                diags.push(
                    Diagnostic::error(
                        p.item("datasets", j),
                        format!("team `{}`: dataset prefix `{prefix}` {problem}", t.name),
                    )
                    .with_help("write a URI prefix, e.g. \"s3://lake/marketing/\""),
                );
            }
        }
        for (j, prefix) in t.image_prefixes.iter().enumerate() {
            let pos = p.item("image_prefixes", j);
            if prefix.trim().is_empty() || prefix.chars().any(char::is_whitespace) {
                diags.push(
                    Diagnostic::error(
                        pos,
                        format!(
                            "team `{}`: image prefix `{prefix}` is empty or holds spaces",
                            t.name
                        ),
                    )
                    .with_help(
                        "write e.g. \"registry.example.com/marketing/\", or \"*\" for any image",
                    ),
                );
            } else if prefix != "*" && prefix.contains('*') {
                diags.push(
                    Diagnostic::error(pos, format!("team `{}`: image prefix `{prefix}` holds `*`", t.name))
                        .with_help("a prefix matches everything that starts with it; `\"*\"` alone allows any image"),
                );
            } else if t.image_prefixes[..j]
                .iter()
                .any(|other| prefix_matches(other, prefix))
            {
                diags.push(Diagnostic::warning(
                    pos,
                    format!("team `{}`: image prefix `{prefix}` is already allowed by an earlier prefix", t.name),
                ));
            }
        }
    }

    repository(config, located, diags);
    super::logs::validate(&config.logs, located.logs.as_ref(), &team_names, diags);
}

/// A `kubernetes` environment's settings: required there, refused elsewhere, each
/// problem with what to do; all `kubernetes` environments of one server share one
/// cluster setting (the server runs one Kubernetes backend).
fn kubernetes(config: &PlatformConfig, i: usize, p: &EntryPos, diags: &mut Vec<Diagnostic>) {
    let e = &config.compute_environments[i];
    let name = &e.name;
    match (&e.kubernetes, e.backend == super::Backend::Kubernetes) {
        (None, true) => diags.push(
            Diagnostic::error(
                p.key("backend"),
                format!("compute environment `{name}` runs on Kubernetes but does not say which cluster"),
            )
            .with_help(
                "add a `[compute_environments.kubernetes]` table below it with `kubeconfig = \"/path/to/kubeconfig\"` (or `in_cluster = true`)",
            ),
        ),
        (Some(_), false) => diags.push(
            Diagnostic::error(
                p.key("kubernetes"),
                format!(
                    "compute environment `{name}` has Kubernetes settings but its backend is `{}`",
                    e.backend
                ),
            )
            .with_help("set `backend = \"kubernetes\"`, or remove the `kubernetes` table"),
        ),
        (Some(settings), true) => {
            for problem in settings.problems() {
                diags.push(
                    Diagnostic::error(
                        p.key("kubernetes"),
                        format!(
                            "compute environment `{name}`: [compute_environments.kubernetes] {}",
                            problem.message
                        ),
                    )
                    .with_help(problem.help),
                );
            }
            let first = config.compute_environments[..i]
                .iter()
                .find(|other| other.backend == super::Backend::Kubernetes && other.kubernetes.is_some());
            if let Some(first) = first
                && first.kubernetes.as_ref() != Some(settings)
            {
                diags.push(
                    Diagnostic::error(
                        p.key("kubernetes"),
                        format!(
                            "compute environments `{}` and `{name}` both run on Kubernetes with different settings; one Weir server uses one Kubernetes setting",
                            first.name
                        ),
                    )
                    .with_help("give them the same `[compute_environments.kubernetes]` table, or make them one environment"),
                );
            }
        }
        (None, false) => {}
    }
}

/// The `[repository]` table's problems, each at the key it is about.
fn repository(config: &PlatformConfig, located: &Located, diags: &mut Vec<Diagnostic>) {
    let Some(repository) = &config.repository else {
        return;
    };
    let p = located.repository.as_ref().unwrap_or(&NOWHERE);
    let teams: Vec<&str> = config.teams.iter().map(|t| t.name.as_str()).collect();
    for problem in repository.problems(&teams) {
        let d = Diagnostic::error(
            p.key(problem.key),
            format!("[repository] {}", problem.message),
        );
        diags.push(match problem.help {
            Some(help) => d.with_help(help),
            None => d,
        });
    }
}

/// Names must be valid ids and unique within their section.
fn names<'a>(
    kind: &str,
    names: impl Iterator<Item = &'a str>,
    located: &[EntryPos],
    diags: &mut Vec<Diagnostic>,
) {
    let mut first: HashMap<&str, Pos> = HashMap::new();
    for (i, name) in names.enumerate() {
        let pos = at(located, i).pos;
        if let Err(e) = check_id(name) {
            diags.push(Diagnostic::error(
                pos,
                format!("`{name}` is not a valid {kind} name: {e}"),
            ));
            continue;
        }
        if let Some(earlier) = first.get(name) {
            diags.push(
                Diagnostic::error(pos, format!("{kind} `{name}` is defined twice"))
                    .with_note(format!("it is first defined at line {}", earlier.line))
                    .with_help("give each one a different name"),
            );
        } else {
            first.insert(name, pos);
        }
    }
}
