//! Trigger rules: when a task may run, given the states of its upstream tasks, with
//! Airflow's meanings.
//!
//! [`TriggerRule::evaluate`] follows Airflow's `TriggerRuleDep` (as run by the scheduler,
//! which may also change the task's state): some combinations of upstream states decide
//! the task's fate before every upstream task has finished (for example `all_success`
//! with one failed upstream is `upstream_failed` at once), others keep the task waiting.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When a task runs, judged from its direct upstream tasks (Airflow's `trigger_rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerRule {
    /// All upstream tasks succeeded (the default).
    #[default]
    AllSuccess,
    /// All upstream tasks failed or were upstream_failed.
    AllFailed,
    /// All upstream tasks finished, whatever their outcome.
    AllDone,
    /// At least one upstream task succeeded; does not wait for the rest.
    OneSuccess,
    /// At least one upstream task failed; does not wait for the rest.
    OneFailed,
    /// At least one upstream task succeeded or failed; does not wait for the rest.
    OneDone,
    /// No upstream task failed or was upstream_failed (success or skipped).
    NoneFailed,
    /// No upstream task failed, and at least one succeeded: the usual rule for joining
    /// the branches of a branch task.
    NoneFailedMinOneSuccess,
    /// No upstream task was skipped.
    NoneSkipped,
    /// All upstream tasks were skipped.
    AllSkipped,
    /// Runs whatever happens upstream, as soon as the run starts.
    Always,
}

/// What the upstream tasks of one task instance have done so far.
///
/// `done` counts the upstream tasks that finished in any state (success, skipped, failed,
/// upstream_failed, or removed from the DAG); it is kept separately because a removed task
/// is done without being in any of the other counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpstreamSummary {
    pub total: usize,
    pub success: usize,
    pub skipped: usize,
    pub failed: usize,
    pub upstream_failed: usize,
    pub done: usize,
}

impl UpstreamSummary {
    /// Whether every upstream task has finished.
    pub fn all_done(&self) -> bool {
        self.done >= self.total
    }
}

/// What to do with a task instance whose upstream tasks are as summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerDecision {
    /// Not decided yet: wait for more upstream tasks to finish.
    Wait,
    /// Queue the task.
    Run,
    /// Mark the task skipped without running it.
    Skip,
    /// Mark the task upstream_failed without running it.
    UpstreamFailed,
}

