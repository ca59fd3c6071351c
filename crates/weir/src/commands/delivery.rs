//! `weir repo status|sync`, `weir deploy PATH`, `weir approvals list|show|approve|reject`
//! and `weir dags versions|diff|activate`: governed delivery on a server.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use reqwest::Method;
use weir_api::{
    Approval, ApprovalCollection, ApprovalDecision, BreakGlass, DagVersion, DagVersionCollection,
    DagVersionDiff, Deployment, DeploymentFile, DeploymentResult, RepositoryStatus,
};

use crate::cli::{OutputFormat, ServerArgs};
use crate::cli_delivery::{ApprovalsCommand, DeployArgs, RepoCommand};
use crate::commands::output::{self, outln, print_json};
use crate::commands::server::with_client;

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn print_repository(format: OutputFormat, s: &RepositoryStatus) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        return print_json(s);
    }
    if !s.configured {
        outln!("no repository is configured: DAGs come from the watched DAG folder")?;
        outln!("(add a [repository] table with its url to weir.toml to deliver DAGs from Git)")?;
        return Ok(());
    }
    outln!(
        "repository  {} (branch {}{})",
        s.url.as_deref().unwrap_or_default(),
        s.branch.as_deref().unwrap_or_default(),
        match s.path.as_deref() {
            Some(p) if !p.is_empty() => format!(", path {p}"),
            _ => String::new(),
        }
    )?;
    match &s.commit {
        Some(c) => outln!(
            "commit      {} {} ({})",
            short(c),
            s.commit_message.as_deref().unwrap_or_default(),
            s.commit_author.as_deref().unwrap_or_default()
        )?,
        None => outln!("commit      none synced yet")?,
    }
    outln!("synced at   {}", when(s.synced_at))?;
    outln!("last try    {}", when(s.last_attempt_at))?;
    if let Some(e) = &s.last_error {
        outln!("last error  {e}")?;
    }
    if let Some(l) = &s.loaded {
        outln!(
            "loaded      {} DAGs, {} new versions, {} waiting for approval, {} files with errors",
            l.dags,
            l.new_versions,
            l.pending_approval,
            l.files_with_errors
        )?;
    }
    Ok(())
}

pub fn repo(cmd: RepoCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    with_client(server, |client| async move {
        let status: RepositoryStatus = match cmd {
            RepoCommand::Status => client.get(&["repository"], &[]).await?,
            RepoCommand::Sync => {
                client
                    .send::<(), _>(Method::POST, &["repository", "sync"], &[], None)
                    .await?
            }
        };
        print_repository(format, &status)?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The YAML files under `root/folder`, as `(folder/relative path, text)`.
fn bundle_files(root: &Path, folder: &str, out: &mut Vec<DeploymentFile>) -> anyhow::Result<()> {
    let base = root.join(folder);
    if !base.is_dir() {
        return Ok(());
    }
    let mut stack = vec![base.clone()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let content = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                out.push(DeploymentFile { path: rel, content });
            }
        }
    }
    Ok(())
}

/// The one team the bundle's DAG files name.
fn team_of(files: &[DeploymentFile]) -> anyhow::Result<String> {
    let mut teams: Vec<String> = files
        .iter()
        .filter(|f| f.path.starts_with("dags/"))
        .flat_map(|f| weir_core::spec::load_file(&f.content).dags)
        .map(|d| d.team.to_string())
        .collect();
    teams.sort();
    teams.dedup();
    match teams.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("cannot tell the team from the DAG files; say it with --team TEAM"),
        many => bail!(
            "the DAG files name several teams ({}); a deployment is one team's: say which with --team",
            many.join(", ")
        ),
    }
}

