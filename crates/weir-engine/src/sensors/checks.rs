//! What a sensor checks, one function per kind (`file` is in [`super::file`]). Each
//! answers a [`Check`]: met, not yet (with what it waits for), or failed (the sensor
//! can never be met as written). Errors are store failures only.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::{Connection as _, PgConnection};
use weir_core::dataset::UriPattern;
use weir_core::ids::{DagId, TaskId};
use weir_core::sensor::{Awaited, Check, awaited_logical_date, external, truthy};
use weir_core::spec::model::{HttpTask, SensorSql, SignedDuration};
use weir_store::{DagRunFilter, DagRunRecord, TaskInstanceRecord};

use super::{CHECK_TIMEOUT, context, render};
use crate::dag_cache::DagVersion;
use crate::error::Result;
use crate::shared::Shared;

/// Another DAG's run for the awaited logical date, or one of its tasks. Reading another
/// team's states is open on one platform; nothing but states is read.
pub(super) async fn other_dag(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    dag: &DagId,
    task: Option<&TaskId>,
    offset: Option<SignedDuration>,
    fail_on_failure: bool,
) -> Result<Check> {
    let date = awaited_logical_date(run.logical_date, offset);
    let shown = date.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let what = match task {
        Some(task) => format!("task `{task}` of DAG `{dag}` for {shown}"),
        None => format!("the run of DAG `{dag}` for {shown}"),
    };
    if shared.store.get_dag(dag).await?.is_none() {
        return Ok(external(&what, Awaited::NoDag, fail_on_failure));
    }
    let runs = shared
        .store
        .list_dag_runs(&DagRunFilter {
            dag_id: Some(dag.clone()),
            logical_date_gte: Some(date),
            logical_date_lte: Some(date),
            limit: 10,
            ..DagRunFilter::default()
        })
        .await?
        .items;
    // Several runs may share a logical date (a manual one beside the scheduled one):
    // any of them that met the condition does.
    let mut answer: Option<Check> = None;
    for other in runs {
        let found = match task {
            None => Awaited::Run(other.state),
            Some(task) => {
                let states: Vec<_> = shared
                    .store
                    .list_task_instances(&other.dag_id, &other.run_id)
                    .await?
                    .into_iter()
                    .filter(|t| &t.key.task_id == task)
                    .map(|t| t.state)
                    .collect();
                if states.is_empty() {
                    Awaited::NoTask
                } else {
                    Awaited::Task(states)
                }
            }
        };
        let check = external(&what, found, fail_on_failure);
        let rank = |c: &Check| match c {
            Check::Met(_) => 0,
            Check::Failed(_) => 1,
            Check::NotYet(_) => 2,
        };
        if answer.as_ref().is_none_or(|a| rank(&check) < rank(a)) {
            answer = Some(check);
        }
    }
    Ok(answer.unwrap_or_else(|| external(&what, Awaited::NoRun, fail_on_failure)))
}

/// `sensor: {dataset: …, since: …}`: an event on the URI (or on one the pattern
/// matches) at or after `since` (templated; default: the run's data interval start).
pub async fn check_dataset(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    uri: &str,
    since: Option<&str>,
) -> Result<Check> {
    let pattern = match UriPattern::parse(uri) {
        Ok(p) => p,
        Err(problem) => return Ok(Check::Failed(problem)),
    };
    let since_at = match since {
        None => run.data_interval_start.unwrap_or(run.logical_date),
        Some(text) => {
            let ctx = match context(shared, run, version, ti).await? {
                Ok(ctx) => ctx,
                Err(failed) => return Ok(failed),
            };
            let rendered = match render(text, "`since`", &ctx) {
                Ok(r) => r,
                Err(failed) => return Ok(failed),
            };
            match parse_instant(rendered.trim()) {
                Some(at) => at,
                None => {
                    return Ok(Check::Failed(format!(
                        "`since: {text}` gave `{rendered}`, which is no date-time; write e.g. `since: \"{{{{ data_interval_end }}}}\"`"
                    )));
                }
            }
        }
    };
    // The pattern's text before its first wildcard narrows the query; the pattern decides.
    let prefix = uri.split('*').next().unwrap_or(uri);
    let events = shared
        .store
        .dataset_events_since(prefix, since_at, 1000)
        .await?;
    let shown = since_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    Ok(match events.iter().find(|e| pattern.matches(&e.uri)) {
        Some(e) => Check::Met(format!(
            "dataset `{}` was updated at {} (event {})",
            e.uri,
            e.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            e.id
        )),
        None => Check::NotYet(format!(
            "waiting for an update of dataset `{uri}` since {shown}"
        )),
    })
}

