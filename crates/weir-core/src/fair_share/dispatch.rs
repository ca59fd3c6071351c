//! One dispatch round: the algorithm the module docs describe.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use super::{
    DispatchInput, DispatchPlan, Hold, NeverFit, Placement, QueueDepth, WaitReason, Waiting,
    WaitingTry,
};
use crate::ids::TeamId;
use crate::platform::{ComputeEnvironment, Queue, Request, SchedulingPolicy};

/// vCPUs in thousandths, so that fractional requests add up exactly.
fn milli(vcpus: f64) -> i64 {
    (vcpus * 1000.0).round() as i64
}

fn bytes(b: u64) -> i64 {
    i64::try_from(b).unwrap_or(i64::MAX)
}

/// Who an environment is held for.
#[derive(Clone)]
struct Holder<K> {
    id: K,
    queue: String,
    team: TeamId,
}

struct Slot<'c, K> {
    env: &'c ComputeEnvironment,
    available: bool,
    free_milli: i64,
    free_mem: i64,
    holder: Option<Holder<K>>,
}

impl<K> Slot<'_, K> {
    fn has_room(&self, r: Request) -> bool {
        milli(r.vcpus) <= self.free_milli && bytes(r.memory_bytes) <= self.free_mem
    }

    fn ever_fits(&self, r: Request) -> bool {
        milli(r.vcpus) <= milli(self.env.max_vcpus) && r.memory_bytes <= self.env.max_memory.0
    }
}

/// The mutable state of a round.
struct Round<'c, K> {
    slots: Vec<Slot<'c, K>>,
    /// Running vCPUs (thousandths) per (queue, team), including this round's starts.
    in_flight: HashMap<(String, TeamId), i64>,
    plan: DispatchPlan<K>,
}

/// Plans one dispatch round. See the module docs for the rules.
pub fn dispatch<K: Clone + fmt::Debug>(input: &DispatchInput<'_, K>) -> DispatchPlan<K> {
    let config = input.config;
    let mut round = Round {
        slots: config
            .compute_environments
            .iter()
            .map(|env| Slot {
                env,
                available: !input.unavailable.contains(&env.name),
                free_milli: milli(env.max_vcpus),
                free_mem: bytes(env.max_memory.0),
                holder: None,
            })
            .collect(),
        in_flight: HashMap::new(),
        plan: DispatchPlan {
            start: Vec::new(),
            waiting: Vec::new(),
            never_fit: Vec::new(),
            depth: Vec::new(),
        },
    };
    let mut running: BTreeMap<(String, TeamId), usize> = BTreeMap::new();
    for r in input.running {
        if let Some(slot) = round.slots.iter_mut().find(|s| s.env.name == r.environment) {
            slot.free_milli -= milli(r.request.vcpus);
            slot.free_mem -= bytes(r.request.memory_bytes);
        }
        *round
            .in_flight
            .entry((r.queue.clone(), r.team.clone()))
            .or_default() += milli(r.request.vcpus);
        *running
            .entry((r.queue.clone(), r.team.clone()))
            .or_default() += 1;
    }

    // Tries that can never run are answered first; the rest go to their queue's line.
    let mut lines: HashMap<&str, Vec<&WaitingTry<K>>> = HashMap::new();
    for t in input.waiting {
        match config.check_fit(&t.queue, t.workload, t.request) {
            Ok(()) => lines.entry(t.queue.as_str()).or_default().push(t),
            Err(error) => round.plan.never_fit.push(NeverFit {
                id: t.id.clone(),
                error,
            }),
        }
    }

    let mut queues: Vec<&Queue> = config.queues.iter().collect();
    // Stable: equal priorities keep the config's order.
    queues.sort_by_key(|q| std::cmp::Reverse(q.priority));
    for queue in queues {
        let Some(mut line) = lines.remove(queue.name.as_str()) else {
            continue;
        };
        line.sort_by_key(|t| (t.enqueued_at, t.sequence));
        let mut position = 0;
        let mut serve = |round: &mut Round<'_, K>, t: &WaitingTry<K>| {
            if let Some(reason) = round.place(queue, t) {
                position += 1;
                round.plan.waiting.push(Waiting {
                    id: t.id.clone(),
                    queue: queue.name.clone(),
                    team: t.team.clone(),
                    position,
                    reason,
                });
            }
        };
        match queue.scheduling_policy {
            SchedulingPolicy::Fifo => {
                for t in line {
                    serve(&mut round, t);
                }
            }
            SchedulingPolicy::FairShare => {
                for t in fair_share_order(input, queue, line, &round.in_flight) {
                    serve(&mut round, t);
                }
            }
        }
    }

    // Depth per queue and team, after this round.
    let mut depth: BTreeMap<(String, TeamId), (usize, usize)> = BTreeMap::new();
    for (key, n) in running {
        depth.entry(key).or_default().1 += n;
    }
    for p in &round.plan.start {
        depth
            .entry((p.queue.clone(), p.team.clone()))
            .or_default()
            .1 += 1;
    }
    for w in &round.plan.waiting {
        depth
            .entry((w.queue.clone(), w.team.clone()))
            .or_default()
            .0 += 1;
    }
    round.plan.depth = depth
        .into_iter()
        .map(|((queue, team), (waiting, running))| QueueDepth {
            queue,
            team,
            waiting,
            running,
        })
        .collect();
    round.plan
}

