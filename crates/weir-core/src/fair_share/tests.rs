use chrono::TimeZone;

use super::*;
use crate::platform;

const GIB: u64 = 1024 * 1024 * 1024;

pub(super) fn config(toml: &str) -> PlatformConfig {
    let report = platform::parse(toml);
    assert!(!report.has_errors(), "{}", report.render("weir.toml", toml));
    report.config.expect("config")
}

pub(super) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

pub(super) fn team_id(team: &str) -> TeamId {
    TeamId::new(team).unwrap()
}

pub(super) fn try_(id: &str, queue: &str, team: &str, vcpus: f64, seq: u64) -> WaitingTry<String> {
    WaitingTry {
        id: id.into(),
        queue: queue.into(),
        team: team_id(team),
        workload: Workload::Container,
        request: Request::new(vcpus, GIB),
        enqueued_at: at(0),
        sequence: seq,
        hold: None,
    }
}

fn run(env: &str, queue: &str, team: &str, vcpus: f64) -> RunningTry {
    RunningTry {
        queue: queue.into(),
        team: team_id(team),
        environment: env.into(),
        request: Request::new(vcpus, GIB),
    }
}

fn plan(
    config: &PlatformConfig,
    running: &[RunningTry],
    waiting: &[WaitingTry<String>],
    usage: &[TeamUsage],
) -> DispatchPlan<String> {
    dispatch(&DispatchInput {
        now: at(0),
        config,
        unavailable: &[],
        running,
        waiting,
        usage,
    })
}

fn started(p: &DispatchPlan<String>) -> Vec<(&str, &str)> {
    p.start
        .iter()
        .map(|s| (s.id.as_str(), s.environment.as_str()))
        .collect()
}

fn waits(p: &DispatchPlan<String>) -> Vec<(&str, usize, String)> {
    p.waiting
        .iter()
        .map(|w| (w.id.as_str(), w.position, w.reason.to_string()))
        .collect()
}

const ONE_ENV: &str = r#"
[[compute_environments]]
name = "d"
backend = "docker"
max_vcpus = 4
max_memory = "8Gi"

[[compute_environments]]
name = "p"
backend = "process"
max_vcpus = 2
max_memory = "8Gi"

[[queues]]
name = "default"
compute_environments = ["p", "d"]
"#;

#[test]
fn fifo_serves_oldest_first_and_nothing_overtakes_a_waiting_try() {
    let c = config(ONE_ENV);
    let mut waiting = vec![
        try_("d", "default", "x", 1.0, 4),
        try_("a", "default", "x", 2.0, 1),
        try_("b", "default", "y", 2.0, 2),
        try_("c", "default", "y", 1.0, 3),
    ];
    waiting[0].enqueued_at = at(-10); // oldest, despite its sequence
    let running = [run("d", "default", "z", 1.0)];
    let p = plan(&c, &running, &waiting, &[]);
    // d (1) and a (2) fill 3 of the 3 free vCPUs; b waits and holds the room, so c,
    // small enough for what is left later, does not overtake it.
    assert_eq!(started(&p), [("d", "d"), ("a", "d")]);
    assert_eq!(
        waits(&p),
        [
            ("b", 1, "waiting for capacity".into()),
            ("c", 2, "waiting for capacity".into())
        ]
    );
    assert!(p.never_fit.is_empty());
    let depth: Vec<(&str, usize, usize)> = p
        .depth
        .iter()
        .map(|d| (d.team.as_str(), d.waiting, d.running))
        .collect();
    assert_eq!(depth, [("x", 0, 2), ("y", 2, 0), ("z", 0, 1)]);

    // Shell work goes to the process environment, whatever waits for Docker.
    let mut shell = try_("s", "default", "x", 2.0, 9);
    shell.workload = Workload::Process;
    let p = plan(
        &c,
        &running,
        &[try_("big", "default", "x", 4.0, 1), shell],
        &[],
    );
    assert_eq!(started(&p), [("s", "p")]);
    assert_eq!(waits(&p), [("big", 1, "waiting for capacity".into())]);
}

