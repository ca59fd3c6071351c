use std::time::Duration;

use super::*;
use crate::governance::ApprovalPolicy;
use crate::spec::model::HumanDuration;
use crate::spec::{Pos, Severity};

const EXAMPLE: &str = include_str!("../../../../examples/weir.toml");

fn load(src: &str) -> PlatformConfig {
    let report = parse(src);
    assert!(
        report.diagnostics.is_empty(),
        "{}",
        report.render("weir.toml", src)
    );
    report.config.expect("a config")
}

/// (line, message) of every diagnostic, for compact assertions.
fn problems(src: &str) -> Vec<(u32, String)> {
    let report = parse(src);
    assert_eq!(report.config.is_none(), report.has_errors());
    report
        .diagnostics
        .iter()
        .map(|d| (d.pos.line, d.message.clone()))
        .collect()
}

#[test]
fn the_example_file_loads() {
    let c = load(EXAMPLE);
    assert_eq!(c.origin, ConfigOrigin::File);
    assert_eq!(c.compute_environments.len(), 3);
    let small = c.environment("docker-small").expect("env");
    assert_eq!(small.backend, Backend::Docker);
    assert_eq!(small.max_vcpus, 8.0);
    assert_eq!(small.max_memory.0, 32 * GIB);
    assert_eq!(small.price.vcpu_hour, 0.04);
    assert_eq!(c.environment("local").expect("env").price, Price::default());
    let shared = c.queue("shared").expect("queue");
    assert_eq!(shared.scheduling_policy, SchedulingPolicy::FairShare);
    assert_eq!(shared.compute_reservation, Some(10));
    assert_eq!(
        shared.compute_environments,
        ["docker-small", "docker-large"]
    );
    assert_eq!(
        c.queue("default").expect("queue").share_decay_seconds(),
        3600
    );
    assert_eq!(c.weight("marketing"), 3.0);
    assert_eq!(c.weight("nobody"), 1.0);
    assert_eq!(c.approval_policy("finance"), ApprovalPolicy::OtherTeam);
    assert_eq!(c.approval_policy("marketing"), ApprovalPolicy::OtherPerson);
    assert_eq!(c.approval_policy("nobody"), ApprovalPolicy::OtherPerson);
    assert_eq!(c.repository, None);
    // The typed tree round-trips through serde (it is the contract of the file).
    let json = serde_json::to_value(&c).expect("json");
    let back: PlatformConfig = serde_json::from_value(json).expect("back");
    assert_eq!(back, c);
}

#[test]
fn unknown_keys_and_bad_values_are_all_reported_with_suggestions() {
    let src = r#"[[compute_environments]]
name = "d"
backend = "dockr"
max_vcpus = 8
max_memory = "64Gb"
max_vcpu = 3
price = { vcpu_hr = 1 }

[[queues]]
name = "default"
compute_environments = ["d"]
priority = "high"
polcy = "fifo"

[[queus]]
name = "x"
"#;
    let report = parse(src);
    let text = report.render("weir.toml", src);
    assert!(report.config.is_none());
    let got = problems(src);
    assert_eq!(
        got,
        [
            (3, "unknown value `dockr` in compute environment `d`".to_string()),
            (5, "compute environment `d`: `64Gb` is not a size: unknown unit `Gb`; use `Ki`, `Mi`, `Gi`, `Ti` (or `K`, `M`, `G`, `T`)".to_string()),
            (6, "unknown key `max_vcpu` in compute environment `d`".to_string()),
            (7, "unknown key `vcpu_hr` in compute environment `d`".to_string()),
            (12, "queue `default`: invalid type: string \"high\", expected a whole number".to_string()),
            (13, "unknown key `polcy` in queue `default`".to_string()),
            (15, "unknown section `queus`".to_string()),
        ],
        "{text}"
    );
    assert!(text.contains("help: did you mean `docker`?"), "{text}");
    assert!(text.contains("help: did you mean `max_vcpus`?"), "{text}");
    assert!(text.contains("help: did you mean `vcpu_hour`?"), "{text}");
    assert!(text.contains("help: did you mean `[[queues]]`?"), "{text}");
    assert!(text.contains("weir.toml:6:1: error"), "{text}");
}

