use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
        .with_timezone(&Utc)
}

fn ctx() -> TemplateContext {
    let mut c = TemplateContext::new(
        "daily_revenue",
        "scheduled__2026-01-05T00:00:00+00:00",
        "extract",
        utc("2026-01-05T00:00:00Z"),
    );
    c.data_interval_end = utc("2026-01-06T00:00:00Z");
    c.prev_data_interval_start_success = Some(utc("2026-01-04T00:00:00Z"));
    c.try_number = 2;
    c.params = json!({"country": "DE", "list": [1, 2], "nested": {"a": "b"}})
        .as_object()
        .cloned()
        .unwrap_or_default();
    c.conf = json!({"full_refresh": true});
    c.variables.insert("bucket".into(), "s3://lake".into());
    c.variables
        .insert("limits".into(), r#"{"rows": 10}"#.into());
    c.variables.insert("broken".into(), "{not json".into());
    c.xcoms.insert(
        "list_files".into(),
        [("return_value".to_string(), json!(["a.csv", "b.csv"]))].into(),
    );
    c.xcoms.insert(
        "transform".into(),
        [
            ("return_value".to_string(), json!({"rows": 42})),
            ("stats".to_string(), json!(7)),
        ]
        .into(),
    );
    c
}

fn r(source: &str) -> String {
    render(source, &ctx()).unwrap_or_else(|e| panic!("{source}: {e}"))
}

fn err(source: &str) -> TemplateError {
    match render(source, &ctx()) {
        Ok(out) => panic!("{source} rendered {out:?}"),
        Err(e) => e,
    }
}

#[test]
fn renders_airflow_date_names() {
    assert_eq!(r("{{ ds }}"), "2026-01-05");
    assert_eq!(r("{{ ds_nodash }}"), "20260105");
    assert_eq!(r("{{ ts }}"), "2026-01-05T00:00:00+00:00");
    assert_eq!(r("{{ ts_nodash }}"), "20260105T000000");
    assert_eq!(r("{{ ts_nodash_with_tz }}"), "20260105T000000+0000");
    assert_eq!(r("{{ logical_date }}"), "2026-01-05T00:00:00+00:00");
    assert_eq!(r("{{ execution_date }}"), "2026-01-05T00:00:00+00:00");
    assert_eq!(r("{{ data_interval_start }}"), "2026-01-05T00:00:00+00:00");
    assert_eq!(r("{{ data_interval_end }}"), "2026-01-06T00:00:00+00:00");
    assert_eq!(
        r("{{ prev_data_interval_start_success }}"),
        "2026-01-04T00:00:00+00:00"
    );
    // Booleans render as Python's, as in Airflow.
    assert_eq!(r("{{ prev_data_interval_end_success is none }}"), "True");
    assert_eq!(r("{{ data_interval_end | ds }}"), "2026-01-06");
    assert_eq!(r("{{ data_interval_end | ts_nodash }}"), "20260106T000000");
    assert_eq!(
        r("{{ logical_date.strftime('%Y/%m/%d %H:%M:%S.%f') }}"),
        "2026/01/05 00:00:00.000000"
    );
    assert_eq!(
        r("{{ logical_date.year }}-{{ logical_date.month }}"),
        "2026-1"
    );
    assert_eq!(
        r("{{ logical_date.in_timezone('Europe/Berlin') }}"),
        "2026-01-05T01:00:00+01:00"
    );
    assert_eq!(
        r("{{ logical_date.add(days=1, hours=2).isoformat() }}"),
        "2026-01-06T02:00:00+00:00"
    );
    assert_eq!(r("{{ logical_date.subtract(weeks=1) | ds }}"), "2025-12-29");
    assert_eq!(r("{{ data_interval_start < data_interval_end }}"), "True");
}

#[test]
fn renders_run_dag_task_params_conf_and_item() {
    assert_eq!(r("{{ run_id }}"), "scheduled__2026-01-05T00:00:00+00:00");
    assert_eq!(
        r("{{ dag.dag_id }}/{{ task.task_id }}"),
        "daily_revenue/extract"
    );
    assert_eq!(r("{{ params.country }}"), "DE");
    assert_eq!(r("{{ params.list }}"), "[1,2]");
    assert_eq!(r("{{ params.nested }}"), r#"{"a":"b"}"#);
    assert_eq!(r("{{ params.country.lower() }}"), "de");
    assert_eq!(
        r("{{ conf.full_refresh }} {{ dag_run.conf.full_refresh }}"),
        "True True"
    );
    assert_eq!(r("{{ dag_run.run_id == run_id }}"), "True");
    assert_eq!(
        r("{{ ti.task_id }} {{ ti.try_number }} {{ ti.map_index }}"),
        "extract 2 -1"
    );
    let mut c = ctx();
    c.item = Some(json!({"path": "a.csv"}));
    c.map_index = Some(3);
    assert_eq!(
        render("{{ item.path }}@{{ ti.map_index }}", &c),
        Ok("a.csv@3".into())
    );
    let e = err("{{ item }}");
    assert_eq!(e.kind, TemplateErrorKind::Undefined);
    assert_eq!(
        e.message,
        "`item` is only defined in a task with `for_each`"
    );
}

#[test]
fn variables() {
    assert_eq!(r("{{ var.value.bucket }}/x"), "s3://lake/x");
    assert_eq!(r("{{ var.value['bucket'] }}"), "s3://lake");
    assert_eq!(r("{{ var.json.limits.rows }}"), "10");
    assert_eq!(r("{{ var.value.get('nope', 'fallback') }}"), "fallback");
    assert_eq!(r("{{ var.json.get('limits').rows }}"), "10");
    let e = err("{{ var.value.nope }}");
    assert_eq!(e.kind, TemplateErrorKind::Undefined);
    assert_eq!(
        e.message,
        "variable `nope` is not set; set it with `weir variables set nope VALUE`"
    );
    assert!(
        err("{{ var.json.nope }}")
            .message
            .contains("variable `nope` is not set")
    );
    assert!(
        err("{{ var.json.broken }}")
            .message
            .starts_with("variable `broken` is not valid JSON")
    );
    assert!(
        err("{{ var.json.get('broken') }}")
            .message
            .contains("not valid JSON")
    );
}

#[test]
fn xcom_pull() {
    assert_eq!(
        r("{{ ti.xcom_pull('list_files') }}"),
        r#"["a.csv","b.csv"]"#
    );
    assert_eq!(
        r("{{ task_instance.xcom_pull(task_ids='transform').rows }}"),
        "42"
    );
    assert_eq!(r("{{ ti.xcom_pull('transform', key='stats') }}"), "7");
    assert_eq!(
        r("{{ ti.xcom_pull(task_ids=['transform', 'list_files']) }}"),
        r#"[{"rows":42},["a.csv","b.csv"]]"#
    );
    let e = err("rows={{ ti.xcom_pull('missing') }}");
    assert_eq!(e.kind, TemplateErrorKind::Undefined);
    assert!(
        e.message
            .starts_with("task `missing` has no XCom `return_value` in this run"),
        "{e}"
    );
    // The position points at the call.
    assert_eq!((e.line, e.column), (Some(1), Some(11)));
    assert!(
        err("{{ ti.xcom_pull('transform', key='nope') }}")
            .message
            .contains("no XCom `nope`")
    );
    assert!(
        err("{{ ti.xcom_pull() }}")
            .message
            .contains("needs the task id")
    );
    assert!(
        err("{{ ti.xcom_pull('a', 'b') }}")
            .message
            .contains("one positional argument")
    );
    assert!(
        err("{{ ti.xcom_pull('transform', dag_id='other') }}")
            .message
            .contains("another DAG")
    );
    assert!(
        err("{{ ti.xcom_pull('transform', bogus=1) }}")
            .message
            .contains("bogus")
    );
}

#[test]
fn macros() {
    assert_eq!(r("{{ macros.ds_add(ds, 5) }}"), "2026-01-10");
    assert_eq!(r("{{ macros.ds_add('2026-03-01', -1) }}"), "2026-02-28");
    assert_eq!(r("{{ macros.ds_add(logical_date, 1) }}"), "2026-01-06");
    assert_eq!(
        r("{{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m/%Y') }}"),
        "05/01/2026"
    );
    assert_eq!(
        r("{{ macros.ds_format('2026-01', '%Y-%m', '%b %Y') }}"),
        "Jan 2026"
    );
    assert_eq!(
        r("{{ macros.ds_format('20260105T063000', '%Y%m%dT%H%M%S', '%H:%M') }}"),
        "06:30"
    );
    assert!(
        err("{{ macros.ds_add('01/05/2026', 1) }}")
            .message
            .contains("expected YYYY-MM-DD")
    );
    assert!(
        err("{{ macros.ds_format(ds, '%d.%m', '%Y') }}")
            .message
            .contains("does not match")
    );
    assert!(
        err("{{ logical_date.strftime('%Q') }}")
            .message
            .contains("not a valid date format")
    );
}

#[test]
fn strict_undefined_names_the_name() {
    let e = err("echo {{ foo }}");
    assert_eq!(e.kind, TemplateErrorKind::Undefined);
    assert_eq!(e.message, "undefined value `foo` in template");
    assert_eq!((e.line, e.column), (Some(1), Some(9)));
    assert_eq!(
        e.to_string(),
        "undefined value `foo` in template (template line 1, column 9)"
    );
    assert_eq!(
        err("{{ dss }}").message,
        "undefined value `dss` in template; did you mean `ds`?"
    );
    let e = err("a\n  {{ params.nope }}");
    assert!(e.message.starts_with("param `nope` is not set"), "{e}");
    assert_eq!((e.line, e.column), (Some(2), Some(6)));
    assert!(err("{{ dag.owner }}").message.contains("`dag.owner`"));
    // `default` and `is defined` still work on purpose.
    assert_eq!(r("{{ params.nope | default('x') }}"), "x");
    assert_eq!(
        r("{% if params.nope is defined %}y{% else %}n{% endif %}"),
        "n"
    );
}

#[test]
fn syntax_errors_have_a_position() {
    assert_eq!(check_syntax("echo {{ ds }} {% if x %}a{% endif %}"), Ok(()));
    let e = check_syntax("line one\nline {{ two( }}").expect_err("should fail");
    assert_eq!(e.kind, TemplateErrorKind::Syntax);
    assert!(e.message.starts_with("template syntax error: "), "{e}");
    assert_eq!(e.line, Some(2));
    assert_eq!(e.column, Some(14));
    let e = check_syntax("{% for x in y %}").expect_err("should fail");
    assert_eq!(e.kind, TemplateErrorKind::Syntax);
    assert!(e.line.is_some());
}

#[test]
fn runaway_templates_run_out_of_fuel() {
    let e = err("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}");
    assert_eq!(e.kind, TemplateErrorKind::TooExpensive);
    assert!(e.message.contains("ran out of fuel"));
}

#[test]
fn render_value_returns_data_for_a_single_expression() {
    let c = ctx();
    assert_eq!(
        render_value("{{ ti.xcom_pull('list_files') }}", &c),
        Ok(json!(["a.csv", "b.csv"]))
    );
    assert_eq!(
        render_value("  {{- params.list -}} ", &c),
        Ok(json!([1, 2]))
    );
    assert_eq!(
        render_value("{{ params.nested }}", &c),
        Ok(json!({"a": "b"}))
    );
    assert_eq!(render_value("{{ 3 }}", &c), Ok(json!(3)));
    assert_eq!(render_value("{{ ds }}", &c), Ok(json!("2026-01-05")));
    assert_eq!(
        render_value("{{ logical_date }}", &c),
        Ok(json!("2026-01-05T00:00:00+00:00"))
    );
    assert_eq!(
        render_value("{{ params.list | map('string') | list }}", &c),
        Ok(json!(["1", "2"]))
    );
    assert_eq!(
        render_value("files: {{ params.list }}", &c),
        Ok(json!("files: [1,2]"))
    );
    assert_eq!(render_value("plain", &c), Ok(json!("plain")));
    let e = render_value("x\n {{ nope.x }}", &c).expect_err("should fail");
    assert_eq!(e.message, "undefined value `nope` in template");
    let e = render_value(" {{ ti.xcom_pull('missing') }}", &c).expect_err("should fail");
    assert_eq!((e.line, e.column), (Some(1), Some(7)));
    let e = render_value("{{ params.list + }}", &c).expect_err("should fail");
    assert_eq!(e.kind, TemplateErrorKind::Syntax);
    assert_eq!(e.line, Some(1));
}

#[test]
fn referenced_xcom_tasks_sees_literals() {
    assert_eq!(
        referenced_xcom_tasks("{{ ti.xcom_pull('list_files') }}"),
        ["list_files"]
    );
    assert_eq!(
        referenced_xcom_tasks(
            "{{ ti.xcom_pull(task_ids=[\"a\", 'b'], key='k') }} {{ task_instance.xcom_pull( 'a' ) }}"
        ),
        ["a", "b"]
    );
    assert_eq!(
        referenced_xcom_tasks("{{ ti.xcom_pull(key='x', task_ids='c') }}"),
        ["c"]
    );
    assert!(referenced_xcom_tasks("{{ ti.xcom_pull(params.t) }} {{ ds }}").is_empty());
    assert!(referenced_xcom_tasks("{{ ti.xcom_pull(").is_empty());
}

#[test]
fn unknown_names_suggest_context_names() {
    let names = unknown_names("{{ dss }} {{ ds }} {{ range(3) | list }} {% set x = 1 %}{{ x }}")
        .expect("parses");
    assert_eq!(
        names,
        [UnknownName {
            name: "dss".into(),
            suggestion: Some("ds"),
        }]
    );
    assert!(
        unknown_names("{{ params.x }} {{ ti.xcom_pull('a') }}")
            .expect("parses")
            .is_empty()
    );
}

fn sh(source: &str, conf: serde_json::Value) -> Result<String, TemplateError> {
    let mut c = ctx();
    c.conf = conf;
    render_shell(source, &c)
}

fn sh_ok(source: &str, conf: serde_json::Value) -> String {
    sh(source, conf).unwrap_or_else(|e| panic!("{source}: {e}"))
}

#[test]
fn shell_commands_quote_values_as_one_word() {
    let attack = json!({"x": "$(touch pwned)", "y": "; touch pwned2", "q": "it's"});
    assert_eq!(
        sh_ok("echo {{ conf.x }}", attack.clone()),
        "echo '$(touch pwned)'"
    );
    assert_eq!(
        sh_ok("echo {{ conf.y }}", attack.clone()),
        "echo '; touch pwned2'"
    );
    // Each value splits back into exactly the word it was.
    for key in ["x", "y", "q"] {
        let out = sh_ok(&format!("printf %s {{{{ conf.{key} }}}}"), attack.clone());
        let words = shlex::split(&out).unwrap_or_default();
        assert_eq!(words.len(), 3, "{out}");
        assert_eq!(Some(words[2].as_str()), attack[key].as_str(), "{out}");
    }
    // Safe words stay bare, so `echo {{ ds }}` prints what it always did.
    assert_eq!(
        sh_ok("echo {{ ds }} {{ ts }}", json!({})),
        "echo 2026-01-05 2026-01-05T00:00:00+00:00"
    );
    assert_eq!(sh_ok("echo {{ conf.e }}", json!({"e": ""})), "echo ''");
    // Lists and maps are one JSON word.
    assert_eq!(
        sh_ok("echo {{ ti.xcom_pull('list_files') }}", json!({})),
        r#"echo '["a.csv","b.csv"]'"#
    );
    // `tojson` is data too, not shell syntax.
    assert_eq!(
        sh_ok("echo {{ conf.x | tojson }}", attack.clone()),
        r#"echo '"$(touch pwned)"'"#
    );
    // Template text itself is the author's shell syntax.
    assert_eq!(
        sh_ok("a=1; echo $a && ls {% if true %}| wc{% endif %}", json!({})),
        "a=1; echo $a && ls | wc"
    );
}

#[test]
fn shell_quoting_follows_where_the_value_lands() {
    let conf = json!({"x": "$(touch p) `id` \"q\" \\ it's"});
    // Inside double quotes: the characters double quotes keep live are escaped.
    assert_eq!(
        sh_ok(r#"echo "x={{ conf.x }}""#, conf.clone()),
        r#"echo "x=\$(touch p) \`id\` \"q\" \\ it's""#
    );
    // Inside single quotes: a quote closes, escapes and reopens.
    assert_eq!(
        sh_ok("echo 'x={{ conf.x }}'", conf.clone()),
        r#"echo 'x=$(touch p) `id` "q" \ it'\''s'"#
    );
    // Inside `$( )` within double quotes the value is a word again.
    assert_eq!(
        sh_ok(r#"echo "$(printf %s {{ conf.y }})""#, json!({"y": "a; b"})),
        r#"echo "$(printf %s 'a; b')""#
    );
    // Backquotes unescape once more.
    assert_eq!(
        sh_ok("echo `echo {{ conf.y }}`", json!({"y": "a`b"})),
        r"echo `echo 'a\`b'`"
    );
    // A heredoc body with an unquoted delimiter expands like double quotes.
    assert_eq!(
        sh_ok(
            "cat <<EOF\n{{ conf.y }}\nEOF\necho {{ conf.y }}",
            json!({"y": "$(x)"})
        ),
        "cat <<EOF\n\\$(x)\nEOF\necho '$(x)'"
    );
    // A line break would end a comment or a heredoc early.
    let e = sh("echo # {{ conf.y }}", json!({"y": "a\ntouch p"})).unwrap_err();
    assert!(e.message.contains("comment"), "{e}");
    let e = sh(
        "cat <<'EOF'\n{{ conf.y }}\nEOF",
        json!({"y": "EOF\ntouch p"}),
    )
    .unwrap_err();
    assert!(e.message.contains("here-document"), "{e}");
}

#[test]
fn shell_safe_opts_out_and_other_fields_are_not_quoted() {
    let conf = json!({"cmd": "ls | wc -l"});
    assert_eq!(sh_ok("{{ conf.cmd | safe }}", conf.clone()), "ls | wc -l");
    // `render` (env values, container arguments, outlets, ...) never quotes.
    let mut c = ctx();
    c.conf = conf;
    assert_eq!(
        render("{{ conf.cmd }}", &c).ok().as_deref(),
        Some("ls | wc -l")
    );
    assert_eq!(
        render_value("{{ conf.cmd }}", &c).ok(),
        Some(json!("ls | wc -l"))
    );
}

#[test]
fn shell_commands_refuse_what_cannot_be_quoted() {
    let e = sh("echo {{ conf.x }}", json!({"x": "a\u{0}b"})).unwrap_err();
    assert!(e.message.contains("NUL"), "{e}");
    let e = sh("echo {{ conf.x }}", json!({"x": "a\u{E000}b"})).unwrap_err();
    assert!(e.message.contains("U+E000"), "{e}");
    let e = check_shell("echo \u{E001}").unwrap_err();
    assert_eq!(e.kind, TemplateErrorKind::Syntax);
    assert!(check_shell("echo {{ ds }}").is_ok());
    let e = sh("echo \\{{ conf.x }}", json!({"x": "a"})).unwrap_err();
    assert!(e.message.contains("backslash"), "{e}");
    // Strict undefined still names what is missing.
    let e = sh("echo {{ conf.missing }}", json!({})).unwrap_err();
    assert_eq!(e.kind, TemplateErrorKind::Undefined);
    assert!(e.message.contains("conf.missing"), "{e}");
}
