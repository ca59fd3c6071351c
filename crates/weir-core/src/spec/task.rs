//! Reading one task (and the DAG's `defaults`) from the located YAML tree.

use indexmap::IndexMap;

use super::diagnostic::{Diagnostic, Pos, did_you_mean};
use super::model::*;
use super::reader::{self, Diags, MapReader};
use super::yaml::{Node, Value};
use crate::duration::{parse_duration, parse_size};
use crate::ids::{IdError, TaskId, check_id};
use crate::retry::RetryBackoff;
use crate::trigger_rule::TriggerRule;

/// A string that is rendered as a template per try, with where it was written.
#[derive(Debug, Clone)]
pub struct TemplateSite {
    pub text: String,
    pub pos: Pos,
    pub block: bool,
    /// A `shell` command, whose values are shell-quoted when rendered.
    pub shell: bool,
}

/// Where a task's parts were written, for the checks that need the whole DAG.
#[derive(Debug, Clone, Default)]
pub struct TaskPositions {
    pub pos: Pos,
    pub depends_on: Vec<(String, Pos)>,
    pub for_each: Option<Pos>,
    pub templates: Vec<TemplateSite>,
    /// Every secret the task refers to (`secrets:` at task level and in `container:`),
    /// with where.
    pub secrets: Vec<(String, Pos)>,
}

pub(super) fn templated(
    node: &Node,
    what: &str,
    sites: &mut Vec<TemplateSite>,
    diags: &mut Diags,
) -> Option<String> {
    let text = reader::string(node, what, diags)?;
    let block = matches!(&node.value, Value::Scalar(s) if s.block);
    sites.push(TemplateSite {
        text: text.clone(),
        pos: node.pos,
        block,
        shell: false,
    });
    Some(text)
}

fn templated_list(
    node: &Node,
    what: &str,
    sites: &mut Vec<TemplateSite>,
    diags: &mut Diags,
) -> Option<Vec<String>> {
    let items = reader::string_list(node, what, diags)?;
    Some(
        items
            .into_iter()
            .map(|(text, pos)| {
                sites.push(TemplateSite {
                    text: text.clone(),
                    pos,
                    block: false,
                    shell: false,
                });
                text
            })
            .collect(),
    )
}

pub(super) fn templated_map(
    node: &Node,
    what: &str,
    sites: &mut Vec<TemplateSite>,
    diags: &mut Diags,
) -> Option<IndexMap<String, String>> {
    let map = reader::string_map(node, what, diags)?;
    Some(
        map.into_iter()
            .map(|(k, (v, pos))| {
                sites.push(TemplateSite {
                    text: v.clone(),
                    pos,
                    block: false,
                    shell: false,
                });
                (k, v)
            })
            .collect(),
    )
}

pub fn duration(node: &Node, what: &str, diags: &mut Diags) -> Option<HumanDuration> {
    let text = reader::string(node, what, diags)?;
    match parse_duration(&text) {
        Ok(d) => Some(HumanDuration(d)),
        Err(msg) => {
            diags.push(Diagnostic::error(node.pos, format!("{what}: {msg}")));
            None
        }
    }
}

pub(super) fn id_value(node: &Node, what: &str, diags: &mut Diags) -> Option<String> {
    checked(node, what, diags, |text| check_id(&text).map(|()| text))
}

/// A string that must pass `check`, e.g. a typed id's constructor; a located error if not.
pub(super) fn checked<T>(
    node: &Node,
    what: &str,
    diags: &mut Diags,
    check: impl FnOnce(String) -> Result<T, IdError>,
) -> Option<T> {
    let text = reader::string(node, what, diags)?;
    match check(text.clone()) {
        Ok(value) => Some(value),
        Err(e) => {
            diags.push(Diagnostic::error(
                node.pos,
                format!("`{text}` is not a valid {what}: {e}"),
            ));
            None
        }
    }
}

fn trigger_rule(node: &Node, diags: &mut Diags) -> Option<TriggerRule> {
    let text = reader::string(node, "`trigger_rule`", diags)?;
    let rule = TriggerRule::parse(&text);
    if rule.is_none() {
        let names = TriggerRule::ALL.map(TriggerRule::as_str);
        let d = Diagnostic::error(node.pos, format!("unknown trigger rule `{text}`"));
        diags.push(match did_you_mean(&text, names) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!("use one of {}", names.join(", "))),
        });
    }
    rule
}

