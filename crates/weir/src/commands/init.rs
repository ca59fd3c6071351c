//! `weir init TEAM [DIR]`: scaffolds a new team's DAG repository — a working example DAG
//! and an example job definition in the team's folders, CI that validates every change
//! and tells Weir to sync after a merge (plain shell and GitHub Actions), JSON Schemas
//! wired into editors, and a README saying how a DAG reaches production.
//!
//! It writes into an empty or new folder only: it never overwrites a file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use weir_core::ids::TeamId;

use crate::cli_delivery::InitArgs;

/// The files of a new repository, as `(path, text)`.
pub fn scaffold(team: &str, registry: &str) -> anyhow::Result<Vec<(String, String)>> {
    let dag_schema =
        serde_json::to_string_pretty(&schemars::schema_for!(weir_core::spec::model::DagFile))?;
    let job_schema =
        serde_json::to_string_pretty(&schemars::schema_for!(weir_core::job_def::JobDefinition))?;
    let fill = |text: &str| {
        text.replace("{team}", team)
            .replace("{registry}", registry.trim_end_matches('/'))
    };
    Ok(vec![
        (format!("dags/{team}/hello_{team}.yaml"), fill(EXAMPLE_DAG)),
        (format!("jobs/{team}/example.yaml"), fill(EXAMPLE_JOB)),
        ("ci/validate-and-sync.sh".into(), fill(CI_SCRIPT)),
        (".github/workflows/weir.yml".into(), fill(GITHUB_ACTIONS)),
        (".vscode/settings.json".into(), VSCODE_SETTINGS.into()),
        ("schemas/weir-dag.schema.json".into(), dag_schema + "\n"),
        ("schemas/weir-job.schema.json".into(), job_schema + "\n"),
        ("README.md".into(), fill(TEAM_README)),
        (".gitignore".into(), ".weir/\n".into()),
    ])
}

pub fn run(args: &InitArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = TeamId::new(&args.team) {
        bail!("`{}` is not a valid team name: {e}", args.team);
    }
    let dir: PathBuf = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.team));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} exists and is not empty; `weir init` writes into a new or empty folder only",
            dir.display()
        );
    }
    for (path, text) in scaffold(&args.team, &args.registry)? {
        write(&dir, &path, &text)?;
    }
    println!(
        "created the repository of team {} in {}",
        args.team,
        dir.display()
    );
    println!(
        "next: read {}/README.md (from a first DAG to production)",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn write(dir: &Path, path: &str, text: &str) -> anyhow::Result<()> {
    let target = dir.join(path);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))?;
    if path.ends_with(".sh") {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", target.display()))?;
    }
    Ok(())
}

const EXAMPLE_DAG: &str = r#"# yaml-language-server: $schema=../../schemas/weir-dag.schema.json
# A first DAG for team {team}. Check it with `weir dags validate dags`, run it once on
# your laptop with `weir dags test dags/{team}/hello_{team}.yaml`, then commit it.
dag: hello_{team}
team: {team}
description: Says hello, then reports when it ran.
tags: [example]
schedule: "@daily"
start_date: 2026-01-01
# Set `production: true` once other teams depend on this DAG: from then on every change
# waits for a second person's approval before it runs.
production: false
defaults:
  retries: 2
  retry_delay: 30s
tasks:
  hello:
    shell: echo "hello from {{ dag.dag_id }} for {{ ds }}"
  report:
    depends_on: [hello]
    shell: echo "run {{ run_id }} done"
  # A container from the team's job definition (jobs/{team}/example.yaml):
  # transform:
  #   depends_on: [hello]
  #   job: example
"#;

const EXAMPLE_JOB: &str = r#"# yaml-language-server: $schema=../../schemas/weir-job.schema.json
# A job definition: a reusable container template. Tasks run it with `job: example`.
job: example
team: {team}
image: {registry}/{team}/example:1
command: [sh, -c, "echo transforming {{ ds }}"]
resources: {vcpu: 1, memory: 1Gi}
timeout: 30m
retry_strategy:
  attempts: 3
  evaluate_on_exit:
    - {on_reason: "OutOfMemory*", action: retry}
    - {on_exit_code: "*", action: exit}