#[test]
fn references_names_and_numbers_are_checked() {
    let src = r#"[[compute_environments]]
name = "docker"
backend = "docker"
max_vcpus = 0
max_memory = "1Gi"
price = { vcpu_hour = -1.0 }

[[compute_environments]]
name = "docker"
backend = "process"
max_vcpus = 2
max_memory = "1Gi"

[[queues]]
name = "batch"
compute_environments = ["dockr", "docker", "docker"]
share_decay_seconds = 700000

[[queues]]
name = "bad name"
compute_environments = []
scheduling_policy = "fair_share"
compute_reservation = 100

[[teams]]
name = "a"
weight = 0
image_prefixes = ["", "reg/a", "reg/a/x", "reg/*"]

[[teams]]
name = "a"
"#;
    let report = parse(src);
    let text = report.render("weir.toml", src);
    let got = problems(src);
    let expect: &[(u32, &str)] = &[
        (
            4,
            "compute environment `docker`: `max_vcpus` must be a positive number, found 0",
        ),
        (
            6,
            "compute environment `docker`: price `vcpu_hour` must be 0 or more, found -1",
        ),
        (9, "compute environment `docker` is defined twice"),
        (15, "there is no queue named `default`"),
        (
            16,
            "queue `batch` names an unknown compute environment `dockr`",
        ),
        (16, "queue `batch` lists compute environment `docker` twice"),
        (
            17,
            "queue `batch`: `share_decay_seconds` may be at most 604800 (one week), found 700000",
        ),
        (
            17,
            "queue `batch` is FIFO, so `share_decay_seconds` has no effect",
        ),
        (
            20,
            "`bad name` is not a valid queue name: ` ` may not appear in an id: use letters, digits, `_`, `.` and `-`",
        ),
        (21, "queue `bad name` feeds no compute environment"),
        (
            23,
            "queue `bad name`: `compute_reservation` is a percentage from 0 to 99, found 100",
        ),
        (27, "team `a`: `weight` must be a positive number, found 0"),
        (28, "team `a`: image prefix `` is empty or holds spaces"),
        (
            28,
            "team `a`: image prefix `reg/a/x` is already allowed by an earlier prefix",
        ),
        (28, "team `a`: image prefix `reg/*` holds `*`"),
        (31, "team `a` is defined twice"),
    ];
    let got_ref: Vec<(u32, &str)> = got.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(got_ref, expect, "{text}");
    assert!(text.contains("help: did you mean `docker`?"), "{text}");
    let warnings: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.pos.line)
        .collect();
    assert_eq!(warnings, [15, 17, 28]);
}

#[test]
fn toml_syntax_errors_are_located() {
    let src = "[[queues]]\nname = \"a\"\ncompute_environments = [\"x\"\n";
    let report = parse(src);
    assert!(report.config.is_none());
    assert_eq!(report.diagnostics.len(), 1);
    let d = &report.diagnostics[0];
    assert!(d.message.starts_with("malformed TOML"), "{}", d.message);
    assert_eq!(d.pos.line, 3);

    let one_table = parse("[queues]\nname = \"a\"\n");
    assert_eq!(
        one_table.diagnostics[0].message,
        "`queues` must be a list of tables"
    );
    assert_eq!(one_table.diagnostics[0].pos, Pos::new(1, 2));

    let missing = problems("[[teams]]\nweight = 2\n");
    assert_eq!(
        missing,
        [(
            1,
            "this team is missing the required key `name`".to_string()
        )]
    );

    // An empty file is a valid (empty) config.
    assert_eq!(load("").compute_environments.len(), 0);
}

