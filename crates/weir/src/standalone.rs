//! `weir standalone`: scheduler, executor and HTTP API in one process, on an embedded
//! SQLite database (or PostgreSQL with `--db`), ready in well under a second; and
//! `weir server`, the same process as one of several replicas on one PostgreSQL database
//! (`--role all|api|scheduler`, see `weir_engine::ReplicaSettings`).

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use weir_engine::Engine;
use weir_store::Store;

use weir_engine::{ReplicaRole, ReplicaSettings};

use crate::cli::{ReplicaRoleArg, ReplicaServerArgs, StandaloneArgs};

/// How the engine starts a try's supervisor: the small `weir-supervisor` binary when it
/// sits beside this one (it starts faster), else this very binary, `weir supervise`.
pub fn supervisor_command() -> anyhow::Result<Vec<OsString>> {
    let exe = std::env::current_exe()
        .context("cannot find the weir executable to run task supervisors")?;
    let small = exe.with_file_name("weir-supervisor");
    if small.is_file() {
        return Ok(vec![small.into_os_string()]);
    }
    Ok(vec![exe.into_os_string(), OsString::from("supervise")])
}

/// A date from the command line: `2026-01-01` (midnight UTC) or RFC 3339.
pub fn parse_date_arg(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| format!("`{text}` is not a date: write 2026-01-01 or 2026-01-01T03:00:00Z"))
}

/// The platform admin standalone creates on an empty database.
const ADMIN: &str = "admin";

pub fn run(args: StandaloneArgs) -> anyhow::Result<ExitCode> {
    run_as(args, ReplicaSettings::default())
}

/// `weir server`: one replica among several on one PostgreSQL database.
pub fn run_replica(args: ReplicaServerArgs) -> anyhow::Result<ExitCode> {
    let shared_db = args
        .common
        .db
        .as_deref()
        .is_some_and(|db| db.starts_with("postgres://") || db.starts_with("postgresql://"));
    if !shared_db {
        eprintln!(
            "error: `weir server` shares its database with the other replicas: give --db postgres://user:password@host/database (WEIR_DB). For one machine, `weir standalone` runs everything on SQLite."
        );
        return Ok(ExitCode::from(2));
    }
    let role = match args.role {
        ReplicaRoleArg::All => ReplicaRole::All,
        ReplicaRoleArg::Api => ReplicaRole::Api,
        ReplicaRoleArg::Scheduler => ReplicaRole::Scheduler,
    };
    let settings = ReplicaSettings {
        role,
        lease: std::time::Duration::from_secs(args.lease_seconds),
        address: None,
    };
    run_as(args.common, settings)
}

fn run_as(mut args: StandaloneArgs, replica: ReplicaSettings) -> anyhow::Result<ExitCode> {
    init_tracing(args.log_format);
    if !args.dags.is_dir() {
        eprintln!(
            "error: the DAG folder `{}` does not exist: create it, or point --dags (WEIR_DAGS) at one, e.g. `--dags examples/dags`",
            args.dags.display()
        );
        return Ok(ExitCode::from(2));
    }
    // Everything Weir creates from here on (database, try folders, logs) is its user's
    // alone; the home itself is made owner-only even when it existed.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    weir_compute::layout::create_private_dir(&args.home).with_context(|| {
        format!(
            "cannot create Weir's home {} owner-only (0700)",
            args.home.display()
        )
    })?;
    if args.config.is_none() {
        eprintln!(
            "warning: no weir.toml (--config): shell tasks run unsandboxed, as this server's \
             OS user, and can read everything it can (Weir's database included). Fine for \
             one person on a laptop; for a shared server give a weir.toml, and shell tasks \
             run in the bubblewrap sandbox."
        );
    }
    // Tasks run in their own folders, so every path they are given (`$WEIR_XCOM`, the
    // try folder) must not depend on the server's working directory: resolve the
    // relative defaults (`.weir`, `dags`) once, here.
    args.home = absolute(&args.home)?;
    args.dags = absolute(&args.dags)?;
    args.jobs = args.jobs.as_deref().map(absolute).transpose()?;
    args.config = args.config.as_deref().map(absolute).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, replica))
}

/// `path` made absolute against the working directory (symbolic links kept as given).
fn absolute(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve the path {}", path.display()))
}

