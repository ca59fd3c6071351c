use indexmap::IndexMap;

use super::*;
use crate::platform::{self, PlatformConfig, Request};

const GIB: u64 = 1024 * 1024 * 1024;

fn team(name: &str) -> crate::ids::TeamId {
    crate::ids::TeamId::new(name).unwrap()
}

fn platform() -> PlatformConfig {
    let src = include_str!("../../../../examples/weir.toml");
    platform::parse(src).config.expect("example config")
}

const DBT: &str = r#"job: dbt-runner
team: marketing
description: Runs dbt
image: registry.example.com/shared/dbt:1.7
command: [dbt, build, --target, "{{ params.target }}"]
resources: {vcpu: 2, memory: 4Gi}
env: {DBT_TARGET: prod, THREADS: 4}
secrets: {DB_PASSWORD: redshift-password}
timeout: 1h
queue: shared
pull: always
retry_strategy:
  attempts: 3
  evaluate_on_exit:
    - {on_reason: "OutOfMemory*", action: retry}
    - {on_exit_code: "137", action: retry}
    - {on_exit_code: "2", action: exit}
    - {on_exit_code: "*", on_reason: "Timeout", action: exit}
"#;

fn load(src: &str) -> JobDefinition {
    let report = load_job_file(src, &platform());
    assert!(
        report.diagnostics.is_empty(),
        "{}",
        report.render("jobs/x.yaml", src)
    );
    report.job.expect("a job")
}

fn problems(src: &str, platform: &PlatformConfig) -> Vec<(u32, u32, String, Option<String>)> {
    let report = load_job_file(src, platform);
    assert_eq!(report.job.is_none(), report.has_errors());
    report
        .diagnostics
        .into_iter()
        .map(|d| (d.pos.line, d.pos.col, d.message, d.help))
        .collect()
}

#[test]
fn a_full_definition_loads_and_has_a_stable_revision() {
    let job = load(DBT);
    assert_eq!(job.job, "dbt-runner");
    assert_eq!(job.command.as_ref().map(Vec::len), Some(4));
    assert_eq!(job.resources.as_ref().and_then(|r| r.vcpu), Some(2.0));
    assert_eq!(job.env.get("THREADS").map(String::as_str), Some("4"));
    assert_eq!(job.secrets["DB_PASSWORD"], "redshift-password");
    assert_eq!(job.timeout.map(|t| t.0.as_secs()), Some(3600));
    assert_eq!(job.pull, crate::spec::model::PullPolicy::Always);
    assert_eq!(job.retry_strategy.attempts, 3);
    assert_eq!(job.retry_strategy.evaluate_on_exit.len(), 4);

    let rev = job.revision();
    assert_eq!(rev.len(), 64);
    assert_eq!(load(DBT).revision(), rev, "same content, same revision");
    let changed = load(&DBT.replace("timeout: 1h", "timeout: 2h"));
    assert_ne!(changed.revision(), rev, "every change is a new revision");
    // The stored JSON reads back to the same definition.
    let back: JobDefinition =
        serde_json::from_str(&serde_json::to_string(&job).expect("json")).expect("back");
    assert_eq!(back, job);
    assert_eq!(back.revision(), rev);
}