/// A date-time as templates render them (`2026-01-01T00:00:00+00:00`, Python's
/// `2026-01-01 00:00:00+00:00`) or a date (midnight UTC).
fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// `sensor: {sql: …}`: the first column of the first row, on a connection the DAG's
/// team may use (its own or a platform-wide one, as for a `sql` task).
pub(super) async fn sql(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    sql: &SensorSql,
) -> Result<Check> {
    let ctx = match context(shared, run, version, ti).await? {
        Ok(ctx) => ctx,
        Err(failed) => return Ok(failed),
    };
    let query = match render(&sql.query, "`query`", &ctx) {
        Ok(query) => query,
        Err(failed) => return Ok(failed),
    };
    let connection =
        match crate::connections::resolve(shared, &version.spec.team, &sql.connection).await? {
            Ok(connection) => connection,
            Err(why) => return Ok(Check::Failed(why)),
        };
    let options = match crate::inline::sql::connect_options(&connection) {
        Ok(options) => options,
        Err(why) => return Ok(Check::Failed(why)),
    };
    let conn_id = &sql.connection;
    let first = async {
        let mut conn = PgConnection::connect_with(&options).await?;
        let row = sqlx::raw_sql(sqlx::AssertSqlSafe(query))
            .fetch_optional(&mut conn)
            .await;
        let _ = conn.close().await;
        row
    };
    Ok(match tokio::time::timeout(CHECK_TIMEOUT, first).await {
        Err(_) => Check::NotYet(format!(
            "the query on `{conn_id}` did not answer within {}s",
            CHECK_TIMEOUT.as_secs()
        )),
        // The SQL itself is wrong (or names what does not exist): it will not pass later.
        Ok(Err(sqlx::Error::Database(e))) => {
            Check::Failed(format!("the query on `{conn_id}` failed: {}", e.message()))
        }
        Ok(Err(e)) => Check::NotYet(format!("cannot query `{conn_id}` now: {e}")),
        Ok(Ok(None)) => Check::NotYet(format!("waiting: the query on `{conn_id}` returned no row")),
        Ok(Ok(Some(row))) => match crate::inline::sql::values::row_json(&row) {
            Err(why) => Check::Failed(why),
            Ok(values) => match values.into_iter().next() {
                Some((column, value)) if truthy(&value) => Check::Met(format!(
                    "the query on `{conn_id}` returned {column} = {value}"
                )),
                Some((column, value)) => Check::NotYet(format!(
                    "waiting: the query on `{conn_id}` returned {column} = {value}"
                )),
                None => Check::NotYet(format!(
                    "waiting: the query on `{conn_id}` returned a row without columns"
                )),
            },
        },
    })
}

/// `sensor: {http: …}`: met when the answer's status is one `expect_status` allows
/// (default 2xx). Any other answer, or none, is "not yet"; a request that cannot be
/// made (bad URL, a connection the team may not use) fails.
pub(super) async fn http(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    http: &HttpTask,
) -> Result<Check> {
    let ctx = match context(shared, run, version, ti).await? {
        Ok(ctx) => ctx,
        Err(failed) => return Ok(failed),
    };
    let connection = match &http.connection {
        None => None,
        Some(id) => match crate::connections::resolve(shared, &version.spec.team, id).await? {
            Ok(connection) => Some(connection),
            Err(why) => return Ok(Check::Failed(why)),
        },
    };
    let request = (|| {
        let url = render(&http.url, "`url`", &ctx)?;
        let url =
            crate::inline::http::full_url(&url, connection.as_ref()).map_err(Check::Failed)?;
        let method = reqwest::Method::from_bytes(http.method.as_bytes())
            .map_err(|e| Check::Failed(format!("`method` `{}`: {e}", http.method)))?;
        let client = reqwest::Client::builder()
            .timeout(
                http.timeout
                    .map_or(CHECK_TIMEOUT, |t| t.0.min(CHECK_TIMEOUT)),
            )
            .build()
            .map_err(|e| Check::NotYet(format!("cannot make an HTTP client: {e}")))?;
        let mut request = client.request(method.clone(), &url);
        for (name, value) in &http.headers {
            request = request.header(name, render(value, &format!("header `{name}`"), &ctx)?);
        }
        if let Some(body) = &http.body {
            request = request.body(render(body, "`body`", &ctx)?);
        } else if let Some(json) = &http.json {
            let json =
                crate::prepare::render_json(json, &ctx).map_err(|(why, _)| Check::Failed(why))?;
            request = request.json(&json);
        }
        if let Some(c) = connection.as_ref()
            && let Some(login) = c.login.as_deref().filter(|l| !l.is_empty())
        {
            request = request.basic_auth(login, c.password.as_deref());
        }
        Ok::<_, Check>((request, format!("{method} {url}")))
    })();
    let (request, shown) = match request {
        Ok(request) => request,
        Err(check) => return Ok(check),
    };
    Ok(match request.send().await {
        Err(e) => Check::NotYet(format!("waiting: {shown} got no answer: {e}")),
        Ok(response) => {
            let status = response.status();
            let expected = if http.expect_status.is_empty() {
                status.is_success()
            } else {
                http.expect_status
                    .iter()
                    .any(|p| p.matches(status.as_u16()))
            };
            if expected {
                Check::Met(format!("{shown} answered {status}"))
            } else {
                Check::NotYet(format!("waiting: {shown} answered {status}"))
            }
        }
    })
}
