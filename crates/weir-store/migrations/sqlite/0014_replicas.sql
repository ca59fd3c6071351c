-- Weir processes sharing this database. Each process registers a row when it starts
-- (a fresh id each time) and renews `lease_until` with every heartbeat; a replica whose
-- lease ran out is dead to the others, who take over what it held.
CREATE TABLE replica (
    replica_id   TEXT NOT NULL PRIMARY KEY,
    -- 'standalone', 'all', 'api' or 'scheduler'.
    role         TEXT NOT NULL,
    host         TEXT NOT NULL,
    version      TEXT NOT NULL,
    -- Where other replicas reach its HTTP API (to read the logs of tries it runs).
    address      TEXT,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    lease_until  TEXT NOT NULL,
    -- Set when it stopped cleanly (its leases were handed back at once).
    stopped_at   TEXT
);

-- Which scheduler replica plans and dispatches a DAG's runs. A lease is valid while its
-- replica's `lease_until` is in the future; an expired one is taken over (claimed with
-- FOR UPDATE SKIP LOCKED on PostgreSQL, so two replicas never claim the same DAG).
CREATE TABLE scheduler_lease (
    dag_id     TEXT NOT NULL PRIMARY KEY,
    replica_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL
);
CREATE INDEX scheduler_lease_replica ON scheduler_lease (replica_id);

-- The replica that watches a try; a replica that takes over the DAG adopts the tries of
-- a dead one.
ALTER TABLE task_try ADD COLUMN replica_id TEXT;