#[test]
fn every_problem_is_located_with_a_suggestion() {
    let src = r#"job: dbt runner
team: marketing
image: registry.example.com/shared/dbt:1.7
comand: [dbt]
resources: {vcpu: -1, memroy: 4Gi}
pull: allways
timeout: 10
retry_strategy:
  attempts: 11
  evaluate_on_exit:
    - {on_exit_code: "13x", action: retry}
    - {on_status_reason: "Host*", action: exit}
    - {on_reason: "x", action: maybe}
"#;
    let got = problems(src, &platform());
    let msgs: Vec<(u32, u32, &str)> = got
        .iter()
        .map(|(l, c, m, _)| (*l, *c, m.as_str()))
        .collect();
    assert_eq!(
        msgs,
        [
            (
                1,
                6,
                "`dbt runner` is not a valid job definition name: ` ` may not appear in an id: use letters, digits, `_`, `.` and `-`"
            ),
            (4, 1, "unknown key `comand` in the job definition"),
            (5, 19, "`vcpu` must be a positive number, found `-1`"),
            (5, 23, "unknown key `memroy` in `resources`"),
            (6, 7, "unknown pull policy `allways`"),
            (
                7,
                10,
                "`timeout`: `10` is not a duration: a number needs a unit (`ms`, `s`, `m`, `h` or `d`), e.g. `10s`"
            ),
            (9, 13, "`attempts` must be from 1 to 10, found 11"),
            (
                11,
                22,
                "`on_exit_code` pattern `13x` may hold only digits and `*`"
            ),
            (12, 7, "rule 2 of `evaluate_on_exit` has no condition"),
            (
                12,
                8,
                "unknown key `on_status_reason` in rule 2 of `evaluate_on_exit`"
            ),
            (13, 32, "unknown action `maybe`"),
        ]
    );
    let help = |line: u32, col: u32| {
        got.iter()
            .find(|g| (g.0, g.1) == (line, col))
            .and_then(|g| g.3.clone())
            .unwrap_or_default()
    };
    assert_eq!(help(4, 1), "did you mean `command`?");
    assert_eq!(help(6, 7), "did you mean `always`?");
    assert_eq!(help(12, 8), "did you mean `on_reason`?");
}

#[test]
fn the_platform_config_is_enforced() {
    let p = platform();
    let bad_image = DBT.replace(
        "registry.example.com/shared/dbt:1.7",
        "docker.io/evil/miner:latest",
    );
    let got = problems(&bad_image, &p);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0, got[0].1), (4, 8));
    assert!(got[0].2.starts_with("team `marketing` may not run image `docker.io/evil/miner:latest`: its images must start with"), "{}", got[0].2);

    // A templated image is checked by the engine once rendered.
    assert!(problems(&bad_image.replace(":latest", ":{{ params.v }}"), &p).is_empty());

    let bad_queue = problems(&DBT.replace("queue: shared", "queue: shred"), &p);
    assert_eq!(
        bad_queue[0].2,
        "queue `shred` is not in the platform config"
    );
    assert_eq!(bad_queue[0].3.as_deref(), Some("did you mean `shared`?"));

    let too_big = problems(&DBT.replace("vcpu: 2,", "vcpu: 64,"), &p);
    assert_eq!((too_big[0].0, too_big[0].1), (6, 12));
    assert!(too_big[0].2.starts_with("the try asks 64 vCPU and 4Gi of memory, more than any environment of queue `shared` has"), "{}", too_big[0].2);

    // Standalone (no weir.toml): any image, the default queue.
    let standalone = PlatformConfig::standalone_default(4.0, 8 * GIB, true);
    let anywhere = "job: x\nteam: anyone\nimage: busybox\n";
    assert!(problems(anywhere, &standalone).is_empty());
}

