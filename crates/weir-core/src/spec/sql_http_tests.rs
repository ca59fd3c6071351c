//! Reading `sql` and `http` tasks: the model they give, and one test per diagnostic.

use serde_json::json;

use crate::spec::load_file;
use crate::spec::model::*;

/// An error: line, column, message, help.
pub(crate) type Found = (u32, u32, String, Option<String>);

/// The kind of task `x` written as `body` (indented under it), or its errors.
pub(crate) fn task(body: &str) -> Result<TaskKind, Vec<Found>> {
    let src = format!("dag: d\nteam: t\ntasks:\n  x:\n{body}");
    let report = load_file(&src);
    let errors: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.pos.line, d.pos.col, d.message.clone(), d.help.clone()))
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let dag = report.dags.into_iter().next().expect("one DAG");
    Ok(dag.tasks["x"].kind.clone())
}

fn error(body: &str) -> Found {
    let errors = task(body).expect_err("an error");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().expect("one")
}

#[test]
fn sql_reads_every_field_and_round_trips() {
    let kind = task(
        "    sql:\n      connection: warehouse\n      query: SELECT * FROM t WHERE day = $1 AND n > $2\n      parameters: [\"{{ ds }}\", 3, true, null]\n      output: rows\n      max_rows: 50\n",
    )
    .expect("valid");
    let TaskKind::Sql(sql) = &kind else {
        panic!("{kind:?}")
    };
    assert_eq!(sql.connection, "warehouse");
    assert!(matches!(&sql.source, SqlSource::Query(q) if q.starts_with("SELECT")));
    assert_eq!(
        sql.parameters,
        vec![json!("{{ ds }}"), json!(3), json!(true), json!(null)]
    );
    assert_eq!((sql.output, sql.max_rows), (SqlOutput::Rows, Some(50)));
    // Stored as JSON and read back, as a DAG version is.
    let stored = serde_json::to_value(&kind).expect("json");
    assert_eq!(stored["sql"]["query"], json!(sql_query(sql)));
    let back: TaskKind = serde_json::from_value(stored).expect("read back");
    assert_eq!(back, kind);

    let kind = task("    sql: {conn_id: w, file: sql/q.sql}\n").expect("valid");
    assert!(
        matches!(&kind, TaskKind::Sql(s) if s.connection == "w" && s.source == SqlSource::File("sql/q.sql".into()) && s.output == SqlOutput::None)
    );
}

fn sql_query(sql: &SqlTask) -> &str {
    match &sql.source {
        SqlSource::Query(q) | SqlSource::File(q) => q,
    }
}

#[test]
fn sql_diagnostics() {
    let (line, col, msg, help) = error("    sql: {conn: w, query: SELECT 1}\n");
    assert_eq!((line, col), (5, 11));
    assert!(msg.contains("`connection`"), "{msg}");
    assert_eq!(help.as_deref(), Some("rename `conn:` to `connection:`"));

    let (_, _, msg, _) = error("    sql: {connection: w, query: SELECT 1, file: a.sql}\n");
    assert_eq!(msg, "`sql` takes `query` or `file`, not both");
    let (_, _, msg, _) = error("    sql: {connection: w}\n");
    assert_eq!(msg, "`sql` needs a `query` or a `file`");
    let (_, _, msg, _) = error("    sql: {query: SELECT 1}\n");
    assert_eq!(msg, "`sql` needs a `connection`");
    let (_, _, msg, _) = error("    sql: {connection: w, file: /etc/passwd}\n");
    assert!(msg.contains("relative to the DAG file"), "{msg}");
    let (line, col, msg, help) =
        error("    sql: {connection: w, query: SELECT 1, output: first_rows}\n");
    assert_eq!(
        (line, col, msg.as_str()),
        (5, 51, "unknown `output` `first_rows`")
    );
    assert_eq!(help.as_deref(), Some("did you mean `first_row`?"));
    let (_, _, msg, _) =
        error("    sql: {connection: w, query: SELECT $1, parameters: [{a: 1}]}\n");
    assert!(msg.starts_with("each parameter must be a string"), "{msg}");
    let (_, _, msg, _) = error("    sql: {connection: w, query: SELECT 1, max_rows: 0}\n");
    assert_eq!(msg, "`max_rows` must be at least 1");
    // A template in a query or a parameter is checked at load time.
    let (_, _, msg, _) = error("    sql: {connection: w, query: \"SELECT {{ nope }}\"}\n");
    assert!(msg.contains("nope"), "{msg}");
}

