//! The required simulation: two teams with weights 3:1, both backlogged with 200
//! equal jobs on one fair-share queue, served about 3:1 while both have work, capacity
//! never exceeded at any instant. Time is a discrete clock of one-second ticks.

use std::collections::HashMap;
use std::time::Duration;

use super::tests::{FAIR, at, config, try_};
use super::*;

const JOB_SECONDS: i64 = 60;
const CAPACITY_MILLI: i64 = 8_000;

struct Sim {
    config: PlatformConfig,
    waiting: Vec<WaitingTry<String>>,
    /// (try, team, vCPUs, memory, finishes at second)
    running: Vec<(String, TeamId, Request, i64)>,
    usage: HashMap<TeamId, DecayedUsage>,
    started: HashMap<TeamId, usize>,
    half_life: Duration,
}

impl Sim {
    fn new() -> Sim {
        let config = config(FAIR);
        let half_life = Duration::from_secs(config.queues[0].share_decay_seconds());
        Sim {
            config,
            waiting: Vec::new(),
            running: Vec::new(),
            usage: HashMap::new(),
            started: HashMap::new(),
            half_life,
        }
    }

    fn enqueue(&mut self, team: &str, n: usize, now: i64) {
        for i in 0..n {
            let seq = self.waiting.len() as u64 + 1000 * now as u64;
            let mut t = try_(&format!("{team}{i}"), "default", team, 1.0, seq);
            t.enqueued_at = at(now);
            self.waiting.push(t);
        }
    }

    fn waiting_of(&self, team: &str) -> usize {
        self.waiting.iter().filter(|t| t.team == team).count()
    }

    /// One tick: finish what is due (charging its usage), then dispatch and start.
    fn tick(&mut self, now: i64) {
        let (done, still): (Vec<_>, Vec<_>) =
            self.running.drain(..).partition(|(.., end)| *end <= now);
        self.running = still;
        for (_, team, request, _) in done {
            let u = self
                .usage
                .entry(team)
                .or_insert_with(|| DecayedUsage::zero(at(now)));
            *u = u.add(at(now), self.half_life, request.vcpus * JOB_SECONDS as f64);
        }

        let running: Vec<RunningTry> = self
            .running
            .iter()
            .map(|(_, team, request, _)| RunningTry {
                queue: "default".into(),
                team: team.clone(),
                environment: "d".into(),
                request: *request,
            })
            .collect();
        let usage: Vec<TeamUsage> = self
            .usage
            .iter()
            .map(|(team, u)| TeamUsage {
                queue: "default".into(),
                team: team.clone(),
                usage: *u,
            })
            .collect();
        let plan = dispatch(&DispatchInput {
            now: at(now),
            config: &self.config,
            unavailable: &[],
            running: &running,
            waiting: &self.waiting,
            usage: &usage,
        });
        assert!(plan.never_fit.is_empty());
        for p in plan.start {
            let idx = self
                .waiting
                .iter()
                .position(|t| t.id == p.id)
                .expect("started try was waiting");
            let t = self.waiting.remove(idx);
            *self.started.entry(t.team.clone()).or_default() += 1;
            self.running
                .push((t.id, t.team, t.request, now + JOB_SECONDS));
        }

        // Capacity is never exceeded: starts only happen here, so this is the peak.
        let used: i64 = self
            .running
            .iter()
            .map(|(_, _, r, _)| (r.vcpus * 1000.0).round() as i64)
            .sum();
        let memory: u64 = self.running.iter().map(|(_, _, r, _)| r.memory_bytes).sum();
        assert!(used <= CAPACITY_MILLI, "{used} milli-vCPUs at t={now}");
        assert!(memory <= 64 * 1024 * 1024 * 1024, "memory at t={now}");
        // Work-conserving: with equal 1-vCPU jobs, nothing sits idle while work waits.
        if !self.waiting.is_empty() {
            assert_eq!(used, CAPACITY_MILLI, "idle capacity at t={now}");
        }
    }

    fn started(&self, team: &str) -> usize {
        self.started.get(team).copied().unwrap_or(0)
    }
}

#[test]
fn two_backlogged_teams_are_served_three_to_one() {
    let mut sim = Sim::new();
    // b enqueues first: FIFO would serve all of b before any of a.
    sim.enqueue("b", 200, 0);
    sim.enqueue("a", 200, 0);
    let mut checked = 0;
    let mut now = 0;
    while !(sim.waiting.is_empty() && sim.running.is_empty()) {
        sim.tick(now);
        let both_waiting = sim.waiting_of("a") > 0 && sim.waiting_of("b") > 0;
        if both_waiting {
            let (a, b) = (sim.started("a"), sim.started("b"));
            let ratio = a as f64 / b as f64;
            assert!(
                (2.7..=3.3).contains(&ratio),
                "t={now}: a started {a}, b started {b}"
            );
            checked += 1;
        }
        now += 1;
        assert!(now < 100_000, "the simulation does not end");
    }
    assert_eq!((sim.started("a"), sim.started("b")), (200, 200));
    assert!(checked > 1000, "both teams had work for {checked} ticks");
    // a, with three times the share, finished its backlog in about a third of the time
    // b's 200 jobs then took alone: 200 / 6 rounds, then b runs on 8 vCPUs.
    assert!(now < 3200, "all done at t={now}");
}

#[test]
fn a_late_team_is_not_starved_and_a_heavy_past_user_yields() {
    let mut sim = Sim::new();
    sim.enqueue("a", 400, 0);
    for now in 0..600 {
        sim.tick(now);
    }
    assert_eq!(sim.started("a"), 80, "a alone uses all 8 vCPUs");
    sim.enqueue("b", 100, 600);
    let mut now = 600;
    // b gets its first vCPU as soon as one frees, and while a's recent usage is high b
    // gets more than its weight alone would give (2 of 8).
    while sim.started("b") == 0 {
        sim.tick(now);
        now += 1;
    }
    assert!(now <= 600 + JOB_SECONDS + 1, "b first started at t={now}");
    let b_running = sim.running.iter().filter(|r| r.1 == "b").count();
    assert!(
        b_running > 2,
        "b runs {b_running} of 8 right after arriving"
    );
    for t in now..now + 1800 {
        sim.tick(t);
    }
    // Once a's history has decayed, the split settles at the weights: 6 and 2.
    let b_running = sim.running.iter().filter(|r| r.1 == "b").count();
    assert_eq!(b_running, 2);
}