async fn serve(args: StandaloneArgs, mut replica: ReplicaSettings) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let db = args
        .db
        .clone()
        .unwrap_or_else(|| args.home.join("weir.db").display().to_string());
    let store = Store::open(&db)
        .await
        .with_context(|| format!("cannot open the database {db}"))?;
    // weir.toml is read here, once; the engine and the server each get the result.
    let given = args
        .config
        .as_deref()
        .map(crate::platform_config::load)
        .transpose()?;
    if let Some(platform) = &given {
        sandbox_notes(platform);
    }
    let platform = crate::platform_config::effective(given, args.docker_socket.as_deref()).await;
    let mut config = crate::platform_config::engine_config(args.home.clone(), platform.clone())?;
    config.dags_folder = Some(args.dags.clone());
    config.unpause_all = args.unpause_all;
    config.parallelism = args.parallelism.max(1);
    config.jobs_folder = crate::platform_config::jobs_folder(args.jobs.as_deref(), &args.dags);
    config.docker_socket = args.docker_socket.clone();
    // Bound before the engine starts: links in notifications name the real port (when
    // `[notifications] ui_url` does not say better); requests wait until it serves.
    let addr = format!("{}:{}", args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: is another Weir (or something else) using the port? Try --port"))?;
    let local = listener.local_addr()?;
    let host = match args.bind.as_str() {
        "0.0.0.0" | "::" => "localhost",
        other => other,
    };
    config.server_url = format!("http://{host}:{}", local.port());
    replica.address = Some(config.server_url.clone());
    let role = replica.role;
    config.replica = replica;
    let secrets = crate::master_key::secrets(&args, &store, &platform).await?;
    let options = weir_engine::EngineOptions {
        secrets: Some(secrets),
        ..weir_engine::EngineOptions::default()
    };
    let engine = Engine::start_with(config, store.clone(), options).await?;
    let api_config = weir_server::ApiConfig::default();
    let admin_password = std::env::var("WEIR_ADMIN_PASSWORD").ok();
    match weir_server::ensure_admin(
        &store,
        ADMIN,
        admin_password.as_deref(),
        api_config.password_cost,
    )
    .await
    .context("cannot create the first user")?
    {
        weir_server::AdminBootstrap::Existed => {}
        weir_server::AdminBootstrap::Created => {
            eprintln!("Created platform admin `{ADMIN}` with the password in WEIR_ADMIN_PASSWORD.");
        }
        weir_server::AdminBootstrap::CreatedWithPassword(password) => eprintln!(
            "Created platform admin `{ADMIN}` with password: {password}\n\
             (shown this once; sign in with it in a browser or with `weir login --username \
             {ADMIN}`, and change it with `weir users set-password {ADMIN}`)"
        ),
    }
    let handle = engine.handle();
    // Printed on one line: scripts and tests read the address from the first line.
    let shown_db = redact_password(&db);
    match role {
        ReplicaRole::Standalone => println!(
            "Weir is ready at http://{local} (DAGs from {}, database {shown_db}, started in {} ms); \
             open it in a browser for the web UI",
            args.dags.display(),
            started.elapsed().as_millis()
        ),
        _ => println!(
            "Weir is ready at http://{local} as replica {} (role {}, DAGs from {}, database {shown_db}, started in {} ms)",
            handle.replica_id(),
            role.as_str(),
            args.dags.display(),
            started.elapsed().as_millis()
        ),
    }
    let state = weir_server::AppState::with_config(handle.clone(), api_config, platform);
    let lost_lease = handle.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = lost_lease.lost_lease() => {}
        }
    };
    if role == ReplicaRole::Scheduler {
        weir_server::serve_scheduler(listener, state, stop).await?;
    } else {
        weir_server::serve(listener, state, stop).await?;
    }
    engine.shutdown().await;
    if handle.has_lost_lease() {
        eprintln!(
            "error: this replica lost its lease (it could not renew it in time) and stopped, as other replicas may have taken over its work; start it again"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// A database URL as it may be printed: without its password.
fn redact_password(db: &str) -> String {
    match url::Url::parse(db) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => db.to_string(),
    }
}

/// Says at start what would otherwise only show when a sandboxed shell task fails, or
/// is weaker than the config suggests.
fn sandbox_notes(platform: &weir_core::platform::PlatformConfig) {
    let program = &platform.sandbox.program;
    let found = if program.contains('/') {
        std::path::Path::new(program).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
    };
    if !found {
        eprintln!(
            "warning: the shell sandbox program `{program}` was not found: sandboxed shell              tasks will fail until Debian's `bubblewrap` is installed (or `[sandbox] program`              points at `bwrap`)"
        );
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!(
            "note: this server does not run as root, so sandboxed shell tasks run as its own              OS user (`[sandbox] user` and `shell_user` need root); the sandbox still hides              Weir's home, the server's processes and its environment"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn init_tracing(format: crate::cli::LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("WEIR_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = match format {
        // One JSON object a line, with the current span and its parents (the DAG run,
        // the try), for a log pipeline.
        crate::cli::LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
        // Colour codes only for a terminal: a log file or journal gets plain text.
        crate::cli::LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}
