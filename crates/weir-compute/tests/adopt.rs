//! Adoption after a server restart: supervisors started "by a previous server" (directly
//! from the test) are picked up by a fresh backend, never run twice, and a dead
//! supervisor's task is killed and reported lost.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;
use weir_compute::{Adopted, Backend, EndReason};

#[tokio::test]
async fn adopts_a_running_try_and_collects_its_exit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let mut previous = start_supervisor(&dir, "echo hi; sleep 1; echo bye; exit 7");
    assert!(poll_until(Duration::from_secs(5), || log_text(&dir).contains("hi")));

    let adopted = backend().adopt(key("t"), dir.clone()).await.expect("adopt");
    let Adopted::Running(running) = adopted else {
        panic!("expected a running try, got {adopted:?}");
    };
    assert_eq!(running.key(), &key("t"));
    let outcome = running.wait().await;
    assert_eq!(outcome.exit_code, Some(7));
    assert_eq!(outcome.reason, EndReason::Exited);
    let lines = log_lines(&dir);
    assert!(lines.contains(&"hi".to_owned()) && lines.contains(&"bye".to_owned()));
    assert_eq!(
        lines.iter().filter(|l| *l == "hi").count(),
        1,
        "ran twice: {lines:?}"
    );
    assert!(previous.wait().expect("reap").success());

    // Adopting again is idempotent.
    let again = backend().adopt(key("t"), dir.clone()).await.expect("adopt");
    assert!(
        matches!(again, Adopted::Finished(ref o) if *o == outcome),
        "{again:?}"
    );
}

#[tokio::test]
async fn adopts_a_try_that_finished_while_the_server_was_down() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let status = start_supervisor(&dir, "echo partial; exit 5")
        .wait()
        .expect("supervisor");
    assert!(status.success());

    let adopted = backend().adopt(key("t"), dir.clone()).await.expect("adopt");
    let Adopted::Finished(outcome) = adopted else {
        panic!("expected a finished try, got {adopted:?}");
    };
    assert_eq!(outcome.exit_code, Some(5));
    assert_eq!(outcome.reason, EndReason::Exited);
    assert!(outcome.started_at <= outcome.finished_at);
    assert!(log_lines(&dir).contains(&"partial".to_owned()));
}

#[tokio::test]
async fn a_killed_supervisor_makes_the_try_lost_and_its_task_dies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let mut previous = start_supervisor(&dir, "sleep 30 & echo $! > bg.pid; sleep 30");
    // The task may write bg.pid before the supervisor writes task.pgid: wait for both.
    assert!(poll_until(Duration::from_secs(5), || {
        task_pid(&dir, "bg.pid").is_some() && dir.join("task.pgid").exists()
    }));
    let grandchild = task_pid(&dir, "bg.pid").expect("background pid");
    let leader: i32 = fs::read_to_string(dir.join("task.pgid"))
        .expect("task.pgid")
        .trim()
        .parse()
        .expect("pgid");
    previous.kill().expect("SIGKILL the supervisor");
    previous.wait().expect("reap");
    assert!(
        alive(grandchild) && alive(leader),
        "the task outlives its supervisor"
    );

    let adopted = backend().adopt(key("t"), dir.clone()).await.expect("adopt");
    let Adopted::Finished(outcome) = adopted else {
        panic!("expected a lost try, got {adopted:?}");
    };
    assert!(
        matches!(outcome.reason, EndReason::Lost(ref why) if why.contains("processes were killed")),
        "{outcome:?}"
    );
    assert_eq!(outcome.exit_code, None);
    // A killed process still has to be scheduled to die, hence the polling.
    assert!(poll_until(Duration::from_secs(2), || !alive(grandchild)
        && !alive(leader)));
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));

    // The verdict is recorded: asking again gives it back, and a supervisor that starts
    // late (say, it was spawned just before the crash) does not run the task.
    let again = backend().adopt(key("t"), dir.clone()).await.expect("adopt");
    assert!(
        matches!(again, Adopted::Finished(ref o) if *o == outcome),
        "{again:?}"
    );
    let late = start_supervisor(&dir, "echo late > late")
        .wait()
        .expect("late");
    assert_eq!(late.code(), Some(3));
    assert!(!work(&dir).join("late").exists());
}