#[test]
fn standalone_default_runs_everything_and_restricts_nothing() {
    let with_docker = PlatformConfig::standalone_default(8.0, 16 * GIB, true);
    let names: Vec<&str> = with_docker
        .compute_environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["process", "docker"]);
    let q = with_docker.queue(DEFAULT_QUEUE).expect("default queue");
    assert_eq!(q.compute_environments, ["process", "docker"]);
    assert_eq!(q.scheduling_policy, SchedulingPolicy::Fifo);
    assert_eq!(
        with_docker.environment("docker").expect("env").max_vcpus,
        8.0
    );
    assert_eq!(
        with_docker.image_allowed("anyone", "evil/image:latest"),
        Ok(())
    );
    assert_eq!(
        with_docker.container_policy("anyone"),
        ContainerPolicy::default()
    );

    let without = PlatformConfig::standalone_default(2.0, GIB, false);
    assert_eq!(without.compute_environments.len(), 1);
    assert_eq!(
        without
            .check_fit(DEFAULT_QUEUE, Workload::Container, Request::default())
            .unwrap_err()
            .to_string(),
        "queue `default` feeds no compute environment that runs container work"
    );

    // A file with teams only keeps the standalone environments, but its team rules.
    let teams_only = load("[[teams]]\nname = \"a\"\nimage_prefixes = [\"reg/a\"]\n")
        .or_defaults(with_docker.clone());
    assert_eq!(teams_only.origin, ConfigOrigin::File);
    assert_eq!(teams_only.compute_environments.len(), 2);
    assert!(teams_only.image_allowed("a", "reg/b/x").is_err());
}

#[test]
fn image_policy_names_team_image_and_prefixes() {
    let c = load(EXAMPLE);
    assert_eq!(
        c.image_allowed("marketing", "registry.example.com/marketing/etl:1.4.2"),
        Ok(())
    );
    assert_eq!(
        c.image_allowed("marketing", "registry.example.com/shared/dbt:1.7"),
        Ok(())
    );
    assert_eq!(
        c.image_allowed("marketing", "registry.example.com/shared/dbt"),
        Ok(())
    );
    assert_eq!(
        c.image_allowed("marketing", "registry.example.com/shared/dbt-evil:1"),
        Err("team `marketing` may not run image `registry.example.com/shared/dbt-evil:1`: its images must start with `registry.example.com/marketing/` or `registry.example.com/shared/dbt`".into())
    );
    assert_eq!(
        c.image_allowed("ghosts", "busybox"),
        Err("team `ghosts` may not run image `busybox`: the platform config lists no team `ghosts`, so it may run no images".into())
    );
    assert_eq!(c.image_allowed("platform", "anything/at:all"), Ok(()));
    let none = load("[[teams]]\nname = \"t\"\n");
    assert!(
        none.image_allowed("t", "x")
            .unwrap_err()
            .contains("gives it no `image_prefixes`")
    );

    assert_eq!(
        c.container_policy("platform"),
        ContainerPolicy {
            privileged: true,
            host_network: true,
            host_mounts: true
        }
    );
    assert_eq!(c.container_policy("marketing"), ContainerPolicy::default());
    assert_eq!(c.container_policy("ghosts"), ContainerPolicy::default());

    assert!(prefix_matches("reg/a:", "reg/a:1"));
    assert!(prefix_matches("reg/a", "reg/a@sha256:00"));
    assert!(!prefix_matches("reg/a", "reg/ab"));
    assert!(!prefix_matches("", "reg"));
}

