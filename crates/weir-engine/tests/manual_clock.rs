//! The engine on a manual clock: schedules, retries with backoff, timeouts, catch-up and
//! sensors' checks are driven by moving time forward, never by sleeping. Tries run on a
//! scripted backend (registered through the backend registry in place of the process
//! backend) whose tasks exit at once with a given code, or run until the manual clock
//! passes their timeout; the engine is restarted in process and adopts what still runs.
//! Waiting is on the engine's pass counter: each step returns once the engine acted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use weir_compute::{
    Adopted, Backend, BoxFuture, CancelHandle, EndReason, LaunchSpec, RunningTry, TryOutcome,
};
use weir_core::ids::{DagId, TryKey};
use weir_core::platform::{Backend as BackendKind, PlatformConfig};
use weir_core::state::{DagRunState, TaskState};
use weir_engine::{Clock, Engine, EngineConfig, EngineHandle, EngineOptions, ManualClock};
use weir_store::{DagRunFilter, Store, TaskInstanceRecord};

/// How a scripted task behaves: the exit code of each try in turn (the last repeats),
/// or `None` for a task that runs until its timeout.
#[derive(Clone)]
struct Script(Vec<Option<i32>>);

/// A backend whose tries follow their task's [`Script`], on the manual clock.
struct ScriptedBackend {
    clock: ManualClock,
    scripts: HashMap<String, Script>,
    /// Tries submitted, in order, and the cancel handles of those still running.
    submitted: Mutex<Vec<TryKey>>,
    /// What a restarted engine finds when it adopts a try (by task id).
    running: Mutex<HashMap<TryKey, CancelHandle>>,
}

impl ScriptedBackend {
    fn new(clock: ManualClock, scripts: &[(&str, Script)]) -> Arc<Self> {
        Arc::new(ScriptedBackend {
            clock,
            scripts: scripts
                .iter()
                .map(|(task, s)| (task.to_string(), s.clone()))
                .collect(),
            submitted: Mutex::new(Vec::new()),
            running: Mutex::new(HashMap::new()),
        })
    }

    fn submitted(&self) -> Vec<TryKey> {
        self.submitted.lock().expect("lock").clone()
    }

    /// The try's outcome future: at once, or when the clock passes `timeout`.
    fn outcome(
        &self,
        key: &TryKey,
        started_at: DateTime<Utc>,
        timeout: Option<Duration>,
        cancel: CancelHandle,
    ) -> BoxFuture<'static, TryOutcome> {
        let script = self
            .scripts
            .get(key.task_id.as_str())
            .cloned()
            .unwrap_or(Script(vec![Some(0)]));
        let index = (key.try_number as usize).saturating_sub(1);
        let exit = script.0.get(index).or(script.0.last()).copied().flatten();
        let clock = self.clock.clone();
        Box::pin(async move {
            let ended = |reason, exit_code, clock: &ManualClock| {
                let mut o = TryOutcome::without_usage(reason, started_at, clock.now());
                o.exit_code = exit_code;
                o
            };
            match (exit, timeout) {
                (Some(code), _) => ended(EndReason::Exited, Some(code), &clock),
                (None, Some(timeout)) => {
                    let deadline = started_at + TimeDelta::from_std(timeout).expect("timeout");
                    tokio::select! {
                        _ = clock.sleep_until(deadline) => ended(EndReason::TimedOut, None, &clock),
                        _ = cancel.cancelled() => ended(EndReason::Cancelled, None, &clock),
                    }
                }
                (None, None) => {
                    cancel.cancelled().await;
                    ended(EndReason::Cancelled, None, &clock)
                }
            }
        })
    }
}

impl Backend for ScriptedBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn submit(&self, spec: LaunchSpec) -> BoxFuture<'_, weir_compute::Result<RunningTry>> {
        self.submitted.lock().expect("lock").push(spec.key.clone());
        let cancel = CancelHandle::new();
        self.running
            .lock()
            .expect("lock")
            .insert(spec.key.clone(), cancel.clone());
        let outcome = self.outcome(&spec.key, self.clock.now(), spec.timeout, cancel.clone());
        let running = RunningTry::new(spec.key, spec.try_dir, cancel, outcome);
        Box::pin(async move { Ok(running) })
    }

    fn adopt(&self, key: TryKey, try_dir: PathBuf) -> BoxFuture<'_, weir_compute::Result<Adopted>> {
        // The try kept running while the engine was down: it is found, not started again.
        let cancel = CancelHandle::new();
        let outcome = self.outcome(&key, self.clock.now(), None, cancel.clone());
        let adopted = Adopted::Running(RunningTry::new(key, try_dir, cancel, outcome));
        Box::pin(async move { Ok(adopted) })
    }
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("date")
}

