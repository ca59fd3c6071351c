-- Datasets (data-aware scheduling). A dataset is a URI some event named; an event is a
-- task's outlet on a successful try, or a post to the API. Consumers keep a cursor over
-- event ids: every event past it is pending for them. SQLite has one writer, so ids
-- commit in order and no cursor passes over an event that commits late.
CREATE TABLE dataset (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uri        TEXT NOT NULL UNIQUE,
    created_at TEXT        NOT NULL,
    updated_at TEXT        NOT NULL
);

CREATE TABLE dataset_event (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id        INTEGER NOT NULL REFERENCES dataset (id) ON DELETE CASCADE,
    uri               TEXT NOT NULL,
    extra             TEXT ,
    -- the producing team: the DAG's team for an outlet, the poster's team for the API
    team              TEXT NOT NULL,
    source_dag_id     TEXT,
    source_run_id     TEXT,
    source_task_id    TEXT,
    source_map_index  INTEGER,
    source_try_number INTEGER,
    -- who posted it through the API; NULL for an outlet
    posted_by         TEXT,
    created_at        TEXT        NOT NULL,
    -- one event per outlet per try, however often the try's end is recorded
    UNIQUE (source_dag_id, source_run_id, source_task_id, source_map_index, source_try_number, uri)
);
CREATE INDEX dataset_event_by_dataset ON dataset_event (dataset_id, id);
CREATE INDEX dataset_event_by_source ON dataset_event (source_dag_id, source_run_id);

-- A dataset-scheduled DAG's cursor: the last event id it has consumed (or passed over).
CREATE TABLE dataset_consumer (
    dag_id        TEXT PRIMARY KEY REFERENCES dag (dag_id) ON DELETE CASCADE,
    last_event_id INTEGER NOT NULL
);

-- The events that triggered a dataset-triggered run.
CREATE TABLE dag_run_dataset_event (
    dag_id   TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    event_id INTEGER NOT NULL REFERENCES dataset_event (id) ON DELETE CASCADE,
    PRIMARY KEY (dag_id, run_id, event_id),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);
CREATE INDEX dag_run_dataset_event_by_event ON dag_run_dataset_event (event_id);
