//! The W3C trace context of a DAG run and its tries, derived from their keys.
//!
//! A run can last hours and outlive the server that started it, so no span object is
//! kept alive for it: its trace id, its span id and each try's span id are hashes of
//! their keys. The try's `TRACEPARENT` is then known when the try starts (before its
//! span exists), and whoever exports a span later, after any restart, gives it the
//! same ids.
//!
//! - trace id: the first 16 bytes of SHA-256 of `"<dag_id>/<run_id>"`;
//! - the run's span id: the first 8 bytes of SHA-256 of `"<dag_id>/<run_id>#run"`;
//! - a try's span id: the first 8 bytes of SHA-256 of
//!   `"<dag_id>/<run_id>/<task_id>/<map_index>/<try_number>#try"`.
//!
//! DAG and task ids hold no `/` or `#`, so no two keys hash the same text. (An id is
//! never all zeros, which W3C forbids: such a hash, were it ever met, gets its last
//! byte set to 1.)

use sha2::{Digest, Sha256};

use crate::ids::{DagId, RunId, TryKey};

/// A trace id (16 bytes).
pub type TraceId = [u8; 16];
/// A span id (8 bytes).
pub type SpanId = [u8; 8];

/// The name of the variable a try gets its trace context in (W3C's, as OpenTelemetry's
/// SDKs read it).
pub const TRACEPARENT: &str = "TRACEPARENT";
/// The HTTP header an `http` task sends it in.
pub const TRACEPARENT_HEADER: &str = "traceparent";

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn take<const N: usize>(hash: [u8; 32]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&hash[..N]);
    if out.iter().all(|b| *b == 0) {
        out[N - 1] = 1;
    }
    out
}

/// The trace of a DAG run.
pub fn trace_id(dag_id: &DagId, run_id: &RunId) -> TraceId {
    take(digest(&format!("{dag_id}/{run_id}")))
}

/// The span of a DAG run, the parent of its tries' spans.
pub fn run_span_id(dag_id: &DagId, run_id: &RunId) -> SpanId {
    take(digest(&format!("{dag_id}/{run_id}#run")))
}

/// The span of one try.
pub fn try_span_id(key: &TryKey) -> SpanId {
    take(digest(&format!(
        "{}/{}/{}/{}/{}#try",
        key.dag_id, key.run_id, key.task_id, key.map_index, key.try_number
    )))
}

/// The `traceparent` of a try (`00-<trace id>-<try's span id>-01`, sampled): what the
/// team's own code continues the trace from.
pub fn traceparent(key: &TryKey) -> String {
    format!(
        "00-{}-{}-01",
        hex::encode(trace_id(&key.dag_id, &key.run_id)),
        hex::encode(try_span_id(key))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(task: &str, map_index: i32, try_number: u32) -> TryKey {
        TryKey {
            dag_id: DagId::new("etl").expect("dag id"),
            run_id: RunId::new("manual__2026-01-01T00:00:00+00:00").expect("run id"),
            task_id: crate::ids::TaskId::new(task).expect("task id"),
            map_index,
            try_number,
        }
    }

    #[test]
    fn a_try_continues_its_runs_trace_under_its_own_span() {
        let k = key("load", -1, 1);
        let tp = traceparent(&k);
        let parts: Vec<&str> = tp.split('-').collect();
        assert_eq!(parts.len(), 4, "{tp}");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], hex::encode(trace_id(&k.dag_id, &k.run_id)));
        assert_eq!(parts[1].len(), 32);
        assert_eq!(parts[2], hex::encode(try_span_id(&k)));
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3], "01");
        // Stable: the same key gives the same ids, in any process.
        assert_eq!(traceparent(&key("load", -1, 1)), tp);
        // The documented derivation.
        let expected = Sha256::digest(b"etl/manual__2026-01-01T00:00:00+00:00");
        assert_eq!(trace_id(&k.dag_id, &k.run_id)[..], expected[..16]);
    }

    #[test]
    fn every_try_and_the_run_have_their_own_span() {
        let k = key("load", -1, 1);
        let spans = [
            run_span_id(&k.dag_id, &k.run_id),
            try_span_id(&k),
            try_span_id(&key("load", -1, 2)),
            try_span_id(&key("load", 0, 1)),
            try_span_id(&key("extract", -1, 1)),
        ];
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let other_run = RunId::new("manual__2026-01-02T00:00:00+00:00").expect("run id");
        assert_ne!(
            trace_id(&k.dag_id, &k.run_id),
            trace_id(&k.dag_id, &other_run)
        );
    }
}
