-- Usage metering: one row per finished try, with what it reserved and used and the price
-- of its compute environment at the time, so that cost history survives price changes.
-- Deliberately no foreign key to task_try: runs can be deleted, costs are history and
-- stay. Same conventions as 0001 (times are fixed-width UTC TEXT, REAL for fractional
-- quantities, INTEGER for byte counts).

CREATE TABLE usage_record (
    dag_id                 TEXT    NOT NULL,
    run_id                 TEXT    NOT NULL,
    task_id                TEXT    NOT NULL,
    map_index              INTEGER NOT NULL,
    try_number             INTEGER NOT NULL,
    team                   TEXT    NOT NULL,
    queue                  TEXT    NOT NULL,
    compute_environment    TEXT    NOT NULL,
    requested_vcpu         REAL    NOT NULL,
    requested_memory_bytes INTEGER NOT NULL,
    wall_seconds           REAL    NOT NULL,
    cpu_seconds            REAL,
    peak_memory_bytes      INTEGER,
    started_at             TEXT    NOT NULL,
    finished_at            TEXT    NOT NULL,
    price_vcpu_hour        REAL    NOT NULL,
    price_gib_hour         REAL    NOT NULL,
    job_revision           TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number)
);
CREATE INDEX usage_record_started ON usage_record (started_at);
CREATE INDEX usage_record_team_started ON usage_record (team, started_at);
