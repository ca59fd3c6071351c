-- Governed delivery: where each DAG version came from (the Git commit, or the deployment
-- and its uploader), its status under four-eyes approval, and the approval requests.

-- How the version reached Weir: 'folder' (the watched DAG folder), 'git' (the repository),
-- 'deploy' (a bundle uploaded with `weir deploy`), 'test' (`weir dags test`).
ALTER TABLE dag_version ADD COLUMN origin TEXT NOT NULL DEFAULT 'folder';
-- active | pending_approval | approved | rejected | superseded (weir_core::governance).
ALTER TABLE dag_version ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE dag_version ADD COLUMN commit_sha TEXT;
ALTER TABLE dag_version ADD COLUMN author_name TEXT;
ALTER TABLE dag_version ADD COLUMN author_email TEXT;
-- The Weir user the author maps to (by e-mail, or the deploying caller); NULL: none.
ALTER TABLE dag_version ADD COLUMN author_user TEXT;
ALTER TABLE dag_version ADD COLUMN committer TEXT;
ALTER TABLE dag_version ADD COLUMN message TEXT;
ALTER TABLE dag_version ADD COLUMN committed_at TEXT;
ALTER TABLE dag_version ADD COLUMN approved_by TEXT;
ALTER TABLE dag_version ADD COLUMN approved_at TEXT;
-- Set when a platform admin activated the version without approval.
ALTER TABLE dag_version ADD COLUMN break_glass_reason TEXT;
-- A production version is the DAG together with the job definitions it uses (JSON list):
-- its runs use these, so a job definition's change is approved like the DAG's own.
ALTER TABLE dag_version ADD COLUMN jobs TEXT;

-- Versions stored before this migration: the DAG's latest one is active, the rest history.
UPDATE dag_version SET status = 'superseded'
 WHERE version_hash <> COALESCE(
     (SELECT latest_version FROM dag WHERE dag.dag_id = dag_version.dag_id), '');

CREATE INDEX dag_version_by_time ON dag_version (dag_id, created_at);

-- One approval request per production version (bound to its exact hash).
CREATE TABLE approval (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id       TEXT NOT NULL,
    version_hash TEXT NOT NULL,
    team         TEXT NOT NULL,
    -- pending | approved | rejected | superseded
    state        TEXT NOT NULL,
    author_name  TEXT,
    author_email TEXT,
    author_user  TEXT,
    commit_sha   TEXT,
    message      TEXT,
    -- The semantic summary of the change from the version active when it was submitted.
    summary      TEXT NOT NULL DEFAULT '{}',
    -- The version active when it was submitted (what the summary compares with).
    base_version TEXT,
    created_at   TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   TEXT,
    comment      TEXT,
    UNIQUE (dag_id, version_hash)
);
CREATE INDEX approval_state ON approval (state, id);

-- The Git repository's sync state (one row: the repository of weir.toml).
CREATE TABLE repository_state (
    id              INTEGER NOT NULL PRIMARY KEY,
    url             TEXT NOT NULL,
    branch          TEXT NOT NULL,
    commit_sha      TEXT,
    commit_message  TEXT,
    commit_author   TEXT,
    synced_at       TEXT,
    last_attempt_at TEXT,
    last_error      TEXT,
    CHECK (id = 1)
);

-- Each revision of a job definition, with the commit (or deployment) that first brought it.
CREATE TABLE job_version (
    team         TEXT NOT NULL,
    job          TEXT NOT NULL,
    revision     TEXT NOT NULL,
    definition   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    origin       TEXT NOT NULL,
    commit_sha   TEXT,
    author_name  TEXT,
    author_email TEXT,
    author_user  TEXT,
    committer    TEXT,
    message      TEXT,
    committed_at TEXT,
    PRIMARY KEY (team, job, revision)
);
