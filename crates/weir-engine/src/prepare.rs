//! Turning a task instance into a backend's launch spec: its template context (with the
//! fan-out item), rendered command and environment, the `WEIR_*` variables, and for a
//! container the image, command, resources and the team's image policy; for `sql` and
//! `http` tasks, the rendered query or request and its connection, as the work the
//! inline backend runs. A problem is a reason to fail the try (and whether retrying can
//! help), not an engine error.

use std::path::Path;

use chrono::SecondsFormat;
use indexmap::IndexMap;
use weir_compute::{ContainerLaunch, LaunchSpec, TryFolder};
use weir_core::mask::Masker;
use weir_core::platform::ShellIsolation;
use weir_core::spec::model::TaskSpec;
use weir_core::template::{self, TemplateContext};
use weir_store::{DagRunRecord, TaskInstanceRecord};

use crate::credentials::{Credentials, credentials, template_connections};
use crate::dag_cache::DagVersion;
use crate::error::Result;
use crate::shared::Shared;
use crate::workload::ContainerPlan;

/// A launch spec and the masker over the credentials it carries, or why the try fails
/// before it starts (and whether a retry can help).
pub type Prepared = std::result::Result<(LaunchSpec, Masker), (String, bool)>;

/// The try's template context, with `item` for a mapped instance.
pub(crate) async fn try_context(
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
    ctx.conn = template_connections(shared, version, task_id).await?;
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

pub(crate) fn render(
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
    // Only `env` may render connection passwords: it is masked, never shown. (A copy
    // of the context only when there are passwords to reveal.)
    let revealed;
    let env_ctx = if ctx.conn.is_empty() {
        ctx
    } else {
        let mut copy = ctx.clone();
        copy.passwords_visible = true;
        revealed = copy;
        &revealed
    };
    for (name, value) in env {
        out.push((
            name.clone(),
            render(value, &format!("env `{name}`"), env_ctx)?,
        ));
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
    let credentials = match credentials(shared, version, task, &IndexMap::new(), &ctx).await? {
        Ok(c) => c,
        Err(why) => return Ok(Err(why)),
    };
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
    Ok(prepared.map(|mut spec| {
        let masker = credentials.apply(&mut spec);
        (spec, masker)
    }))
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
    let Some(task) = version.spec.tasks.get(ti.key.task_id.as_str()) else {
        return Ok(Err(("the task is gone".into(), false)));
    };
    let credentials = match credentials(shared, version, task, &plan.secrets, &ctx).await? {
        Ok(c) => c,
        Err(why) => return Ok(Err(why)),
    };
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
        let shown = credentials.masker.mask(
            &std::iter::once(image.clone())
                .chain(command.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" "),
        );
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
    Ok(prepared.map(|mut spec| {
        let masker = credentials.apply(&mut spec);
        (spec, masker)
    }))
}

/// A `sql` or `http` task's launch spec; `None` for another kind.
pub async fn inline(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    try_number: u32,
    task: &weir_core::spec::model::TaskSpec,
    folder: &TryFolder,
) -> Result<Option<Prepared>> {
    use weir_core::spec::model::TaskKind;
    Ok(Some(match &task.kind {
        TaskKind::Sql(sql) => self::sql(shared, run, version, ti, try_number, sql, folder).await?,
        TaskKind::Http(http) => {
            self::http(shared, run, version, ti, try_number, http, folder).await?
        }
        _ => return Ok(None),
    }))
}

/// The connection `conn_id` for the DAG's team, with its password listed in `spec`'s
/// secrets (so the backend masks it), or why the try cannot use it.
async fn inline_connection(
    shared: &Shared,
    version: &DagVersion,
    conn_id: &str,
) -> Result<std::result::Result<crate::connections::Connection, (String, bool)>> {
    Ok(
        crate::connections::resolve(shared, &version.spec.team, conn_id)
            .await?
            .map_err(|why| (why, false)),
    )
}

/// A launch spec for the inline backend, its connection password marked secret.
fn inline_spec(
    ti: &TaskInstanceRecord,
    try_number: u32,
    work: std::sync::Arc<dyn weir_compute::InlineWork>,
    shown: String,
    password: Option<&str>,
    timeout: Option<std::time::Duration>,
    folder: &TryFolder,
) -> LaunchSpec {
    let mut spec = LaunchSpec::for_inline(ti.key.try_key(try_number), work, shown, folder.path());
    if let Some(password) = password {
        let name = crate::inline::PASSWORD_ENV.to_string();
        spec.env.push((name.clone(), password.to_string()));
        spec.secret_env.push(name);
    }
    spec.timeout = timeout;
    spec
}

/// The text of a `sql` task's `file`, read relative to the DAG's file, inside the DAG
/// folder (or the DAG file's own folder), as distrustfully as a DAG file.
async fn sql_file(
    shared: &Shared,
    run: &DagRunRecord,
    file: &str,
) -> Result<std::result::Result<String, (String, bool)>> {
    let Some(dag) = shared.store.get_dag(&run.dag_id).await? else {
        return Ok(Err((format!("DAG `{}` is gone", run.dag_id), false)));
    };
    if dag.file_path.starts_with(crate::dag_bag::DEPLOYED) {
        return Ok(Err((
            format!(
                "the SQL file `{file}` cannot be read: a deployed bundle carries only YAML files; write the SQL in the task's `query:`"
            ),
            false,
        )));
    }
    let dag_file = std::path::PathBuf::from(&dag.file_path);
    let dir = dag_file.parent().unwrap_or(Path::new("")).to_path_buf();
    // The folder the DAG was read from: the repository's checkout or the DAG folder.
    let root = [
        crate::repository::dags_folder(shared),
        shared.config.dags_folder.clone(),
    ]
    .into_iter()
    .flatten()
    .find(|root| dag_file.starts_with(root))
    .or_else(|| shared.config.dags_folder.clone())
    .unwrap_or_else(|| dir.clone());
    let path = dir.join(file);
    let shown = file.to_string();
    let read = tokio::task::spawn_blocking(move || {
        let root = std::fs::canonicalize(&root)
            .map_err(|e| format!("the DAG folder `{}` cannot be read: {e}", root.display()))?;
        crate::dag_files::read(&path, &root).map_err(|e| match e {
            crate::dag_files::ReadError::Gone => format!(
                "the SQL file `{shown}` does not exist beside the DAG file `{}`",
                dag_file.display()
            ),
            crate::dag_files::ReadError::Refused(why) => {
                format!("the SQL file `{shown}` is refused: {why}")
            }
        })
    })
    .await;
    Ok(match read {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(why)) => Err((why, false)),
        Err(e) => Err((format!("reading the SQL file failed: {e}"), true)),
    })
}

/// What a `sql` or `http` try starts from: its template context (with its secrets),
/// its timeout and its credentials.
async fn inline_start(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    try_number: u32,
) -> Result<
    std::result::Result<
        (TemplateContext, Option<std::time::Duration>, Credentials),
        (String, bool),
    >,
> {
    let mut ctx = match try_context(shared, run, version, ti, try_number).await? {
        Ok(ctx) => ctx,
        Err(why) => return Ok(Err(why)),
    };
    let Some(task) = version.spec.tasks.get(ti.key.task_id.as_str()) else {
        return Ok(Err(("the task is gone".into(), false)));
    };
    let timeout = version.spec.effective(task).timeout;
    Ok(inline_credentials(shared, version, task, &mut ctx)
        .await?
        .map(|credentials| (ctx, timeout, credentials)))
}

/// A `sql` or `http` task's credentials, and its secrets in its template context
/// (`{{ secrets.NAME }}`): it has no environment to read them from. Everything it
/// renders is masked where recorded, so connection passwords render too.
async fn inline_credentials(
    shared: &Shared,
    version: &DagVersion,
    task: &TaskSpec,
    ctx: &mut TemplateContext,
) -> Result<std::result::Result<Credentials, (String, bool)>> {
    let credentials = match credentials(shared, version, task, &IndexMap::new(), ctx).await? {
        Ok(c) => c,
        Err(why) => return Ok(Err(why)),
    };
    for name in task.secrets.keys() {
        if let Some((_, value)) = credentials.env.iter().find(|(n, _)| n == name) {
            ctx.secrets.insert(name.clone(), value.clone());
        }
    }
    ctx.passwords_visible = true;
    Ok(Ok(credentials))
}

/// A `sql` task: the rendered SQL (from `query` or `file`) and parameters, on the
/// team's connection.
pub async fn sql(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    try_number: u32,
    task: &weir_core::spec::model::SqlTask,
    folder: &TryFolder,
) -> Result<Prepared> {
    use weir_core::spec::model::{DEFAULT_MAX_ROWS, SqlSource};
    let (ctx, timeout, credentials) =
        match inline_start(shared, run, version, ti, try_number).await? {
            Ok(start) => start,
            Err(why) => return Ok(Err(why)),
        };
    let (text, what, source) = match &task.source {
        SqlSource::Query(query) => (query.clone(), "`query`".to_string(), "the query".into()),
        SqlSource::File(file) => match sql_file(shared, run, file).await? {
            Ok(text) => (text, format!("`file` `{file}`"), format!("`{file}`")),
            Err(why) => return Ok(Err(why)),
        },
    };
    let connection = match inline_connection(shared, version, &task.connection).await? {
        Ok(connection) => connection,
        Err(why) => return Ok(Err(why)),
    };
    let prepared = (|| {
        let sql = render(&text, &what, &ctx)?;
        let parameters = task
            .parameters
            .iter()
            .enumerate()
            .map(|(i, value)| match value {
                serde_json::Value::String(s) => {
                    render(s, &format!("parameter ${}", i + 1), &ctx).map(serde_json::Value::String)
                }
                other => Ok(other.clone()),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let password = connection.password.clone();
        let work = crate::inline::sql::SqlWork {
            connection,
            sql: sql.clone(),
            source,
            parameters,
            output: task.output,
            max_rows: task.max_rows.unwrap_or(DEFAULT_MAX_ROWS),
        };
        Ok(inline_spec(
            ti,
            try_number,
            std::sync::Arc::new(work),
            sql,
            password.as_deref(),
            timeout,
            folder,
        ))
    })();
    Ok(prepared.map(|mut spec| {
        let masker = credentials.apply(&mut spec);
        (spec, masker)
    }))
}

/// An `http` task: the rendered request, relative to its connection if it names one.
pub async fn http(
    shared: &Shared,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    try_number: u32,
    task: &weir_core::spec::model::HttpTask,
    folder: &TryFolder,
) -> Result<Prepared> {
    use crate::inline::http::{HttpBody, HttpWork, full_url};
    let (ctx, timeout, credentials) =
        match inline_start(shared, run, version, ti, try_number).await? {
            Ok(start) => start,
            Err(why) => return Ok(Err(why)),
        };
    let connection = match &task.connection {
        None => None,
        Some(id) => match inline_connection(shared, version, id).await? {
            Ok(connection) => Some(connection),
            Err(why) => return Ok(Err(why)),
        },
    };
    let prepared = (|| {
        let url = full_url(&render(&task.url, "`url`", &ctx)?, connection.as_ref())
            .map_err(|why| (why, false))?;
        let method = reqwest::Method::from_bytes(task.method.as_bytes())
            .map_err(|e| (format!("`method` `{}`: {e}", task.method), false))?;
        let mut headers = task
            .headers
            .iter()
            .map(|(name, value)| {
                Ok((
                    name.clone(),
                    render(value, &format!("header `{name}`"), &ctx)?,
                ))
            })
            .collect::<std::result::Result<Vec<_>, (String, bool)>>()?;
        crate::traces::add_trace_header(shared, &ti.key.try_key(try_number), &mut headers);
        let body = match (&task.body, &task.json) {
            (Some(text), _) => HttpBody::Text(render(text, "`body`", &ctx)?),
            (None, Some(json)) => HttpBody::Json(render_json(json, &ctx)?),
            (None, None) => HttpBody::None,
        };
        let password = connection.as_ref().and_then(|c| c.password.clone());
        let basic_auth = connection
            .as_ref()
            .and_then(|c| c.login.clone().filter(|l| !l.is_empty()))
            .map(|login| (login, password.clone()));
        let shown = format!("{method} {url}");
        let work = HttpWork {
            method,
            url,
            headers,
            body,
            basic_auth,
            expect_status: task.expect_status.clone(),
            output: task.output,
            timeout: task.timeout.map(|t| t.0),
        };
        Ok(inline_spec(
            ti,
            try_number,
            std::sync::Arc::new(work),
            shown,
            password.as_deref(),
            timeout,
            folder,
        ))
    })();
    Ok(prepared.map(|mut spec| {
        let masker = credentials.apply(&mut spec);
        (spec, masker)
    }))
}

/// A `json:` body with its strings rendered.
pub(crate) fn render_json(
    value: &serde_json::Value,
    ctx: &TemplateContext,
) -> std::result::Result<serde_json::Value, (String, bool)> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => Value::String(render(s, "`json`", ctx)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json(v, ctx))
                .collect::<std::result::Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_json(v, ctx)?)))
                .collect::<std::result::Result<_, (String, bool)>>()?,
        ),
        other => other.clone(),
    })
}
