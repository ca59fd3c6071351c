//! The objects behind the template context: dates with Python-like methods, `var`,
//! `ti` with `xcom_pull`, `macros`, and Airflow's date filters.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::sync::Arc;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;
use minijinja::value::{DynObject, Kwargs, Object, ObjectRepr, Value, from_args};
use minijinja::{Environment, Error, ErrorKind, State};

use super::{TemplateContext, json_value};

/// Builds the context a template renders with.
pub(super) fn context_value(ctx: &TemplateContext) -> Value {
    let logical = ctx.logical_date;
    let date = |d: DateTime<Utc>| Value::from_object(DateValue(d.with_timezone(&Tz::UTC)));
    let optional_date = |d: Option<DateTime<Utc>>| d.map_or(Value::from(()), date);
    let conf = json_value(&ctx.conf);
    let mut m: BTreeMap<&'static str, Value> = BTreeMap::new();
    m.insert("ds", Value::from(logical.format("%Y-%m-%d").to_string()));
    m.insert(
        "ds_nodash",
        Value::from(logical.format("%Y%m%d").to_string()),
    );
    m.insert("ts", Value::from(iso(&logical.fixed_offset())));
    m.insert(
        "ts_nodash",
        Value::from(logical.format("%Y%m%dT%H%M%S").to_string()),
    );
    m.insert(
        "ts_nodash_with_tz",
        Value::from(ts_nodash_with_tz(&logical.fixed_offset())),
    );
    m.insert("logical_date", date(logical));
    m.insert("execution_date", date(logical));
    m.insert("data_interval_start", date(ctx.data_interval_start));
    m.insert("data_interval_end", date(ctx.data_interval_end));
    m.insert(
        "prev_data_interval_start_success",
        optional_date(ctx.prev_data_interval_start_success),
    );
    m.insert(
        "prev_data_interval_end_success",
        optional_date(ctx.prev_data_interval_end_success),
    );
    m.insert("run_id", Value::from(ctx.run_id.as_str()));
    m.insert("dag", map([("dag_id", Value::from(ctx.dag_id.as_str()))]));
    m.insert(
        "task",
        map([("task_id", Value::from(ctx.task_id.as_str()))]),
    );
    m.insert(
        "dag_run",
        map([
            ("dag_id", Value::from(ctx.dag_id.as_str())),
            ("run_id", Value::from(ctx.run_id.as_str())),
            ("conf", conf.clone()),
            ("logical_date", date(logical)),
            ("data_interval_start", date(ctx.data_interval_start)),
            ("data_interval_end", date(ctx.data_interval_end)),
        ]),
    );
    m.insert(
        "params",
        json_value(&serde_json::Value::Object(ctx.params.clone())),
    );
    m.insert("conf", conf);
    let variables = Arc::new(ctx.variables.clone());
    m.insert(
        "var",
        map([
            ("value", Value::from_object(VarValues(variables.clone()))),
            ("json", Value::from_object(VarJson(variables))),
        ]),
    );
    let ti = Value::from_object(TaskInstance {
        dag_id: ctx.dag_id.clone(),
        run_id: ctx.run_id.clone(),
        task_id: ctx.task_id.clone(),
        map_index: ctx.map_index,
        try_number: ctx.try_number,
        logical_date: logical,
        xcoms: ctx.xcoms.clone(),
    });
    m.insert("ti", ti.clone());
    m.insert("task_instance", ti);
    m.insert(
        "macros",
        map([
            ("ds_add", Value::from_function(ds_add)),
            ("ds_format", Value::from_function(ds_format)),
        ]),
    );
    m.insert(
        "triggering_dataset_events",
        json_value(&serde_json::Value::Object(
            ctx.triggering_dataset_events.clone(),
        )),
    );
    if let Some(item) = &ctx.item {
        m.insert("item", json_value(item));
    }
    if !ctx.secrets.is_empty() {
        m.insert("secrets", Value::from(ctx.secrets.clone()));
    }
    m.insert(
        "conn",
        Value::from_object(Connections {
            conns: ctx.conn.clone(),
            passwords_visible: ctx.passwords_visible,
        }),
    );
    Value::from(m)
}

/// `conn`: the connections a task may use, by id.
#[derive(Debug)]
struct Connections {
    conns: BTreeMap<String, super::TemplateConnection>,
    passwords_visible: bool,
}