pub fn deploy(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    bundle_files(&args.path, "dags", &mut files)?;
    bundle_files(&args.path, "jobs", &mut files)?;
    if files.is_empty() {
        bail!(
            "{} has no YAML files under dags/ or jobs/; point weir deploy at the folder that holds them",
            args.path.display()
        );
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let team = match args.team {
        Some(t) => t,
        None => team_of(&files)?,
    };
    let body = Deployment {
        team,
        files,
        message: args.message,
    };
    let format = args.server.output;
    with_client(&args.server, |client| async move {
        let done: DeploymentResult = client
            .send(Method::POST, &["deployments"], &[], Some(&body))
            .await?;
        if format == OutputFormat::Json {
            print_json(&done)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut t = output::table(["DAG", "VERSION", "OUTCOME", "APPROVAL"]);
        for d in &done.dags {
            t.add_row(vec![
                d.dag_id.clone(),
                d.version
                    .as_deref()
                    .map(short)
                    .unwrap_or_default()
                    .to_string(),
                d.outcome.clone(),
                d.approval_id.map(|a| a.to_string()).unwrap_or_default(),
            ]);
        }
        outln!("{t}")?;
        if done.dags.iter().any(|d| d.outcome == "pending_approval") {
            outln!("production DAGs wait for a second person: `weir approvals approve ID`")?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_approvals(format: OutputFormat, all: &ApprovalCollection) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        return print_json(all);
    }
    if all.approvals.is_empty() {
        outln!("no approval requests")?;
        return Ok(());
    }
    let mut t = output::table(["ID", "DAG", "VERSION", "TEAM", "AUTHOR", "STATE", "CHANGE"]);
    for a in &all.approvals {
        t.add_row(vec![
            a.approval_id.to_string(),
            a.dag_id.clone(),
            short(&a.version).to_string(),
            a.team.clone(),
            a.author_user
                .clone()
                .or_else(|| a.author_email.clone())
                .or_else(|| a.author.clone())
                .unwrap_or_default(),
            a.state.to_string(),
            a.headline.clone(),
        ]);
    }
    outln!("{t}")?;
    Ok(())
}

fn print_approval(a: &Approval) -> anyhow::Result<()> {
    outln!("approval {} ({})", a.approval_id, a.state)?;
    outln!("DAG      {} (team {})", a.dag_id, a.team)?;
    outln!("version  {}", a.version)?;
    if let Some(c) = &a.commit {
        outln!("commit   {c}")?;
    }
    outln!(
        "author   {}{}",
        a.author.as_deref().unwrap_or("unknown"),
        a.author_email
            .as_deref()
            .map(|e| format!(" <{e}>"))
            .unwrap_or_default()
    )?;
    if let Some(m) = &a.message {
        outln!("message  {}", m.lines().next().unwrap_or_default())?;
    }
    outln!("change   {}", a.headline)?;
    if let Some(by) = &a.decided_by {
        outln!(
            "decided  by {by} at {}{}",
            when(a.decided_at),
            a.comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

pub fn approvals(cmd: ApprovalsCommand, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    let approving = matches!(cmd, ApprovalsCommand::Approve { .. });
    with_client(server, |client| async move {
        match cmd {
            ApprovalsCommand::List { status, dag } => {
                let mut q = Vec::new();
                if status != "all" {
                    q.push(("status", status));
                }
                if let Some(dag) = dag {
                    q.push(("dag_id", dag));
                }
                let all: ApprovalCollection = client.get(&["approvals"], &q).await?;
                print_approvals(format, &all)?;
            }
            ApprovalsCommand::Show { id } => {
                let a: Approval = client.get(&["approvals", &id.to_string()], &[]).await?;
                if format == OutputFormat::Json {
                    print_json(&a)?;
                } else {
                    print_approval(&a)?;
                    if let Some(base) = &a.base_version {
                        let d: DagVersionDiff = client
                            .get(
                                &["dags", &a.dag_id, "versions", base, "diff", &a.version],
                                &[],
                            )
                            .await?;
                        outln!("\n{}", d.diff)?;
                    }
                }
            }
            ApprovalsCommand::Approve { id, comment }
            | ApprovalsCommand::Reject { id, comment } => {
                let verb = if approving { "approve" } else { "reject" };
                let body = ApprovalDecision { comment };
                let a: Approval = client
                    .send(
                        Method::POST,
                        &["approvals", &id.to_string(), verb],
                        &[],
                        Some(&body),
                    )
                    .await?;
                if format == OutputFormat::Json {
                    print_json(&a)?;
                } else {
                    outln!(
                        "approval {}: version {} of DAG {} {}",
                        a.approval_id,
                        short(&a.version),
                        a.dag_id,
                        if verb == "approve" {
                            "approved and active"
                        } else {
                            "rejected"
                        }
                    )?;
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn versions(dag_id: &str, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    with_client(server, |client| async move {
        let all: DagVersionCollection = client.get(&["dags", dag_id, "versions"], &[]).await?;
        if format == OutputFormat::Json {
            print_json(&all)?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut t = output::table([
            "VERSION",
            "STATUS",
            "CREATED",
            "COMMIT",
            "AUTHOR",
            "MESSAGE",
            "APPROVED BY",
        ]);
        for v in &all.versions {
            t.add_row(vec![
                short(&v.version).to_string(),
                v.status.to_string(),
                when(Some(v.created_at)),
                v.commit
                    .as_deref()
                    .map(|c| c.get(..8).unwrap_or(c))
                    .unwrap_or(&v.origin)
                    .to_string(),
                v.author_email
                    .clone()
                    .or_else(|| v.author.clone())
                    .unwrap_or_default(),
                v.message
                    .as_deref()
                    .and_then(|m| m.lines().next())
                    .unwrap_or_default()
                    .to_string(),
                match (&v.approved_by, &v.break_glass_reason) {
                    (Some(by), Some(_)) => format!("{by} (break-glass)"),
                    (Some(by), None) => by.clone(),
                    _ => String::new(),
                },
            ]);
        }
        outln!("{t}")?;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn diff(dag_id: &str, from: &str, to: &str, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let format = server.output;
    with_client(server, |client| async move {
        let d: DagVersionDiff = client
            .get(&["dags", dag_id, "versions", from, "diff", to], &[])
            .await?;
        if format == OutputFormat::Json {
            print_json(&d)?;
        } else {
            outln!("{}: {}", d.dag_id, d.headline)?;
            outln!("{}", d.diff)?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn activate(
    dag_id: &str,
    version: &str,
    reason: &str,
    server: &ServerArgs,
) -> anyhow::Result<ExitCode> {
    let format = server.output;
    let body = BreakGlass {
        reason: reason.to_string(),
    };
    with_client(server, |client| async move {
        let v: DagVersion = client
            .send(
                Method::POST,
                &["dags", dag_id, "versions", version, "activate"],
                &[],
                Some(&body),
            )
            .await?;
        if format == OutputFormat::Json {
            print_json(&v)?;
        } else {
            outln!(
                "version {} of DAG {} is active (break-glass, audited): {reason}",
                short(&v.version),
                v.dag_id
            )?;
        }
        Ok(ExitCode::SUCCESS)
    })
}