"#;

const CI_SCRIPT: &str = r#"#!/bin/sh
# Team {team}'s CI: validate every change; after a merge to the main branch, tell Weir to
# sync at once (it also syncs on its own interval).
#
#   WEIR_SERVER  the Weir server's URL, e.g. https://weir.example.com
#   WEIR_TOKEN   a service token of team {team} with the operator role, made by a team
#                admin: weir tokens create --team {team} --role operator ci
set -eu
cd "$(dirname "$0")/.."
weir dags validate dags
if [ "${1:-}" = "--sync" ]; then
    weir repo sync
fi
"#;

const GITHUB_ACTIONS: &str = r#"# Validates team {team}'s DAGs on every pull request, and asks Weir to sync after a
# merge to main. Set the repository's secrets WEIR_SERVER and WEIR_TOKEN (a service token
# of team {team} with the operator role).
name: weir
on:
  pull_request:
  push:
    branches: [main]
jobs:
  validate-and-sync:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Install weir
        run: cargo install --locked --git "$WEIR_SOURCE" weir
        env:
          WEIR_SOURCE: ${{ vars.WEIR_SOURCE }}
      - name: Validate
        run: ci/validate-and-sync.sh
      - name: Sync Weir
        if: github.event_name == 'push'
        run: ci/validate-and-sync.sh --sync
        env:
          WEIR_SERVER: ${{ secrets.WEIR_SERVER }}
          WEIR_TOKEN: ${{ secrets.WEIR_TOKEN }}
"#;

const VSCODE_SETTINGS: &str = r#"{
  "yaml.schemas": {
    "./schemas/weir-dag.schema.json": "dags/**/*.yaml",
    "./schemas/weir-job.schema.json": "jobs/**/*.yaml"
  }
}
"#;

const TEAM_README: &str = r#"# Team {team}'s workflows

DAGs live in `dags/{team}/`, job definitions (container templates) in `jobs/{team}/`.
Weir reads this repository at the commit on its branch: what is merged is what runs.

## Every day
- Check a change: `weir dags validate dags` (CI runs it on every pull request).
- Run a DAG once on your laptop, without a server: `weir dags test dags/{team}/hello_{team}.yaml`.
- Editors complete and check the files from `schemas/` (VS Code: the YAML extension
  reads `.vscode/settings.json`; others: the `yaml-language-server` line atop each file).

## From a merge to a running DAG
1. Merge to the branch Weir follows. CI (`ci/validate-and-sync.sh --sync`, or
   `.github/workflows/weir.yml`) asks Weir to sync at once; Weir also syncs on its own.
2. `weir repo status` shows the commit in use; `weir dags versions DAG` the versions,
   with their commit and author. A file with a problem is an import error
   (`weir dags errors`) and its DAGs keep their last good version.

## Production DAGs
A DAG with `production: true` never runs a change until a second person approves it:
1. Merge the change. `weir approvals list` shows the new version as pending, with what
   it changes; its schedule keeps running the last approved version meanwhile.
2. Someone other than the commit's author (your platform may require someone from
   another team) reviews it: `weir approvals show ID`, then
   `weir approvals approve ID --comment "…"` or `weir approvals reject ID --comment "…"`.
3. Once approved, the new version runs. The commit's author e-mail must be a Weir user's
   e-mail for Weir to know who wrote it.

Without Git hosting, `weir deploy .` uploads `dags/` and `jobs/` the same way, with you
as the author.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scaffold_is_valid_for_its_team() {
        let files = scaffold("growth", "registry.example.com").expect("scaffold");
        let dag = files
            .iter()
            .find(|(p, _)| p == "dags/growth/hello_growth.yaml")
            .expect("example DAG");
        let report = weir_core::spec::load_file(&dag.1);
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
        assert_eq!(report.dags.len(), 1);
        assert_eq!(report.dags[0].team.as_str(), "growth");
        let job = files
            .iter()
            .find(|(p, _)| p == "jobs/growth/example.yaml")
            .expect("example job");
        let platform = weir_core::platform::PlatformConfig::standalone_default(4.0, 8 << 30, true);
        let loaded = weir_core::job_def::load_job_file(&job.1, &platform);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    }
}
