//! Searches across DAGs for the API's batch endpoints (Airflow's
//! `POST /dags/~/dagRuns/~/taskInstances/list` and `POST /dags/~/dagRuns/list`): task
//! instances and DAG runs filtered by lists of ids, states, pools, queues and date ranges,
//! one page at a time with the count of all that match; and the database's URL for
//! display, rebuilt from the pool's options so that it never holds a password.
//!
//! Every list filter is one bind (a JSON array, see `Dialect::json_text_elements`), so a
//! search for thousands of DAG ids is still one statement.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use weir_core::ids::{DagId, RunId, TaskId};
use weir_core::state::{DagRunState, TaskState};

use crate::dag_runs::run_order;
use crate::records::{DagRunOrder, DagRunRecord, Page, TaskInstanceRecord};
use crate::sql::{Dialect, Ts, json_list, ts};
use crate::{Backend, Result, Store};

/// Filter and page of [`Store::search_task_instances`]. Empty lists and `None` bounds
/// match everything; bounds are inclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskInstanceSearch {
    pub dag_ids: Vec<DagId>,
    pub run_ids: Vec<RunId>,
    pub task_ids: Vec<TaskId>,
    pub states: Vec<TaskState>,
    pub pools: Vec<String>,
    pub queues: Vec<String>,
    /// On the logical date of the instance's run.
    pub logical_date_gte: Option<DateTime<Utc>>,
    pub logical_date_lte: Option<DateTime<Utc>>,
    pub start_date_gte: Option<DateTime<Utc>>,
    pub start_date_lte: Option<DateTime<Utc>>,
    pub end_date_gte: Option<DateTime<Utc>>,
    pub end_date_lte: Option<DateTime<Utc>>,
    /// Seconds from start to end; an instance that has not finished has no duration and
    /// does not match a duration bound.
    pub duration_gte: Option<f64>,
    pub duration_lte: Option<f64>,
    /// The sort; `None` is the run's logical date. Ties (and the default) go by DAG, run,
    /// task and map index, so pages never overlap.
    pub order_by: Option<TaskInstanceOrder>,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

/// What [`Store::search_task_instances`] can sort by (Airflow's `order_by` fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskInstanceOrder {
    LogicalDate,
    StartDate,
    EndDate,
    Duration,
    State,
    DagId,
    RunId,
    TaskId,
    MapIndex,
    TryNumber,
    Pool,
    Queue,
    PriorityWeight,
}

impl TaskInstanceOrder {
    /// The `order_by` names, as Airflow spells them.
    pub const NAMES: [(&'static str, TaskInstanceOrder); 14] = [
        ("execution_date", TaskInstanceOrder::LogicalDate),
        ("logical_date", TaskInstanceOrder::LogicalDate),
        ("start_date", TaskInstanceOrder::StartDate),
        ("end_date", TaskInstanceOrder::EndDate),
        ("duration", TaskInstanceOrder::Duration),
        ("state", TaskInstanceOrder::State),
        ("dag_id", TaskInstanceOrder::DagId),
        ("dag_run_id", TaskInstanceOrder::RunId),
        ("task_id", TaskInstanceOrder::TaskId),
        ("map_index", TaskInstanceOrder::MapIndex),
        ("try_number", TaskInstanceOrder::TryNumber),
        ("pool", TaskInstanceOrder::Pool),
        ("queue", TaskInstanceOrder::Queue),
        ("priority_weight", TaskInstanceOrder::PriorityWeight),
    ];

    fn column(self, dialect: Dialect) -> &'static str {
        match self {
            TaskInstanceOrder::LogicalDate => "r.logical_date",
            TaskInstanceOrder::StartDate => "ti.start_date",
            TaskInstanceOrder::EndDate => "ti.end_date",
            TaskInstanceOrder::Duration => duration_expr(dialect),
            TaskInstanceOrder::State => "ti.state",
            TaskInstanceOrder::DagId => "ti.dag_id",
            TaskInstanceOrder::RunId => "ti.run_id",
            TaskInstanceOrder::TaskId => "ti.task_id",
            TaskInstanceOrder::MapIndex => "ti.map_index",
            TaskInstanceOrder::TryNumber => "ti.try_number",
            TaskInstanceOrder::Pool => "ti.pool",
            TaskInstanceOrder::Queue => "ti.queue",
            TaskInstanceOrder::PriorityWeight => "ti.priority_weight",
        }
    }
}