/// The fair-share service order of a queue's line: repeatedly the team with the lowest
/// `(recent vCPUs + running vCPUs + vCPUs picked this round) / weight`, oldest try first
/// within a team. Ties go to the team whose next try is oldest, then by name.
fn fair_share_order<'w, K>(
    input: &DispatchInput<'_, K>,
    queue: &Queue,
    line: Vec<&'w WaitingTry<K>>,
    in_flight: &HashMap<(String, TeamId), i64>,
) -> Vec<&'w WaitingTry<K>> {
    let half_life = Duration::from_secs(queue.share_decay_seconds());
    let mut lanes: BTreeMap<&TeamId, VecDeque<&WaitingTry<K>>> = BTreeMap::new();
    let total = line.len();
    for t in line {
        lanes.entry(&t.team).or_default().push_back(t);
    }
    let mut load: HashMap<&TeamId, f64> = lanes
        .keys()
        .map(|team| {
            let recent = input
                .usage
                .iter()
                .find(|u| u.queue == queue.name && u.team == **team)
                .map_or(0.0, |u| u.usage.recent_vcpus(input.now, half_life));
            let running = in_flight
                .get(&(queue.name.clone(), (*team).clone()))
                .copied()
                .unwrap_or(0) as f64
                / 1000.0;
            (*team, recent + running)
        })
        .collect();
    let weight = |team: &str| input.config.weight(team).max(f64::MIN_POSITIVE);

    let mut order = Vec::with_capacity(total);
    while order.len() < total {
        let next = lanes
            .iter()
            .filter_map(|(team, lane)| lane.front().map(|head| (*team, *head)))
            .min_by(|(a, ta), (b, tb)| {
                let sa = load.get(a).copied().unwrap_or(0.0) / weight(a);
                let sb = load.get(b).copied().unwrap_or(0.0) / weight(b);
                sa.total_cmp(&sb)
                    .then_with(|| (ta.enqueued_at, ta.sequence).cmp(&(tb.enqueued_at, tb.sequence)))
                    .then_with(|| a.cmp(b))
            });
        let Some((team, _)) = next else { break };
        let Some(t) = lanes.get_mut(team).and_then(VecDeque::pop_front) else {
            break;
        };
        *load.entry(team).or_default() += t.request.vcpus.max(0.0);
        order.push(t);
    }
    order
}