struct World {
    clock: ManualClock,
    backend: Arc<ScriptedBackend>,
    store: Store,
    home: tempfile::TempDir,
}

impl World {
    async fn new(start: DateTime<Utc>, scripts: &[(&str, Script)]) -> World {
        let home = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&home.path().join("weir.db").display().to_string())
            .await
            .expect("store");
        let clock = ManualClock::new(start);
        let backend = ScriptedBackend::new(clock.clone(), scripts);
        World {
            clock,
            backend,
            store,
            home,
        }
    }

    async fn start(&self) -> Engine {
        let platform = Arc::new(PlatformConfig::standalone_default(2.0, 4 << 30, false));
        let config = EngineConfig::new(self.home.path().join("home"), Vec::new(), platform);
        let backend: Arc<dyn Backend> = self.backend.clone();
        Engine::start_with(
            config,
            self.store.clone(),
            EngineOptions {
                clock: Arc::new(self.clock.clone()),
                backends: vec![(BackendKind::Process, backend)],
                ..EngineOptions::default()
            },
        )
        .await
        .expect("engine starts")
    }
}

/// Registers and unpauses the DAG in `yaml`.
async fn add_dag(engine: &EngineHandle, yaml: &str) -> DagId {
    let spec = weir_core::spec::load_file(yaml)
        .dags
        .into_iter()
        .next()
        .expect("a valid DAG");
    engine
        .register_dag(&spec, "test.yaml", yaml)
        .await
        .expect("registered");
    let dag_id = DagId::new(spec.dag.clone()).expect("id");
    engine.set_paused(&dag_id, false).await.expect("unpaused");
    dag_id
}

