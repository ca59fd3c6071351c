//! Template rendering with Airflow's context names, so Airflow users' templates work.
//!
//! Templated strings in DAG files (`command`, `shell`, `outlets`, `for_each`, ...) are
//! minijinja templates. The context mirrors Airflow's: `ds`, `ds_nodash`, `ts`,
//! `ts_nodash`, `ts_nodash_with_tz`, `logical_date` (alias `execution_date`),
//! `data_interval_start`, `data_interval_end`, `prev_data_interval_start_success`,
//! `prev_data_interval_end_success`, `run_id`, `dag`, `task`, `dag_run`, `params`,
//! `conf` (the run's conf, not Airflow's server configuration), `var.value.NAME`,
//! `var.json.NAME`, `ti` / `task_instance` (with `xcom_pull`), `macros.ds_add`,
//! `macros.ds_format`, and Weir's `item` (the element of a `for_each` fan-out). Dates are
//! rendered from the UTC logical date, as Airflow does; the filters `ds`, `ds_nodash`,
//! `ts`, `ts_nodash` and `ts_nodash_with_tz` format any date, and Python's common string,
//! list and dict methods work (`.upper()`, `.split()`, `.items()`).
//!
//! Rendering is strict where Airflow is lenient, because a silently empty value in a
//! shell command or a path is worse than a failed task: an undefined name, a variable
//! that is not set and an XCom that was not pushed are errors that name what is missing.
//! Lists and maps render as JSON (`["a","b"]`), so `{{ ti.xcom_pull('t') }}` can be
//! parsed back. Every render has a fuel budget, so a runaway loop fails instead of
//! hanging the scheduler.
//!
//! The core does no IO: the engine fetches the run's XComs and the variables first and
//! passes them in [`TemplateContext`].

mod filters;
mod objects;
mod scan;
mod shell;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use minijinja::value::Kwargs;
use minijinja::value::{Serde, Value, ValueKind};
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State, UndefinedBehavior};
use serde::{Deserialize, Serialize};

pub use filters::{UnknownFilter, unknown_filters};
pub use scan::referenced_xcom_tasks;

/// The fuel of one render: roughly that many instructions, or 64 bytes of data each
/// (16 MB), far above what a command line or path needs.
const FUEL: u64 = 250_000;

/// What a template may read. Built by the engine for one task instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateContext {
    pub dag_id: String,
    pub run_id: String,
    pub task_id: String,
    /// The index of this instance in a `for_each` fan-out; `None` (Airflow's -1) otherwise.
    #[serde(default)]
    pub map_index: Option<u32>,
    /// The try being prepared, from 1.
    pub try_number: u32,
    pub logical_date: DateTime<Utc>,
    pub data_interval_start: DateTime<Utc>,
    pub data_interval_end: DateTime<Utc>,
    #[serde(default)]
    pub prev_data_interval_start_success: Option<DateTime<Utc>>,
    #[serde(default)]
    pub prev_data_interval_end_success: Option<DateTime<Utc>>,
    /// The DAG's params with the run's conf applied.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The run's conf (`{{ conf.x }}`, `{{ dag_run.conf.x }}`).
    #[serde(default)]
    pub conf: serde_json::Value,
    /// Variables the template may read, by name.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// The run's XComs: task id -> key -> value. For a `for_each` task the engine stores
    /// the list of its instances' values, in map-index order, as Airflow returns them.
    #[serde(default)]
    pub xcoms: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    /// The element of a `for_each` list this instance handles.
    #[serde(default)]
    pub item: Option<serde_json::Value>,
    /// The connections the task may use (its team's and platform-wide ones), by id:
    /// `{{ conn.warehouse.host }}`.
    #[serde(default)]
    pub conn: BTreeMap<String, TemplateConnection>,
    /// Whether `conn.<id>.password` renders: only where the result goes into the try's
    /// environment (where it is masked), never into a command the API shows.
    #[serde(default)]
    pub passwords_visible: bool,
    /// The dataset events that triggered the run, by URI, each a list of events with
    /// Airflow's fields (`uri`, `extra`, `timestamp`, `source_dag_id`, `source_run_id`,
    /// `source_task_id`, `source_map_index`): `{{ triggering_dataset_events }}`. Empty
    /// for a run no dataset triggered.
    #[serde(default)]
    pub triggering_dataset_events: serde_json::Map<String, serde_json::Value>,
    /// A `sql` or `http` task's secrets by their `secrets:` name (`{{ secrets.TOKEN }}`):
    /// such a task has no environment to read them from. Empty for other kinds.
    #[serde(default, skip_serializing)]
    pub secrets: BTreeMap<String, String>,
}

