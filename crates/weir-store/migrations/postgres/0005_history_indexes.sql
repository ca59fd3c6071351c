-- Indexes for listing a long history (see the history benchmark,
-- crates/weir-server/benches/history.rs): every DAG's runs, and task instances across
-- runs, are sorted by logical date first; this index gives that order without a sort of
-- the whole table, so a page is read from its start (or end, descending).
CREATE INDEX dag_run_logical_date ON dag_run (logical_date, dag_id, run_id);
