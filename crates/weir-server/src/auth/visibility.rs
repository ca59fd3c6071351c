//! What of a run a caller may see. Everyone signed in sees every team's runs and task
//! states, but a DAG run's `conf` and a task instance's `rendered_fields` (the rendered
//! command, which can hold pulled XComs and variable values) are a team's data: they
//! are shown to those who may read the DAG's task logs (the team's members and platform
//! admins, or everyone under `logs_readable_by = "everyone"`). Others get the shapes
//! Airflow's clients expect, empty: `"conf": {}` and `"rendered_fields": {}`.

use std::collections::HashMap;

use serde_json::{Map, Value};
use weir_core::access::{Permission, Principal, decide};

use super::Authorized;
use super::guard::{dag_team, read_logs};
use crate::AppState;
use crate::error::ApiError;
use crate::json::{DagRun, TaskInstance};

/// Decides, per DAG and once each, whether the caller sees conf and rendered fields.
pub struct Visibility<'a> {
    state: &'a AppState,
    principal: Principal,
    by_dag: HashMap<String, bool>,
}

impl<'a> Visibility<'a> {
    pub fn new(state: &'a AppState, auth: &Authorized) -> Self {
        Visibility {
            state,
            principal: Principal::Caller(auth.caller.clone()),
            by_dag: HashMap::new(),
        }
    }

    /// Whether the caller may read the task logs of DAG `dag_id`; a DAG that is gone
    /// counts as one of no team (platform admins only).
    pub async fn shows(&mut self, dag_id: &str) -> Result<bool, ApiError> {
        if let Some(shown) = self.by_dag.get(dag_id) {
            return Ok(*shown);
        }
        let team = dag_team(self.state, Some(dag_id)).await?.flatten();
        let permission: Permission = read_logs(self.state, team);
        let shown = decide(&self.principal, &permission).is_allowed();
        self.by_dag.insert(dag_id.to_string(), shown);
        Ok(shown)
    }

    /// The run, with `conf` emptied unless the caller may see it.
    pub async fn run(&mut self, mut run: DagRun) -> Result<DagRun, ApiError> {
        if !self.shows(&run.dag_id).await? {
            run.conf = Value::Object(Map::new());
        }
        Ok(run)
    }

    pub async fn runs(&mut self, runs: Vec<DagRun>) -> Result<Vec<DagRun>, ApiError> {
        let mut out = Vec::with_capacity(runs.len());
        for run in runs {
            out.push(self.run(run).await?);
        }
        Ok(out)
    }

    /// The task instance, with `rendered_fields` emptied unless the caller may see them.
    pub async fn task_instance(&mut self, mut ti: TaskInstance) -> Result<TaskInstance, ApiError> {
        if !self.shows(&ti.dag_id).await? {
            ti.rendered_fields = Map::new();
        }
        Ok(ti)
    }

    pub async fn task_instances(
        &mut self,
        tis: Vec<TaskInstance>,
    ) -> Result<Vec<TaskInstance>, ApiError> {
        let mut out = Vec::with_capacity(tis.len());
        for ti in tis {
            out.push(self.task_instance(ti).await?);
        }
        Ok(out)
    }
}
