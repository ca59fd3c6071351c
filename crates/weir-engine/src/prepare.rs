//! Turning a task instance into a backend's launch spec: its template context (with the
//! fan-out item), rendered command and environment, the `WEIR_*` variables, and for a
//! container the image, command, resources and the team's image policy. A problem is a
//! reason to fail the try (and whether retrying can help), not an engine error.

use std::path::Path;

use chrono::SecondsFormat;
use weir_compute::{ContainerLaunch, LaunchSpec, TryFolder};
use weir_core::platform::ShellIsolation;
use weir_core::template::{self, TemplateContext};
use weir_store::{DagRunRecord, TaskInstanceRecord};

use crate::dag_cache::DagVersion;
use crate::error::Result;
use crate::shared::Shared;
use crate::workload::ContainerPlan;

/// A launch spec, or why the try fails before it starts (and whether a retry can help).
pub type Prepared = std::result::Result<LaunchSpec, (String, bool)>;

/// The try's template context, with `item` for a mapped instance.
async fn try_context(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    try_number: u32,
) -> Result<std::result::Result<TemplateContext, (String, bool)>> {
    let task_id = ti.key.task_id.as_str();
    let Some(task) = version.spec.tasks.get(task_id) else {
        return Ok(Err((format!("task `{task_id}` is gone"), false)));
    };
    let mut ctx = crate::render::context(
        &shared.store,
        run,
        version,
        task_id,
        ti.key.map_index,
        try_number,
    )
    .await?;
    if task.for_each.is_some() {
        match crate::render::for_each_items(task, &ctx) {
            Ok(items) => match usize::try_from(ti.key.map_index)
                .ok()
                .and_then(|i| items.get(i))
            {
                Some(item) => ctx.item = Some(item.clone()),
                None => {
                    let why = format!(
                        "`for_each` no longer yields an item at index {}",
                        ti.key.map_index
                    );
                    return Ok(Err((why, false)));
                }
            },
            Err(reason) => return Ok(Err((reason, true))),
        }
    }
    Ok(Ok(ctx))
}

fn render(
    text: &str,
    what: &str,
    ctx: &TemplateContext,
) -> std::result::Result<String, (String, bool)> {
    template::render(text, ctx).map_err(|e| (format!("cannot render {what}: {}", e.message), true))
}

/// The `WEIR_*` variables every task sees, then its own rendered `env`.
fn environment<'a>(
    run: &DagRunRecord,
    ti: &TaskInstanceRecord,
    try_number: u32,
    xcom: &Path,
    env: impl IntoIterator<Item = (&'a String, &'a String)>,
    ctx: &TemplateContext,
) -> std::result::Result<Vec<(String, String)>, (String, bool)> {
    let mut out: Vec<(String, String)> = vec![
        ("WEIR_DAG_ID".into(), run.dag_id.to_string()),
        ("WEIR_RUN_ID".into(), run.run_id.to_string()),
        ("WEIR_TASK_ID".into(), ti.key.task_id.to_string()),
        ("WEIR_TRY_NUMBER".into(), try_number.to_string()),
        ("WEIR_MAP_INDEX".into(), ti.key.map_index.to_string()),
        (
            "WEIR_LOGICAL_DATE".into(),
            run.logical_date.to_rfc3339_opts(SecondsFormat::Secs, false),
        ),
        ("WEIR_XCOM".into(), xcom.display().to_string()),
    ];
    for (name, value) in env {
        out.push((name.clone(), render(value, &format!("env `{name}`"), ctx)?));
    }
    Ok(out)
}

