//! Property test of the dispatcher: on random lines, running work and outages, every
//! try is answered exactly once and no environment is filled past its capacity.

use std::collections::HashMap;

use proptest::prelude::*;

use super::tests::{at, config, team_id};
use super::*;

const TWO_QUEUES: &str = r#"
[[compute_environments]]
name = "d1"
backend = "docker"
max_vcpus = 4
max_memory = "8Gi"

[[compute_environments]]
name = "d2"
backend = "docker"
max_vcpus = 6.5
max_memory = "4Gi"

[[compute_environments]]
name = "p"
backend = "process"
max_vcpus = 2
max_memory = "2Gi"

[[queues]]
name = "default"
priority = 1
compute_environments = ["d1", "p", "d2"]
scheduling_policy = "fair_share"
compute_reservation = 30

[[queues]]
name = "fast"
priority = 5
compute_environments = ["d2"]
"#;

fn arb_try() -> impl Strategy<Value = (usize, usize, bool, u32, u32, bool)> {
    // queue, team, shell?, vCPU tenths, memory in 256Mi units, pool-held?
    (
        0..3usize,
        0..3usize,
        any::<bool>(),
        0..80u32,
        1..40u32,
        prop::bool::weighted(0.1),
    )
}

proptest! {
    #[test]
    fn plans_account_for_every_try_and_never_overfill(
        tries in prop::collection::vec(arb_try(), 0..60),
        running in prop::collection::vec((0..3usize, 0..3usize, 1..20u32), 0..8),
        d1_down in any::<bool>(),
    ) {
        let c = config(TWO_QUEUES);
        let queues = ["default", "fast", "missing"];
        let envs = ["d1", "d2", "p"];
        let waiting: Vec<WaitingTry<String>> = tries
            .iter()
            .enumerate()
            .map(|(i, &(q, team, shell, tenths, mem, pooled))| WaitingTry {
                id: format!("t{i}"),
                queue: queues[q].into(),
                team: team_id(&format!("team{team}")),
                workload: if shell { Workload::Process } else { Workload::Container },
                request: Request::new(f64::from(tenths) / 10.0, u64::from(mem) * 256 * 1024 * 1024),
                enqueued_at: at(i as i64 % 7),
                sequence: i as u64,
                hold: pooled.then(|| Hold::Pool { pool: "p".into() }),
            })
            .collect();
        // Running work that fits the environments (as the engine guarantees).
        let mut used: HashMap<&str, (i64, u64)> = HashMap::new();
        let mut run_list = Vec::new();
        for &(env, team, tenths) in &running {
            let e = c.environment(envs[env]).unwrap();
            let u = used.entry(envs[env]).or_default();
            let mem = 256 * 1024 * 1024;
            if u.0 + i64::from(tenths) * 100 <= (e.max_vcpus * 1000.0) as i64 && u.1 + mem <= e.max_memory.0 {
                u.0 += i64::from(tenths) * 100;
                u.1 += mem;
                run_list.push(RunningTry {
                    queue: "default".into(),
                    team: team_id(&format!("team{team}")),
                    environment: envs[env].into(),
                    request: Request::new(f64::from(tenths) / 10.0, mem),
                });
            }
        }
        let unavailable = if d1_down { vec!["d1".to_string()] } else { Vec::new() };
        let plan = dispatch(&DispatchInput {
            now: at(10),
            config: &c,
            unavailable: &unavailable,
            running: &run_list,
            waiting: &waiting,
            usage: &[],
        });

        // Every try is in exactly one of the three answers.
        let mut seen: Vec<&str> = plan.start.iter().map(|p| p.id.as_str())
            .chain(plan.waiting.iter().map(|w| w.id.as_str()))
            .chain(plan.never_fit.iter().map(|n| n.id.as_str()))
            .collect();
        seen.sort_unstable();
        let mut ids: Vec<&str> = waiting.iter().map(|t| t.id.as_str()).collect();
        ids.sort_unstable();
        prop_assert_eq!(seen, ids);

        // Starts land on an available environment of their queue that runs them,
        // and no environment is ever filled past its capacity.
        for p in &plan.start {
            let t = waiting.iter().find(|t| t.id == p.id).unwrap();
            let e = c.environment(&p.environment).unwrap();
            prop_assert!(c.queue(&p.queue).unwrap().compute_environments.contains(&e.name));
            prop_assert!(e.backend.runs(t.workload));
            prop_assert!(!unavailable.contains(&e.name));
            prop_assert!(t.hold.is_none());
            let u = used.entry(envs.iter().find(|n| **n == e.name).unwrap()).or_default();
            u.0 += (t.request.vcpus * 1000.0).round() as i64;
            u.1 += t.request.memory_bytes;
            prop_assert!(u.0 <= (e.max_vcpus * 1000.0).round() as i64, "{} over vCPUs", e.name);
            prop_assert!(u.1 <= e.max_memory.0, "{} over memory", e.name);
        }

        // Positions count 1, 2, 3… within each queue.
        for q in ["default", "fast"] {
            let positions: Vec<usize> = plan.waiting.iter().filter(|w| w.queue == q).map(|w| w.position).collect();
            prop_assert_eq!(positions.clone(), (1..=positions.len()).collect::<Vec<_>>());
        }
    }
}