#[test]
fn fit_checks_name_the_queue_and_sizes() {
    let c = load(EXAMPLE);
    assert_eq!(
        c.check_fit("shared", Workload::Container, Request::new(32.0, 256 * GIB)),
        Ok(())
    );
    assert_eq!(
        c.check_fit("default", Workload::Process, Request::new(4.0, GIB)),
        Ok(())
    );
    let too_big = c
        .check_fit("shared", Workload::Container, Request::new(64.0, GIB))
        .unwrap_err();
    assert_eq!(
        too_big.to_string(),
        "the try asks 64 vCPU and 1Gi of memory, more than any environment of queue `shared` has (`docker-small`: 8 vCPU, 32Gi; `docker-large`: 32 vCPU, 256Gi)"
    );
    assert!(matches!(
        c.check_fit("nope", Workload::Process, Request::default()),
        Err(FitError::UnknownQueue { .. })
    ));
    assert_eq!(format_bytes(1536 * 1024 * 1024), "1.5Gi");
    assert_eq!(format_bytes(512), "512");
}

#[test]
fn auth_section_reads_oidc_and_log_readers() {
    let src = r#"
[[teams]]
name = "marketing"
logs_readable_by = "everyone"

[[teams]]
name = "finance"

[auth.oidc]
issuer = "https://idp.example.com"
audience = ["weir"]

[[auth.oidc.role_mappings]]
value = "mkt-engineers"
team = "marketing"
role = "operator"

[[auth.oidc.role_mappings]]
claim = "department"
value = "platform"
role = "platform_admin"
"#;
    let c = load(src);
    let oidc = c.auth.oidc.as_ref().unwrap();
    assert_eq!(oidc.issuer, "https://idp.example.com");
    assert_eq!(oidc.leeway_seconds, 60);
    assert_eq!(oidc.groups_claim, "groups");
    assert_eq!(oidc.role_mappings.len(), 2);
    assert_eq!(
        c.log_readers("marketing"),
        crate::access::LogReaders::Everyone
    );
    assert_eq!(c.log_readers("finance"), crate::access::LogReaders::Team);
    assert_eq!(c.log_readers("unlisted"), crate::access::LogReaders::Team);
}

#[test]
fn auth_section_problems_are_located() {
    let src = "[auth.oidc]\nissuer = \"idp.example.com\"\naudience = []\nleway_seconds = 5\n\n[[auth.oidc.role_mappings]]\nvalue = \"g\"\nrole = \"operator\"\n";
    let report = parse(src);
    assert!(report.config.is_none());
    let text = report.render("weir.toml", src);
    assert!(text.contains("unknown key `leway_seconds`"), "{text}");
    assert!(text.contains("did you mean `leeway_seconds`"), "{text}");
    assert!(text.contains("must be an http(s) URL"), "{text}");
    assert!(text.contains("at least one accepted audience"), "{text}");
    assert!(text.contains("name the team"), "{text}");

    let report = parse("[autth]\nx = 1\n");
    let text = report.render("weir.toml", "[autth]\nx = 1\n");
    assert!(text.contains("did you mean `[auth]`"), "{text}");
}

#[test]
fn log_limit_is_a_size_with_a_default() {
    assert_eq!(
        load("").logs.max_bytes_per_try,
        MemorySize(DEFAULT_MAX_LOG_BYTES_PER_TRY)
    );
    let c = load("[logs]\nmax_bytes_per_try = \"1Mi\"\n");
    assert_eq!(c.logs.max_bytes_per_try, MemorySize(1024 * 1024));
    assert_eq!(load(EXAMPLE).logs, LogSettings::default());

    let bad = problems("[logs]\nmax_bytes_per_try = \"lots\"\n");
    assert_eq!(bad.len(), 1, "{bad:?}");
    let typo = problems("[logs]\nmax_bytes = \"1Mi\"\n");
    assert!(
        typo.iter()
            .any(|(_, m)| m.contains("unknown key `max_bytes`")),
        "{typo:?}"
    );
    let section = problems("[log]\nmax_bytes_per_try = \"1Mi\"\n");
    assert!(
        section
            .iter()
            .any(|(_, m)| m.contains("unknown section `log`")),
        "{section:?}"
    );
}

/// Like [`problems`], each with its help.
fn problems_with_help(src: &str) -> Vec<(u32, String, Option<String>)> {
    let report = parse(src);
    assert_eq!(report.config.is_none(), report.has_errors());
    report
        .diagnostics
        .into_iter()
        .map(|d| (d.pos.line, d.message, d.help))
        .collect()
}

