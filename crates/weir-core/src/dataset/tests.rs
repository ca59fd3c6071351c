use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::platform::Team;

fn at(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

fn pattern(p: &str) -> UriPattern {
    UriPattern::parse(p).unwrap()
}

fn event(id: i64, uri: &str) -> PendingEvent {
    PendingEvent {
        id,
        uri: uri.into(),
        timestamp: at(id),
    }
}

#[test]
fn uris_need_a_scheme_and_no_spaces() {
    assert!(check_uri("s3://lake/marketing/revenue/2026-01-01").is_ok());
    assert!(check_uri("postgres://warehouse/marketing.revenue").is_ok());
    for bad in [
        "", "lake/x", "s3:/x", "3s://x", "s3://", "s3://a b", "s 3://x",
    ] {
        assert!(check_uri(bad).is_err(), "{bad:?} should be refused");
    }
    let long = format!("s3://{}", "x".repeat(MAX_URI_LENGTH));
    assert!(check_uri(&long).unwrap_err().contains("at most"));
}

#[test]
fn a_star_stays_in_its_segment_and_two_cross_them() {
    let p = pattern("s3://lake/marketing/revenue/*");
    assert!(!p.is_exact());
    assert!(p.matches("s3://lake/marketing/revenue/2026-01-01"));
    assert!(p.matches("s3://lake/marketing/revenue/"));
    assert!(!p.matches("s3://lake/marketing/revenue/2026/01"));
    assert!(!p.matches("s3://lake/marketing/costs/2026-01-01"));

    let deep = pattern("s3://lake/**/revenue");
    assert!(deep.matches("s3://lake/a/b/c/revenue"));
    assert!(!deep.matches("s3://lake/a/b/c/revenue/x"));

    let mid = pattern("s3://lake/*/revenue/*.parquet");
    assert!(mid.matches("s3://lake/marketing/revenue/day1.parquet"));
    assert!(!mid.matches("s3://lake/marketing/revenue/day1.csv"));

    let exact = pattern("s3://lake/x?y=[1]");
    assert!(exact.is_exact());
    assert!(exact.matches("s3://lake/x?y=[1]"));
    assert!(!exact.matches("s3://lake/xzy=[1]"));

    assert!(UriPattern::parse("s3://lake/***").is_err());
    assert!(UriPattern::parse("lake/*").is_err());
}

#[test]
fn all_needs_every_pattern_and_any_needs_one() {
    let all = DatasetCondition::All(vec![pattern("s3://a/*"), pattern("s3://b")]);
    let any = DatasetCondition::Any(vec![pattern("s3://a/*"), pattern("s3://b")]);
    assert!(!all.is_met(["s3://a/1"]));
    assert!(all.is_met(["s3://a/1", "s3://b"]));
    assert!(any.is_met(["s3://b"]));
    assert!(!any.is_met(["s3://c"]));
    assert!(!DatasetCondition::All(vec![]).is_met(["s3://a"]));
}

#[test]
fn a_met_condition_takes_every_wanted_event_and_moves_past_all() {
    let all = DatasetCondition::All(vec![pattern("s3://a/*"), pattern("s3://b")]);
    let pending = [
        event(1, "s3://other"),
        event(2, "s3://a/1"),
        event(3, "s3://a/2"),
        event(4, "s3://other"),
        event(5, "s3://b"),
        event(6, "s3://other"),
    ];
    assert_eq!(
        trigger(&all, 0, &pending, 6),
        Trigger::Run {
            events: vec![2, 3, 5],
            through: 6,
            data_interval: (at(2), at(5)),
        }
    );
}

#[test]
fn an_unmet_condition_passes_over_only_what_comes_before_a_wanted_event() {
    let all = DatasetCondition::All(vec![pattern("s3://a/*"), pattern("s3://b")]);
    let pending = [
        event(1, "s3://x"),
        event(2, "s3://y"),
        event(3, "s3://a/1"),
        event(4, "s3://z"),
    ];
    assert_eq!(trigger(&all, 0, &pending, 4), Trigger::Skip { through: 2 });
    assert_eq!(trigger(&all, 2, &pending[2..], 4), Trigger::Wait);
    assert_eq!(trigger(&all, 4, &[], 4), Trigger::Wait);
    assert_eq!(
        trigger(&all, 6, &[event(7, "s3://q")], 7),
        Trigger::Skip { through: 7 }
    );
    // The engine may hand over only the wanted events, with the newest id it read.
    assert_eq!(trigger(&all, 0, &[], 9), Trigger::Skip { through: 9 });
    let b = [event(3, "s3://a/1"), event(8, "s3://b")];
    assert!(matches!(
        trigger(&all, 0, &b, 9),
        Trigger::Run { through: 9, .. }
    ));
}

/// A consumer fed events one at a time, as the scheduler sees them between passes: an
/// `all` condition over two datasets runs once per pair, however many updates of one
/// come before the other; `any` runs once per pass that saw something it wants.
#[test]
fn simulation_of_a_consumer_over_a_stream_of_events() {
    let all = DatasetCondition::All(vec![pattern("s3://a"), pattern("s3://b")]);
    let any = DatasetCondition::Any(vec![pattern("s3://a"), pattern("s3://b")]);
    let stream = [
        "s3://a", "s3://a", "s3://x", "s3://b", "s3://b", "s3://a", "s3://x",
    ];
    let simulate = |condition: &DatasetCondition| {
        let mut cursor = 0i64;
        let mut runs: Vec<Vec<i64>> = Vec::new();
        for arrived in 1..=stream.len() as i64 {
            let pending: Vec<PendingEvent> = (cursor + 1..=arrived)
                .map(|id| event(id, stream[(id - 1) as usize]))
                .collect();
            match trigger(condition, cursor, &pending, arrived) {
                Trigger::Run {
                    events, through, ..
                } => {
                    assert!(through >= cursor);
                    cursor = through;
                    runs.push(events);
                }
                Trigger::Skip { through } => cursor = through,
                Trigger::Wait => {}
            }
        }
        (runs, cursor)
    };
    let (runs, cursor) = simulate(&all);
    assert_eq!(runs, vec![vec![1, 2, 4], vec![5, 6]]);
    assert_eq!(cursor, 7, "the trailing unwanted event is passed over");
    let (runs, _) = simulate(&any);
    assert_eq!(runs, vec![vec![1], vec![2], vec![4], vec![5], vec![6]]);
}

fn team(name: &str, prefixes: &[&str]) -> Team {
    let mut t: Team = serde_json::from_value(serde_json::json!({ "name": name })).unwrap();
    t.datasets = prefixes.iter().map(|p| p.to_string()).collect();
    t
}

#[test]
fn the_longest_declared_prefix_owns_a_uri() {
    let teams = [
        team("data-eng", &["s3://lake/"]),
        team(
            "marketing",
            &["s3://lake/marketing/", "postgres://warehouse/marketing."],
        ),
    ];
    let name = |uri: &str| owner(uri, &teams).map(|t| t.name.as_str());
    assert_eq!(name("s3://lake/raw/x"), Some("data-eng"));
    assert_eq!(name("s3://lake/marketing/revenue"), Some("marketing"));
    assert_eq!(
        name("postgres://warehouse/marketing.revenue"),
        Some("marketing")
    );
    assert_eq!(name("gs://elsewhere"), None);
}

#[test]
fn the_static_prefix_stops_at_the_first_template() {
    assert_eq!(static_prefix("s3://lake/x/{{ ds }}/y"), "s3://lake/x/");
    assert_eq!(static_prefix("s3://a/{% if x %}b{% endif %}"), "s3://a/");
    assert_eq!(static_prefix("s3://plain"), "s3://plain");
}

#[test]
fn outlets_stay_out_of_other_teams_prefixes() {
    let teams = [
        team("data-eng", &["s3://lake/raw/"]),
        team("marketing", &["s3://lake/marketing/"]),
    ];
    let problem = |team: &str, outlet: &str| outlet_problem(team, outlet, &teams);
    assert_eq!(problem("data-eng", "s3://lake/raw/orders/{{ ds }}"), None);
    assert_eq!(problem("data-eng", "s3://lake/shared/x"), None);
    assert!(
        problem("data-eng", "s3://lake/marketing/revenue")
            .unwrap()
            .contains("team `marketing` owns")
    );
    // A template right after a shared part could land anywhere below it.
    assert!(
        problem("data-eng", "s3://lake/{{ params.area }}/x")
            .unwrap()
            .contains("could render into `s3://lake/marketing/`")
    );
    assert_eq!(problem("marketing", "s3://lake/marketing/{{ ds }}"), None);
    assert!(
        problem("data-eng", "no-scheme")
            .unwrap()
            .contains("no scheme")
    );
}

mod lineage_walks {
    use super::super::lineage::*;
    use super::team;

    fn chain() -> Vec<DagDatasets> {
        vec![
            DagDatasets {
                dag_id: "ingest".into(),
                team: "data-eng".into(),
                outlets: vec![("load".into(), "s3://lake/raw/orders/{{ ds }}".into())],
                ..Default::default()
            },
            DagDatasets {
                dag_id: "revenue".into(),
                team: "marketing".into(),
                schedule: vec!["s3://lake/raw/orders/*".into()],
                outlets: vec![("roll".into(), "s3://lake/marketing/revenue".into())],
                ..Default::default()
            },
            DagDatasets {
                dag_id: "dashboard".into(),
                team: "marketing".into(),
                inlets: vec![("draw".into(), "s3://lake/marketing/revenue".into())],
                ..Default::default()
            },
        ]
    }

    #[test]
    fn a_templated_outlet_feeds_the_pattern_that_matches_it() {
        assert!(feeds(
            "s3://lake/raw/orders/{{ ds }}",
            "s3://lake/raw/orders/*"
        ));
        assert!(!feeds(
            "s3://lake/raw/orders/{{ ds }}/x",
            "s3://lake/raw/orders/*"
        ));
        assert!(feeds("s3://a", "s3://a"));
        assert!(!feeds("s3://a", "s3://b"));
    }

    #[test]
    fn the_chain_reads_both_ways_to_the_depth_asked() {
        let teams = [
            team("data-eng", &["s3://lake/raw/"]),
            team("marketing", &["s3://lake/marketing/"]),
        ];
        let l = lineage(&chain(), &[], &teams, &Root::Dag("ingest".into()), 5).unwrap();
        let dags: Vec<(&str, i32)> = l
            .dags
            .iter()
            .map(|d| (d.dag_id.as_str(), d.depth))
            .collect();
        assert_eq!(dags, [("dashboard", 2), ("ingest", 0), ("revenue", 1)]);
        let raw = l
            .datasets
            .iter()
            .find(|d| d.uri == "s3://lake/raw/orders/{{ ds }}")
            .unwrap();
        assert_eq!(raw.owner_team.as_deref(), Some("data-eng"));
        assert_eq!(raw.producers[0].task_id, "load");

        let one = lineage(&chain(), &[], &teams, &Root::Dag("ingest".into()), 1).unwrap();
        assert!(one.dags.iter().all(|d| d.dag_id != "dashboard"));

        let up = lineage(&chain(), &[], &teams, &Root::Dag("dashboard".into()), 5).unwrap();
        let dags: Vec<(&str, i32)> = up
            .dags
            .iter()
            .map(|d| (d.dag_id.as_str(), d.depth))
            .collect();
        assert_eq!(dags, [("dashboard", 0), ("ingest", -2), ("revenue", -1)]);

        let from_uri = lineage(
            &chain(),
            &[],
            &teams,
            &Root::Dataset("s3://lake/raw/orders/2026-01-01".into()),
            1,
        )
        .unwrap();
        let dags: Vec<(&str, i32)> = from_uri
            .dags
            .iter()
            .map(|d| (d.dag_id.as_str(), d.depth))
            .collect();
        assert_eq!(dags, [("ingest", -1), ("revenue", 1)]);
        assert!(lineage(&chain(), &[], &teams, &Root::Dag("nope".into()), 1).is_none());
    }
}
