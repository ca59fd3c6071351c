//! Weir's overhead on top of the Docker daemon's own cost, for trivial containers.
//!
//! Runs the same trivial container (`true` in the test image) N times, sequentially:
//! 1. `docker run --rm IMAGE true` through the CLI (what a user would compare with);
//! 2. the bare API calls a minimal runner needs (create, start, wait, remove), through
//!    bollard: the daemon's own cost;
//! 3. through the docker backend (`submit` + `wait`): everything Weir does per try (logs,
//!    stats, XCom folder and copy-out, status file, removal).
//!
//! Prints the median and mean of each and Weir's overhead against both baselines. The
//! issue's target: Weir's overhead at most 10% on top of the daemon's own cost.
//!
//! ```text
//! crates/weir-compute/scripts/build-test-image.sh
//! cargo run --release -p weir-compute --example docker_overhead [-- RUNS]
//! ```

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;
use weir_compute::{Backend, ContainerLaunch, DockerBackend, LaunchSpec, PullPolicy};
use weir_core::ids::{DagId, RunId, TaskId, TryKey};

const IMAGE: &str = "weir-test/busybox:latest";

type Error = Box<dyn std::error::Error>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let runs: usize = std::env::args()
        .nth(1)
        .map_or(Ok(20), |n| n.parse())?
        .max(1);
    let docker =
        Docker::connect_with_unix("/var/run/docker.sock", 60, bollard::API_DEFAULT_VERSION)?
            .negotiate_version()
            .await?;
    if docker.inspect_image(IMAGE).await.is_err() {
        return Err(format!(
            "{IMAGE} is missing: run crates/weir-compute/scripts/build-test-image.sh"
        )
        .into());
    }
    // One warm-up of each, so no path pays a first-time cost.
    cli_run()?;
    api_run(&docker, "weir-bench-warm").await?;
    let tmp = tempfile::tempdir()?;
    let backend = DockerBackend::local();
    weir_run(&backend, 0, &tmp.path().join("warm")).await?;

    let mut cli = Vec::with_capacity(runs);
    let mut api = Vec::with_capacity(runs);
    let mut weir = Vec::with_capacity(runs);
    // Interleaved, so a drift of the machine's load hits all three alike.
    for i in 0..runs {
        let began = Instant::now();
        cli_run()?;
        cli.push(began.elapsed());

        let began = Instant::now();
        api_run(&docker, &format!("weir-bench-api-{i}")).await?;
        api.push(began.elapsed());

        let began = Instant::now();
        weir_run(&backend, i + 1, &tmp.path().join(format!("t{i}"))).await?;
        weir.push(began.elapsed());
    }
    let (cli, api, weir) = (Stats::of(cli), Stats::of(api), Stats::of(weir));
    println!("{runs} trivial containers each, sequential:");
    println!("  docker run --rm (CLI)          {cli}");
    println!("  bare API create/start/wait/rm  {api}");
    println!("  weir docker backend            {weir}");
    for (name, base) in [("bare API", &api), ("docker run --rm", &cli)] {
        let extra = weir.median.as_secs_f64() - base.median.as_secs_f64();
        println!(
            "  weir overhead vs {name}: {:+.1} ms per try ({:+.1}% of median)",
            extra * 1000.0,
            100.0 * extra / base.median.as_secs_f64()
        );
    }
    Ok(())
}

fn cli_run() -> Result<(), Error> {
    let status = std::process::Command::new("docker")
        .args(["run", "--rm", IMAGE, "true"])
        .status()?;
    if !status.success() {
        return Err(format!("docker run failed: {status}").into());
    }
    Ok(())
}

async fn api_run(docker: &Docker, name: &str) -> Result<(), Error> {
    let options = CreateContainerOptions {
        name: Some(name.to_owned()),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(IMAGE.to_owned()),
        cmd: Some(vec!["true".to_owned()]),
        ..Default::default()
    };
    docker.create_container(Some(options), body).await?;
    docker.start_container(name, None).await?;
    let wait = WaitContainerOptions {
        condition: "not-running".to_owned(),
    };
    let _ = docker.wait_container(name, Some(wait)).next().await;
    let remove = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    docker.remove_container(name, Some(remove)).await?;
    Ok(())
}

async fn weir_run(backend: &DockerBackend, i: usize, dir: &std::path::Path) -> Result<(), Error> {
    let key = TryKey {
        dag_id: DagId::new("docker_overhead")?,
        run_id: RunId::new(format!("bench__{}", std::process::id()))?,
        task_id: TaskId::new("trivial")?,
        map_index: i32::try_from(i)?,
        try_number: 1,
    };
    let mut launch = ContainerLaunch::new(IMAGE).with_command(["true"]);
    launch.pull = PullPolicy::Never;
    let outcome = backend
        .submit(LaunchSpec::for_container(key, launch, dir))
        .await?
        .wait()
        .await;
    if !outcome.succeeded() {
        return Err(format!("weir run failed: {outcome:?}").into());
    }
    Ok(())
}

struct Stats {
    median: Duration,
    mean: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    fn of(mut v: Vec<Duration>) -> Self {
        v.sort();
        let total: Duration = v.iter().sum();
        Self {
            median: v[v.len() / 2],
            mean: total / u32::try_from(v.len()).unwrap_or(u32::MAX).max(1),
            min: v[0],
            max: v[v.len() - 1],
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "median {:7.1} ms  mean {:7.1} ms  (min {:.1}, max {:.1})",
            ms(self.median),
            ms(self.mean),
            ms(self.min),
            ms(self.max)
        )
    }
}