impl Object for Connections {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let c = self.conns.get(key.as_str()?)?;
        let text = |v: &Option<String>| v.as_deref().map_or(Value::from(()), Value::from);
        let password = match (&c.password, self.passwords_visible) {
            (Some(p), true) => Value::from(p.as_str()),
            (None, _) => Value::from(()),
            (Some(_), false) => Value::from_object(HiddenPassword(c.conn_id.clone())),
        };
        let mut m: BTreeMap<&str, Value> = BTreeMap::new();
        m.insert("conn_id", Value::from(c.conn_id.as_str()));
        m.insert("conn_type", Value::from(c.conn_type.as_str()));
        m.insert("host", text(&c.host));
        m.insert("port", c.port.map_or(Value::from(()), Value::from));
        m.insert("login", text(&c.login));
        m.insert("schema", text(&c.schema));
        m.insert("extra", text(&c.extra));
        m.insert(
            "extra_dejson",
            json_value(&serde_json::Value::Object(c.extra_dejson.clone())),
        );
        m.insert("password", password);
        Some(Value::from(m))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<connections>")
    }
}

/// A connection password where it may not render: any use of it is an error that
/// says where it may go.
#[derive(Debug)]
pub(super) struct HiddenPassword(String);

impl HiddenPassword {
    pub(super) fn error(&self) -> Error {
        invalid(format!(
            "`conn.{}.password` renders only into the task's `env` (where it is masked), \
             never into a command or field Weir records: set an env variable from it",
            self.0
        ))
    }
}

