//! Reading a job definition file with located diagnostics (every problem, unknown keys
//! with their likely spelling), then checking it against the platform config: the
//! team's image prefixes, the queue, and whether its resources can ever fit.

use super::{ExitRule, JobDefinition, MAX_ATTEMPTS, MAX_EXIT_RULES, RetryAction, RetryStrategy};
use crate::duration::parse_size;
use crate::ids::{TeamId, check_id};
use crate::platform::{DEFAULT_QUEUE, PlatformConfig, Request, Workload};
use crate::spec::MAX_FILE_BYTES;
use crate::spec::diagnostic::{Diagnostic, Pos, did_you_mean};
use crate::spec::model::{MemorySize, PullPolicy, Resources};
use crate::spec::reader::{self, Diags, MapReader};
use crate::spec::task::duration;
use crate::spec::yaml::{self, Node, Value};

/// What loading one job file gave.
#[derive(Debug, Clone, Default)]
pub struct JobFileReport {
    /// The definition, when the file has no errors.
    pub job: Option<JobDefinition>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl JobFileReport {
    pub fn has_errors(&self) -> bool {
        crate::spec::diagnostic::has_errors(&self.diagnostics)
    }

    /// The whole report rendered rustc-style for `path`.
    pub fn render(&self, path: &str, source: &str) -> String {
        crate::spec::diagnostic::render_all(&self.diagnostics, path, source)
    }
}

/// Where the parts the platform checks look at were written.
#[derive(Default)]
struct Sites {
    image: Pos,
    queue: Option<Pos>,
    resources: Option<Pos>,
}

/// Reads and checks one job definition file.
pub fn load_job_file(source: &str, platform: &PlatformConfig) -> JobFileReport {
    let mut diags = Vec::new();
    if source.len() > MAX_FILE_BYTES {
        diags.push(Diagnostic::error(
            Pos::new(1, 1),
            format!(
                "the file is {} bytes; a job definition may be at most {MAX_FILE_BYTES}",
                source.len()
            ),
        ));
        return JobFileReport {
            job: None,
            diagnostics: diags,
        };
    }
    let (root, mut diags) = yaml::parse(source);
    let Some(root) = root else {
        if diags.is_empty() {
            diags.push(
                Diagnostic::error(Pos::new(1, 1), "the file is empty")
                    .with_help("a job definition needs at least `job`, `team` and `image`"),
            );
        }
        return JobFileReport {
            job: None,
            diagnostics: diags,
        };
    };
    let job = read_job(&root, platform, &mut diags);
    diags.sort_by_key(|d| d.pos);
    let ok = !diags.iter().any(Diagnostic::is_error);
    JobFileReport {
        job: job.filter(|_| ok),
        diagnostics: diags,
    }
}

fn id_value(node: &Node, what: &str, diags: &mut Diags) -> Option<String> {
    let text = reader::string(node, &format!("the {what}"), diags)?;
    match check_id(&text) {
        Ok(()) => Some(text),
        Err(e) => {
            diags.push(Diagnostic::error(
                node.pos,
                format!("`{text}` is not a valid {what}: {e}"),
            ));
            None
        }
    }
}

fn read_job(node: &Node, platform: &PlatformConfig, diags: &mut Diags) -> Option<JobDefinition> {
    let mut m = MapReader::new(node, "the job definition", diags)?;
    let mut sites = Sites::default();
    let job = m
        .require("job", diags)
        .and_then(|n| id_value(n, "job definition name", diags));
    let team = m.require("team", diags).and_then(|n| {
        let text = reader::string(n, "the team id", diags)?;
        match TeamId::new(text.as_str()) {
            Ok(team) => Some(team),
            Err(e) => {
                diags.push(Diagnostic::error(
                    n.pos,
                    format!("`{text}` is not a valid team id: {e}"),
                ));
                None
            }
        }
    });
    let image = m.require("image", diags).and_then(|n| {
        sites.image = n.pos;
        let text = reader::string(n, "`image`", diags)?;
        let templated = text.contains("{{");
        if text.trim().is_empty() || (!templated && text.chars().any(char::is_whitespace)) {
            diags.push(
                Diagnostic::error(n.pos, format!("`{text}` is not an image reference"))
                    .with_help("write e.g. `registry.example.com/team/tool:1.2`"),
            );
            return None;
        }
        Some(text)
    });
    let description = m
        .get("description")
        .and_then(|n| reader::string(n, "`description`", diags));
    let image = image.unwrap_or_default();
    let command = m
        .get("command")
        .and_then(|n| reader::string_list(n, "`command`", diags))
        .map(|items| items.into_iter().map(|(s, _)| s).collect());
    let workdir = m
        .get("workdir")
        .and_then(|n| reader::string(n, "`workdir`", diags));
    let resources = m.get("resources").and_then(|n| {
        sites.resources = Some(n.pos);
        resources(n, diags)
    });
    let env = m
        .get("env")
        .and_then(|n| reader::string_map(n, "`env`", diags))
        .map(|e| e.into_iter().map(|(k, (v, _))| (k, v)).collect())
        .unwrap_or_default();
    let secrets = m
        .get("secrets")
        .and_then(|n| reader::string_map(n, "`secrets`", diags))
        .map(|e| e.into_iter().map(|(k, (v, _))| (k, v)).collect())
        .unwrap_or_default();
    let timeout = m
        .get("timeout")
        .and_then(|n| duration(n, "`timeout`", diags));
    let queue = m.get("queue").and_then(|n| {
        sites.queue = Some(n.pos);
        id_value(n, "queue name", diags)
    });
    let retry_strategy = m
        .get("retry_strategy")
        .and_then(|n| retry_strategy(n, diags))
        .unwrap_or_default();
    let pull = m
        .get("pull")
        .and_then(|n| pull(n, diags))
        .unwrap_or_default();
    m.finish(diags);
    check_platform(
        team.as_ref(),
        &image,
        queue.as_deref(),
        resources.as_ref(),
        &sites,
        platform,
        diags,
    );
    // Without a valid team (already reported) there is no definition, only its problems.
    Some(JobDefinition {
        job: job.unwrap_or_default(),
        team: team?,
        description,
        image,
        command,
        workdir,
        resources,
        env,
        secrets,
        timeout,
        queue,
        retry_strategy,
        pull,
    })
}

fn resources(node: &Node, diags: &mut Diags) -> Option<Resources> {
    let mut m = MapReader::new(node, "`resources`", diags)?;
    let vcpu = m.get("vcpu").and_then(|n| {
        let text = reader::string(n, "`vcpu`", diags)?;
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Some(v),
            _ => {
                diags.push(
                    Diagnostic::error(
                        n.pos,
                        format!("`vcpu` must be a positive number, found `{text}`"),
                    )
                    .with_help("e.g. `vcpu: 2` or `vcpu: 0.5`"),
                );
                None
            }
        }
    });
    let memory = m.get("memory").and_then(|n| {
        let text = reader::string(n, "`memory`", diags)?;
        match parse_size(&text) {
            Ok(0) => {
                diags.push(Diagnostic::error(n.pos, "`memory` must be more than 0"));
                None
            }
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

fn pull(node: &Node, diags: &mut Diags) -> Option<PullPolicy> {
    let text = reader::string(node, "`pull`", diags)?;
    match text.as_str() {
        "if_not_present" => Some(PullPolicy::IfNotPresent),
        "always" => Some(PullPolicy::Always),
        "never" => Some(PullPolicy::Never),
        other => {
            let names = ["if_not_present", "always", "never"];
            let d = Diagnostic::error(node.pos, format!("unknown pull policy `{other}`"));
            diags.push(match did_you_mean(other, names) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help("use `if_not_present`, `always` or `never`"),
            });
            None
        }
    }
}

fn retry_strategy(node: &Node, diags: &mut Diags) -> Option<RetryStrategy> {
    let mut m = MapReader::new(node, "`retry_strategy`", diags)?;
    let attempts = m.get("attempts").and_then(|n| {
        let a = reader::unsigned(n, "`attempts`", diags)?;
        if (1..=MAX_ATTEMPTS).contains(&a) {
            Some(a)
        } else {
            diags.push(
                Diagnostic::error(
                    n.pos,
                    format!("`attempts` must be from 1 to {MAX_ATTEMPTS}, found {a}"),
                )
                .with_help(
                    "attempts count every try, the first included: `attempts: 3` is two retries",
                ),
            );
            None
        }
    });
    let mut rules = Vec::new();
    if let Some(n) = m.get("evaluate_on_exit") {
        match &n.value {
            Value::Seq(items) => {
                if items.len() > MAX_EXIT_RULES {
                    diags.push(Diagnostic::error(
                        n.pos,
                        format!(
                            "`evaluate_on_exit` may hold at most {MAX_EXIT_RULES} rules, found {}",
                            items.len()
                        ),
                    ));
                }
                rules.extend(
                    items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, item)| exit_rule(item, i + 1, diags)),
                );
            }
            _ => diags.push(
                Diagnostic::error(
                    n.pos,
                    format!(
                        "`evaluate_on_exit` must be a list of rules, found {}",
                        n.kind_name()
                    ),
                )
                .with_help("e.g. `evaluate_on_exit: [{on_exit_code: \"137\", action: retry}]`"),
            ),
        }
    }
    m.finish(diags);
    Some(RetryStrategy {
        attempts: attempts.unwrap_or(1),
        evaluate_on_exit: rules,
    })
}

fn exit_rule(node: &Node, number: usize, diags: &mut Diags) -> Option<ExitRule> {
    let mut m = MapReader::new(node, format!("rule {number} of `evaluate_on_exit`"), diags)?;
    let has_condition = m.key_pos("on_exit_code").is_some() || m.key_pos("on_reason").is_some();
    let on_exit_code = m.get("on_exit_code").and_then(|n| {
        let text = reader::string(n, "`on_exit_code`", diags)?;
        if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit() || c == '*') {
            diags.push(
                Diagnostic::error(
                    n.pos,
                    format!("`on_exit_code` pattern `{text}` may hold only digits and `*`"),
                )
                .with_help("e.g. `\"137\"`, `\"1*\"` or `\"*\"`"),
            );
            return None;
        }
        Some(text)
    });
    let on_reason = m
        .get("on_reason")
        .and_then(|n| reader::string(n, "`on_reason`", diags));
    let action = m.require("action", diags).and_then(|n| {
        let text = reader::string(n, "`action`", diags)?;
        match text.as_str() {
            "retry" => Some(RetryAction::Retry),
            "exit" => Some(RetryAction::Exit),
            other => {
                diags.push(
                    Diagnostic::error(n.pos, format!("unknown action `{other}`")).with_help(
                        "use `retry` (try again while attempts are left) or `exit` (fail now)",
                    ),
                );
                None
            }
        }
    });
    let what = m.what().to_string();
    m.finish(diags);
    if !has_condition {
        diags.push(
            Diagnostic::error(node.pos, format!("{what} has no condition"))
                .with_help("give it `on_exit_code`, `on_reason` or both; `on_reason: \"*\"` matches any failure"),
        );
        return None;
    }
    Some(ExitRule {
        on_exit_code,
        on_reason,
        action: action?,
    })
}