#[test]
fn approval_policies_are_read_and_must_name_a_declared_team() {
    let c = load(
        "[[teams]]\nname = \"marketing\"\napproval = \"team:security\"\n\n[[teams]]\nname = \"security\"\napproval = \"team:security\"\n",
    );
    let security = crate::ids::TeamId::new("security").unwrap();
    assert_eq!(
        c.approval_policy("marketing"),
        ApprovalPolicy::Team(security.clone())
    );
    assert_eq!(
        c.approval_policy("security"),
        ApprovalPolicy::Team(security)
    );
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["teams"][0]["approval"], "team:security");
    assert_eq!(serde_json::from_value::<PlatformConfig>(json).unwrap(), c);

    let src = r#"[[teams]]
name = "security"

[[teams]]
name = "finance"
approval = "team:securty"

[[teams]]
name = "hr"
approval = "team:nobody"

[[teams]]
name = "ops"
approval = "four_eyes"
"#;
    let got = problems_with_help(src);
    let expect = [
        (
            6,
            "team `finance`: `approval` names team `securty`, which no `[[teams]]` entry declares",
            Some("did you mean `team:security`?"),
        ),
        (
            10,
            "team `hr`: `approval` names team `nobody`, which no `[[teams]]` entry declares",
            Some("declare the reviewing team in a `[[teams]]` section"),
        ),
        (
            14,
            "team `ops`: `four_eyes` is not an approval policy; write \"other_person\", \"other_team\" or \"team:NAME\"",
            None,
        ),
    ];
    let got_ref: Vec<_> = got
        .iter()
        .map(|(l, m, h)| (*l, m.as_str(), h.as_deref()))
        .collect();
    assert_eq!(got_ref, expect);
}

#[test]
fn the_repository_table_is_read_with_its_defaults() {
    assert_eq!(load("").repository, None);
    let c = load(
        "[[teams]]\nname = \"platform\"\n\n[repository]\nurl = \"git@github.com:acme/pipelines.git\"\nssh_key_secret = \"platform/deploy-key\"\n",
    );
    let r = c.repository.as_ref().expect("a repository");
    assert_eq!(
        r,
        &RepositorySettings {
            url: "git@github.com:acme/pipelines.git".into(),
            branch: DEFAULT_REPOSITORY_BRANCH.into(),
            path: String::new(),
            interval: HumanDuration(DEFAULT_REPOSITORY_INTERVAL),
            token_secret: None,
            ssh_key_secret: Some("platform/deploy-key".into()),
        }
    );
    assert_eq!(r.interval.0, Duration::from_secs(60));

    let c = load(
        "[[teams]]\nname = \"platform\"\n\n[repository]\nurl = \"https://git.example.com/data/pipelines.git\"\nbranch = \"release/2026\"\npath = \"weir/prod\"\ninterval = \"5m\"\ntoken_secret = \"platform/git-token\"\n",
    );
    let r = c.repository.as_ref().expect("a repository");
    assert_eq!(
        (r.branch.as_str(), r.path.as_str(), r.interval.0),
        ("release/2026", "weir/prod", Duration::from_secs(300))
    );
    assert_eq!(r.token_secret.as_deref(), Some("platform/git-token"));
    let back: PlatformConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back, c);

    // Every form of URL the settings document, with a user name where SSH needs one.
    for url in [
        "ssh://git@git.example.com/data/pipelines.git",
        "git@github.com:acme/pipelines.git",
        "file:///srv/git/pipelines.git",
        "/srv/git/pipelines",
        "../pipelines",
    ] {
        let c = load(&format!("[repository]\nurl = \"{url}\"\n"));
        assert_eq!(c.repository.map(|r| r.url).as_deref(), Some(url));
    }
}

