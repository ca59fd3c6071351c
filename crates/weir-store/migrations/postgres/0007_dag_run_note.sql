-- Airflow's note on a DAG run (given when it is triggered): free text for the people who
-- look at the run later ("re-run after the upstream fix").
ALTER TABLE dag_run ADD COLUMN note TEXT;
