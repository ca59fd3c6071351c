-- Where a finished try's log went once it left its try folder: archived to the log store
-- (`[logs] store`), or removed by retention (`[logs] retention`). No row: the log is
-- still in its try folder (a running try's, or one not archived yet).
CREATE TABLE task_log (
    dag_id      TEXT    NOT NULL,
    run_id      TEXT    NOT NULL,
    task_id     TEXT    NOT NULL,
    map_index   BIGINT NOT NULL,
    try_number  BIGINT NOT NULL,
    -- s3://bucket/key of the archived log; NULL: nothing was archived (no log file).
    location    TEXT,
    size_bytes  BIGINT,
    archived_at TIMESTAMPTZ,
    -- When retention deleted the log (in the store and in the try folder).
    removed_at  TIMESTAMPTZ,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number),
    FOREIGN KEY (dag_id, run_id, task_id, map_index, try_number)
        REFERENCES task_try (dag_id, run_id, task_id, map_index, try_number) ON DELETE CASCADE
);
-- The sweeps look for finished tries oldest first.
CREATE INDEX task_try_finished ON task_try (finished_at) WHERE finished_at IS NOT NULL;
