//! Recovery of tries that never started: the real `weir standalone` is killed with -9
//! at the moment a try is recorded as running but before anything of it ran (simulated
//! by removing what its supervisor recorded), and restarted.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::server::{Server, find_files};
use weir_core::state::TaskState;

/// The try folder of `task`'s first try under the server's home.
fn first_try_dir(home: &Path, task: &str) -> PathBuf {
    find_files(home, "supervisor.pid")
        .into_iter()
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .find(|d| d.ends_with(format!("{task}/-1/1")))
        .unwrap_or_else(|| panic!("no try folder of {task} under {}", home.display()))
}

/// SIGKILLs the supervisor of the try in `dir` and its task's process group, as if the
/// machine had stopped them before they ever ran.
fn kill_try(dir: &Path) {
    for (file, target) in [("supervisor.pid", ""), ("task.pgid", "-")] {
        let id = std::fs::read_to_string(dir.join(file)).unwrap();
        let status = Command::new("kill")
            .args(["-KILL", "--", &format!("{target}{}", id.trim())])
            .status()
            .unwrap();
        assert!(status.success(), "kill {file}");
        // Dead (or a zombie nobody reaps) before the server comes back.
        let stat = format!("/proc/{}/stat", id.trim());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(Instant::now() < deadline, "{file} {id} survived SIGKILL");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn ti_state(body: &Value, task: &str) -> String {
    body["task_instances"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["task_id"] == task)
        .and_then(|t| t["state"].as_str())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_try_that_never_started_is_queued_again_without_using_a_retry() {
    let marks = tempfile::tempdir().unwrap();
    let m = marks.path().display();
    // No retries: a try counted as lost would fail the run. Try 1 waits until the test
    // has "crashed" everything; any later try succeeds at once.
    let task = |name: &str| {
        format!(
            "  {name}:\n    retries: 0\n    shell: 'echo try $WEIR_TRY_NUMBER >> {m}/{name}; [ $WEIR_TRY_NUMBER != 1 ] || sleep 300; echo {name}-done'\n"
        )
    };
    let yaml = format!(
        "dag: never_started\nteam: t\npaused: false\ntasks:\n{}{}",
        task("no_folder"),
        task("no_start")
    );
    let mut server = Server::start(&[("never_started.yaml", &yaml)]);
    let run_id = server.trigger("never_started").await;
    let tis = format!("/dags/never_started/dagRuns/{run_id}/taskInstances");
    server
        .wait_for(&tis, "both tries started", |_| {
            ["no_folder", "no_start"]
                .iter()
                .all(|t| std::fs::read_to_string(marks.path().join(t)).is_ok())
        })
        .await;
    server.kill();

    // Make both tries look as if the crash came between recording them and their
    // supervisor's start: one lost its folder, the other has nothing recording a start.
    let no_folder = first_try_dir(&server.home(), "no_folder");
    let no_start = first_try_dir(&server.home(), "no_start");
    for dir in [&no_folder, &no_start] {
        kill_try(dir);
    }
    std::fs::remove_dir_all(&no_folder).unwrap();
    for file in ["supervisor.pid", "task.pgid", "log"] {
        std::fs::remove_file(no_start.join(file)).unwrap();
    }

    server.restart();
    let run = server.wait_run_finished("never_started", &run_id).await;
    let (_, body) = server.get(&tis).await;
    assert_eq!(run["state"], "success", "{run}\n{body}");
    for task in ["no_folder", "no_start"] {
        assert_eq!(ti_state(&body, task), "success", "{task}: {body}");
        let starts = std::fs::read_to_string(marks.path().join(task)).unwrap();
        assert_eq!(starts, "try 1\ntry 2\n", "{task}");
    }

    // History is honest: try 1 is closed as never started, try 2 succeeded.
    let store = weir_store::Store::open(&server.home().join("weir.db").display().to_string())
        .await
        .unwrap();
    for task in ["no_folder", "no_start"] {
        let key = weir_store::TaskInstanceKey {
            dag_id: "never_started".parse().unwrap(),
            run_id: run_id.parse().unwrap(),
            task_id: task.parse().unwrap(),
            map_index: -1,
        };
        let tries = store.list_tries(&key).await.unwrap();
        assert_eq!(tries.len(), 2, "{task}: {tries:#?}");
        assert_eq!(tries[0].state, TaskState::Scheduled, "{task}");
        let reason = tries[0].reason.as_deref().unwrap_or("");
        assert!(reason.starts_with("never started"), "{task}: {reason}");
        assert_eq!(tries[1].state, TaskState::Success, "{task}");
    }
    let log = std::fs::read_to_string(no_start.join("log")).unwrap();
    assert!(
        log.contains("never started") && log.contains("no retry used"),
        "{log}"
    );
}