/// A connection as templates see it (Airflow's names).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateConnection {
    pub conn_id: String,
    pub conn_type: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub login: Option<String>,
    pub schema: Option<String>,
    /// `extra` as stored (text), and parsed (`extra_dejson`).
    pub extra: Option<String>,
    pub extra_dejson: serde_json::Map<String, serde_json::Value>,
    /// The password in clear; rendered only when the context allows it.
    #[serde(skip_serializing)]
    pub password: Option<String>,
}

impl TemplateConnection {
    /// The values to mask wherever a try's output is recorded: the password and the
    /// credentials in `extra`.
    pub fn credentials(&self) -> impl Iterator<Item = &str> {
        self.password
            .as_deref()
            .into_iter()
            .chain(crate::secrets::extra_credentials(&self.extra_dejson).map(|(_, value)| value))
    }
}

impl TemplateContext {
    /// A context for try 1 of an unmapped task, with an empty data interval at
    /// `logical_date` and nothing else set; the fields are public to fill in the rest.
    pub fn new(
        dag_id: impl Into<String>,
        run_id: impl Into<String>,
        task_id: impl Into<String>,
        logical_date: DateTime<Utc>,
    ) -> TemplateContext {
        TemplateContext {
            dag_id: dag_id.into(),
            run_id: run_id.into(),
            task_id: task_id.into(),
            map_index: None,
            try_number: 1,
            logical_date,
            data_interval_start: logical_date,
            data_interval_end: logical_date,
            prev_data_interval_start_success: None,
            prev_data_interval_end_success: None,
            params: serde_json::Map::new(),
            conf: serde_json::Value::Object(serde_json::Map::new()),
            variables: BTreeMap::new(),
            xcoms: BTreeMap::new(),
            item: None,
            conn: BTreeMap::new(),
            passwords_visible: false,
            triggering_dataset_events: serde_json::Map::new(),
            secrets: BTreeMap::new(),
        }
    }
}

/// What went wrong with a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateErrorKind {
    /// The template does not parse.
    Syntax,
    /// It uses a name, attribute, variable or XCom that is not there.
    Undefined,
    /// It ran out of fuel: too many steps or too much data.
    TooExpensive,
    /// Anything else while rendering: a bad argument, an unsupported operation.
    Render,
}

/// A template that cannot be parsed or rendered, with the position in the template
/// string when known (1-based line and column, column in characters), so the DAG
/// validator can point into the YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    pub kind: TemplateErrorKind,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, " (template line {line}, column {column})")
            }
            (Some(line), None) => write!(f, " (template line {line})"),
            _ => Ok(()),
        }
    }
}

/// A top-level name a template uses that the context does not provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    pub name: String,
    /// The closest context name, when it looks like a typo of one.
    pub suggestion: Option<&'static str>,
}

/// Every top-level name the context provides.
pub const CONTEXT_NAMES: [&str; 25] = [
    "ds",
    "ds_nodash",
    "ts",
    "ts_nodash",
    "ts_nodash_with_tz",
    "logical_date",
    "execution_date",
    "data_interval_start",
    "data_interval_end",
    "prev_data_interval_start_success",
    "prev_data_interval_end_success",
    "run_id",
    "dag",
    "task",
    "dag_run",
    "params",
    "conf",
    "var",
    "ti",
    "task_instance",
    "macros",
    "item",
    "conn",
    "secrets",
    "triggering_dataset_events",
];

fn environment() -> &'static Environment<'static> {
    static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        // Debug info is what gives errors their byte range and lets minijinja name the
        // undefined value; it is off by default in release builds.
        env.set_debug(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(format_value);
        // Shell commands are compiled under their own name, which turns on shell quoting
        // (see `shell`); every other field renders values as they are.
        env.set_auto_escape_callback(|name| {
            if name == shell::TEMPLATE_NAME {
                AutoEscape::Custom(shell::MODE.into())
            } else {
                AutoEscape::None
            }
        });
        // minijinja marks `tojson`'s output safe (for HTML); in a shell command JSON is
        // data like any other value, so it is quoted.
        env.add_filter(
            "tojson",
            |value: &Value,
             indent: Option<Value>,
             args: Kwargs|
             -> Result<Value, minijinja::Error> {
                let json = minijinja::filters::tojson(value, indent, args)?;
                Ok(Value::from(json.as_str().unwrap_or_default()))
            },
        );
        objects::register_filters(&mut env);
        env
    });
    &ENV
}