#[test]
fn evaluate_on_exit_follows_aws_batch() {
    let s = load(DBT).retry_strategy;
    // First match wins; no match means retry.
    assert_eq!(
        evaluate_on_exit(&s, Some(137), "OutOfMemory: killed"),
        RetryAction::Retry
    );
    assert_eq!(evaluate_on_exit(&s, Some(2), "Error"), RetryAction::Exit);
    assert_eq!(evaluate_on_exit(&s, Some(1), "Timeout"), RetryAction::Exit);
    assert_eq!(
        evaluate_on_exit(&s, None, "Timeout"),
        RetryAction::Retry,
        "no exit code: `*` does not match"
    );
    assert_eq!(evaluate_on_exit(&s, Some(1), "Error"), RetryAction::Retry);
    assert_eq!(
        evaluate_on_exit(&RetryStrategy::default(), Some(2), ""),
        RetryAction::Retry
    );

    assert_eq!(s.decide(1, Some(137), "OutOfMemory"), RetryDecision::Retry);
    assert_eq!(s.decide(2, Some(1), "Error"), RetryDecision::Retry);
    assert_eq!(
        s.decide(3, Some(137), "OutOfMemory"),
        RetryDecision::GiveUp(GiveUp::AttemptsExhausted { attempts: 3 })
    );
    let exit = s.decide(1, Some(2), "Error");
    assert_eq!(exit, RetryDecision::GiveUp(GiveUp::ExitRule { rule: 3 }));
    if let RetryDecision::GiveUp(why) = exit {
        assert_eq!(why.to_string(), "rule 3 of `evaluate_on_exit` says `exit`");
    }
    assert_eq!(s.retries(), 2);
    assert_eq!(RetryStrategy::default().retries(), 0);

    for (pattern, text, want) in [
        ("OutOfMemory*", "OutOfMemoryError: Container killed", true),
        ("OutOfMemory*", "outofmemory", false),
        ("*", "", true),
        ("1*", "137", true),
        ("1*", "37", false),
        ("*Memory*", "OutOfMemoryError", true),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXbYbZ", false),
        ("137", "1370", false),
        ("", "", true),
    ] {
        assert_eq!(glob_matches(pattern, text), want, "{pattern} ~ {text}");
    }
}

#[test]
fn a_task_overrides_command_env_and_resources() {
    let job = load(DBT);
    let plain = resolve(&job, &TaskOverrides::default());
    assert_eq!(plain.image, "registry.example.com/shared/dbt:1.7");
    assert_eq!(plain.request, Request::new(2.0, 4 * GIB));
    assert_eq!(plain.queue, "shared");
    assert_eq!(plain.timeout.map(|t| t.as_secs()), Some(3600));
    assert_eq!(plain.revision, job.revision());
    assert_eq!(plain.retry.attempts, 3);

    let command = vec!["dbt".to_string(), "run".into()];
    let mut env = IndexMap::new();
    env.insert("THREADS".to_string(), "8".to_string());
    env.insert("EXTRA".to_string(), "1".to_string());
    let resources = crate::spec::model::Resources {
        vcpu: Some(4.0),
        memory: None,
    };
    let over = resolve(
        &job,
        &TaskOverrides {
            command: Some(&command),
            env: Some(&env),
            resources: Some(&resources),
        },
    );
    assert_eq!(over.command.as_deref(), Some(command.as_slice()));
    let env: Vec<(&str, &str)> = over
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [("DBT_TARGET", "prod"), ("THREADS", "8"), ("EXTRA", "1")]
    );
    assert_eq!(
        over.request,
        Request::new(4.0, 4 * GIB),
        "memory stays the definition's"
    );
    assert_eq!(over.secrets, job.secrets);

    let bare = load("job: x\nteam: marketing\nimage: registry.example.com/marketing/x\n");
    let r = resolve(&bare, &TaskOverrides::default());
    assert_eq!(r.request, Request::default());
    assert_eq!(r.queue, "default");
    assert_eq!(r.command, None);
}

#[test]
fn a_catalog_keeps_names_per_team() {
    // Where files may live is `a_job_file_outside_its_teams_paths_claims_nothing`'s subject.
    let mut p = platform();
    for t in &mut p.teams {
        t.paths.clear();
    }
    let finance = "job: dbt-runner\nteam: finance\nimage: registry.example.com/finance/dbt:1\n";
    let (catalog, files) = load_jobs(
        vec![
            source("jobs/dbt.yaml", DBT),
            source("jobs/fin.yaml", finance),
            source(
                "jobs/again.yaml",
                &DBT.replace("timeout: 1h", "timeout: 2h"),
            ),
        ],
        &p,
    );
    assert_eq!(catalog.len(), 2);
    assert_eq!(
        catalog
            .get(&team("finance"), "dbt-runner")
            .map(|j| j.image.as_str()),
        Ok("registry.example.com/finance/dbt:1")
    );
    assert_eq!(
        catalog
            .get(&team("marketing"), "dbt-runer")
            .unwrap_err()
            .to_string(),
        "team `marketing` has no job definition `dbt-runer`; did you mean `dbt-runner`?"
    );
    assert!(
        catalog.get(&team("platform"), "dbt-runner").is_err(),
        "teams cannot use each other's"
    );
    assert!(files[2].report.job.is_none());
    assert_eq!(
        files[2].report.diagnostics[0].message,
        "job definition `dbt-runner` of team `marketing` is already defined in jobs/dbt.yaml"
    );
}

