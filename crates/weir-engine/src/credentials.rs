//! What a try is given beyond its rendered fields — its team's secrets and its
//! connections, as environment variables marked secret — and the masker over every
//! credential it may see, for whatever Weir records of the try (the rendered command,
//! XCom, reasons). Another team's secret, a missing one or a server without a master key
//! is a reason the try cannot start, never an empty value.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use weir_compute::LaunchSpec;
use weir_core::mask::Masker;
use weir_core::spec::model::TaskSpec;
use weir_core::template::{TemplateConnection, TemplateContext};

use crate::dag_cache::DagVersion;
use crate::error::Result;
use crate::shared::Shared;

/// The connections a task's templates may name (`{{ conn.<id>.host }}`): its team's
/// and platform-wide ones, loaded only for a task whose fields use `conn.`.
pub(crate) async fn template_connections(
    shared: &Shared,
    version: &DagVersion,
    task_id: &str,
) -> Result<BTreeMap<String, TemplateConnection>> {
    if !version.uses_connections(task_id) {
        return Ok(BTreeMap::new());
    }
    crate::connections::for_templates(shared, &version.spec.team).await
}

/// What a try gets beyond its rendered fields: its secrets and connections as
/// environment variables (all marked secret), and a masker over every credential it may
/// see, for whatever Weir records of the try.
pub struct Credentials {
    pub env: Vec<(String, String)>,
    pub masker: Masker,
}

impl Credentials {
    /// Adds the credentials to a spec: the variables, marked secret.
    pub(crate) fn apply(self, spec: &mut LaunchSpec) -> Masker {
        for (name, value) in self.env {
            spec.secret_env.push(name.clone());
            spec.env.retain(|(n, _)| n != &name);
            spec.env.push((name, value));
        }
        self.masker
    }
}

/// Resolves a task's secrets (`secrets:` at task level, plus a container's or job
/// definition's `extra`) and `connections:` for a try of `team`, or why the try cannot
/// start: another team's secret, a missing one, no master key.
pub async fn credentials(
    shared: &Shared,
    version: &DagVersion,
    task: &TaskSpec,
    extra: &IndexMap<String, String>,
    ctx: &TemplateContext,
) -> Result<std::result::Result<Credentials, (String, bool)>> {
    let team = &version.spec.team;
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    for (env, reference) in task.secrets.iter().chain(extra) {
        match weir_core::secrets::own_secret(team, reference) {
            Ok(name) => wanted.push((env.as_str(), name)),
            Err(why) => return Ok(Err((why, false))),
        }
    }
    let names: Vec<&str> = wanted.iter().map(|(_, name)| *name).collect();
    let mut env = Vec::new();
    let mut values: Vec<String> = Vec::new();
    if !names.is_empty() {
        match shared.secrets.resolve(team.as_str(), &names).await {
            Ok(resolved) => {
                for ((name, _), value) in wanted.iter().zip(resolved) {
                    values.push(value.clone());
                    env.push(((*name).to_owned(), value));
                }
            }
            Err(e) => {
                // The team's names, for a did-you-mean (best effort).
                let known = shared
                    .secrets
                    .names(team.as_str())
                    .await
                    .unwrap_or_default();
                return Ok(Err(secret_problem(team.as_str(), &wanted, &known, e)));
            }
        }
    }
    // Every connection the template context holds may be rendered into `env`.
    for c in ctx.conn.values() {
        values.extend(c.credentials().map(str::to_owned));
    }
    for conn_id in &task.connections {
        let c = match crate::connections::resolve(shared, team, conn_id).await? {
            Ok(c) => c,
            Err(why) => return Ok(Err((why, false))),
        };
        let var = weir_core::secrets::connection_env_name(conn_id);
        if let Some(password) = &c.password {
            env.push((format!("{var}_PASSWORD"), password.clone()));
        }
        let uri = c.uri();
        values.extend(c.for_template().credentials().map(str::to_owned));
        values.push(uri.clone());
        env.push((var, uri));
    }
    Ok(Ok(Credentials {
        env,
        masker: Masker::new(values),
    }))
}

/// The masker over a task's credentials, resolved again (for a try adopted after a
/// restart, whose masker was in the previous process's memory). Best effort: what
/// cannot be resolved now is not masked.
pub async fn masker_for(shared: &Shared, version: &DagVersion, task_id: &str) -> Masker {
    let Some(task) = version.spec.tasks.get(task_id) else {
        return Masker::default();
    };
    let jobs = shared.catalog.jobs_for(version);
    let extra = match crate::workload::need(&version.spec, task, &jobs).work {
        crate::workload::TaskWork::Container(plan) => plan.secrets.clone(),
        _ => IndexMap::new(),
    };
    let mut ctx = TemplateContext::new("", "", "", chrono::Utc::now());
    ctx.conn = template_connections(shared, version, task_id)
        .await
        .unwrap_or_default();
    match credentials(shared, version, task, &extra, &ctx).await {
        Ok(Ok(c)) => c.masker,
        _ => Masker::default(),
    }
}

/// Why a try's secrets could not be resolved, and whether a retry may help (a
/// backend that did not answer: yes; a secret that does not exist: no).
fn secret_problem(
    team: &str,
    wanted: &[(&str, &str)],
    known: &[String],
    e: weir_secrets::SecretsError,
) -> (String, bool) {
    use weir_secrets::SecretsError;
    match e {
        SecretsError::NotFound { name, .. } => {
            let env = wanted
                .iter()
                .find(|(_, n)| *n == name)
                .map_or(String::new(), |(env, _)| format!(" (for `{env}`)"));
            let hint =
                weir_core::spec::diagnostic::did_you_mean(&name, known.iter().map(String::as_str))
                    .map_or(String::new(), |s| format!(" (did you mean `{s}`?)"));
            (
                format!(
                    "secret `{team}/{name}`{env} does not exist{hint}: a team admin sets it \
                     with `weir secrets set {team}/{name}`"
                ),
                false,
            )
        }
        SecretsError::Aws { .. } => (e.to_string(), true),
        other => (other.to_string(), false),
    }
}