/// The checks that need the platform config.
fn check_platform(
    team: Option<&TeamId>,
    image: &str,
    queue: Option<&str>,
    resources: Option<&Resources>,
    sites: &Sites,
    platform: &PlatformConfig,
    diags: &mut Diags,
) {
    // A templated image can only be checked once rendered: the engine does it per try.
    if let Some(team) = team
        && !image.is_empty()
        && !image.contains("{{")
        && let Err(msg) = platform.image_allowed(team, image)
    {
        diags.push(
            Diagnostic::error(sites.image, msg)
                .with_help("use an image under one of the team's prefixes, or ask the platform team to allow it in weir.toml"),
        );
    }
    if sites.queue.is_some() && queue.is_none() {
        return; // the queue value itself is malformed, and already reported
    }
    let queue = queue.unwrap_or(DEFAULT_QUEUE);
    let pos = sites.queue.unwrap_or(Pos::new(1, 1));
    if platform.queue(queue).is_none() {
        let d = Diagnostic::error(
            pos,
            format!("queue `{queue}` is not in the platform config"),
        );
        let names = platform.queues.iter().map(|q| q.name.as_str());
        diags.push(match did_you_mean(queue, names.clone()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "known queues: {}",
                names.collect::<Vec<_>>().join(", ")
            )),
        });
        return;
    }
    let wanted = resources;
    let request = Request::new(
        wanted
            .and_then(|r| r.vcpu)
            .unwrap_or(crate::platform::DEFAULT_VCPU),
        wanted
            .and_then(|r| r.memory)
            .map_or(crate::platform::DEFAULT_MEMORY_BYTES, |m| m.0),
    );
    if let Err(e) = platform.check_fit(queue, Workload::Container, request) {
        diags.push(
            Diagnostic::error(sites.resources.unwrap_or(pos), e.to_string())
                .with_help("ask for less, or use a queue with a bigger compute environment"),
        );
    }
}