/// The `ORDER BY` of [`Store::search_task_instances`]: NULLs last both ways.
fn ti_order(dialect: Dialect, order: Option<TaskInstanceOrder>, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    let first = order
        .unwrap_or(TaskInstanceOrder::LogicalDate)
        .column(dialect);
    format!(
        "ORDER BY {first} {dir} NULLS LAST, r.logical_date {dir}, ti.dag_id {dir}, \
         ti.run_id {dir}, ti.task_id {dir}, ti.map_index {dir}"
    )
}

/// A task instance found by [`Store::search_task_instances`], with its run's logical date.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInstanceHit {
    pub ti: TaskInstanceRecord,
    pub logical_date: DateTime<Utc>,
}

impl_from_row!(TaskInstanceHit, |row| {
    Ok(TaskInstanceHit {
        ti: ::sqlx::FromRow::from_row(row)?,
        logical_date: row.try_get::<Ts, _>("run_logical_date")?.0,
    })
});

/// Filter, sort and page of [`Store::search_dag_runs`]. Empty lists and `None` bounds
/// match everything; bounds are inclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct DagRunSearch {
    pub dag_ids: Vec<DagId>,
    pub states: Vec<DagRunState>,
    pub logical_date_gte: Option<DateTime<Utc>>,
    pub logical_date_lte: Option<DateTime<Utc>>,
    pub start_date_gte: Option<DateTime<Utc>>,
    pub start_date_lte: Option<DateTime<Utc>>,
    pub end_date_gte: Option<DateTime<Utc>>,
    pub end_date_lte: Option<DateTime<Utc>>,
    pub order_by: DagRunOrder,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

impl Default for DagRunSearch {
    fn default() -> Self {
        DagRunSearch {
            dag_ids: Vec::new(),
            states: Vec::new(),
            logical_date_gte: None,
            logical_date_lte: None,
            start_date_gte: None,
            start_date_lte: None,
            end_date_gte: None,
            end_date_lte: None,
            order_by: DagRunOrder::LogicalDate,
            descending: false,
            limit: 100,
            offset: 0,
        }
    }
}

/// A JSON list bind, or NULL for "any".
fn list_bind<T: std::fmt::Display>(items: &[T]) -> Option<Json<Vec<String>>> {
    (!items.is_empty()).then(|| json_list(items))
}

/// Seconds from `ti.start_date` to `ti.end_date`, NULL unless both are set.
fn duration_expr(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "((julianday(ti.end_date) - julianday(ti.start_date)) * 86400.0)",
        Dialect::Postgres => {
            "CAST(EXTRACT(EPOCH FROM (ti.end_date - ti.start_date)) AS DOUBLE PRECISION)"
        }
    }
}