#[test]
fn repository_problems_are_located() {
    let src = r#"[[teams]]
name = "platform"

[repository]
url = "-oProxyCommand=evil"
branch = "-x"
path = "../up"
interval = "0s"
token_secret = "platfrom/git-token"
ssh_key_secret = "deploy-key"
"#;
    let got = problems_with_help(src);
    let lines: Vec<(u32, &str)> = got.iter().map(|(l, m, _)| (*l, m.as_str())).collect();
    assert_eq!(
        lines,
        [
            (
                5,
                "[repository] `url` may not start with `-`, found `-oProxyCommand=evil`"
            ),
            (
                6,
                "[repository] `branch` may not start with `-`, found `-x`"
            ),
            (7, "[repository] `path` may not hold `..`, found `../up`"),
            (8, "[repository] `interval` must be from 1s to 1d, found 0s"),
            (
                9,
                "[repository] `token_secret` names team `platfrom`, which no `[[teams]]` entry declares"
            ),
            (
                10,
                "[repository] give `token_secret` or `ssh_key_secret`, not both"
            ),
            (
                10,
                "[repository] `ssh_key_secret` must name a secret as `team/name`, found `deploy-key`"
            ),
        ]
    );
    assert_eq!(
        got[4].2.as_deref(),
        Some("did you mean `platform/git-token`?")
    );

    let src = r#"[[teams]]
name = "platform"

[repository]
url = " "
branch = "feature x"
path = "/srv/weir"
interval = "2d"
token_secret = "platform/bad name"
"#;
    let got = problems(src);
    let lines: Vec<(u32, &str)> = got.iter().map(|(l, m)| (*l, m.as_str())).collect();
    assert_eq!(
        lines,
        [
            (5, "[repository] `url` may not be empty"),
            (
                6,
                "[repository] `branch` must be a branch name without spaces, found `feature x`"
            ),
            (
                7,
                "[repository] `path` must be relative to the repository's root, found `/srv/weir`"
            ),
            (8, "[repository] `interval` must be from 1s to 1d, found 2d"),
            (
                9,
                "[repository] `token_secret`: `bad name` is not a valid secret name: use letters, digits, `.`, `_` and `-`, starting with a letter or digit"
            ),
        ]
    );
}

#[test]
fn repository_credentials_in_clear_are_refused() {
    let src = "[repository]\nurl = \"https://weir:hunter2@git.example.com/x.git\"\ntoken = \"ghp_0123456789\"\npassword = \"hunter2\"\nssh_key = \"-----BEGIN\"\n";
    let got = problems_with_help(src);
    let put_in_secret = |key: &str| {
        Some(format!(
            "put it in a secret and name it with {key} = \"team/name\""
        ))
    };
    assert_eq!(
        got,
        [
            (
                2,
                "[repository] `url` may not hold credentials (a user name, password or token before `@`)".to_string(),
                Some("put the token in a secret and name it with `token_secret = \"team/name\"`".to_string())
            ),
            (
                3,
                "[repository] may not hold a credential in clear (`token`)".to_string(),
                put_in_secret("token_secret")
            ),
            (
                4,
                "[repository] may not hold a credential in clear (`password`)".to_string(),
                put_in_secret("token_secret")
            ),
            (
                5,
                "[repository] may not hold a credential in clear (`ssh_key`)".to_string(),
                put_in_secret("ssh_key_secret")
            ),
        ]
    );
    // A token passes as an https URL's user name, so any user part is refused there.
    let token_as_user =
        problems("[repository]\nurl = \"https://ghp_0123456789@github.com/acme/x.git\"\n");
    assert_eq!(token_as_user.len(), 1, "{token_as_user:?}");
    assert!(token_as_user[0].1.contains("may not hold credentials"));
}