/// A `shell` task: `sh -c` the rendered command.
pub async fn shell(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    try_number: u32,
    command: &str,
    folder: &TryFolder,
) -> Result<Prepared> {
    let ctx = match try_context(shared, run, version, ti, try_number).await? {
        Ok(ctx) => ctx,
        Err(why) => return Ok(Err(why)),
    };
    let Some(task) = version.spec.tasks.get(ti.key.task_id.as_str()) else {
        return Ok(Err(("the task is gone".into(), false)));
    };
    let eff = version.spec.effective(task);
    let prepared = (|| {
        // The one field rendered with shell quoting: it is the only one a shell parses.
        let rendered = template::render_shell(command, &ctx)
            .map_err(|e| (format!("cannot render `shell`: {}", e.message), true))?;
        let env = environment(run, ti, try_number, &folder.xcom_path(), &eff.env, &ctx)?;
        let mut spec = LaunchSpec::new(ti.key.try_key(try_number), rendered, folder.path());
        spec.env = env;
        spec.timeout = eff.timeout;
        spec.sandbox = match shared.platform.shell_isolation(&version.spec.team) {
            ShellIsolation::Unsandboxed => None,
            ShellIsolation::Sandboxed(sandbox) => Some(sandbox),
        };
        Ok(spec)
    })();
    Ok(prepared)
}

/// What a container try runs: the plan and the request the dispatcher placed.
pub struct ContainerWork<'a> {
    pub plan: &'a ContainerPlan,
    pub request: weir_core::platform::Request,
}

/// A `container` or `job` task: the rendered image, command and environment, checked
/// against the team's image policy.
pub async fn container(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    try_number: u32,
    work: ContainerWork<'_>,
    folder: &TryFolder,
) -> Result<Prepared> {
    let ContainerWork { plan, request } = work;
    let ctx = match try_context(shared, run, version, ti, try_number).await? {
        Ok(ctx) => ctx,
        Err(why) => return Ok(Err(why)),
    };
    let team = version.spec.team.clone();
    let prepared = (|| {
        let image = render(&plan.image, "`image`", &ctx)?;
        shared
            .platform
            .image_allowed(&team, &image)
            .map_err(|why| (why, false))?;
        // Checked at load time too; here for DAGs that reach the engine another way.
        let allowed = shared.platform.container_policy(&team);
        if (plan.privileged && !allowed.privileged)
            || (plan.host_network && !allowed.host_network)
            || (!plan.mounts.is_empty() && !allowed.host_mounts)
        {
            let why = format!(
                "team `{team}` may not run privileged containers, on the host network or with host folders"
            );
            return Err((why, false));
        }
        if !plan.secrets.is_empty() {
            let names: Vec<&str> = plan.secrets.keys().map(String::as_str).collect();
            return Err((
                format!(
                    "the task asks for secrets ({}), and secrets are not available on this server yet",
                    names.join(", ")
                ),
                false,
            ));
        }
        let list = |items: &Option<Vec<String>>,
                    what: &str|
         -> std::result::Result<Option<Vec<String>>, (String, bool)> {
            items
                .as_ref()
                .map(|v| v.iter().map(|a| render(a, what, &ctx)).collect())
                .transpose()
        };
        let mut command = list(&plan.command, "`command`")?;
        if let Some(args) = list(&plan.args, "`args`")? {
            command.get_or_insert_with(Vec::new).extend(args);
        }
        let env = environment(run, ti, try_number, &folder.xcom_path(), &plan.env, &ctx)?;
        let shown = std::iter::once(image.clone())
            .chain(command.clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ");
        let mut launch = ContainerLaunch::new(image);
        launch.command = command;
        launch.workdir = plan.workdir.clone();
        launch.pull = plan.pull;
        launch.team = Some(team.to_string());
        launch.privileged = plan.privileged;
        launch.host_network = plan.host_network;
        launch.host_mounts = plan.mounts.clone();
        launch.vcpu = Some(request.vcpus);
        launch.memory_bytes = Some(request.memory_bytes);
        let mut spec = LaunchSpec::new(ti.key.try_key(try_number), shown, folder.path());
        spec.env = env;
        spec.timeout = plan.timeout;
        spec.container = Some(launch);
        Ok(spec)
    })();
    Ok(prepared)
}
