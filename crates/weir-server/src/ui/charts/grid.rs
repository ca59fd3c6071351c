//! The grid: runs × tasks, each cell the state of the task in the run. A mapped task's
//! instances are summarized in one cell by the state that most needs attention, with
//! their count.

use std::collections::HashMap;

use weir_api::TaskInstance;

/// How much a state needs the eye: the summary of a mapped task is its most urgent state.
fn urgency(state: &str) -> u8 {
    match state {
        "failed" => 9,
        "upstream_failed" => 8,
        "up_for_retry" => 7,
        "running" => 6,
        "restarting" => 6,
        "up_for_reschedule" => 5,
        "deferred" => 5,
        "queued" => 4,
        "scheduled" => 3,
        "none" => 2,
        "skipped" => 1,
        "removed" => 1,
        _ => 0,
    }
}

/// One cell: the summarized state and how many instances it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub state: String,
    pub instances: usize,
}

/// The cells of these task instances, by (run id, task id).
pub fn cells(tis: &[TaskInstance]) -> HashMap<(String, String), Cell> {
    let mut out: HashMap<(String, String), Cell> = HashMap::new();
    for ti in tis {
        let state = ti.state().to_string();
        let key = (ti.dag_run_id.clone(), ti.task_id.clone());
        match out.get_mut(&key) {
            Some(cell) => {
                cell.instances += 1;
                // A mapped task is a success only when all its instances are.
                if urgency(&state) > urgency(&cell.state) {
                    cell.state = state;
                }
            }
            None => {
                out.insert(
                    key,
                    Cell {
                        state,
                        instances: 1,
                    },
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgency_puts_failures_first_and_successes_last() {
        let mut states = [
            "success",
            "running",
            "failed",
            "queued",
            "none",
            "up_for_retry",
        ];
        states.sort_by_key(|s| std::cmp::Reverse(urgency(s)));
        assert_eq!(
            states,
            [
                "failed",
                "up_for_retry",
                "running",
                "queued",
                "none",
                "success"
            ]
        );
    }
}
