//! Summaries of DAG versions read from YAML by the crate's own loader, as the server
//! gets them.

use super::*;
use crate::spec::load_file;

fn dag(src: &str) -> DagSpec {
    let report = load_file(src);
    assert!(!report.has_errors(), "{}", report.render("dag.yaml", src));
    report.dags.into_iter().next().expect("one DAG")
}

const V1: &str = r#"dag: revenue
team: marketing
production: true
schedule: "@daily"
start_date: 2026-01-01
tasks:
  extract:
    container:
      image: registry.example.com/marketing/etl:1.4
      resources: {vcpu: 1, memory: 2Gi}
      secrets: {DB_PASSWORD: redshift-password}
    connections: [warehouse]
  transform:
    depends_on: [extract]
    job: dbt-runner
    secrets: {DBT_TOKEN: marketing/dbt-token}
  load:
    depends_on: [transform]
    sql: {connection: warehouse, query: "select 1"}
  notify:
    depends_on: [load]
    http: {connection: slack, url: /hook, method: POST}
"#;

const V2: &str = r#"dag: revenue
team: marketing
description: Revenue, hourly now
production: true
schedule: "@hourly"
start_date: 2026-01-01
max_active_runs: 1
tasks:
  extract:
    container:
      image: registry.example.com/marketing/etl:1.5
      resources: {vcpu: 2, memory: 2Gi}
      secrets: {DB_PASSWORD: redshift-password}
    connections: [warehouse]
    retries: 2
  transform:
    depends_on: [extract]
    job: dbt-runner
    command: [dbt, run]
    secrets: {DBT_TOKEN: marketing/dbt-token}
  load:
    depends_on: [transform]
    sql: {connection: warehouse, query: "select 1"}
  publish:
    depends_on: [load]
    shell: ./publish.sh
    secrets: {API_KEY: publish-key}
"#;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

#[test]
fn a_new_dag_adds_everything_it_holds() {
    let s = summarize(None, &dag(V1));
    assert_eq!(
        s,
        ChangeSummary {
            tasks_added: strings(&["extract", "load", "notify", "transform"]),
            schedule: Some(FieldChange {
                from: None,
                to: Some("@daily".into())
            }),
            production: Some(FieldChange {
                from: None,
                to: Some("true".into())
            }),
            images_added: strings(&["job:dbt-runner", "registry.example.com/marketing/etl:1.4"]),
            secrets_added: strings(&["marketing/dbt-token", "redshift-password"]),
            connections_added: strings(&["slack", "warehouse"]),
            other_fields: strings(&["start_date"]),
            ..ChangeSummary::default()
        }
    );
    assert_eq!(
        s.headline(),
        "4 tasks added; schedule @daily; now production; new images job:dbt-runner, \
         registry.example.com/marketing/etl:1.4; new secrets marketing/dbt-token, \
         redshift-password; new connections slack, warehouse; start_date changed"
    );

    // Of a new DAG's other keys, only those set to something else than the default show;
    // a new DAG that is not production says nothing about production.
    let plain = dag("dag: d\nteam: t\ndescription: x\npaused: true\ntasks:\n  a: {noop: {}}\n");
    let s = summarize(None, &plain);
    assert_eq!(s.other_fields, ["description"]);
    assert_eq!((&s.production, &s.schedule), (&None, &None));
    assert_eq!(s.headline(), "1 task added; description changed");
}

#[test]
fn the_same_version_is_no_change() {
    let v1 = dag(V1);
    let s = summarize(Some(&v1), &v1);
    assert!(s.is_empty());
    assert_eq!(s.headline(), "no change");
    // Reading the file again (a new commit, same content) changes nothing either.
    assert!(summarize(Some(&v1), &dag(V1)).is_empty());
}

#[test]
fn every_kind_of_change_is_named() {
    let s = summarize(Some(&dag(V1)), &dag(V2));
    assert_eq!(
        s,
        ChangeSummary {
            tasks_added: strings(&["publish"]),
            tasks_removed: strings(&["notify"]),
            tasks_changed: vec![
                TaskChange {
                    task: "extract".into(),
                    fields: strings(&["container", "retries"]),
                },
                TaskChange {
                    task: "transform".into(),
                    fields: strings(&["command"]),
                },
            ],
            schedule: Some(FieldChange {
                from: Some("@daily".into()),
                to: Some("@hourly".into())
            }),
            production: None,
            images_added: strings(&["registry.example.com/marketing/etl:1.5"]),
            images_removed: strings(&["registry.example.com/marketing/etl:1.4"]),
            resources_changed: strings(&["extract"]),
            secrets_added: strings(&["publish-key"]),
            secrets_removed: vec![],
            connections_added: vec![],
            connections_removed: strings(&["slack"]),
            other_fields: strings(&["description", "max_active_runs"]),
        }
    );
    assert_eq!(
        s.headline(),
        "1 task added, 1 removed, 2 changed; schedule @daily → @hourly; \
         new image registry.example.com/marketing/etl:1.5; \
         image registry.example.com/marketing/etl:1.4 dropped; new secret publish-key; \
         connection slack dropped; resources of extract changed; \
         description, max_active_runs changed"
    );
    // The summary is part of the API: it round-trips through JSON.
    let back: ChangeSummary = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back, s);
}

#[test]
fn schedules_production_and_kinds_read_as_written() {
    let daily = dag(
        "dag: d\nteam: t\nproduction: true\nschedule: \"@daily\"\nstart_date: 2026-01-01\ntasks:\n  a: {noop: {}}\n",
    );
    let on_data = dag(
        "dag: d\nteam: t\nschedule: {datasets: [\"s3://a\", \"s3://b\"]}\nstart_date: 2026-01-01\ntasks:\n  a: {shell: echo}\n",
    );
    let s = summarize(Some(&daily), &on_data);
    assert_eq!(
        s.schedule,
        Some(FieldChange {
            from: Some("@daily".into()),
            to: Some("datasets s3://a, s3://b".into())
        })
    );
    assert_eq!(
        s.production,
        Some(FieldChange {
            from: Some("true".into()),
            to: Some("false".into())
        })
    );
    // A task that changes kind lists both kinds.
    assert_eq!(s.tasks_changed[0].fields, ["noop", "shell"]);
    assert_eq!(
        s.headline(),
        "1 task changed; schedule @daily → datasets s3://a, s3://b; no longer production"
    );

    let manual = dag("dag: d\nteam: t\ntasks:\n  a: {noop: {}}\n");
    let s = summarize(Some(&daily), &manual);
    assert_eq!(s.schedule.as_ref().and_then(|c| c.to.clone()), None);
    assert!(
        s.headline().starts_with("schedule @daily removed"),
        "{}",
        s.headline()
    );
}

#[test]
fn the_headline_counts_what_it_does_not_list() {
    let tasks: String = (1..=5)
        .map(|i| format!("  t{i}:\n    container: {{image: reg/i{i}:1}}\n"))
        .collect();
    let s = summarize(None, &dag(&format!("dag: d\nteam: t\ntasks:\n{tasks}")));
    assert_eq!(
        s.headline(),
        "5 tasks added; new images reg/i1:1, reg/i2:1, reg/i3:1 and 2 more"
    );
    // A secret used by two tasks is one secret.
    let twice = dag(
        "dag: d\nteam: t\ntasks:\n  a: {shell: x, secrets: {A: s1}}\n  b: {container: {image: i, secrets: {B: s1}}, connections: [c, c]}\n",
    );
    let s = summarize(None, &twice);
    assert_eq!(
        (s.secrets_added, s.connections_added),
        (strings(&["s1"]), strings(&["c"]))
    );
}