#[test]
fn a_definition_without_a_valid_team_is_refused_with_its_other_problems() {
    // The team is typed: without a valid one there is no definition, but the checks that
    // need the platform config still run on the rest of the file.
    let got = problems(
        "job: x\nteam: bad team\nimage: busybox\nqueue: nope\n",
        &platform(),
    );
    let msgs: Vec<(u32, &str)> = got.iter().map(|(l, _, m, _)| (*l, m.as_str())).collect();
    assert_eq!(
        msgs,
        [
            (
                2,
                "`bad team` is not a valid team id: ` ` may not appear in an id: use letters, digits, `_`, `.` and `-`"
            ),
            (4, "queue `nope` is not in the platform config"),
        ]
    );
    assert_eq!(
        load("job: x\nteam: marketing\nimage: registry.example.com/marketing/x\n").team,
        "marketing"
    );
}

fn source(path: &str, text: &str) -> JobSource {
    JobSource {
        path: path.to_owned(),
        rel_path: path.trim_start_matches("jobs/").to_owned(),
        source: text.to_owned(),
    }
}

#[test]
fn a_job_file_outside_its_teams_paths_claims_nothing() {
    let mut p = platform();
    for t in &mut p.teams {
        t.paths = vec![format!("{}/", t.name)];
    }
    let finance = |image: &str| {
        format!("job: dbt-runner\nteam: finance\nimage: registry.example.com/finance/{image}\n")
    };
    // Sorted before finance's own file, a file in another team's folder would otherwise
    // win the name and run with finance's secrets.
    let (catalog, files) = load_jobs(
        vec![
            source("jobs/a-growth/dbt.yaml", &finance("evil:1")),
            source("jobs/finance/dbt.yaml", &finance("dbt:1")),
        ],
        &p,
    );
    assert_eq!(
        catalog
            .get(&team("finance"), "dbt-runner")
            .map(|j| j.image.as_str()),
        Ok("registry.example.com/finance/dbt:1")
    );
    let refused = &files[0].report.diagnostics;
    assert!(
        refused.iter().any(|d| d
            .message
            .contains("must live under finance/ of the jobs folder")),
        "{refused:?}"
    );
    assert!(
        files[1].report.diagnostics.is_empty(),
        "{:?}",
        files[1].report.diagnostics
    );
}

#[test]
fn a_reclaimed_spot_host_matches_as_on_aws_batch() {
    use crate::lifecycle::EndReason;
    use crate::lifecycle::try_end::batch_reason;
    let strategy = RetryStrategy {
        attempts: 3,
        evaluate_on_exit: vec![ExitRule {
            on_exit_code: None,
            on_reason: Some("Host EC2*".into()),
            action: RetryAction::Exit,
        }],
    };
    let lost = EndReason::Lost("Host EC2 (instance i-0abc) terminated.".into());
    assert_eq!(
        batch_reason(&lost),
        "Host EC2 (instance i-0abc) terminated."
    );
    assert_eq!(
        evaluate_on_exit(&strategy, None, &batch_reason(&lost)),
        RetryAction::Exit
    );
    assert_eq!(
        evaluate_on_exit(
            &strategy,
            None,
            &batch_reason(&EndReason::Lost("gone".into()))
        ),
        RetryAction::Retry
    );
    assert_eq!(
        batch_reason(&EndReason::OutOfMemory),
        "OutOfMemoryError: Container killed due to memory usage"
    );
}