impl Object for HiddenPassword {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

fn map<const N: usize>(entries: [(&'static str, Value); N]) -> Value {
    Value::from(entries.into_iter().collect::<BTreeMap<&str, Value>>())
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// `2026-01-01T00:00:00+00:00`, as Python's `isoformat()` writes it.
fn iso(d: &DateTime<chrono::FixedOffset>) -> String {
    d.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn ts_nodash_with_tz(d: &DateTime<chrono::FixedOffset>) -> String {
    iso(d).replace(['-', ':'], "")
}

/// A date-time in some time zone, with the methods Airflow users call on pendulum dates.
#[derive(Debug, Clone, Copy)]
pub(super) struct DateValue(pub(super) DateTime<Tz>);

impl Object for DateValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::{Datelike, Timelike};
        let d = self.0;
        Some(match key.as_str()? {
            "year" => Value::from(d.year()),
            "month" => Value::from(d.month()),
            "day" => Value::from(d.day()),
            "hour" => Value::from(d.hour()),
            "minute" => Value::from(d.minute()),
            "second" => Value::from(d.second()),
            "microsecond" => Value::from(d.nanosecond() / 1_000),
            "timezone_name" => Value::from(d.timezone().name()),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let d = self.0;
        match method {
            "strftime" | "format" => {
                let (fmt,): (&str,) = from_args(args)?;
                Ok(Value::from(strftime(&d, fmt)?))
            }
            "isoformat" => {
                from_args::<()>(args)?;
                Ok(Value::from(iso(&d.fixed_offset())))
            }
            "timestamp" => {
                from_args::<()>(args)?;
                Ok(Value::from(
                    d.timestamp() as f64 + f64::from(d.timestamp_subsec_micros()) / 1e6,
                ))
            }
            "date" | "to_date_string" => {
                from_args::<()>(args)?;
                Ok(Value::from(d.format("%Y-%m-%d").to_string()))
            }
            "to_datetime_string" => {
                from_args::<()>(args)?;
                Ok(Value::from(d.format("%Y-%m-%d %H:%M:%S").to_string()))
            }
            "in_timezone" | "in_tz" => {
                let (name,): (&str,) = from_args(args)?;
                let tz = Tz::from_str(name)
                    .map_err(|_| invalid(format!("`{name}` is not a known time zone")))?;
                Ok(Value::from_object(DateValue(d.with_timezone(&tz))))
            }
            "add" | "subtract" => {
                let (kwargs,): (Kwargs,) = from_args(args)?;
                let mut delta = TimeDelta::zero();
                for (unit, seconds) in [
                    ("weeks", 604_800),
                    ("days", 86_400),
                    ("hours", 3_600),
                    ("minutes", 60),
                    ("seconds", 1),
                ] {
                    let n: Option<i64> = kwargs.get(unit)?;
                    let part = n
                        .and_then(|n| n.checked_mul(seconds))
                        .and_then(TimeDelta::try_seconds);
                    match (n, part) {
                        (None, _) => {}
                        (Some(_), Some(part)) => delta += part,
                        (Some(_), None) => return Err(invalid(format!("`{unit}` is too large"))),
                    }
                }
                kwargs.assert_all_used()?;
                let moved = if method == "add" {
                    d.checked_add_signed(delta)
                } else {
                    d.checked_sub_signed(delta)
                };
                let moved = moved.ok_or_else(|| invalid("the date is out of range"))?;
                Ok(Value::from_object(DateValue(moved)))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        let other = other.downcast_ref::<Self>()?;
        Some(self.0.cmp(&other.0))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&iso(&self.0.fixed_offset()))
    }
}

/// Python's `strftime`, through chrono: the common directives agree, except `%f`
/// (microseconds in Python, nanoseconds in chrono).
fn strftime(d: &DateTime<Tz>, python_format: &str) -> Result<String, Error> {
    let items = chrono_items(python_format)?;
    let mut out = String::new();
    write!(out, "{}", d.format_with_items(items.iter()))
        .map_err(|_| invalid(format!("`{python_format}` is not a valid date format")))?;
    Ok(out)
}

fn chrono_items(python_format: &str) -> Result<Vec<Item<'static>>, Error> {
    let mut converted = String::with_capacity(python_format.len() + 2);
    let mut chars = python_format.chars();
    while let Some(c) = chars.next() {
        converted.push(c);
        if c == '%' {
            match chars.next() {
                Some('f') => converted.push_str("6f"),
                Some(other) => converted.push(other),
                None => {}
            }
        }
    }
    StrftimeItems::new(&converted)
        .parse_to_owned()
        .map_err(|_| invalid(format!("`{python_format}` is not a valid date format")))
}

/// Python's `strptime` for the dates `ds_format` reads: missing time fields are
/// midnight, a missing day is the first of the month.
fn strptime(text: &str, python_format: &str) -> Result<chrono::NaiveDateTime, Error> {
    let items = chrono_items(python_format)?;
    let mut parsed = Parsed::new();
    let bad = || {
        invalid(format!(
            "`{text}` does not match the date format `{python_format}`"
        ))
    };
    chrono::format::parse(&mut parsed, text, items.iter()).map_err(|_| bad())?;
    if parsed.day().is_none()
        && parsed.ordinal().is_none()
        && parsed.isoweek().is_none()
        && parsed.week_from_mon().is_none()
        && parsed.week_from_sun().is_none()
    {
        let _ = parsed.set_day(1);
    }
    let date = parsed.to_naive_date().map_err(|_| bad())?;
    let time = parsed.to_naive_time().unwrap_or(NaiveTime::MIN);
    Ok(date.and_time(time))
}

/// A date argument: a `YYYY-MM-DD` (or RFC 3339) string, or a template date.
fn date_arg(value: &Value) -> Result<DateTime<Tz>, Error> {
    if let Some(d) = value.downcast_object_ref::<DateValue>() {
        return Ok(d.0);
    }
    let Some(text) = value.as_str() else {
        return Err(invalid(format!("expected a date, got {}", value.kind())));
    };
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Ok(d.with_timezone(&Tz::UTC));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_time(NaiveTime::MIN).and_utc().with_timezone(&Tz::UTC))
        .map_err(|_| invalid(format!("`{text}` is not a date; expected YYYY-MM-DD")))
}

/// `macros.ds_add('2026-01-01', 5)` -> `2026-01-06`.
fn ds_add(ds: Value, days: i64) -> Result<String, Error> {
    let date = date_arg(&ds)?.date_naive();
    let moved = TimeDelta::try_days(days)
        .and_then(|delta| date.checked_add_signed(delta))
        .ok_or_else(|| invalid(format!("adding {days} days to {date} is out of range")))?;
    Ok(moved.format("%Y-%m-%d").to_string())
}

/// `macros.ds_format('2026-01-05', '%Y-%m-%d', '%d/%m/%Y')` -> `05/01/2026`.
fn ds_format(ds: &str, input_format: &str, output_format: &str) -> Result<String, Error> {
    let parsed = strptime(ds, input_format)?;
    strftime(&parsed.and_utc().with_timezone(&Tz::UTC), output_format)
}

pub(super) fn register_filters(env: &mut Environment<'static>) {
    env.add_filter("ds", |v: Value| -> Result<String, Error> {
        Ok(date_arg(&v)?.format("%Y-%m-%d").to_string())
    });
    env.add_filter("ds_nodash", |v: Value| -> Result<String, Error> {
        Ok(date_arg(&v)?.format("%Y%m%d").to_string())
    });
    env.add_filter("ts", |v: Value| -> Result<String, Error> {
        Ok(iso(&date_arg(&v)?.fixed_offset()))
    });
    env.add_filter("ts_nodash", |v: Value| -> Result<String, Error> {
        Ok(date_arg(&v)?.format("%Y%m%dT%H%M%S").to_string())
    });
    env.add_filter("ts_nodash_with_tz", |v: Value| -> Result<String, Error> {
        Ok(ts_nodash_with_tz(&date_arg(&v)?.fixed_offset()))
    });
}

/// `var.value`: variables as strings. A missing one is undefined, which the error
/// conversion turns into "variable `x` is not set".
#[derive(Debug)]
struct VarValues(Arc<BTreeMap<String, String>>);

impl Object for VarValues {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_str()?).map(|v| Value::from(v.as_str()))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            // Airflow's `var.value.get('name', 'default')`.
            "get" => {
                let (name, default): (&str, Option<Value>) = from_args(args)?;
                Ok(self.0.get(name).map_or_else(
                    || default.unwrap_or(Value::from(())),
                    |v| Value::from(v.as_str()),
                ))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<variables>")
    }
}

/// `var.json`: variables parsed as JSON.
#[derive(Debug)]
struct VarJson(Arc<BTreeMap<String, String>>);

impl VarJson {
    fn parse(&self, name: &str) -> Option<Value> {
        let text = self.0.get(name)?;
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        Some(json_value(&value))
    }
}

impl Object for VarJson {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.parse(key.as_str()?)
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "get" => {
                let (name, default): (&str, Option<Value>) = from_args(args)?;
                match (self.0.contains_key(name), self.parse(name)) {
                    (_, Some(value)) => Ok(value),
                    (true, None) => Err(invalid(format!(
                        "variable `{name}` is not valid JSON; fix its value"
                    ))),
                    (false, None) => Ok(default.unwrap_or(Value::from(()))),
                }
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<variables>")
    }
}

/// `ti`: the task instance being rendered, with `xcom_pull` over the prefetched XComs.
#[derive(Debug)]
struct TaskInstance {
    dag_id: String,
    run_id: String,
    task_id: String,
    map_index: Option<u32>,
    try_number: u32,
    logical_date: DateTime<Utc>,
    xcoms: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

impl TaskInstance {
    /// Airflow's `xcom_pull(task_ids, key='return_value')`: one task id gives its value,
    /// a list gives the list of values. Unlike Airflow, which returns None, a missing
    /// XCom is an error naming the task, as everything else in strict rendering.
    fn xcom_pull(&self, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs): (&[Value], Kwargs) = from_args(args)?;
        let usage =
            "call it as ti.xcom_pull('task_id') or ti.xcom_pull(task_ids=[...], key='name')";
        let task_ids = match (positional, kwargs.get::<Option<Value>>("task_ids")?) {
            ([ids], None) => ids.clone(),
            ([], Some(ids)) => ids,
            ([], None) => {
                return Err(invalid(format!(
                    "xcom_pull needs the task id to read; {usage}"
                )));
            }
            _ => {
                return Err(invalid(format!(
                    "xcom_pull takes one positional argument; {usage}"
                )));
            }
        };
        let key: Option<String> = kwargs.get("key")?;
        let key = key.unwrap_or_else(|| "return_value".to_string());
        if let Some(dag_id) = kwargs.get::<Option<String>>("dag_id")?
            && dag_id != self.dag_id
        {
            return Err(invalid(format!(
                "xcom_pull cannot read XComs of another DAG (`{dag_id}`); use a dataset or a \
                 sensor to depend on it"
            )));
        }
        kwargs.assert_all_used()?;
        if let Some(task_id) = task_ids.as_str() {
            return self.pull_one(task_id, &key);
        }
        if matches!(task_ids.kind(), minijinja::value::ValueKind::Seq) {
            let ids = task_ids.try_iter()?;
            let values = ids
                .map(|id| match id.as_str() {
                    Some(task_id) => self.pull_one(task_id, &key),
                    None => Err(invalid(format!("task ids are strings, got {}", id.kind()))),
                })
                .collect::<Result<Vec<Value>, Error>>()?;
            return Ok(Value::from(values));
        }
        Err(invalid(format!(
            "xcom_pull's task_ids must be a string or a list of strings, got {}",
            task_ids.kind()
        )))
    }

    fn pull_one(&self, task_id: &str, key: &str) -> Result<Value, Error> {
        match self.xcoms.get(task_id).and_then(|by_key| by_key.get(key)) {
            Some(value) => Ok(json_value(value)),
            None => Err(Error::new(
                ErrorKind::UndefinedError,
                format!(
                    "task `{task_id}` has no XCom `{key}` in this run: a template can only \
                     pull from tasks that finished before this one (list `{task_id}` in \
                     depends_on) and that pushed that key"
                ),
            )),
        }
    }
}

impl Object for TaskInstance {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "dag_id" => Value::from(self.dag_id.as_str()),
            "run_id" => Value::from(self.run_id.as_str()),
            "task_id" => Value::from(self.task_id.as_str()),
            // Airflow's -1 for an unmapped task.
            "map_index" => Value::from(self.map_index.map_or(-1, i64::from)),
            "try_number" => Value::from(self.try_number),
            "logical_date" | "execution_date" => {
                Value::from_object(DateValue(self.logical_date.with_timezone(&Tz::UTC)))
            }
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "xcom_pull" => self.xcom_pull(args),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<TaskInstance: {}.{} {}",
            self.dag_id, self.task_id, self.run_id
        )?;
        if let Some(i) = self.map_index {
            write!(f, " map_index={i}")?;
        }
        f.write_str(">")
    }
}
