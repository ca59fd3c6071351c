//! Measures the orchestration overhead of the process backend, alone in its test binary
//! so other tests do not compete for the CPU while it measures.

mod common;

use std::time::{Duration, Instant};

use common::*;
use weir_compute::{Backend, LaunchSpec};

/// Prints the orchestration overhead of submit + wait (not asserted: machines differ).
#[tokio::test]
async fn overhead_per_try() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let backend = backend();
    let n = 40;
    // Baseline: what `sh -c true` alone costs here.
    let mut bare = Vec::with_capacity(n);
    for _ in 0..n {
        let began = Instant::now();
        let status = tokio::process::Command::new("sh")
            .args(["-c", "true"])
            .status()
            .await;
        assert!(status.expect("sh").success());
        bare.push(began.elapsed());
    }
    let mut supervised = Vec::with_capacity(n);
    for i in 0..n {
        let spec = LaunchSpec::new(key("bench"), "true", tmp.path().join(format!("t{i}")));
        let began = Instant::now();
        let outcome = backend.submit(spec).await.expect("submit").wait().await;
        supervised.push(began.elapsed());
        assert!(outcome.succeeded(), "{outcome:?}");
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (bare, supervised) = (median(&mut bare), median(&mut supervised));
    println!(
        "per try (median of {n}): sh -c true alone {bare:?}, submit+wait {supervised:?}, \
         overhead {:?}",
        supervised.saturating_sub(bare)
    );
}
