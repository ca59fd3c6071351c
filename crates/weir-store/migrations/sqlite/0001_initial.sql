-- Weir's metadata schema, SQLite dialect.
-- Conventions (shared with migrations/postgres): times are TEXT in the fixed-width UTC
-- form `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds; sorts and compares as text), JSON is
-- TEXT, booleans are INTEGER 0/1, integers are INTEGER (64-bit).

CREATE TABLE dag (
    dag_id                   TEXT    NOT NULL PRIMARY KEY,
    team                     TEXT,
    file_path                TEXT    NOT NULL,
    description              TEXT,
    tags                     TEXT    NOT NULL DEFAULT '[]',
    schedule                 TEXT,
    timezone                 TEXT    NOT NULL DEFAULT 'UTC',
    latest_version           TEXT,
    is_paused                INTEGER NOT NULL DEFAULT 0,
    is_active                INTEGER NOT NULL DEFAULT 1,
    owners                   TEXT    NOT NULL DEFAULT '[]',
    max_active_runs          INTEGER NOT NULL DEFAULT 16,
    next_logical_date        TEXT,
    next_data_interval_start TEXT,
    next_data_interval_end   TEXT,
    last_parsed_at           TEXT
);
CREATE INDEX dag_team ON dag (team);

CREATE TABLE dag_version (
    dag_id       TEXT NOT NULL,
    version_hash TEXT NOT NULL,
    spec         TEXT NOT NULL,
    source       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (dag_id, version_hash)
);

CREATE TABLE dag_run (
    dag_id              TEXT    NOT NULL REFERENCES dag (dag_id) ON DELETE CASCADE,
    run_id              TEXT    NOT NULL,
    version_hash        TEXT    NOT NULL,
    run_type            TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    logical_date        TEXT    NOT NULL,
    data_interval_start TEXT,
    data_interval_end   TEXT,
    conf                TEXT    NOT NULL DEFAULT '{}',
    external_trigger    INTEGER NOT NULL DEFAULT 0,
    queued_at           TEXT,
    start_date          TEXT,
    end_date            TEXT,
    PRIMARY KEY (dag_id, run_id),
    UNIQUE (dag_id, logical_date)
);
CREATE INDEX dag_run_state ON dag_run (state, dag_id);

CREATE TABLE task_instance (
    dag_id           TEXT    NOT NULL,
    run_id           TEXT    NOT NULL,
    task_id          TEXT    NOT NULL,
    map_index        INTEGER NOT NULL DEFAULT -1,
    state            TEXT    NOT NULL DEFAULT 'none',
    try_number       INTEGER NOT NULL DEFAULT 0,
    max_tries        INTEGER NOT NULL DEFAULT 0,
    pool             TEXT    NOT NULL DEFAULT 'default_pool',
    queue            TEXT    NOT NULL DEFAULT 'default',
    priority_weight  INTEGER NOT NULL DEFAULT 1,
    start_date       TEXT,
    end_date         TEXT,
    next_retry_at    TEXT,
    hostname         TEXT,
    pid              INTEGER,
    rendered_command TEXT,
    note             TEXT,
    PRIMARY KEY (dag_id, run_id, task_id, map_index),
    FOREIGN KEY (dag_id, run_id) REFERENCES dag_run (dag_id, run_id) ON DELETE CASCADE
);
CREATE INDEX task_instance_state ON task_instance (state);
CREATE INDEX task_instance_pool_state ON task_instance (pool, state);
CREATE INDEX task_instance_dag_state ON task_instance (dag_id, state);

CREATE TABLE task_try (
    dag_id         TEXT    NOT NULL,
    run_id         TEXT    NOT NULL,
    task_id        TEXT    NOT NULL,
    map_index      INTEGER NOT NULL,
    try_number     INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    started_at     TEXT    NOT NULL,
    finished_at    TEXT,
    hostname       TEXT,
    try_dir        TEXT,
    pid            INTEGER,
    executor       TEXT,
    external_id    TEXT,
    exit_code      INTEGER,
    reason         TEXT,
    cpu_seconds    REAL,
    peak_rss_bytes INTEGER,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, try_number),
    FOREIGN KEY (dag_id, run_id, task_id, map_index)
        REFERENCES task_instance (dag_id, run_id, task_id, map_index) ON DELETE CASCADE
);
CREATE INDEX task_try_unfinished ON task_try (started_at) WHERE finished_at IS NULL;

CREATE TABLE xcom (
    dag_id    TEXT    NOT NULL,
    run_id    TEXT    NOT NULL,
    task_id   TEXT    NOT NULL,
    map_index INTEGER NOT NULL,
    key       TEXT    NOT NULL,
    value     TEXT    NOT NULL,
    timestamp TEXT    NOT NULL,
    PRIMARY KEY (dag_id, run_id, task_id, map_index, key),
    FOREIGN KEY (dag_id, run_id, task_id, map_index)
        REFERENCES task_instance (dag_id, run_id, task_id, map_index) ON DELETE CASCADE
);

CREATE TABLE variable (
    key         TEXT NOT NULL PRIMARY KEY,
    value       TEXT NOT NULL,
    description TEXT
);

CREATE TABLE import_error (
    import_error_id INTEGER PRIMARY KEY AUTOINCREMENT,
    filename        TEXT NOT NULL,
    stack_trace     TEXT NOT NULL,
    timestamp       TEXT NOT NULL
);
CREATE INDEX import_error_filename ON import_error (filename);

CREATE TABLE pool (
    pool        TEXT    NOT NULL PRIMARY KEY,
    slots       INTEGER NOT NULL,
    description TEXT
);
INSERT INTO pool (pool, slots, description) VALUES ('default_pool', 128, 'Default pool');