/// Waits, pass by pass, until `done` holds of the store (at most 200 passes).
async fn until<F, Fut>(engine: &EngineHandle, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut passes = engine.passes();
    for _ in 0..200 {
        passes.borrow_and_update();
        if done().await {
            return;
        }
        // A guard against a test that waits for what never comes, not a sleep.
        match tokio::time::timeout(Duration::from_secs(20), passes.changed()).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    panic!("the engine never got to: {what}");
}

async fn instance(store: &Store, dag: &DagId, task: &str) -> Option<TaskInstanceRecord> {
    let runs = store
        .list_dag_runs(&DagRunFilter {
            dag_id: Some(dag.clone()),
            limit: 100,
            ..DagRunFilter::default()
        })
        .await
        .expect("runs");
    let run = runs.items.first()?;
    store
        .list_task_instances(dag, &run.run_id)
        .await
        .expect("task instances")
        .into_iter()
        .find(|ti| ti.key.task_id.as_str() == task)
}

async fn run_states(store: &Store, dag: &DagId) -> Vec<(DateTime<Utc>, DagRunState)> {
    let mut runs: Vec<_> = store
        .list_dag_runs(&DagRunFilter {
            dag_id: Some(dag.clone()),
            limit: 100,
            ..DagRunFilter::default()
        })
        .await
        .expect("runs")
        .items
        .into_iter()
        .map(|r| (r.logical_date, r.state))
        .collect();
    runs.sort_by_key(|(date, _)| *date);
    runs
}

#[tokio::test]
async fn a_schedule_creates_each_run_when_the_clock_reaches_it() {
    let world = World::new(at(2026, 3, 1, 10) + TimeDelta::minutes(30), &[]).await;
    let engine = world.start().await;
    let handle = engine.handle();
    let dag = add_dag(
        &handle,
        "dag: hourly\nteam: t\nschedule: '@hourly'\nstart_date: 2026-03-01T10:00:00Z\ntasks:\n  work:\n    shell: 'true'\n",
    )
    .await;
    // No catch-up: only the latest interval (10:00–11:00) is due at 11:00, not yet.
    until(&handle, "nothing due at 10:30", || async {
        run_states(&world.store, &dag).await.is_empty()
    })
    .await;
    world.clock.set(at(2026, 3, 1, 11));
    until(&handle, "the 10:00 run succeeds at 11:00", || async {
        run_states(&world.store, &dag).await == vec![(at(2026, 3, 1, 10), DagRunState::Success)]
    })
    .await;
    world.clock.set(at(2026, 3, 1, 12));
    until(&handle, "the 11:00 run succeeds at 12:00", || async {
        run_states(&world.store, &dag).await
            == vec![
                (at(2026, 3, 1, 10), DagRunState::Success),
                (at(2026, 3, 1, 11), DagRunState::Success),
            ]
    })
    .await;
    assert_eq!(world.backend.submitted().len(), 2);
    engine.shutdown().await;
}

#[tokio::test]
async fn catch_up_creates_every_missed_interval_in_order() {
    let world = World::new(at(2026, 3, 5, 0) + TimeDelta::hours(1), &[]).await;
    let engine = world.start().await;
    let handle = engine.handle();
    let dag = add_dag(
        &handle,
        "dag: daily\nteam: t\nschedule: '@daily'\ncatchup: true\nstart_date: 2026-03-01\ntasks:\n  work:\n    shell: 'true'\n",
    )
    .await;
    until(&handle, "four missed days run", || async {
        let runs = run_states(&world.store, &dag).await;
        runs.len() == 4 && runs.iter().all(|(_, s)| *s == DagRunState::Success)
    })
    .await;
    let dates: Vec<DateTime<Utc>> = run_states(&world.store, &dag)
        .await
        .into_iter()
        .map(|(d, _)| d)
        .collect();
    assert_eq!(
        dates,
        vec![
            at(2026, 3, 1, 0),
            at(2026, 3, 2, 0),
            at(2026, 3, 3, 0),
            at(2026, 3, 4, 0)
        ]
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn retries_wait_their_backoff_on_the_clock() {
    let start = at(2026, 3, 1, 9);
    let world = World::new(start, &[("flaky", Script(vec![Some(1), Some(1), Some(0)]))]).await;
    let engine = world.start().await;
    let handle = engine.handle();
    let dag = add_dag(
        &handle,
        "dag: flaky\nteam: t\ntasks:\n  flaky:\n    shell: 'exit 1'\n    retries: 3\n    retry_delay: 60s\n    retry_backoff: exponential\n",
    )
    .await;
    handle
        .trigger_dag(&dag, weir_engine::TriggerRequest::default())
        .await
        .expect("triggered");
    until(&handle, "try 1 fails and waits 60 s", || async {
        instance(&world.store, &dag, "flaky")
            .await
            .is_some_and(|ti| {
                ti.state == TaskState::UpForRetry
                    && ti.next_retry_at == Some(start + TimeDelta::seconds(60))
            })
    })
    .await;
    world.clock.advance(TimeDelta::seconds(59));
    until(&handle, "still waiting at 59 s", || async {
        instance(&world.store, &dag, "flaky")
            .await
            .is_some_and(|ti| ti.state == TaskState::UpForRetry && ti.try_number == 1)
    })
    .await;
    world.clock.advance(TimeDelta::seconds(1));
    until(&handle, "try 2 fails and waits twice as long", || async {
        instance(&world.store, &dag, "flaky")
            .await
            .is_some_and(|ti| {
                ti.state == TaskState::UpForRetry
                    && ti.try_number == 2
                    && ti.next_retry_at == Some(start + TimeDelta::seconds(60 + 120))
            })
    })
    .await;
    world.clock.advance(TimeDelta::seconds(120));
    until(&handle, "try 3 succeeds", || async {
        instance(&world.store, &dag, "flaky")
            .await
            .is_some_and(|ti| ti.state == TaskState::Success && ti.try_number == 3)
    })
    .await;
    assert_eq!(world.backend.submitted().len(), 3);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_try_past_its_timeout_fails_when_the_clock_gets_there() {
    let start = at(2026, 3, 1, 9);
    let world = World::new(start, &[("slow", Script(vec![None]))]).await;
    let engine = world.start().await;
    let handle = engine.handle();
    let dag = add_dag(
        &handle,
        "dag: slow\nteam: t\ntasks:\n  slow:\n    shell: 'sleep 3600'\n    timeout: 30m\n",
    )
    .await;
    handle
        .trigger_dag(&dag, weir_engine::TriggerRequest::default())
        .await
        .expect("triggered");
    until(&handle, "the try runs", || async {
        instance(&world.store, &dag, "slow")
            .await
            .is_some_and(|ti| ti.state == TaskState::Running)
    })
    .await;
    world.clock.advance(TimeDelta::minutes(29));
    until(&handle, "still running at 29 min", || async {
        instance(&world.store, &dag, "slow")
            .await
            .is_some_and(|ti| ti.state == TaskState::Running)
    })
    .await;
    world.clock.advance(TimeDelta::minutes(1));
    until(&handle, "failed at 30 min, timed out", || async {
        instance(&world.store, &dag, "slow")
            .await
            .is_some_and(|ti| ti.state == TaskState::Failed)
    })
    .await;
    let ti = instance(&world.store, &dag, "slow").await.expect("ti");
    assert_eq!(ti.end_date, Some(start + TimeDelta::minutes(30)));
    let recorded = world
        .store
        .get_try(&ti.key.try_key(1))
        .await
        .expect("try")
        .expect("recorded");
    assert_eq!(recorded.reason.as_deref(), Some("timed out"));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_restarted_engine_adopts_the_running_try_and_finishes_it() {
    let start = at(2026, 3, 1, 9);
    let world = World::new(start, &[("long", Script(vec![None]))]).await;
    let engine = world.start().await;
    let handle = engine.handle();
    let dag = add_dag(
        &handle,
        "dag: long\nteam: t\ntasks:\n  long:\n    shell: 'sleep 3600'\n",
    )
    .await;
    handle
        .trigger_dag(&dag, weir_engine::TriggerRequest::default())
        .await
        .expect("triggered");
    until(&handle, "the try runs", || async {
        instance(&world.store, &dag, "long")
            .await
            .is_some_and(|ti| ti.state == TaskState::Running)
    })
    .await;
    engine.shutdown().await;

    let engine = world.start().await;
    let handle = engine.handle();
    let ti = instance(&world.store, &dag, "long").await.expect("ti");
    assert_eq!(ti.state, TaskState::Running, "adopted, not restarted");
    assert_eq!(world.backend.submitted().len(), 1, "never submitted twice");
    // Cancel it through the engine, as a user marking it would.
    handle
        .set_task_instance_state(&ti.key, TaskState::Failed)
        .await
        .expect("marked");
    until(&handle, "the run ends failed", || async {
        run_states(&world.store, &dag)
            .await
            .first()
            .is_some_and(|(_, s)| *s == DagRunState::Failed)
    })
    .await;
    assert_eq!(world.backend.submitted().len(), 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_sensor_waits_on_the_clock_with_backoff_until_its_default_timeout() {
    let t0 = at(2026, 3, 2, 0) + TimeDelta::minutes(30);
    let world = World::new(t0, &[]).await;
    let engine = world.start().await;
    let handle = engine.handle();
    add_dag(
        &handle,
        "dag: other\nteam: u\ntasks:\n  work:\n    shell: 'true'\n",
    )
    .await;
    handle
        .set_paused(&DagId::new("other").expect("id"), true)
        .await
        .expect("paused");
    let dag = add_dag(
        &handle,
        "dag: waits\nteam: t\nschedule: '@once'\nstart_date: 2026-03-01\ntasks:\n  wait:\n    sensor: {dag: other, exponential_backoff: true}\n",
    )
    .await;
    let secs = |s: i64| t0 + TimeDelta::seconds(s);
    let next_check = |want: DateTime<Utc>| {
        let (store, dag) = (world.store.clone(), dag.clone());
        async move {
            instance(&store, &dag, "wait").await.is_some_and(|ti| {
                ti.state == TaskState::UpForReschedule
                    && ti.start_date == Some(t0)
                    && ti.next_retry_at == Some(want)
            })
        }
    };
    // Checked at once, then after poke_interval (60 s), then as long as it waited.
    until(&handle, "first check, next in 60 s", || {
        next_check(secs(60))
    })
    .await;
    world.clock.set(secs(60));
    until(&handle, "second check, next in 60 s", || {
        next_check(secs(120))
    })
    .await;
    world.clock.set(secs(1000));
    until(&handle, "a wait as long as the time waited", || {
        next_check(secs(2000))
    })
    .await;
    // Never past the timeout (7 days from the first check, Airflow's default).
    let deadline = t0 + TimeDelta::days(7);
    world.clock.set(deadline - TimeDelta::seconds(10));
    until(&handle, "the last check at the deadline", || {
        next_check(deadline)
    })
    .await;
    world.clock.set(deadline);
    until(&handle, "timed out", || async {
        instance(&world.store, &dag, "wait")
            .await
            .is_some_and(|ti| {
                ti.state == TaskState::Failed
                    && ti.end_date == Some(deadline)
                    && ti
                        .note
                        .as_deref()
                        .is_some_and(|n| n.starts_with("timed out after 7d"))
            })
    })
    .await;
    engine.shutdown().await;
}