#[tokio::test]
async fn an_adopted_try_can_be_cancelled() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let mut previous = start_supervisor(&dir, "echo ready; sleep 30");
    assert!(poll_until(Duration::from_secs(5), || log_text(&dir).contains("ready")));

    let adopted = backend().adopt(key("t"), dir.clone()).await.expect("adopt");
    let Adopted::Running(running) = adopted else {
        panic!("expected a running try, got {adopted:?}");
    };
    let began = Instant::now();
    running.cancel();
    let outcome = running.wait().await;
    assert_eq!(outcome.reason, EndReason::Cancelled);
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
    assert!(previous.wait().expect("reap").success());
}

/// Issue 17, finding 5c: `supervisor.pid` is a file a task could write. Cancelling an
/// adopted try must signal the process that holds the try's lock, not the pid in it.
#[tokio::test]
async fn cancel_after_a_restart_never_trusts_the_pid_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("try");
    let mut previous = start_supervisor(&dir, "echo ready; sleep 30");
    assert!(poll_until(Duration::from_secs(5), || log_text(&dir)
        .contains("ready")
        && dir.join("supervisor.pid").exists()));
    let mut bystander = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("start an unrelated process");
    let bystander_pid = i32::try_from(bystander.id()).expect("pid");
    fs::write(dir.join("supervisor.pid"), format!("{bystander_pid}\n")).expect("forge");

    let adopted = backend().adopt(key("t"), dir.clone()).await.expect("adopt");
    let Adopted::Running(running) = adopted else {
        panic!("expected a running try, got {adopted:?}");
    };
    running.cancel();
    let outcome = running.wait().await;
    assert_eq!(outcome.reason, EndReason::Cancelled, "{outcome:?}");
    // The real supervisor stopped (and recorded the cancel); the bystander lives on.
    assert!(previous.wait().expect("reap").success());
    assert!(poll_until(Duration::from_secs(2), || try_processes(&dir).is_empty()));
    assert!(
        alive(bystander_pid),
        "the server signalled the pid written in supervisor.pid"
    );
    bystander.kill().expect("kill the bystander");
    bystander.wait().expect("reap the bystander");
}

#[tokio::test]
async fn adopting_a_try_that_never_started_says_so_and_it_never_runs_late() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = backend()
        .adopt(key("t"), tmp.path().join("nowhere"))
        .await
        .expect("adopt");
    assert!(
        matches!(missing, Adopted::NeverStarted(ref why) if why.contains("does not exist")),
        "{missing:?}"
    );

    // The crash came after the backend created the folder and its lock file, before the
    // supervisor took the lock: nothing records a start.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).expect("mkdir");
    fs::write(empty.join("supervisor.lock"), "").expect("lock file");
    let adopted = backend()
        .adopt(key("t"), empty.clone())
        .await
        .expect("adopt");
    assert!(
        matches!(adopted, Adopted::NeverStarted(ref why) if why.contains("no supervisor ran")),
        "{adopted:?}"
    );
    assert!(
        empty.join("status.json").exists(),
        "the verdict is recorded"
    );
    // Asking again gives the same answer, and a supervisor that comes up late (spawned
    // just before the crash) refuses to run the task.
    let again = backend()
        .adopt(key("t"), empty.clone())
        .await
        .expect("adopt");
    assert!(matches!(again, Adopted::NeverStarted(_)), "{again:?}");
    let late = start_supervisor(&empty, "echo late > late")
        .wait()
        .expect("late");
    assert_eq!(late.code(), Some(3));
    assert!(!work(&empty).join("late").exists());

    // A supervisor that recorded its start and died is lost, not "never started".
    let started = tmp.path().join("started");
    fs::create_dir(&started).expect("mkdir");
    fs::write(started.join("supervisor.pid"), "999999\n").expect("pid");
    let outcome = backend()
        .adopt(key("t"), started.clone())
        .await
        .expect("adopt")
        .wait()
        .await;
    assert!(matches!(outcome.reason, EndReason::Lost(_)), "{outcome:?}");
}
