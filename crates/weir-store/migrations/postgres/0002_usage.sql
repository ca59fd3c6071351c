-- Usage metering: one row per finished try, with what it reserved and used and the price
-- of its compute environment at the time, so that cost history survives price changes.
-- Deliberately no foreign key to task_try: runs can be deleted, costs are history and
-- stay. Same tables, columns and keys as migrations/sqlite/0002_usage.sql.

CREATE TABLE usage_record (
    dag_id                 TEXT             NOT NULL,
    run_id                 TEXT             NOT NULL,
    task_id                TEXT             NOT NULL,
    map_index              BIGINT           NOT NULL,
    try_number             BIGINT           NOT NULL,
    team                   TEXT             NOT NULL,
    queue                  TEXT             NOT NULL,
    compute_environment    TEXT             NOT NULL,
    requested_vcpu         DOUBLE PRECISION NOT NULL,
    requested_memory_bytes BIGINT           NOT NULL,
    wall_seconds           DOUBLE PRECISION NOT NULL,
    cpu_seconds            DOUBLE PRECISION,
    peak_memory_bytes      BIGINT,
    started_at             TIMESTAMPTZ      NOT NULL,
    finished_at            TIMESTAMPTZ      NOT NULL,
    price_vcpu_hour        DOUBLE PRECISION NOT NULL,
    price_gib_hour         DOUBLE PRECISION NOT NULL,
    job_revision           TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number)
);
CREATE INDEX usage_record_started ON usage_record (started_at);
CREATE INDEX usage_record_team_started ON usage_record (team, started_at);