/// Renders lists and maps as JSON, everything else as Jinja does; in a shell command,
/// marks the value for quoting.
fn format_value(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if let Some(hidden) = value.downcast_object_ref::<objects::HiddenPassword>() {
        return Err(hidden.error());
    }
    let shell = matches!(state.auto_escape(), AutoEscape::Custom(mode) if mode == shell::MODE);
    let text = match value.kind() {
        ValueKind::Seq | ValueKind::Map => serde_json::to_string(value)
            .map_err(|e| minijinja::Error::new(ErrorKind::BadSerialization, e.to_string()))?,
        _ if shell => value.to_string(),
        _ => return minijinja::escape_formatter(out, state, value),
    };
    if shell {
        shell::write_value(out, &text, value.is_safe())
    } else {
        out.write_str(&text).map_err(minijinja::Error::from)
    }
}

/// Checks that a template parses, without rendering it (validation time).
pub fn check_syntax(source: &str) -> Result<(), TemplateError> {
    environment()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| convert_error(&e, source, 0, None))
}

/// Every top-level name a template reads (context names included), sorted.
pub fn read_names(source: &str) -> Result<Vec<String>, TemplateError> {
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|e| convert_error(&e, source, 0, None))?;
    let mut names: Vec<String> = template.undeclared_variables(false).into_iter().collect();
    names.sort();
    Ok(names)
}

/// The top-level names a template reads that the context does not provide (and that
/// are not minijinja built-ins), with a did-you-mean suggestion: `{{ dss }}` -> `ds`.
pub fn unknown_names(source: &str) -> Result<Vec<UnknownName>, TemplateError> {
    let env = environment();
    Ok(read_names(source)?
        .into_iter()
        .filter(|n| !CONTEXT_NAMES.contains(&n.as_str()))
        .filter(|n| env.globals().all(|(global, _)| global != n))
        .map(|name| {
            let suggestion = suggest_name(&name);
            UnknownName { name, suggestion }
        })
        .collect())
}

fn suggest_name(name: &str) -> Option<&'static str> {
    CONTEXT_NAMES
        .iter()
        .map(|known| (*known, strsim::jaro_winkler(name, known)))
        .filter(|(_, score)| *score >= 0.85)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(known, _)| known)
}

/// Renders a template to a string.
pub fn render(source: &str, ctx: &TemplateContext) -> Result<String, TemplateError> {
    environment()
        .render_str(source, objects::context_value(ctx))
        .map_err(|e| convert_error(&e, source, 0, Some(ctx)))
}

/// Renders a `shell` command: every `{{ … }}` value is inserted as literal text, quoted
/// for where it lands in the command (one word when unquoted, escaped inside double
/// quotes, …), unless it is marked `| safe`. See the `shell` module.
pub fn render_shell(source: &str, ctx: &TemplateContext) -> Result<String, TemplateError> {
    no_reserved_chars(source)?;
    let marked = environment()
        .render_named_str(shell::TEMPLATE_NAME, source, objects::context_value(ctx))
        .map_err(|e| convert_error(&e, source, 0, Some(ctx)))?;
    shell::quote_marked(&marked).map_err(|message| TemplateError {
        kind: TemplateErrorKind::Render,
        message,
        line: None,
        column: None,
    })
}

/// Checks a `shell` command template at validation time: it parses, and it does not
/// hold the characters shell quoting reserves.
pub fn check_shell(source: &str) -> Result<(), TemplateError> {
    no_reserved_chars(source)?;
    environment()
        .template_from_named_str(shell::TEMPLATE_NAME, source)
        .map(|_| ())
        .map_err(|e| convert_error(&e, source, 0, None))
}

fn no_reserved_chars(source: &str) -> Result<(), TemplateError> {
    if shell::has_marker(source) {
        let offset = source.find([shell::OPEN, shell::CLOSE]).unwrap_or(0);
        let (line, column) = line_column(source, offset);
        return Err(TemplateError {
            kind: TemplateErrorKind::Syntax,
            message: "a shell command may not hold the characters U+E000 and U+E001 (Weir \
                      reserves them to quote template values); remove them"
                .to_string(),
            line: Some(line),
            column: Some(column),
        });
    }
    Ok(())
}

