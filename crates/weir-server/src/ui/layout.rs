//! What every signed-in page shares: the header (who is signed in, sign-out, the
//! navigation), the CSRF token, a page id, and how states, times and durations are shown.

use chrono::{DateTime, Utc};
use weir_core::access::TeamRole;

use super::api::Api;
use super::assets;

/// The frame of a page, given to every page template as `chrome`.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub title: String,
    pub user: String,
    pub csrf: String,
    /// Random per page load: a test (or a curious user) can tell a live update from a reload.
    pub page_id: String,
    /// Which navigation entry is current (`dags`, `queues`, `costs`, `approvals`, `audit`,
    /// `admin`).
    pub nav: &'static str,
    /// Whether the admin pages are linked (admins of a team and platform admins).
    pub admin: bool,
    /// Appended to asset URLs so that a new binary's assets are not served from a cache.
    pub assets: &'static str,
}

impl Chrome {
    pub fn new(api: &Api, title: impl Into<String>, nav: &'static str) -> Chrome {
        let caller = &api.session.caller;
        Chrome {
            title: title.into(),
            user: caller.name.clone(),
            csrf: api.session.csrf_token.clone(),
            page_id: page_id(),
            nav,
            admin: caller.platform_admin || caller.teams_with(TeamRole::Admin).next().is_some(),
            assets: assets::version(),
        }
    }

    /// `aria-current="page"` on the current navigation entry.
    pub fn current(&self, entry: &str) -> &'static str {
        if self.nav == entry {
            "aria-current=page"
        } else {
            ""
        }
    }
}

fn page_id() -> String {
    let mut bytes = [0u8; 8];
    // A page id only tells loads apart; without randomness, the time does as well.
    if getrandom::fill(&mut bytes).is_err() {
        bytes = Utc::now()
            .timestamp_nanos_opt()
            .unwrap_or_default()
            .to_le_bytes();
    }
    hex::encode(bytes)
}

/// The symbol shown with a state's colour, so that states are told apart without colour.
pub fn state_symbol(state: &str) -> &'static str {
    match state {
        "success" => "✓",
        "failed" => "✗",
        "upstream_failed" => "⚠",
        "running" => "▶",
        "queued" => "…",
        "scheduled" => "◷",
        "up_for_retry" => "↻",
        "up_for_reschedule" => "⟳",
        "skipped" => "⤼",
        "removed" => "–",
        "deferred" => "⏸",
        "restarting" => "↺",
        _ => "·",
    }
}

/// A time as `2026-12-04 17:03:22` (UTC), or empty.
pub fn when(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Seconds as `1h 02m`, `3m 05s`, `4.2s`, or empty.
pub fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return String::new();
    };
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    // Whole seconds from here on; the fraction no longer matters.
    let whole = s as u64;
    let (h, m, sec) = (whole / 3600, whole / 60 % 60, whole % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {sec:02}s")
    }
}

/// How a DAG's schedule reads: the timetable's description, else its cron, else `None`.
pub fn schedule(dag: &weir_api::Dag) -> String {
    dag.timetable_description
        .clone()
        .or_else(|| dag.schedule_interval.as_ref().map(|s| s.value.clone()))
        .unwrap_or_else(|| "None".into())
}

/// A JSON value as pretty text (for conf, XCom, rendered fields).
pub fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(None), "");
        assert_eq!(duration(Some(4.24)), "4.2s");
        assert_eq!(duration(Some(185.0)), "3m 05s");
        assert_eq!(duration(Some(3720.0)), "1h 02m");
    }

    #[test]
    fn every_state_has_a_symbol_of_its_own() {
        let states = [
            "success",
            "failed",
            "upstream_failed",
            "running",
            "queued",
            "scheduled",
            "up_for_retry",
            "up_for_reschedule",
            "skipped",
            "removed",
            "deferred",
            "restarting",
            "none",
        ];
        let symbols: std::collections::HashSet<_> =
            states.iter().map(|s| state_symbol(s)).collect();
        assert_eq!(symbols.len(), states.len());
    }
}