fn backoff(node: &Node, diags: &mut Diags) -> Option<RetryBackoff> {
    match reader::string(node, "`retry_backoff`", diags)?.as_str() {
        "fixed" => Some(RetryBackoff::Fixed),
        "exponential" => Some(RetryBackoff::Exponential),
        other => {
            diags.push(
                Diagnostic::error(node.pos, format!("unknown retry backoff `{other}`"))
                    .with_help("use `fixed` or `exponential`"),
            );
            None
        }
    }
}

fn resources(node: &Node, diags: &mut Diags) -> Option<Resources> {
    let mut m = MapReader::new(node, "`resources`", diags)?;
    let vcpu = m
        .get("vcpu")
        .and_then(|n| reader::number(n, "`vcpu`", diags));
    let memory = m.get("memory").and_then(|n| {
        let text = reader::string(n, "`memory`", diags)?;
        match parse_size(&text) {
            Ok(bytes) => Some(MemorySize(bytes)),
            Err(msg) => {
                diags.push(Diagnostic::error(n.pos, format!("`memory`: {msg}")));
                None
            }
        }
    });
    m.finish(diags);
    Some(Resources { vcpu, memory })
}

/// Reads the settings a task and the DAG's `defaults` have in common (all but `env`).
fn read_settings(m: &mut MapReader<'_>, diags: &mut Diags) -> TaskDefaults {
    TaskDefaults {
        retries: m
            .get("retries")
            .and_then(|n| reader::unsigned(n, "`retries`", diags)),
        retry_delay: m
            .get("retry_delay")
            .and_then(|n| duration(n, "`retry_delay`", diags)),
        retry_backoff: m.get("retry_backoff").and_then(|n| backoff(n, diags)),
        max_retry_delay: m
            .get("max_retry_delay")
            .and_then(|n| duration(n, "`max_retry_delay`", diags)),
        timeout: m
            .get("timeout")
            .and_then(|n| duration(n, "`timeout`", diags)),
        queue: m
            .get("queue")
            .and_then(|n| id_value(n, "queue name", diags)),
        pool: m.get("pool").and_then(|n| id_value(n, "pool name", diags)),
        trigger_rule: m.get("trigger_rule").and_then(|n| trigger_rule(n, diags)),
        env: IndexMap::new(),
        notify: m
            .get("notify")
            .and_then(|n| crate::notify::read_notify(n, false, diags))
            .unwrap_or_default(),
    }
}

/// Reads `defaults:`.
pub fn read_defaults(node: &Node, diags: &mut Diags) -> TaskDefaults {
    let Some(mut m) = MapReader::new(node, "`defaults`", diags) else {
        return TaskDefaults::default();
    };
    let mut d = read_settings(&mut m, diags);
    let mut ignored = Vec::new();
    d.env = m
        .get("env")
        .and_then(|n| templated_map(n, "`env`", &mut ignored, diags))
        .unwrap_or_default();
    m.finish(diags);
    d
}