/// Renders a template to a value: when the string is a single `{{ expression }}`
/// (surrounding whitespace allowed), the expression's value itself, so that
/// `for_each: "{{ ti.xcom_pull('list_files') }}"` yields a list; otherwise the rendered
/// string.
pub fn render_value(
    source: &str,
    ctx: &TemplateContext,
) -> Result<serde_json::Value, TemplateError> {
    let Some((expr, offset)) = scan::sole_expression(source) else {
        return render(source, ctx).map(serde_json::Value::String);
    };
    let env = environment();
    let value = env
        .compile_expression(expr)
        .and_then(|compiled| compiled.eval(objects::context_value(ctx)))
        .map_err(|e| convert_error(&e, source, offset, Some(ctx)))?;
    serde_json::to_value(&value).map_err(|e| TemplateError {
        kind: TemplateErrorKind::Render,
        message: format!("the value of `{}` cannot be used as data: {e}", expr.trim()),
        line: None,
        column: None,
    })
}

/// Converts a value for the template context (params, XComs, conf).
fn json_value(value: &serde_json::Value) -> Value {
    Value::from(Serde(value))
}

/// Turns a minijinja error into a [`TemplateError`]. `offset` is where the compiled
/// text starts within `source` (non-zero for a `{{ expression }}` compiled alone).
fn convert_error(
    err: &minijinja::Error,
    source: &str,
    offset: usize,
    ctx: Option<&TemplateContext>,
) -> TemplateError {
    let (line, column) = match err.range() {
        Some(range) => {
            let (line, column) = line_column(source, offset + range.start);
            (Some(line), Some(column))
        }
        None => (
            err.line()
                .map(|l| l + source.get(..offset).map_or(0, |s| s.matches('\n').count())),
            None,
        ),
    };
    let detail = err.detail().map(str::to_string);
    let (kind, message) = match err.kind() {
        ErrorKind::SyntaxError => (
            TemplateErrorKind::Syntax,
            format!(
                "template syntax error: {}",
                detail.unwrap_or_else(|| "the template does not parse".into())
            ),
        ),
        ErrorKind::UndefinedError => (TemplateErrorKind::Undefined, undefined_message(detail, ctx)),
        ErrorKind::OutOfFuel => (
            TemplateErrorKind::TooExpensive,
            "the template does too much work (it ran out of fuel); simplify its loops or move \
             the logic into the task"
                .to_string(),
        ),
        other => (
            TemplateErrorKind::Render,
            detail.unwrap_or_else(|| other.to_string()),
        ),
    };
    TemplateError {
        kind,
        message,
        line,
        column,
    }
}

/// minijinja says "`params.x` is undefined"; say what to do about it.
fn undefined_message(detail: Option<String>, ctx: Option<&TemplateContext>) -> String {
    let name = detail.as_deref().and_then(|d| {
        d.strip_prefix('`')
            .and_then(|rest| rest.strip_suffix("` is undefined"))
    });
    let Some(name) = name.map(dotted_path) else {
        // Our own undefined errors (a missing XCom) already say what to do.
        return detail.unwrap_or_else(|| "undefined value in template".to_string());
    };
    let name = name.as_str();
    if let Some(var) = name.strip_prefix("var.value.") {
        return missing_variable_message(var);
    }
    if let Some(var) = name.strip_prefix("var.json.") {
        // `var.json.x` is undefined both when `x` is not set and when it is not JSON.
        let set = ctx.and_then(|c| c.variables.get(var));
        return match set.map(|text| serde_json::from_str::<serde_json::Value>(text)) {
            Some(Err(e)) => format!("variable `{var}` is not valid JSON ({e}); fix its value"),
            _ => missing_variable_message(var),
        };
    }
    if let Some(param) = name.strip_prefix("params.") {
        return format!(
            "param `{param}` is not set; give it a default under the DAG's `params`, or pass \
             it in the run's conf"
        );
    }
    if name == "item" {
        return "`item` is only defined in a task with `for_each`".to_string();
    }
    match suggest_name(name).filter(|_| !name.contains(['.', '['])) {
        Some(known) => format!("undefined value `{name}` in template; did you mean `{known}`?"),
        None => format!("undefined value `{name}` in template"),
    }
}

/// `var.value['my-var']` -> `var.value.my-var`, so subscripts and attributes read alike.
fn dotted_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = ["['", "[\""].iter().filter_map(|o| rest.find(o)).min() {
        let quote = &rest[open + 1..open + 2];
        let close = format!("{quote}]");
        let Some(len) = rest[open + 2..].find(&close) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push('.');
        out.push_str(&rest[open + 2..open + 2 + len]);
        rest = &rest[open + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

fn missing_variable_message(name: &str) -> String {
    format!("variable `{name}` is not set; set it with `weir variables set {name} VALUE`")
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
