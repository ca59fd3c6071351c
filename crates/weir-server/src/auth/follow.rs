//! One audit event per log follow, not one per poll. A follower (`weir tasks logs -f`,
//! or any client passing back `continuation_token`) asks again every few hundred
//! milliseconds; its first read is audited, and the later reads of the same caller on the
//! same try, each carrying a continuation token, are the same follow. A token alone
//! proves nothing (it is a byte offset), so a continuation skips the audit only when this
//! replica audited the same caller reading the same try within [`FOLLOW_WINDOW`]; a
//! forged token on a fresh read is audited as usual. Access is checked on every call.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long after its last read a follow still counts as the same one.
pub const FOLLOW_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The audit action of reading a try's log.
pub const READ_LOG: &str = "task_instance.read_log";

fn follows() -> &'static Mutex<HashMap<(String, String), Instant>> {
    static FOLLOWS: OnceLock<Mutex<HashMap<(String, String), Instant>>> = OnceLock::new();
    FOLLOWS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Whether the query string carries a continuation token past the start of the log.
pub fn continues(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|pair| {
            pair.strip_prefix("token=")
                .is_some_and(|t| t.parse::<u64>().is_ok_and(|offset| offset > 0))
        })
    })
}

/// Whether this successful read of `object_id` by `actor` is to be audited, and notes it.
pub fn audit_read(actor: &str, object_id: &str, continuation: bool, now: Instant) -> bool {
    let Ok(mut map) = follows().lock() else {
        return true;
    };
    map.retain(|_, last| now.saturating_duration_since(*last) < FOLLOW_WINDOW);
    let key = (actor.to_string(), object_id.to_string());
    let followed = map.contains_key(&key);
    map.insert(key, now);
    !(continuation && followed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follow_is_audited_once_and_a_forged_token_is_not_a_follow() {
        let t0 = Instant::now();
        assert!(continues(Some("map_index=-1&token=120")));
        assert!(!continues(Some("token=0")));
        assert!(!continues(None));
        // A forged continuation with no audited read before: audited.
        assert!(audit_read("eve", "d/r/t/1#a", true, t0));
        // A follow: the first read is audited, its continuations are not.
        assert!(audit_read("ada", "d/r/t/1#b", false, t0));
        assert!(!audit_read(
            "ada",
            "d/r/t/1#b",
            true,
            t0 + Duration::from_secs(1)
        ));
        assert!(!audit_read(
            "ada",
            "d/r/t/1#b",
            true,
            t0 + Duration::from_secs(2)
        ));
        // Someone else's read of the same try is its own.
        assert!(audit_read(
            "bob",
            "d/r/t/1#b",
            true,
            t0 + Duration::from_secs(3)
        ));
        // Long after, a continuation is a new follow.
        assert!(audit_read("ada", "d/r/t/1#b", true, t0 + FOLLOW_WINDOW * 2));
    }
}
