//! `GET /api/v1/openapi.json` against what the server really returns: real responses of
//! many routes (successes and problem bodies) are validated with `jsonschema` against the
//! schema the document gives their route and status, with `$ref`s resolved inside the
//! document, date-time formats checked, and no field the schema does not declare.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use super::support::TestApp;

/// The document, and how to find and apply the schema of a response in it.
struct Doc(Value);

impl Doc {
    async fn fetch(t: &TestApp) -> Doc {
        let req = Request::get("/api/v1/openapi.json")
            .body(Body::empty())
            .expect("request");
        let (status, headers, bytes) = t.send_raw(req).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        Doc(serde_json::from_slice(&bytes).expect("the document is JSON"))
    }

    /// Follows a local `$ref` (`#/components/...`), if `v` is one.
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("remote $ref {r}"));
                let target = self
                    .0
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {r}"));
                self.resolve(target)
            }
            None => v,
        }
    }

    /// The schema of the `status` response of `method template` with a JSON body.
    fn response_schema(&self, method: &str, template: &str, status: StatusCode) -> &Value {
        let op = &self.0["paths"][template][method];
        assert!(
            op.is_object(),
            "no operation {method} {template} in the document"
        );
        let response = self.resolve(&op["responses"][status.as_str()]);
        assert!(
            response.is_object(),
            "{method} {template} does not document status {status}"
        );
        let content = &response["content"];
        let media = ["application/json", "application/problem+json"]
            .into_iter()
            .find(|m| content.get(m).is_some())
            .unwrap_or_else(|| panic!("{method} {template} {status}: no JSON content"));
        &content[media]["schema"]
    }

    /// Asserts that `body`, answered with `status` by `method template`, is what the
    /// document says.
    fn check(&self, method: &str, template: &str, status: StatusCode, body: &Value) {
        let problems = self.problems(method, template, status, body);
        assert!(
            problems.is_empty(),
            "{method} {template} {status}: the body does not match the document:\n{}\n{body:#}",
            problems.join("\n")
        );
    }

    /// How `body` departs from the document: schema violations, and fields the schema
    /// does not declare.
    fn problems(
        &self,
        method: &str,
        template: &str,
        status: StatusCode,
        body: &Value,
    ) -> Vec<String> {
        let schema = self.response_schema(method, template, status);
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.0["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("{method} {template} {status}: bad schema: {e}"));
        let mut problems: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        let mut undeclared = Vec::new();
        self.undeclared(schema, body, "", &mut undeclared);
        problems.extend(
            undeclared
                .into_iter()
                .map(|f| format!("undeclared field {f}")),
        );
        problems
    }

    /// The object properties `schema` declares (through `$ref` and `allOf`), or `None` if
    /// it is not an object schema with fixed properties (a map, or any value).
    fn properties(&self, schema: &Value) -> Option<serde_json::Map<String, Value>> {
        let schema = self.resolve(schema);
        let mut props = serde_json::Map::new();
        let mut any = false;
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            props.extend(p.clone());
            any = true;
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            if let Some(p) = self.properties(part) {
                props.extend(p);
                any = true;
            }
        }
        any.then_some(props)
    }

    /// Collects the paths of fields in `value` that `schema` does not declare.
    fn undeclared(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if value.is_null() {
            return;
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = schema[key].as_array() {
                // Nullable references have one branch that is not `null`; of several
                // (`DAGRun` or `TaskInstanceCollection`), the value follows the branch
                // that declares the most of it.
                let best = branches
                    .iter()
                    .filter(|b| b["type"] != "null")
                    .map(|b| {
                        let mut found = Vec::new();
                        self.undeclared(b, value, at, &mut found);
                        found
                    })
                    .min_by_key(Vec::len);
                out.extend(best.into_iter().flatten());
                return;
            }
        }
        match value {
            Value::Object(fields) => {
                let Some(props) = self.properties(schema) else {
                    return;
                };
                for (name, v) in fields {
                    match props.get(name) {
                        Some(s) => self.undeclared(s, v, &format!("{at}/{name}"), out),
                        None => out.push(format!("{at}/{name}")),
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.undeclared(item, v, &format!("{at}/{i}"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn the_document_follows_airflow() {
    let t = TestApp::start().await;
    let doc = Doc::fetch(&t).await;
    assert!(
        doc.0["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc.0["openapi"]
    );
    assert_eq!(doc.0["servers"][0]["url"], "/api/v1");
    let built = serde_json::to_value(weir_server::openapi_document()).expect("serializes");
    assert_eq!(doc.0, built, "the served document is `openapi_document()`");
    // Airflow's paths and operation ids (its API clients call methods named after them).
    let airflow = [
        ("get", "/dags", "get_dags"),
        ("get", "/dags/{dag_id}", "get_dag"),
        ("patch", "/dags/{dag_id}", "patch_dag"),
        ("get", "/dags/{dag_id}/details", "get_dag_details"),
        ("get", "/dags/{dag_id}/tasks", "get_tasks"),
        ("get", "/dags/{dag_id}/tasks/{task_id}", "get_task"),
        ("get", "/dags/{dag_id}/dagRuns", "get_dag_runs"),
        ("post", "/dags/{dag_id}/dagRuns", "post_dag_run"),
        ("get", "/dags/{dag_id}/dagRuns/{dag_run_id}", "get_dag_run"),
        (
            "patch",
            "/dags/{dag_id}/dagRuns/{dag_run_id}",
            "update_dag_run_state",
        ),
        (
            "delete",
            "/dags/{dag_id}/dagRuns/{dag_run_id}",
            "delete_dag_run",
        ),
        (
            "get",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances",
            "get_task_instances",
        ),
        (
            "get",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
            "get_task_instance",
        ),
        (
            "get",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}",
            "get_log",
        ),
        (
            "post",
            "/dags/{dag_id}/clearTaskInstances",
            "post_clear_task_instances",
        ),
        ("get", "/variables", "get_variables"),
        ("post", "/variables", "post_variables"),
        ("get", "/variables/{variable_key}", "get_variable"),
        ("patch", "/variables/{variable_key}", "patch_variable"),
        ("delete", "/variables/{variable_key}", "delete_variable"),
        ("get", "/importErrors", "get_import_errors"),
        ("get", "/importErrors/{import_error_id}", "get_import_error"),
        ("get", "/pools", "get_pools"),
        ("get", "/pools/{pool_name}", "get_pool"),
        ("get", "/health", "get_health"),
        ("get", "/version", "get_version"),
    ];
    for (method, path, id) in airflow {
        assert_eq!(
            doc.0["paths"][path][method]["operationId"], id,
            "{method} {path}"
        );
    }
    for name in [
        "DAG",
        "DAGCollection",
        "DAGDetail",
        "DAGRun",
        "DAGRunCollection",
        "TaskInstance",
        "TaskInstanceCollection",
        "Variable",
        "VariableCollection",
        "ImportError",
        "ImportErrorCollection",
        "Pool",
        "PoolCollection",
        "Error",
        "DagState",
        "TaskState",
    ] {
        assert!(
            doc.0["components"]["schemas"][name].is_object(),
            "no schema {name}"
        );
    }
    // Every path parameter of a template is declared.
    for (path, item) in doc.0["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for segment in path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(
                        declared.contains(&name),
                        "{method} {path}: `{name}` undeclared"
                    );
                }
            }
            assert!(op["operationId"].is_string(), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn the_check_catches_departures() {
    let t = TestApp::start().await;
    let doc = Doc::fetch(&t).await;
    let (status, dag) = t.get("/api/v1/dags/hello").await;
    doc.check("get", "/dags/{dag_id}", status, &dag);
    let departures = [
        ("dag_id", Value::Null),
        ("is_paused", json!("no")),
        ("last_parsed_time", json!("yesterday")),
        ("tags", json!(["demo"])),
        ("surprise", json!(1)),
    ];
    for (field, value) in departures {
        let mut bad = dag.clone();
        bad[field] = value;
        let problems = doc.problems("get", "/dags/{dag_id}", status, &bad);
        assert!(
            !problems.is_empty(),
            "`{field}` changed and nothing noticed"
        );
    }
    let mut bad = dag.clone();
    bad["tags"][0]["colour"] = json!("red");
    assert!(
        !doc.problems("get", "/dags/{dag_id}", status, &bad)
            .is_empty()
    );
    let mut bad = dag;
    if let Some(fields) = bad.as_object_mut() {
        fields.remove("dag_id");
    }
    assert!(
        !doc.problems("get", "/dags/{dag_id}", status, &bad)
            .is_empty()
    );
}

#[tokio::test]
async fn responses_match_the_document() {
    let t = TestApp::start().await;
    let doc = Doc::fetch(&t).await;
    let ok = StatusCode::OK;

    let (status, body) = t.get("/api/v1/dags").await;
    doc.check("get", "/dags", status, &body);
    assert_eq!(status, ok);
    let (status, body) = t.get("/api/v1/dags/nightly").await;
    assert_eq!(status, ok);
    doc.check("get", "/dags/{dag_id}", status, &body);
    let (status, body) = t.get("/api/v1/dags/hello/details").await;
    assert_eq!(status, ok);
    doc.check("get", "/dags/{dag_id}/details", status, &body);
    let (status, body) = t.get("/api/v1/dags/hello/tasks").await;
    assert_eq!(status, ok);
    doc.check("get", "/dags/{dag_id}/tasks", status, &body);
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/nightly?update_mask=is_paused",
            Some(json!({"is_paused": true})),
        )
        .await;
    assert_eq!(status, ok, "{body}");
    doc.check("patch", "/dags/{dag_id}", status, &body);

    // Runs: one that succeeds, one that fails with a log, one that stays queued.
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(json!({"dag_run_id": "r1", "conf": {"who": "schema"}})),
        )
        .await;
    assert_eq!(status, ok, "{body}");
    doc.check("post", "/dags/{dag_id}/dagRuns", status, &body);
    t.wait_finished("hello", "r1").await;
    let (status, body) = t.get("/api/v1/dags/hello/dagRuns/r1").await;
    doc.check("get", "/dags/{dag_id}/dagRuns/{dag_run_id}", status, &body);
    assert_eq!(body["state"], "success");
    t.run_to_end("failing", "f1").await;
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/nightly/dagRuns",
            Some(json!({})),
        )
        .await;
    doc.check("post", "/dags/{dag_id}/dagRuns", status, &body);
    let (status, body) = t.get("/api/v1/dags/~/dagRuns?order_by=-start_date").await;
    assert_eq!(body["total_entries"], 3, "{body}");
    doc.check("get", "/dags/{dag_id}/dagRuns", status, &body);

    let tis = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances";
    for uri in [
        "/api/v1/dags/hello/dagRuns/r1/taskInstances",
        "/api/v1/dags/failing/dagRuns/f1/taskInstances",
    ] {
        let (status, body) = t.get(uri).await;
        assert_eq!(status, ok, "{body}");
        doc.check("get", tis, status, &body);
    }
    let (status, body) = t
        .get("/api/v1/dags/failing/dagRuns/f1/taskInstances/after")
        .await;
    assert_eq!(status, ok, "{body}");
    doc.check("get", &format!("{tis}/{{task_id}}"), status, &body);
    let (status, body) = t
        .get("/api/v1/dags/failing/dagRuns/f1/taskInstances/boom/logs/1?full_content=true")
        .await;
    assert_eq!(status, ok, "{body}");
    assert!(!body["content"].as_str().unwrap_or_default().is_empty());
    doc.check(
        "get",
        &format!("{tis}/{{task_id}}/logs/{{task_try_number}}"),
        status,
        &body,
    );
    let (status, body) = t
        .get("/api/v1/dags/hello/dagRuns/r1/taskInstances/start/xcomEntries")
        .await;
    doc.check(
        "get",
        &format!("{tis}/{{task_id}}/xcomEntries"),
        status,
        &body,
    );
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/failing/clearTaskInstances",
            Some(json!({"dag_run_id": "f1"})),
        )
        .await;
    assert_eq!(status, ok, "{body}");
    doc.check("post", "/dags/{dag_id}/clearTaskInstances", status, &body);

    // Variables.
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/variables",
            Some(json!({"key": "a/b", "value": "1", "description": "d"})),
        )
        .await;
    assert_eq!(status, ok, "{body}");
    doc.check("post", "/variables", status, &body);
    let (status, body) = t.get("/api/v1/variables/a/b").await;
    assert_eq!(status, ok, "{body}");
    doc.check("get", "/variables/{variable_key}", status, &body);
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/variables/a/b",
            Some(json!({"key": "a/b", "value": "2"})),
        )
        .await;
    assert_eq!((status, &body["description"]), (ok, &json!("d")), "{body}");
    doc.check("patch", "/variables/{variable_key}", status, &body);
    let (status, body) = t.get("/api/v1/variables").await;
    doc.check("get", "/variables", status, &body);

    // Import errors, pools, monitoring.
    let (status, body) = t.get("/api/v1/importErrors").await;
    assert_eq!(body["total_entries"], 1, "{body}");
    doc.check("get", "/importErrors", status, &body);
    let id = body["import_errors"][0]["import_error_id"].clone();
    let (status, body) = t.get(&format!("/api/v1/importErrors/{id}")).await;
    doc.check("get", "/importErrors/{import_error_id}", status, &body);
    let (status, body) = t.get("/api/v1/pools").await;
    doc.check("get", "/pools", status, &body);
    let (status, body) = t.get("/api/v1/pools/default_pool").await;
    doc.check("get", "/pools/{pool_name}", status, &body);
    let (status, body) = t.get("/api/v1/health").await;
    doc.check("get", "/health", status, &body);
    let (status, body) = t.get("/api/v1/version").await;
    doc.check("get", "/version", status, &body);

    // Problem bodies.
    let (status, body) = t.get("/api/v1/dags/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    doc.check("get", "/dags/{dag_id}", status, &body);
    let (status, body) = t.get("/api/v1/dags?limit=-1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    doc.check("get", "/dags", status, &body);
    let (status, body) = t
        .call(
            Method::POST,
            "/api/v1/dags/hello/dagRuns",
            Some(json!({"dag_run_id": "r1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    doc.check("post", "/dags/{dag_id}/dagRuns", status, &body);
    let (status, body) = t.call(Method::DELETE, "/api/v1/variables/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    doc.check("delete", "/variables/{variable_key}", status, &body);
}

#[tokio::test]
async fn batch_connection_config_and_job_routes_match_the_document() {
    let t = TestApp::start().await;
    let doc = Doc::fetch(&t).await;
    let ok = StatusCode::OK;
    let airflow = [
        ("post", "/dags/~/dagRuns/list", "get_dag_runs_batch"),
        (
            "post",
            "/dags/~/dagRuns/~/taskInstances/list",
            "get_task_instances_batch",
        ),
        (
            "patch",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
            "patch_task_instance",
        ),
        (
            "post",
            "/dags/{dag_id}/dagRuns/{dag_run_id}/clear",
            "clear_dag_run",
        ),
        ("get", "/connections", "get_connections"),
        ("post", "/connections", "post_connection"),
        ("get", "/connections/{connection_id}", "get_connection"),
        ("patch", "/connections/{connection_id}", "patch_connection"),
        (
            "delete",
            "/connections/{connection_id}",
            "delete_connection",
        ),
        ("get", "/config", "get_config"),
    ];
    for (method, path, id) in airflow {
        assert_eq!(
            doc.0["paths"][path][method]["operationId"], id,
            "{method} {path}"
        );
    }
    for name in [
        "Connection",
        "ConnectionCollection",
        "ConnectionCollectionItem",
        "Config",
        "ConfigSection",
        "ConfigOption",
        "ListDagRunsForm",
        "ListTaskInstanceForm",
        "UpdateTaskInstance",
        "ClearDagRun",
        "JobDefinition",
        "JobDefinitionCollection",
    ] {
        assert!(
            doc.0["components"]["schemas"][name].is_object(),
            "no schema {name}"
        );
    }
    // The password is write-only: no response schema may declare it.
    for name in ["Connection", "ConnectionCollectionItem"] {
        let props = doc
            .properties(&doc.0["components"]["schemas"][name])
            .expect("an object schema");
        assert!(
            !props.contains_key("password"),
            "{name} declares a password"
        );
    }

    t.run_to_end("hello", "r1").await;
    t.run_to_end("failing", "f1").await;
    let post = |uri: &'static str, body: Value| t.call(Method::POST, uri, Some(body));

    let (status, body) = post(
        "/api/v1/dags/~/dagRuns/list",
        json!({"order_by": "-start_date"}),
    )
    .await;
    assert_eq!((status, &body["total_entries"]), (ok, &json!(2)), "{body}");
    doc.check("post", "/dags/~/dagRuns/list", status, &body);
    let (status, body) = post("/api/v1/dags/~/dagRuns/list", json!({"page_limit": 0})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    doc.check("post", "/dags/~/dagRuns/list", status, &body);
    let tis = "/dags/~/dagRuns/~/taskInstances/list";
    let (status, body) = post("/api/v1/dags/~/dagRuns/~/taskInstances/list", json!({})).await;
    assert_eq!((status, &body["total_entries"]), (ok, &json!(4)), "{body}");
    doc.check("post", tis, status, &body);
    let (status, body) = post(
        "/api/v1/dags/~/dagRuns/~/taskInstances/list",
        json!({"executor": ["x"]}),
    )
    .await;
    doc.check("post", tis, status, &body);

    let ti = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}";
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/failing/dagRuns/f1/taskInstances/boom",
            Some(json!({"new_state": "success"})),
        )
        .await;
    assert_eq!(status, ok, "{body}");
    doc.check("patch", ti, status, &body);
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/dags/failing/dagRuns/f1/taskInstances/nope",
            Some(json!({"new_state": "success"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    doc.check("patch", ti, status, &body);

    let clear = "/dags/{dag_id}/dagRuns/{dag_run_id}/clear";
    let (status, body) = post("/api/v1/dags/failing/dagRuns/f1/clear", json!({})).await;
    assert_eq!(status, ok, "{body}");
    doc.check("post", clear, status, &body);
    let (status, body) = post(
        "/api/v1/dags/failing/dagRuns/f1/clear",
        json!({"dry_run": false}),
    )
    .await;
    assert_eq!(status, ok, "{body}");
    doc.check("post", clear, status, &body);
    t.wait_finished("failing", "f1").await;

    let (status, body) = post(
        "/api/v1/connections",
        json!({"connection_id": "db", "conn_type": "postgres", "password": "pw", "port": 5432, "team": "data"}),
    )
    .await;
    assert_eq!(status, ok, "{body}");
    doc.check("post", "/connections", status, &body);
    let (status, body) = post(
        "/api/v1/connections",
        json!({"connection_id": "db", "conn_type": "postgres"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    doc.check("post", "/connections", status, &body);
    let (status, body) = t.get("/api/v1/connections").await;
    doc.check("get", "/connections", status, &body);
    let one = "/connections/{connection_id}";
    let (status, body) = t.get("/api/v1/connections/db").await;
    doc.check("get", one, status, &body);
    let (status, body) = t
        .call(
            Method::PATCH,
            "/api/v1/connections/db?update_mask=host",
            Some(json!({"host": "h"})),
        )
        .await;
    assert_eq!(status, ok, "{body}");
    doc.check("patch", one, status, &body);
    let (status, body) = t
        .call(Method::DELETE, "/api/v1/connections/nope", None)
        .await;
    doc.check("delete", one, status, &body);

    let (status, body) = t.get("/api/v1/config").await;
    assert_eq!(status, ok, "{body}");
    doc.check("get", "/config", status, &body);
    let (status, body) = t.get("/api/v1/config?section=nope").await;
    doc.check("get", "/config", status, &body);

    let (status, body) = t.get("/api/v1/jobDefinitions").await;
    doc.check("get", "/jobDefinitions", status, &body);
    let (status, body) = t.get("/api/v1/jobDefinitions/nope").await;
    doc.check(
        "get",
        "/jobDefinitions/{job_definition_name}",
        status,
        &body,
    );
}