impl<K: Clone> Round<'_, K> {
    /// Starts `t` on the first environment of `queue` with room, or says why it waits.
    fn place(&mut self, queue: &Queue, t: &WaitingTry<K>) -> Option<WaitReason<K>> {
        if let Some(Hold::Pool { pool }) = &t.hold {
            return Some(WaitReason::Pool { pool: pool.clone() });
        }
        // The environments that run this kind of work and are big enough, in the
        // queue's order; `check_fit` made sure there is one.
        let candidates: Vec<usize> = queue
            .compute_environments
            .iter()
            .filter_map(|name| self.slots.iter().position(|s| &s.env.name == name))
            .filter(|&i| {
                self.slots[i].env.backend.runs(t.workload) && self.slots[i].ever_fits(t.request)
            })
            .collect();
        let usable: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| self.slots[i].available)
            .collect();
        if usable.is_empty() {
            return Some(WaitReason::Unavailable {
                environments: candidates
                    .iter()
                    .map(|&i| self.slots[i].env.name.clone())
                    .collect(),
            });
        }

        let key = (queue.name.clone(), t.team.clone());
        let mut held_by: Option<Holder<K>> = None;
        // Environments it waits on for room (not those the reservation keeps from it).
        let mut full: Vec<usize> = Vec::new();
        for &i in &usable {
            let slot = &self.slots[i];
            if let Some(h) = &slot.holder {
                held_by.get_or_insert_with(|| h.clone());
                continue;
            }
            if !slot.has_room(t.request) {
                full.push(i);
                continue;
            }
            if self.reservation_blocks(queue, &key, slot, t.request) {
                continue;
            }
            let slot = &mut self.slots[i];
            slot.free_milli -= milli(t.request.vcpus);
            slot.free_mem -= bytes(t.request.memory_bytes);
            *self.in_flight.entry(key).or_default() += milli(t.request.vcpus);
            self.plan.start.push(Placement {
                id: t.id.clone(),
                queue: queue.name.clone(),
                team: t.team.clone(),
                environment: slot.env.name.clone(),
            });
            return None;
        }

        if held_by.is_none() && full.is_empty() {
            return Some(WaitReason::Reserved);
        }
        // It waits for room: hold the full environments, so nothing behind it overtakes
        // there. (Holding what the reservation keeps would lock out the newcomers the
        // reservation is for.)
        for &i in &full {
            self.slots[i].holder = Some(Holder {
                id: t.id.clone(),
                queue: queue.name.clone(),
                team: t.team.clone(),
            });
        }
        Some(match held_by {
            None => WaitReason::Capacity,
            Some(h) if h.queue != queue.name => WaitReason::Priority {
                queue: h.queue,
                id: h.id,
            },
            Some(h)
                if queue.scheduling_policy == SchedulingPolicy::FairShare && h.team != t.team =>
            {
                WaitReason::Policy { turn_of: h.team }
            }
            Some(_) => WaitReason::Capacity,
        })
    }

    /// `compute_reservation`: with `n` teams running in the queue, a team that already
    /// runs something may not leave less than `(p/100)^n` of the environment's vCPUs
    /// free; a team with nothing running may use it all.
    fn reservation_blocks(
        &self,
        queue: &Queue,
        key: &(String, TeamId),
        slot: &Slot<'_, K>,
        request: Request,
    ) -> bool {
        let Some(percent) = queue.compute_reservation.filter(|p| *p > 0) else {
            return false;
        };
        if queue.scheduling_policy != SchedulingPolicy::FairShare
            || self.in_flight.get(key).copied().unwrap_or(0) <= 0
        {
            return false;
        }
        let active = self
            .in_flight
            .iter()
            .filter(|((q, _), v)| *q == queue.name && **v > 0)
            .count();
        let share = (f64::from(percent) / 100.0).powi(i32::try_from(active).unwrap_or(i32::MAX));
        let reserved = (milli(slot.env.max_vcpus) as f64 * share).round() as i64;
        slot.free_milli - milli(request.vcpus) < reserved
    }
}