impl TriggerRule {
    pub const ALL: [TriggerRule; 11] = [
        TriggerRule::AllSuccess,
        TriggerRule::AllFailed,
        TriggerRule::AllDone,
        TriggerRule::OneSuccess,
        TriggerRule::OneFailed,
        TriggerRule::OneDone,
        TriggerRule::NoneFailed,
        TriggerRule::NoneFailedMinOneSuccess,
        TriggerRule::NoneSkipped,
        TriggerRule::AllSkipped,
        TriggerRule::Always,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerRule::AllSuccess => "all_success",
            TriggerRule::AllFailed => "all_failed",
            TriggerRule::AllDone => "all_done",
            TriggerRule::OneSuccess => "one_success",
            TriggerRule::OneFailed => "one_failed",
            TriggerRule::OneDone => "one_done",
            TriggerRule::NoneFailed => "none_failed",
            TriggerRule::NoneFailedMinOneSuccess => "none_failed_min_one_success",
            TriggerRule::NoneSkipped => "none_skipped",
            TriggerRule::AllSkipped => "all_skipped",
            TriggerRule::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerRule> {
        TriggerRule::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Decides a task's fate from its upstream tasks, as Airflow's scheduler does.
    ///
    /// A task without upstream tasks runs whatever its rule. Otherwise, first the
    /// "fail fast" state changes of Airflow's `TriggerRuleDep` are applied (skipped or
    /// upstream_failed), then the rule's pass condition; if neither holds, the task waits.
    pub fn evaluate(self, up: &UpstreamSummary) -> TriggerDecision {
        use TriggerDecision::{Run, Skip, UpstreamFailed, Wait};
        if up.total == 0 {
            return Run;
        }
        let done = up.all_done();
        let any_failed = up.failed > 0 || up.upstream_failed > 0;
        let pass = |ok: bool| if ok { Run } else { Wait };
        match self {
            TriggerRule::Always => Run,
            TriggerRule::AllSuccess => {
                if any_failed {
                    UpstreamFailed
                } else if up.skipped > 0 {
                    Skip
                } else {
                    pass(up.success >= up.total)
                }
            }
            TriggerRule::AllFailed => {
                if up.success > 0 || up.skipped > 0 {
                    Skip
                } else {
                    pass(up.failed + up.upstream_failed >= up.total)
                }
            }
            TriggerRule::AllDone => pass(done),
            TriggerRule::OneSuccess => {
                if up.success > 0 {
                    Run
                } else if done && up.done == up.skipped {
                    // Everything upstream was skipped: the branch was not taken.
                    Skip
                } else if done {
                    UpstreamFailed
                } else {
                    Wait
                }
            }
            TriggerRule::OneFailed => {
                if any_failed {
                    Run
                } else if done {
                    Skip
                } else {
                    Wait
                }
            }
            TriggerRule::OneDone => {
                if up.success > 0 || up.failed > 0 {
                    Run
                } else if done {
                    Skip
                } else {
                    Wait
                }
            }
            TriggerRule::NoneFailed => {
                if any_failed {
                    UpstreamFailed
                } else {
                    pass(up.success + up.skipped >= up.total)
                }
            }
            TriggerRule::NoneFailedMinOneSuccess => {
                if any_failed {
                    UpstreamFailed
                } else if up.skipped >= up.total {
                    Skip
                } else {
                    pass(up.success + up.skipped >= up.total)
                }
            }
            TriggerRule::NoneSkipped => {
                if up.skipped > 0 {
                    Skip
                } else {
                    pass(done)
                }
            }
            TriggerRule::AllSkipped => {
                if up.success > 0 || any_failed {
                    Skip
                } else {
                    pass(up.skipped >= up.total)
                }
            }
        }
    }
}

impl fmt::Display for TriggerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trigger rule name that is not one of [`TriggerRule::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a trigger rule; {}", hint(.suggestion.as_deref()))]
pub struct UnknownTriggerRule {
    pub given: String,
    /// The closest known rule, when one is close enough to be a likely typo.
    pub suggestion: Option<&'static str>,
}

fn hint(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            let names: Vec<&str> = TriggerRule::ALL.iter().map(|r| r.as_str()).collect();
            format!("use one of {}", names.join(", "))
        }
    }
}

impl FromStr for TriggerRule {
    type Err = UnknownTriggerRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rule) = TriggerRule::parse(s) {
            return Ok(rule);
        }
        let wanted = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let suggestion = TriggerRule::ALL
            .iter()
            .map(|r| (r.as_str(), strsim::jaro_winkler(&wanted, r.as_str())))
            .filter(|(_, score)| *score >= 0.85)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, _)| name);
        Err(UnknownTriggerRule {
            given: s.to_string(),
            suggestion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TriggerDecision::{Run, Skip, UpstreamFailed, Wait};
    use super::*;

    /// `(total, success, skipped, failed, upstream_failed, done)`.
    fn up(t: (usize, usize, usize, usize, usize, usize)) -> UpstreamSummary {
        UpstreamSummary {
            total: t.0,
            success: t.1,
            skipped: t.2,
            failed: t.3,
            upstream_failed: t.4,
            done: t.5,
        }
    }

    #[test]
    fn no_upstream_runs_for_every_rule() {
        for rule in TriggerRule::ALL {
            assert_eq!(rule.evaluate(&UpstreamSummary::default()), Run, "{rule}");
        }
    }

    #[test]
    fn rules_follow_airflow() {
        use TriggerRule as R;
        // (rule, (total, success, skipped, failed, upstream_failed, done), expected)
        let table = [
            (R::AllSuccess, (3, 3, 0, 0, 0, 3), Run),
            (R::AllSuccess, (3, 2, 0, 0, 0, 2), Wait),
            (R::AllSuccess, (3, 1, 0, 1, 0, 2), UpstreamFailed),
            (R::AllSuccess, (3, 1, 0, 0, 1, 2), UpstreamFailed),
            (R::AllSuccess, (3, 1, 1, 0, 0, 2), Skip),
            (R::AllSuccess, (3, 0, 1, 1, 0, 2), UpstreamFailed),
            (R::AllFailed, (2, 0, 0, 2, 0, 2), Run),
            (R::AllFailed, (2, 0, 0, 1, 1, 2), Run),
            (R::AllFailed, (2, 0, 0, 1, 0, 1), Wait),
            (R::AllFailed, (2, 1, 0, 1, 0, 2), Skip),
            (R::AllFailed, (2, 0, 1, 0, 0, 1), Skip),
            (R::AllDone, (3, 1, 1, 1, 0, 3), Run),
            (R::AllDone, (3, 1, 1, 0, 0, 2), Wait),
            (R::OneSuccess, (3, 1, 0, 0, 0, 1), Run),
            (R::OneSuccess, (3, 0, 0, 1, 0, 1), Wait),
            (R::OneSuccess, (3, 0, 3, 0, 0, 3), Skip),
            (R::OneSuccess, (3, 0, 2, 1, 0, 3), UpstreamFailed),
            (R::OneSuccess, (2, 0, 0, 1, 1, 2), UpstreamFailed),
            (R::OneFailed, (3, 0, 0, 1, 0, 1), Run),
            (R::OneFailed, (3, 0, 0, 0, 1, 1), Run),
            (R::OneFailed, (3, 2, 0, 0, 0, 2), Wait),
            (R::OneFailed, (3, 2, 1, 0, 0, 3), Skip),
            (R::OneDone, (3, 0, 0, 1, 0, 1), Run),
            (R::OneDone, (3, 1, 0, 0, 0, 1), Run),
            (R::OneDone, (3, 0, 1, 0, 0, 1), Wait),
            (R::OneDone, (2, 0, 1, 0, 1, 2), Skip),
            (R::NoneFailed, (3, 2, 1, 0, 0, 3), Run),
            (R::NoneFailed, (3, 0, 3, 0, 0, 3), Run),
            (R::NoneFailed, (3, 2, 0, 0, 0, 2), Wait),
            (R::NoneFailed, (3, 1, 0, 1, 0, 2), UpstreamFailed),
            (R::NoneFailed, (3, 1, 0, 0, 1, 2), UpstreamFailed),
            (R::NoneFailedMinOneSuccess, (3, 1, 2, 0, 0, 3), Run),
            (R::NoneFailedMinOneSuccess, (3, 0, 3, 0, 0, 3), Skip),
            (R::NoneFailedMinOneSuccess, (3, 0, 2, 0, 0, 2), Wait),
            (
                R::NoneFailedMinOneSuccess,
                (3, 1, 1, 1, 0, 3),
                UpstreamFailed,
            ),
            (R::NoneSkipped, (3, 2, 0, 1, 0, 3), Run),
            (R::NoneSkipped, (3, 2, 0, 0, 0, 2), Wait),
            (R::NoneSkipped, (3, 1, 1, 0, 0, 2), Skip),
            (R::AllSkipped, (2, 0, 2, 0, 0, 2), Run),
            (R::AllSkipped, (2, 0, 1, 0, 0, 1), Wait),
            (R::AllSkipped, (2, 1, 1, 0, 0, 2), Skip),
            (R::AllSkipped, (2, 0, 1, 0, 1, 2), Skip),
            (R::Always, (3, 0, 0, 0, 0, 0), Run),
            (R::Always, (3, 0, 0, 3, 0, 3), Run),
        ];
        for (rule, summary, expected) in table {
            assert_eq!(
                rule.evaluate(&up(summary)),
                expected,
                "{rule} with {summary:?}"
            );
        }
    }

    #[test]
    fn a_removed_upstream_counts_as_done() {
        // Two upstream tasks: one succeeded, one was removed from the DAG.
        let summary = up((2, 1, 0, 0, 0, 2));
        assert_eq!(TriggerRule::AllDone.evaluate(&summary), Run);
        assert_eq!(TriggerRule::AllSuccess.evaluate(&summary), Wait);
    }

    #[test]
    fn names_round_trip_through_str_serde_and_display() {
        for rule in TriggerRule::ALL {
            assert_eq!(rule.as_str().parse::<TriggerRule>(), Ok(rule));
            assert_eq!(rule.to_string(), rule.as_str());
            let json = serde_json::to_string(&rule).expect("serialize");
            assert_eq!(json, format!("\"{}\"", rule.as_str()));
            let back: TriggerRule = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, rule);
        }
    }

    #[test]
    fn unknown_rule_suggests_the_closest() {
        let err = "all_sucess"
            .parse::<TriggerRule>()
            .expect_err("should fail");
        assert_eq!(err.suggestion, Some("all_success"));
        assert_eq!(
            err.to_string(),
            "`all_sucess` is not a trigger rule; did you mean `all_success`?"
        );
        let err = "one-failed"
            .parse::<TriggerRule>()
            .expect_err("should fail");
        assert_eq!(err.suggestion, Some("one_failed"));
        let err = "whenever".parse::<TriggerRule>().expect_err("should fail");
        assert_eq!(err.suggestion, None);
        assert!(
            err.to_string()
                .contains("use one of all_success, all_failed")
        );
    }
}
