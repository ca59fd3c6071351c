//! The store's conformance suite: every case runs on a fresh SQLite file and on a fresh
//! PostgreSQL schema, so both backends are held to one behaviour.
//!
//! PostgreSQL cases need `WEIR_TEST_POSTGRES_URL` (e.g.
//! `postgres://weir:weir@127.0.0.1:5432/weir_test`; `scripts/start-postgres.sh` starts one
//! and prints it). Without it they are skipped, unless `WEIR_REQUIRE_POSTGRES=1`, in which
//! case they fail, so CI never passes by silently skipping half the suite.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed case

#[path = "conformance/access.rs"]
mod access;
#[path = "conformance/dags.rs"]
mod dags;
#[path = "conformance/datasets.rs"]
mod datasets;
#[path = "conformance/governance.rs"]
mod governance;
#[path = "conformance/misc.rs"]
mod misc;
#[path = "conformance/notifications.rs"]
mod notifications;
#[path = "conformance/replicas.rs"]
mod replicas;
#[path = "conformance/runs.rs"]
mod runs;
#[path = "conformance/search.rs"]
mod search;
#[path = "conformance/secrets.rs"]
mod secrets;
#[path = "conformance/support.rs"]
mod support;
#[path = "conformance/task_instances.rs"]
mod task_instances;
#[path = "conformance/task_logs.rs"]
mod task_logs;
#[path = "conformance/usage.rs"]
mod usage;

/// Generates one `#[tokio::test]` per case and backend: `sqlite::<case>`, `postgres::<case>`.
macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = crate::support::TestDb::sqlite().await;
                    crate::$module::$case(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = crate::support::TestDb::postgres().await else {
                        return;
                    };
                    crate::$module::$case(db.store.clone()).await;
                    db.finish().await;
                }
            )*
        }
    };
}

conformance!(
    misc::store_opens_and_answers,
    dags::dag_upsert_keeps_pause_and_next_run,
    dags::dag_list_pages_filters_and_deactivates,
    dags::dag_versions_are_idempotent,
    dags::dag_delete_cascades,
    dags::dag_delete_is_refused_while_tasks_run,
    runs::run_ids_and_logical_dates_are_unique,
    runs::run_timestamps_round_trip,
    runs::run_notes_are_set_and_cleared,
    runs::run_state_is_compare_and_set,
    runs::run_listing_filters_sorts_and_pages,
    runs::run_history_queries,
    runs::run_delete_cascades,
    task_instances::ti_creation_is_idempotent,
    task_instances::ti_concurrent_cas_has_one_winner,
    task_instances::ti_illegal_transition_is_refused,
    task_instances::ti_update_sets_and_clears_fields,
    task_instances::ti_sensor_waits_and_answers,
    task_instances::ti_state_queries_and_counts,
    task_instances::tries_record_and_list_unfinished,
    task_instances::never_started_tries_are_counted,
    task_instances::the_observer_hears_timed_methods_and_landed_changes,
    task_logs::task_logs_record_archives_removals_and_sweeps,
    misc::xcom_upserts_lists_and_clears,
    misc::variables_crud_and_pages,
    misc::variables_of_a_team_are_its_own_and_platform_wide,
    misc::import_errors_are_replaced_per_file,
    misc::pools_crud_and_default_pool,
    misc::pools_are_created_changed_and_renamed,
    misc::negative_pages_are_refused,
    misc::parallel_writers_all_succeed,
    usage::usage_records_round_trip_once_per_try,
    search::batch_searches_filter_and_page,
    search::task_instance_searches_sort_as_asked,
    usage::usage_lists_since_and_per_team,
    usage::usage_totals_add_up_as_the_report_does,
    usage::usage_outlives_its_run,
    usage::usage_refuses_impossible_quantities,
    access::users_crud_duplicates_and_cascade,
    access::memberships_upsert_remove_and_list,
    access::sso_sync_replaces_only_sso_memberships,
    access::tokens_create_find_list_revoke_touch,
    access::audit_appends_and_lists_with_filters,
    access::audit_events_are_append_only,
    access::connections_crud_team_filter_and_fixed_team,
    access::variable_team_is_kept_on_update,
    secrets::secrets_are_versioned_listed_and_resealed,
    notifications::notifications_are_deduplicated_delivered_and_listed,
    notifications::the_previous_finished_run_is_found_by_logical_date,
    governance::versions_keep_their_first_provenance_and_activate_in_one_step,
    governance::users_map_by_email_and_the_repository_state_keeps_the_last_good_commit,
    datasets::dataset_events_cursors_and_triggered_runs,
    replicas::replicas_claim_divide_and_take_over_dags,
    replicas::orphaned_tries_are_those_of_dead_replicas,
    replicas::announcements_reach_listeners_on_postgres_only,
);
