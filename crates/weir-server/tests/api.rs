//! API tests: requests through `Router::oneshot` against a real engine on a temporary
//! SQLite store and DAG folder. DAGs here use `noop` tasks (finished in process) and
//! `container` tasks (which this engine refuses at once, failing the try with a log), so
//! no test starts a process.

mod api {
    pub mod support;

    mod access;
    mod audit;
    mod bad_input;
    mod batch;
    mod config_jobs;
    mod connections;
    mod costs;
    mod credentials;
    mod dag_delete;
    mod dag_runs;
    mod dags;
    mod logs_xcom;
    mod misc;
    mod openapi;
    mod pools;
    mod queues;
    mod run_data;
    mod serve;
    mod task_instances;
    mod ti_lists;
    mod ui;
}
