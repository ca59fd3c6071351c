//! `weir dags …`: validate and schema work on files, test runs one DAG in process; the
//! rest talk to a server (`dags/remote.rs`).

mod remote;

use std::process::ExitCode;

use weir_core::platform::PlatformConfig;
use weir_core::spec::Severity;
use weir_core::spec::bag::{BagInput, BagRules, load_bag_with};
use weir_core::spec::model::DagFile;

use crate::cli::{DagsCommand, OutputFormat};

pub fn run(cmd: DagsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DagsCommand::Validate {
            paths,
            output,
            config,
            jobs,
        } => validate(&paths, output, config.as_deref(), jobs.as_deref()),
        DagsCommand::Test(args) => crate::dags_test::run(args),
        DagsCommand::Schema => {
            let schema = schemars::schema_for!(DagFile);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
        DagsCommand::List { server } => remote::list(&server),
        DagsCommand::Show { dag_id, server } => remote::show(&dag_id, &server),
        DagsCommand::Trigger {
            dag_id,
            conf,
            logical_date,
            note,
            wait,
            server,
        } => remote::trigger(
            remote::TriggerArgs {
                dag_id: &dag_id,
                conf: conf.as_deref(),
                logical_date: logical_date.as_deref(),
                note,
                wait,
            },
            &server,
        ),
        DagsCommand::Pause { dag_id, server } => remote::set_paused(&dag_id, true, &server),
        DagsCommand::Unpause { dag_id, server } => remote::set_paused(&dag_id, false, &server),
        DagsCommand::Backfill {
            dag_id,
            from,
            to,
            server,
        } => remote::backfill(&dag_id, &from, &to, &server),
        DagsCommand::Errors { server } => remote::errors(&server),
        DagsCommand::Versions { dag_id, server } => super::delivery::versions(&dag_id, &server),
        DagsCommand::Diff {
            dag_id,
            from,
            to,
            server,
        } => super::delivery::diff(&dag_id, &from, &to, &server),
        DagsCommand::Activate {
            dag_id,
            version,
            reason,
            server,
        } => super::delivery::activate(&dag_id, &version, &reason, &server),
    }
}

fn validate(
    paths: &[std::path::PathBuf],
    output: OutputFormat,
    config: Option<&std::path::Path>,
    jobs: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let loaded = crate::dag_files::load(paths)?;
    let files: Vec<std::path::PathBuf> = loaded.files.iter().map(|(p, _)| p.clone()).collect();
    let sources: Vec<(String, String)> = loaded
        .files
        .into_iter()
        .map(|(path, text)| (path.display().to_string(), text))
        .collect();
    // With a platform config, its rules are part of validation too. A file with no
    // environments and no queues keeps standalone's (their names are what validation
    // checks; the sizes do not matter here).
    let platform = config
        .map(crate::platform_config::load)
        .transpose()?
        .map(|p| p.or_defaults(PlatformConfig::standalone_default(1.0, 1, true)));
    let dags_dir = paths.first().map(|p| {
        if p.is_dir() {
            p.clone()
        } else {
            p.parent()
                .unwrap_or(std::path::Path::new("."))
                .to_path_buf()
        }
    });
    let inputs = sources
        .into_iter()
        .zip(&files)
        .map(|((path, source), file)| BagInput {
            // `[[teams]] paths` are relative to the DAG folder (the first path given).
            rel_path: weir_core::platform::relative_to_dag_folder(
                file,
                dags_dir.as_deref().unwrap_or(std::path::Path::new("")),
            ),
            path,
            source,
        })
        .collect();
    let mut bag = load_bag_with(
        inputs,
        BagRules {
            registered: None,
            platform: platform.as_ref(),
        },
    );
    if let Some(platform) = &platform {
        let jobs_dir = dags_dir.and_then(|d| crate::platform_config::jobs_folder(jobs, &d));
        let (catalog, job_files) = match jobs_dir {
            Some(dir) => crate::platform_config::load_job_folder(&dir, platform)?,
            None => Default::default(),
        };
        for file in &mut bag {
            for dag in &file.report.dags {
                let problems =
                    weir_core::spec::policy::check(dag, &file.source, platform, &catalog);
                file.report.diagnostics.extend(problems);
            }
            if file.report.has_errors() {
                file.report.dags.clear();
            }
        }
        bag.extend(
            job_files
                .into_iter()
                .map(|j| weir_core::spec::bag::BagFile {
                    path: j.path,
                    source: j.source,
                    report: weir_core::spec::FileReport {
                        dags: Vec::new(),
                        diagnostics: j.report.diagnostics,
                    },
                }),
        );
    }
    // What the folder holds but cannot be read (a FIFO, a link out of the folder, a file
    // too large) is an error, as it is an import error on the server.
    bag.extend(
        loaded
            .refused
            .into_iter()
            .map(|(path, reason)| weir_core::spec::bag::BagFile {
                path: path.display().to_string(),
                source: String::new(),
                report: weir_core::spec::FileReport {
                    dags: Vec::new(),
                    diagnostics: vec![weir_core::spec::Diagnostic::error(
                        weir_core::spec::Pos::new(1, 1),
                        reason,
                    )],
                },
            }),
    );
    let count = |sev: Severity| -> usize {
        bag.iter()
            .map(|f| {
                f.report
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == sev)
                    .count()
            })
            .sum()
    };
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    let dags: usize = bag.iter().map(|f| f.report.dags.len()).sum();
    match output {
        OutputFormat::Json => {
            let files: Vec<serde_json::Value> = bag
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "path": f.path,
                        "dags": f.report.dags.iter().map(|d| &d.dag).collect::<Vec<_>>(),
                        "diagnostics": f.report.diagnostics,
                    })
                })
                .collect();
            let out = serde_json::json!({"files": files, "dags": dags, "errors": errors, "warnings": warnings});
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        OutputFormat::Table => {
            for f in &bag {
                for d in &f.report.diagnostics {
                    println!("{}", d.render(&f.path, &f.source));
                }
            }
            println!(
                "checked {} file{}: {dags} valid DAG{}, {errors} error{}, {warnings} warning{}",
                bag.len(),
                plural(bag.len()),
                plural(dags),
                plural(errors),
                plural(warnings)
            );
        }
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