#[test]
fn repository_table_typos_and_missing_url_are_reported() {
    let got = problems_with_help("[repository]\nurl = \"/srv/git/x\"\nbranchh = \"main\"\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].0, got[0].1.as_str(), got[0].2.as_deref()),
        (
            3,
            "unknown key `branchh` in this [repository] table",
            Some("did you mean `branch`?")
        )
    );
    let missing = problems("\n[repository]\nbranch = \"main\"\n");
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].0, 2, "{missing:?}");
    assert_eq!(
        missing[0].1,
        "this [repository] table is missing the required key `url`"
    );
    let bad = problems("[repository]\nurl = \"x\"\ninterval = \"often\"\n");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert_eq!(bad[0].0, 3);
    let section = problems_with_help("[repositry]\nurl = \"x\"\n");
    assert_eq!(
        section[0].2.as_deref(),
        Some("did you mean `[repository]`?")
    );
    let list = problems("[[repository]]\nurl = \"x\"\n");
    assert_eq!(list.len(), 1, "{list:?}");
}

#[test]
fn kubernetes_environments_say_which_cluster() {
    let src = r#"
[[compute_environments]]
name = "k8s"
backend = "kubernetes"
max_vcpus = 64
max_memory = "256Gi"

[compute_environments.kubernetes]
kubeconfig = "/etc/weir/kubeconfig"
context = "batch"
service_account = "runner-{team}"
team_namespaces = { marketing = "mkt-batch" }

[[queues]]
name = "default"
compute_environments = ["k8s"]
"#;
    let c = load(src);
    let env = c.environment("k8s").expect("env");
    assert_eq!(env.backend, Backend::Kubernetes);
    assert_eq!(Backend::from_name("kubernetes"), Some(Backend::Kubernetes));
    assert!(Backend::Kubernetes.runs(Workload::Container));
    assert!(!Backend::Kubernetes.runs(Workload::Process));
    let k = env.kubernetes.as_ref().expect("settings");
    assert_eq!(k.context.as_deref(), Some("batch"));
    assert_eq!(
        k.ttl_seconds_after_finished,
        DEFAULT_TTL_SECONDS_AFTER_FINISHED
    );
    assert_eq!(k.namespace_for(Some("marketing")), "mkt-batch");
    assert_eq!(k.namespace_for(Some("finance")), "weir-finance");
    assert_eq!(
        c.environment_for("default", Workload::Container).as_deref(),
        Some("k8s")
    );

    // No settings; settings on docker; both ways to the cluster; two different clusters.
    let bad = r#"
[[compute_environments]]
name = "k1"
backend = "kubernetes"
max_vcpus = 1
max_memory = "1Gi"

[[compute_environments]]
name = "d"
backend = "docker"
max_vcpus = 1
max_memory = "1Gi"
kubernetes = { kubeconfig = "/k" }

[[compute_environments]]
name = "k2"
backend = "kubernetes"
max_vcpus = 1
max_memory = "1Gi"
kubernetes = { kubeconfig = "/k", in_cluster = true }

[[compute_environments]]
name = "k3"
backend = "kubernetes"
max_vcpus = 1
max_memory = "1Gi"
kubernetes = { kubeconfig = "/other" }
"#;
    let found = problems(bad);
    let messages: Vec<&str> = found.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(messages[0].contains("`k1` runs on Kubernetes but does not say which cluster"));
    assert!(messages[1].contains("`d` has Kubernetes settings but its backend is `docker`"));
    assert!(messages[2].contains("both `kubeconfig` and `in_cluster = true`"));
    assert!(messages[3].contains("`k2` and `k3` both run on Kubernetes with different settings"));
    let report = parse(bad);
    let helps: Vec<String> = report
        .diagnostics
        .iter()
        .filter_map(|d| d.help.clone())
        .collect();
    assert!(
        helps[0].contains("[compute_environments.kubernetes]"),
        "{helps:?}"
    );
}

const AWS_BATCH: &str = r#"
[[compute_environments]]
name = "batch"
backend = "aws-batch"
max_vcpus = 64
max_memory = "256Gi"