#[test]
fn higher_priority_queues_go_first_and_hold_their_room() {
    let c = config(
        r#"
[[compute_environments]]
name = "d"
backend = "docker"
max_vcpus = 4
max_memory = "8Gi"

[[compute_environments]]
name = "other"
backend = "docker"
max_vcpus = 4
max_memory = "8Gi"

[[queues]]
name = "low"
priority = 1
compute_environments = ["d"]

[[queues]]
name = "default"
priority = 1
compute_environments = ["other"]

[[queues]]
name = "high"
priority = 10
compute_environments = ["d"]
"#,
    );
    let mut waiting = vec![
        try_("low1", "low", "x", 1.0, 1),
        try_("high1", "high", "x", 2.0, 2),
        try_("high2", "high", "x", 3.0, 3),
        try_("elsewhere", "default", "x", 1.0, 4),
    ];
    waiting[0].enqueued_at = at(-100);
    let p = plan(&c, &[], &waiting, &[]);
    assert_eq!(started(&p), [("high1", "d"), ("elsewhere", "other")]);
    assert_eq!(
        waits(&p),
        [
            ("high2", 1, "waiting for capacity".into()),
            (
                "low1",
                1,
                "capacity is held for try high2 of higher-priority queue `high`".into()
            ),
        ]
    );
    assert_eq!(p.waiting[1].reason.code(), "capacity");
}

#[test]
fn a_try_that_can_never_fit_is_reported_not_queued() {
    let c = config(ONE_ENV);
    let mut mem_hog = try_("mem", "default", "x", 1.0, 2);
    mem_hog.request.memory_bytes = 9 * GIB;
    let waiting = [
        try_("huge", "default", "x", 5.0, 1),
        mem_hog,
        try_("lost", "nowhere", "x", 1.0, 3),
        try_("ok", "default", "x", 4.0, 4),
    ];
    let p = plan(&c, &[], &waiting, &[]);
    assert_eq!(started(&p), [("ok", "d")]);
    assert!(p.waiting.is_empty());
    let never: Vec<(&str, String)> = p
        .never_fit
        .iter()
        .map(|n| (n.id.as_str(), n.error.to_string()))
        .collect();
    assert_eq!(
        never,
        [
            ("huge", "the try asks 5 vCPU and 1Gi of memory, more than any environment of queue `default` has (`d`: 4 vCPU, 8Gi)".into()),
            ("mem", "the try asks 1 vCPU and 9Gi of memory, more than any environment of queue `default` has (`d`: 4 vCPU, 8Gi)".into()),
            ("lost", "queue `nowhere` is not configured (known queues: default)".into()),
        ]
    );
    let json = serde_json::to_value(&p.never_fit[2]).expect("json");
    assert_eq!(
        json["error"],
        "queue `nowhere` is not configured (known queues: default)"
    );
}

#[test]
fn unavailable_environments_and_full_pools_hold_nothing() {
    let c = config(ONE_ENV);
    let mut pooled = try_("pooled", "default", "x", 1.0, 1);
    pooled.hold = Some(Hold::Pool { pool: "db".into() });
    let mut shell = try_("shell", "default", "x", 1.0, 3);
    shell.workload = Workload::Process;
    let waiting = [pooled, try_("container", "default", "x", 1.0, 2), shell];
    let p = dispatch(&DispatchInput {
        now: at(0),
        config: &c,
        unavailable: &["d".to_string()],
        running: &[],
        waiting: &waiting,
        usage: &[],
    });
    assert_eq!(started(&p), [("shell", "p")]);
    assert_eq!(
        waits(&p),
        [
            ("pooled", 1, "pool `db` has no free slot".into()),
            (
                "container",
                2,
                "compute environment `d` not available".into()
            ),
        ]
    );
    assert_eq!(p.waiting[0].reason.code(), "pool");
    assert_eq!(p.waiting[1].reason.code(), "unavailable");
}

pub(super) const FAIR: &str = r#"
[[compute_environments]]
name = "d"
backend = "docker"
max_vcpus = 8
max_memory = "64Gi"

[[queues]]
name = "default"
compute_environments = ["d"]
scheduling_policy = "fair_share"
share_decay_seconds = 600

[[teams]]
name = "a"
weight = 3
image_prefixes = ["*"]

[[teams]]
name = "b"
weight = 1
image_prefixes = ["*"]
"#;