#[test]
fn http_reads_every_field() {
    let kind = task(
        "    http:\n      connection: api\n      method: post\n      url: /v1/items/{{ ds }}\n      headers: {X-Run: \"{{ run_id }}\"}\n      json: {day: \"{{ ds }}\", n: 3}\n      expect_status: [2xx, 404]\n      output: json\n      timeout: 5s\n",
    )
    .expect("valid");
    let TaskKind::Http(http) = &kind else {
        panic!("{kind:?}")
    };
    assert_eq!(http.connection.as_deref(), Some("api"));
    assert_eq!(http.method, "POST");
    assert_eq!(http.json, Some(json!({"day": "{{ ds }}", "n": 3})));
    let statuses: Vec<&str> = http
        .expect_status
        .iter()
        .map(StatusPattern::as_str)
        .collect();
    assert_eq!(statuses, ["2xx", "404"]);
    assert_eq!(http.output, HttpOutput::Json);
    assert_eq!(http.timeout.map(|t| t.0.as_secs()), Some(5));
    let back: TaskKind =
        serde_json::from_value(serde_json::to_value(&kind).expect("json")).expect("read back");
    assert_eq!(back, kind);

    let kind = task("    http: {url: \"http://x\", expect_status: 404}\n").expect("valid");
    assert!(matches!(&kind, TaskKind::Http(h) if h.expect_status.len() == 1 && h.method == "GET"));
}

#[test]
fn http_diagnostics() {
    let (_, _, msg, _) = error("    http: {url: \"http://x\", body: a, json: {a: 1}}\n");
    assert_eq!(msg, "`http` takes `body` or `json`, not both");
    let (_, _, msg, _) = error("    http: {url: \"http://x\", expect_status: 2yy}\n");
    assert!(msg.contains("is not an HTTP status"), "{msg}");
    let (_, _, msg, help) = error("    http: {url: \"http://x\", output: jsn}\n");
    assert_eq!(
        (msg.as_str(), help.as_deref()),
        ("unknown `output` `jsn`", Some("did you mean `json`?"))
    );
    let (_, _, msg, _) = error("    http: {url: \"http://x\", json: {a: \"{{ nope }}\"}}\n");
    assert!(msg.contains("nope"), "{msg}");
}

#[test]
fn status_patterns_match_codes_and_classes() {
    let class = StatusPattern::parse("2xx").expect("valid");
    assert!(class.matches(200) && class.matches(299) && !class.matches(300));
    let code = StatusPattern::parse("404").expect("valid");
    assert!(code.matches(404) && !code.matches(405));
    for bad in ["600", "2x", "abc", "1000", "0xx"] {
        assert!(StatusPattern::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_production_dag_may_not_read_its_sql_from_a_file() {
    let yaml = "dag: d\nteam: t\nproduction: true\ntasks:\n  q: {sql: {connection: pg, file: q.sql}}\n  inline: {sql: {connection: pg, query: SELECT 1}}\n";
    let report = crate::spec::load_file(yaml);
    let errors: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::spec::Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("would run without approval"),
        "{errors:?}"
    );
    assert_eq!(errors[0].pos.line, 5);
    let not_production = yaml.replace("production: true", "production: false");
    assert!(!crate::spec::load_file(&not_production).has_errors());
}