[compute_environments.aws_batch]
region = "eu-west-1"
endpoint = "http://127.0.0.1:5058"
job_queues = { default = "weir-default" }
job_roles = { marketing = "arn:aws:iam::123456789012:role/weir-marketing" }
tags = { cost-center = "data" }

[[queues]]
name = "default"
compute_environments = ["batch"]

[[teams]]
name = "marketing"
image_prefixes = ["*"]
"#;

#[test]
fn an_aws_batch_environment_runs_containers() {
    let c = load(AWS_BATCH);
    let env = c.environment("batch").expect("env");
    assert_eq!(env.backend, Backend::AwsBatch);
    assert_eq!(env.backend.as_str(), "aws-batch");
    assert_eq!(Backend::from_name("aws-batch"), Some(Backend::AwsBatch));
    assert!(Backend::NAMES.contains(&"aws-batch"));
    assert!(Backend::AwsBatch.runs(Workload::Container));
    assert!(!Backend::AwsBatch.runs(Workload::Process));
    let settings = env.aws_batch.as_ref().expect("settings");
    assert_eq!(settings.job_queues["default"], "weir-default");
    assert_eq!(settings.log_group(), DEFAULT_BATCH_LOG_GROUP);
    assert_eq!(settings.name_prefix(), "weir-");
    assert_eq!(
        c.environment_for("default", Workload::Container).as_deref(),
        Some("batch")
    );
    // The typed tree round-trips through serde, with the kind's hyphenated name.
    let json = serde_json::to_value(&c).expect("json");
    assert_eq!(json["compute_environments"][0]["backend"], "aws-batch");
    let back: PlatformConfig = serde_json::from_value(json).expect("back");
    assert_eq!(back.compute_environments, c.compute_environments);
}

#[test]
fn aws_batch_problems_say_what_to_write() {
    let missing = AWS_BATCH.replace(
        "[compute_environments.aws_batch]",
        "[compute_environments.elsewhere]",
    );
    let found = problems(&missing);
    assert!(
        found.iter().any(|(_, m)| m.contains("unknown key")),
        "{found:?}"
    );
    let cut = AWS_BATCH
        .split("[compute_environments.aws_batch]")
        .next()
        .expect("head")
        .to_string()
        + "[[queues]]\nname = \"default\"\ncompute_environments = [\"batch\"]\n";
    assert_eq!(
        problems(&cut),
        [(
            4,
            "compute environment `batch` runs on AWS Batch but has no `[compute_environments.aws_batch]` table".to_string()
        )]
    );
    let bad = AWS_BATCH
        .replace(
            "job_queues = { default = \"weir-default\" }",
            "job_queues = { defualt = \"q\" }",
        )
        .replace("123456789012:role", "1234:role")
        .replace("cost-center", "\"weir:team\"")
        .replace("eu-west-1", "EU West");
    let found: Vec<String> = problems(&bad).into_iter().map(|(_, m)| m).collect();
    for want in [
        "`aws_batch.region` `EU West` is not an AWS region name",
        "queue `default` feeds this environment, but `aws_batch.job_queues` names no Batch job queue for it",
        "`aws_batch.job_queues` names an unknown queue `defualt`",
        "`aws_batch.job_roles.marketing` `arn:aws:iam::1234:role/weir-marketing` is not an IAM role ARN",
        "tag `weir:team` uses a reserved prefix",
    ] {
        assert!(found.iter().any(|m| m.contains(want)), "{want}: {found:?}");
    }
    let report = parse(&bad);
    let unknown = report
        .diagnostics
        .iter()
        .find(|d| d.message.contains("unknown queue"))
        .expect("diagnostic");
    assert_eq!(unknown.help.as_deref(), Some("did you mean `default`?"));
    let misplaced = AWS_BATCH.replace("backend = \"aws-batch\"", "backend = \"docker\"");
    assert!(
        problems(&misplaced)
            .iter()
            .any(|(_, m)| m.contains("has an `aws_batch` table but its backend is `docker`")),
    );
}