#[test]
fn fair_share_splits_free_room_by_weight_and_orders_the_rest() {
    let c = config(FAIR);
    let mut waiting = Vec::new();
    for i in 0..20 {
        // b's tries are all older: FIFO would give b everything.
        waiting.push(try_(&format!("b{i}"), "default", "b", 1.0, i));
        waiting.push(try_(&format!("a{i}"), "default", "a", 1.0, 100 + i));
    }
    let p = plan(&c, &[], &waiting, &[]);
    let count = |team: &str| p.start.iter().filter(|s| s.team == team).count();
    assert_eq!((count("a"), count("b")), (6, 2));
    // The line goes on three of a's for each of b's.
    let line: String = p.waiting[..8]
        .iter()
        .map(|w| w.team.as_str())
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(line, "baaabaaa");
    assert_eq!(p.waiting[0].reason, WaitReason::Capacity);
    assert_eq!(
        p.waiting[1].reason,
        WaitReason::Policy {
            turn_of: team_id("b")
        }
    );
    assert_eq!(p.waiting[1].reason.code(), "policy");
    assert_eq!(p.waiting.iter().map(|w| w.position).max(), Some(32));

    // A team with recent heavy usage waits for the other to catch up.
    let usage = [TeamUsage {
        queue: "default".into(),
        team: team_id("a"),
        // 24 vCPUs on average over the recent past.
        usage: DecayedUsage {
            vcpu_seconds: 24.0 * 600.0 / std::f64::consts::LN_2,
            at: at(0),
        },
    }];
    let p = plan(&c, &[], &waiting, &usage);
    assert_eq!(p.start.iter().filter(|s| s.team == "b").count(), 8);

    // Running work counts as much as history.
    let running: Vec<RunningTry> = (0..6).map(|_| run("d", "default", "b", 1.0)).collect();
    let p = plan(&c, &running, &waiting, &[]);
    assert_eq!(started(&p).len(), 2);
    assert!(p.start.iter().all(|s| s.team == "a"));
}

#[test]
fn compute_reservation_keeps_room_for_newcomers() {
    let c = config(&FAIR.replace(
        "share_decay_seconds = 600",
        "share_decay_seconds = 0\ncompute_reservation = 50",
    ));
    let only_a: Vec<_> = (0..10)
        .map(|i| try_(&format!("a{i}"), "default", "a", 1.0, i))
        .collect();
    let p = plan(&c, &[], &only_a, &[]);
    // One team running: half of the 8 vCPUs stay free.
    assert_eq!(p.start.len(), 4);
    assert!(p.waiting.iter().all(|w| w.reason == WaitReason::Reserved));

    let running: Vec<RunningTry> = (0..4).map(|_| run("d", "default", "a", 1.0)).collect();
    let mut waiting = only_a[4..].to_vec();
    waiting.extend((0..4).map(|i| try_(&format!("b{i}"), "default", "b", 1.0, 50 + i)));
    let p = plan(&c, &running, &waiting, &[]);
    // b, new, may start; with two teams running a quarter (2 vCPUs) stays free.
    let ids: Vec<&str> = p.start.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["b0", "b1"]);
}

#[test]
fn usage_decays_by_half_life() {
    let hour = Duration::from_secs(3600);
    assert_eq!(decay(100.0, hour, hour), 50.0);
    assert_eq!(decay(100.0, 2 * hour, hour), 25.0);
    assert_eq!(decay(100.0, Duration::ZERO, hour), 100.0);
    assert_eq!(decay(100.0, hour, Duration::ZERO), 0.0);

    let u = DecayedUsage::zero(at(0)).add(at(0), hour, 3600.0);
    assert_eq!(u.value_at(at(3600), hour), 1800.0);
    assert_eq!(
        u.value_at(at(-50), hour),
        3600.0,
        "a clock going back decays nothing"
    );
    let later = u.add(at(3600), hour, 200.0);
    assert_eq!(
        later,
        DecayedUsage {
            vcpu_seconds: 2000.0,
            at: at(3600)
        }
    );

    // A team that keeps 2 vCPUs busy converges to 2 recent vCPUs.
    let mut u = DecayedUsage::zero(at(0));
    for minute in 1..=600 {
        u = u.add(at(minute * 60), hour, 2.0 * 60.0);
    }
    let recent = u.recent_vcpus(at(600 * 60), hour);
    assert!((recent - 2.0).abs() < 0.05, "{recent}");
    assert_eq!(u.recent_vcpus(at(0), Duration::ZERO), 0.0);
}
