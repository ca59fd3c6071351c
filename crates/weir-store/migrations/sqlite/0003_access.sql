-- Identity, access, audit and connections: users (local or from SSO), their team
-- memberships, API tokens (a user's, or a team's service account's), the append-only
-- audit log, Airflow-style connections, and the owning team of a variable. Same
-- conventions as 0001 (times are fixed-width UTC TEXT, JSON is TEXT, booleans are
-- INTEGER 0/1) and the same tables as migrations/postgres/0003_access.sql.

CREATE TABLE weir_user (
    username       TEXT    NOT NULL PRIMARY KEY,
    -- NULL for SSO users, who never log in with a password.
    password_hash  TEXT,
    email          TEXT,
    source         TEXT    NOT NULL CHECK (source IN ('local', 'sso')),
    platform_admin INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT    NOT NULL,
    last_login_at  TEXT
);

CREATE TABLE team_member (
    team     TEXT NOT NULL,
    username TEXT NOT NULL REFERENCES weir_user (username) ON DELETE CASCADE,
    role     TEXT NOT NULL,
    -- 'sso' memberships are replaced at each SSO login; 'local' ones only by an admin.
    source   TEXT NOT NULL CHECK (source IN ('local', 'sso')),
    PRIMARY KEY (team, username)
);
CREATE INDEX team_member_username ON team_member (username);

CREATE TABLE api_token (
    id           TEXT NOT NULL PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    username     TEXT REFERENCES weir_user (username) ON DELETE CASCADE,
    team         TEXT,
    role         TEXT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT,
    -- A token acts for a user, or for a team with a role (a service account).
    CHECK (username IS NOT NULL OR (team IS NOT NULL AND role IS NOT NULL))
);
CREATE INDEX api_token_username ON api_token (username);
CREATE INDEX api_token_team ON api_token (team);

CREATE TABLE audit_event (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    team        TEXT,
    outcome     TEXT NOT NULL,
    source_addr TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_event_time ON audit_event (time);
CREATE INDEX audit_event_actor_time ON audit_event (actor, time);
CREATE INDEX audit_event_object ON audit_event (object_type, object_id);
CREATE INDEX audit_event_team_time ON audit_event (team, time);

-- The audit log is evidence: enforced append-only in the database itself, so no code
-- path (nor a hand-typed statement) can rewrite or erase it.
CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TABLE connection (
    conn_id     TEXT NOT NULL PRIMARY KEY,
    conn_type   TEXT NOT NULL,
    description TEXT,
    host        TEXT,
    login       TEXT,
    password    TEXT,
    schema_name TEXT,
    port        INTEGER,
    extra       TEXT,
    -- The owning team (NULL: platform-wide); fixed when the connection is created.
    team        TEXT
);

-- The owning team of a variable (NULL: platform-wide); fixed when it is created.
ALTER TABLE variable ADD COLUMN team TEXT;