/// The `FROM … WHERE` of [`Store::search_task_instances`] with only the filters that are
/// set, so that an index can serve them (`$n IS NULL OR …` hides every index: the
/// grid's search of 25 runs of one DAG scanned every task instance). Parameters are
/// numbered in the order lists (DAG ids, run ids, task ids, states, pools, queues), the
/// date bounds that are set, then the duration bounds that are set, as
/// [`Store::search_task_instances`] binds them. Returns the clause and the next number.
fn ti_from_where(dialect: Dialect, search: &TaskInstanceSearch) -> (String, usize) {
    let mut conds = Vec::new();
    let mut n = 1;
    let mut next = || {
        let p = format!("${n}");
        n += 1;
        p
    };
    let lists: [(&str, bool); 6] = [
        ("ti.dag_id", !search.dag_ids.is_empty()),
        ("ti.run_id", !search.run_ids.is_empty()),
        ("ti.task_id", !search.task_ids.is_empty()),
        ("ti.state", !search.states.is_empty()),
        ("ti.pool", !search.pools.is_empty()),
        ("ti.queue", !search.queues.is_empty()),
    ];
    for (column, set) in lists {
        if set {
            conds.push(format!(
                "{column} IN {}",
                dialect.json_text_elements(&next())
            ));
        }
    }
    let dates = [
        ("r.logical_date >=", search.logical_date_gte),
        ("r.logical_date <=", search.logical_date_lte),
        ("ti.start_date >=", search.start_date_gte),
        ("ti.start_date <=", search.start_date_lte),
        ("ti.end_date >=", search.end_date_gte),
        ("ti.end_date <=", search.end_date_lte),
    ];
    for (test, bound) in dates {
        if bound.is_some() {
            conds.push(format!("{test} {}", next()));
        }
    }
    let duration = duration_expr(dialect);
    for (op, bound) in [(">=", search.duration_gte), ("<=", search.duration_lte)] {
        if bound.is_some() {
            conds.push(format!("{duration} {op} {}", next()));
        }
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (
        format!(
            "FROM task_instance ti
             JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
             {filter}"
        ),
        n,
    )
}

/// The `WHERE` of [`Store::search_dag_runs`] with only the filters that are set, so that
/// an index can serve them (`$n IS NULL OR …` hides every index). Parameters are numbered
/// in the order DAG ids, states, then each date bound that is set (as
/// [`DagRunSearch::date_bounds`] lists them). Returns the clause and the next number.
fn run_where(dialect: Dialect, search: &DagRunSearch) -> (String, usize) {
    let mut conds = Vec::new();
    let mut n = 1;
    let mut next = || {
        let p = format!("${n}");
        n += 1;
        p
    };
    if !search.dag_ids.is_empty() {
        conds.push(format!("dag_id IN {}", dialect.json_text_elements(&next())));
    }
    if !search.states.is_empty() {
        conds.push(format!("state IN {}", dialect.json_text_elements(&next())));
    }
    for (condition, _) in search.date_bounds() {
        conds.push(format!("{condition} {}", next()));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, n)
}

impl DagRunSearch {
    /// The date bounds that are set, each with its condition (`logical_date >=`, …).
    fn date_bounds(&self) -> Vec<(&'static str, DateTime<Utc>)> {
        [
            ("logical_date >=", self.logical_date_gte),
            ("logical_date <=", self.logical_date_lte),
            ("start_date >=", self.start_date_gte),
            ("start_date <=", self.start_date_lte),
            ("end_date >=", self.end_date_gte),
            ("end_date <=", self.end_date_lte),
        ]
        .into_iter()
        .filter_map(|(condition, bound)| bound.map(|at| (condition, at)))
        .collect()
    }
}

/// A password-free `postgres://` URL from the parts of the connect options.
fn postgres_url(user: &str, host: &str, port: u16, database: Option<&str>) -> String {
    let user = if user.is_empty() {
        String::new()
    } else {
        format!("{user}@")
    };
    let database = database.map(|d| format!("/{d}")).unwrap_or_default();
    format!("postgres://{user}{host}:{port}{database}")
}

impl Store {
    /// One page of the task instances matching `search`, sorted as it says (by default by
    /// their run's logical date, then DAG, run, task and map index); with the count of all
    /// that match.
    pub async fn search_task_instances(
        &self,
        search: &TaskInstanceSearch,
    ) -> Result<Page<TaskInstanceHit>> {
        crate::sql::check_page(search.limit, search.offset)?;
        let dag_ids = list_bind(&search.dag_ids);
        let run_ids = list_bind(&search.run_ids);
        let task_ids = list_bind(&search.task_ids);
        let states = list_bind(&search.states);
        let pools = list_bind(&search.pools);
        let queues = list_bind(&search.queues);
        let dates = [
            ts(search.logical_date_gte),
            ts(search.logical_date_lte),
            ts(search.start_date_gte),
            ts(search.start_date_lte),
            ts(search.end_date_gte),
            ts(search.end_date_lte),
        ];
        // Binds the filters that are set, in `ti_from_where`'s order.
        macro_rules! bind_filter {
            ($q:expr) => {{
                let mut q = $q;
                for list in [&dag_ids, &run_ids, &task_ids, &states, &pools, &queues] {
                    if let Some(l) = list {
                        q = q.bind(l);
                    }
                }
                for d in dates.into_iter().flatten() {
                    q = q.bind(d);
                }
                for v in [search.duration_gte, search.duration_lte]
                    .into_iter()
                    .flatten()
                {
                    q = q.bind(v);
                }
                q
            }};
        }
        with_db!(self, |pool, dialect| {
            let (from, n) = ti_from_where(dialect, search);
            let order = ti_order(dialect, search.order_by, search.descending);
            let list = format!(
                "SELECT ti.*, r.logical_date AS run_logical_date {from} {order}
                 LIMIT ${n} OFFSET ${}",
                n + 1
            );
            let items = bind_filter!(sqlx::query_as(AssertSqlSafe(list)))
                .bind(search.limit)
                .bind(search.offset)
                .fetch_all(pool)
                .await?;
            let count = format!("SELECT COUNT(*) {from}");
            let total_entries: i64 = bind_filter!(sqlx::query_scalar(AssertSqlSafe(count)))
                .fetch_one(pool)
                .await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// One page of the DAG runs matching `search`, sorted as it says, with the count of
    /// all that match.
    pub async fn search_dag_runs(&self, search: &DagRunSearch) -> Result<Page<DagRunRecord>> {
        crate::sql::check_page(search.limit, search.offset)?;
        let dag_ids = list_bind(&search.dag_ids);
        let states = list_bind(&search.states);
        let dates: Vec<Ts> = search
            .date_bounds()
            .into_iter()
            .map(|(_, at)| Ts(at))
            .collect();
        with_db!(self, |pool, dialect| {
            let (cond, n) = run_where(dialect, search);
            let order = run_order(search.order_by, search.descending);
            let list = format!(
                "SELECT * FROM dag_run {cond} {order} LIMIT ${n} OFFSET ${}",
                n + 1
            );
            let mut query = sqlx::query_as(AssertSqlSafe(list));
            if dag_ids.is_some() {
                query = query.bind(&dag_ids);
            }
            if states.is_some() {
                query = query.bind(&states);
            }
            for d in &dates {
                query = query.bind(d);
            }
            let items = query
                .bind(search.limit)
                .bind(search.offset)
                .fetch_all(pool)
                .await?;
            let count = format!("SELECT COUNT(*) FROM dag_run {cond}");
            let mut query = sqlx::query_scalar(AssertSqlSafe(count));
            if dag_ids.is_some() {
                query = query.bind(&dag_ids);
            }
            if states.is_some() {
                query = query.bind(&states);
            }
            for d in &dates {
                query = query.bind(d);
            }
            let total_entries: i64 = query.fetch_one(pool).await?;
            Ok(Page {
                items,
                total_entries,
            })
        })
    }

    /// The database's URL for display, rebuilt from the connection options: never a
    /// password (`sqlite:///path/weir.db`, `postgres://user@host:5432/weir`).
    pub fn display_url(&self) -> String {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let options = pool.connect_options();
                format!("sqlite://{}", options.get_filename().display())
            }
            Backend::Postgres(pool) => {
                let options = pool.connect_options();
                match options.get_socket() {
                    Some(socket) => format!(
                        "{}?host={}",
                        postgres_url(
                            options.get_username(),
                            "",
                            options.get_port(),
                            options.get_database()
                        ),
                        socket.display()
                    ),
                    None => postgres_url(
                        options.get_username(),
                        options.get_host(),
                        options.get_port(),
                        options.get_database(),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_hold_no_password() {
        assert_eq!(
            postgres_url("weir", "db", 5432, Some("weir")),
            "postgres://weir@db:5432/weir"
        );
        assert_eq!(postgres_url("", "db", 5433, None), "postgres://db:5433");
    }
}