/// Reads one task. Returns None when the task is too broken to build (its problems are
/// in `diags`).
pub fn read_task(
    id: &str,
    id_pos: Pos,
    node: &Node,
    diags: &mut Diags,
) -> Option<(TaskSpec, TaskPositions)> {
    let mut m = MapReader::new(node, format!("task `{id}`"), diags)?;
    let mut at = TaskPositions {
        pos: id_pos,
        ..TaskPositions::default()
    };
    let sites = &mut at.templates;

    let mut kinds: Vec<(&'static str, &Node)> = Vec::new();
    for name in TaskKind::NAMES {
        if let Some(n) = m.get(name) {
            kinds.push((name, n));
        }
    }
    if let Some((second, _)) = kinds.get(1) {
        let pos = m.key_pos(second).unwrap_or(m.pos);
        diags.push(
            Diagnostic::error(
                pos,
                format!("task `{id}` has two kinds, `{}` and `{second}`", kinds[0].0),
            )
            .with_help("a task does exactly one thing: split it into two tasks"),
        );
    }
    let kind = match kinds.first() {
        None => {
            diags.push(
                Diagnostic::error(id_pos, format!("task `{id}` has no kind")).with_help(format!(
                    "give it exactly one of: {}",
                    TaskKind::NAMES.join(", ")
                )),
            );
            None
        }
        Some((name, n)) => read_kind(name, n, sites, diags),
    };

    let depends_on = m
        .get("depends_on")
        .and_then(|n| reader::string_list(n, "`depends_on`", diags))
        .unwrap_or_default();
    let for_each = m.get("for_each").and_then(|n| {
        at.for_each = Some(n.pos);
        match &n.value {
            Value::Seq(_) => match n.to_json() {
                serde_json::Value::Array(items) => Some(ForEach::Items(items)),
                _ => None,
            },
            Value::Scalar(s) if !n.is_null() => {
                sites.push(TemplateSite { text: s.text.clone(), pos: n.pos, block: s.block, shell: false });
                Some(ForEach::Template(s.text.clone()))
            }
            _ => {
                diags.push(
                    Diagnostic::error(n.pos, format!("`for_each` must be a list or a template, found {}", n.kind_name()))
                        .with_help("e.g. `for_each: [a, b]` or `for_each: \"{{ ti.xcom_pull('list_files') }}\"`"),
                );
                None
            }
        }
    });
    let settings = read_settings(&mut m, diags);
    let spec = TaskSpec {
        kind: kind?,
        // A string that is not a valid id names no task: `validate` reports it as an
        // unknown dependency (with its position and a suggestion), so the DAG never loads.
        depends_on: depends_on
            .iter()
            .filter_map(|(d, _)| TaskId::new(d.as_str()).ok())
            .collect(),
        trigger_rule: settings.trigger_rule,
        retries: settings.retries,
        retry_delay: settings.retry_delay,
        retry_backoff: settings.retry_backoff,
        max_retry_delay: settings.max_retry_delay,
        timeout: settings.timeout,
        queue: settings.queue,
        pool: settings.pool,
        notify: settings.notify,
        deadline: m
            .get("deadline")
            .and_then(|n| crate::notify::read_task_deadline(n, diags)),
        outlets: m
            .get("outlets")
            .and_then(|n| templated_list(n, "`outlets`", sites, diags))
            .unwrap_or_default(),
        inlets: m
            .get("inlets")
            .and_then(|n| templated_list(n, "`inlets`", sites, diags))
            .unwrap_or_default(),
        for_each,
        env: m
            .get("env")
            .and_then(|n| templated_map(n, "`env`", sites, diags))
            .unwrap_or_default(),
        command: m
            .get("command")
            .and_then(|n| templated_list(n, "`command`", sites, diags)),
        resources: m.get("resources").and_then(|n| resources(n, diags)),
        secrets: m
            .get("secrets")
            .and_then(|n| reader::string_map(n, "`secrets`", diags))
            .map(|refs| {
                refs.into_iter()
                    .map(|(env, (name, pos))| {
                        at.secrets.push((name.clone(), pos));
                        (env, name)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        connections: m
            .get("connections")
            .and_then(|n| reader::string_list(n, "`connections`", diags))
            .map(|ids| ids.into_iter().map(|(id, _)| id).collect())
            .unwrap_or_default(),
    };
    if let TaskKind::Container(c) = &spec.kind {
        // The container's own `secrets:`; their positions were not kept by the reader.
        for name in c.secrets.values() {
            at.secrets.push((name.clone(), at.pos));
        }
    }
    at.depends_on = depends_on;
    if !matches!(spec.kind, TaskKind::Job(_)) {
        for key in ["command", "resources"] {
            if let Some(pos) = m.key_pos(key) {
                diags.push(
                    Diagnostic::error(
                        pos,
                        format!("`{key}` at task level only applies to a `job` task"),
                    )
                    .with_help(format!(
                        "for a `container` task, put `{key}` under `container:`"
                    )),
                );
            }
        }
    }
    m.finish(diags);
    Some((spec, at))
}

fn read_kind(
    name: &str,
    node: &Node,
    sites: &mut Vec<TemplateSite>,
    diags: &mut Diags,
) -> Option<TaskKind> {
    match name {
        "shell" => templated(node, "`shell`", sites, diags).map(|command| {
            if let Some(site) = sites.last_mut() {
                site.shell = true;
            }
            TaskKind::Shell(command)
        }),
        "job" => id_value(node, "job definition name", diags).map(TaskKind::Job),
        "noop" => match &node.value {
            _ if node.is_null() => Some(TaskKind::Noop(NoopTask {})),
            Value::Scalar(s) if s.plain && s.text == "true" => Some(TaskKind::Noop(NoopTask {})),
            Value::Map(entries) if entries.is_empty() => Some(TaskKind::Noop(NoopTask {})),
            _ => {
                diags.push(
                    Diagnostic::error(node.pos, "`noop` takes no settings")
                        .with_help("write `noop: {}`"),
                );
                None
            }
        },
        "container" => {
            let mut m = MapReader::new(node, "`container`", diags)?;
            let image = m
                .require("image", diags)
                .and_then(|n| templated(n, "`image`", sites, diags));
            let c = ContainerTask {
                image: image.unwrap_or_default(),
                command: m
                    .get("command")
                    .and_then(|n| templated_list(n, "`command`", sites, diags)),
                args: m
                    .get("args")
                    .and_then(|n| templated_list(n, "`args`", sites, diags)),
                env: m
                    .get("env")
                    .and_then(|n| templated_map(n, "`env`", sites, diags))
                    .unwrap_or_default(),
                resources: m.get("resources").and_then(|n| resources(n, diags)),
                workdir: m
                    .get("workdir")
                    .and_then(|n| reader::string(n, "`workdir`", diags)),
                pull: m
                    .get("pull")
                    .and_then(|n| {
                        let text = reader::string(n, "`pull`", diags)?;
                        let policy = match text.as_str() {
                            "if_not_present" => PullPolicy::IfNotPresent,
                            "always" => PullPolicy::Always,
                            "never" => PullPolicy::Never,
                            other => {
                                diags.push(
                                    Diagnostic::error(
                                        n.pos,
                                        format!("unknown pull policy `{other}`"),
                                    )
                                    .with_help("use `if_not_present`, `always` or `never`"),
                                );
                                return None;
                            }
                        };
                        Some(policy)
                    })
                    .unwrap_or_default(),
                secrets: m
                    .get("secrets")
                    .and_then(|n| reader::string_map(n, "`secrets`", diags))
                    .map(|s| s.into_iter().map(|(k, (v, _))| (k, v)).collect())
                    .unwrap_or_default(),
                privileged: m
                    .get("privileged")
                    .and_then(|n| reader::boolean(n, "`privileged`", diags))
                    .unwrap_or(false),
                host_network: m
                    .get("host_network")
                    .and_then(|n| reader::boolean(n, "`host_network`", diags))
                    .unwrap_or(false),
                mounts: m
                    .get("mounts")
                    .map(|n| read_mounts(n, diags))
                    .unwrap_or_default(),
            };
            m.finish(diags);
            Some(TaskKind::Container(c))
        }
        "sql" => super::sql_http::read_sql(node, sites, diags),
        "http" => super::sql_http::read_http(node, sites, diags),
        "sensor" => super::sensor::read_sensor(node, sites, diags),
        _ => None,
    }
}

/// `mounts: [{source: /data, target: /data, read_only: true}]`: absolute paths only.
fn read_mounts(node: &Node, diags: &mut Diags) -> Vec<HostMountSpec> {
    let Value::Seq(items) = &node.value else {
        diags.push(Diagnostic::error(
            node.pos,
            format!("`mounts` must be a list, found {}", node.kind_name()),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(mut m) = MapReader::new(item, "a mount", diags) else {
            continue;
        };
        let path = |key: &'static str, m: &mut MapReader<'_>, diags: &mut Diags| {
            let n = m.require(key, diags)?;
            let p = reader::string(n, &format!("`{key}`"), diags)?;
            if !p.starts_with('/') {
                diags.push(Diagnostic::error(
                    n.pos,
                    format!("`{key}` must be an absolute path, not `{p}`"),
                ));
                return None;
            }
            Some(p)
        };
        let source = path("source", &mut m, diags);
        let target = path("target", &mut m, diags);
        let read_only = m
            .get("read_only")
            .and_then(|n| reader::boolean(n, "`read_only`", diags))
            .unwrap_or(false);
        m.finish(diags);
        if let (Some(source), Some(target)) = (source, target) {
            out.push(HostMountSpec {
                source,
                target,
                read_only,
            });
        }
    }
    out
}
