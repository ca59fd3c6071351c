//! `evaluate_on_exit`: deciding from a failed try's exit code and reason whether it is
//! tried again, with AWS Batch's semantics — rules in order, the first whose conditions
//! all match decides, no match means retry while attempts are left.

use std::fmt;

use serde::Serialize;

use super::{ExitRule, RetryAction, RetryStrategy};

/// What the strategy's rules say about a failure (attempts aside): the first matching
/// rule's action, or [`RetryAction::Retry`] when none matches.
pub fn evaluate_on_exit(
    strategy: &RetryStrategy,
    exit_code: Option<i32>,
    reason: &str,
) -> RetryAction {
    matching_rule(strategy, exit_code, reason).map_or(RetryAction::Retry, |(_, r)| r.action)
}

/// The first rule matching a failure, with its 0-based index.
fn matching_rule<'s>(
    strategy: &'s RetryStrategy,
    exit_code: Option<i32>,
    reason: &str,
) -> Option<(usize, &'s ExitRule)> {
    strategy
        .evaluate_on_exit
        .iter()
        .enumerate()
        .find(|(_, rule)| rule.matches(exit_code, reason))
}

impl ExitRule {
    /// Whether every condition the rule sets matches.
    pub fn matches(&self, exit_code: Option<i32>, reason: &str) -> bool {
        let code_ok = match (&self.on_exit_code, exit_code) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(pattern), Some(code)) => glob_matches(pattern, &code.to_string()),
        };
        code_ok
            && self
                .on_reason
                .as_ref()
                .is_none_or(|pattern| glob_matches(pattern, reason))
    }
}

/// Whether the whole of `text` matches `pattern`, where `*` matches any run of
/// characters (none included) and every other character matches itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in the text it started matching: on a mismatch
    // the star takes one more character and matching resumes after it.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What to do after try `try_number` (1-based) failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RetryDecision {
    Retry,
    GiveUp(GiveUp),
}

/// Why a failed try is not retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum GiveUp {
    /// Every attempt the strategy allows has been used.
    AttemptsExhausted { attempts: u32 },
    /// An `evaluate_on_exit` rule (1-based, as users count) says `exit`.
    ExitRule { rule: usize },
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUp::AttemptsExhausted { attempts } => {
                write!(f, "all {attempts} attempts of the retry strategy are used")
            }
            GiveUp::ExitRule { rule } => {
                write!(f, "rule {rule} of `evaluate_on_exit` says `exit`")
            }
        }
    }
}

impl RetryStrategy {
    /// Retries after the first try, in the engine's terms (`attempts - 1`).
    pub fn retries(&self) -> u32 {
        self.attempts.saturating_sub(1)
    }

    /// Whether try `try_number` (1-based), which failed with `exit_code` and `reason`, is
    /// tried again: an `exit` rule fails it at once; otherwise it is retried while
    /// attempts are left.
    pub fn decide(&self, try_number: u32, exit_code: Option<i32>, reason: &str) -> RetryDecision {
        if let Some((index, rule)) = matching_rule(self, exit_code, reason)
            && rule.action == RetryAction::Exit
        {
            return RetryDecision::GiveUp(GiveUp::ExitRule { rule: index + 1 });
        }
        if try_number >= self.attempts {
            return RetryDecision::GiveUp(GiveUp::AttemptsExhausted {
                attempts: self.attempts,
            });
        }
        RetryDecision::Retry
    }
}
