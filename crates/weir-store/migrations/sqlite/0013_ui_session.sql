-- Sessions of the web UI: a signed-in browser holds a random cookie; only its SHA-256
-- is stored, so a copy of the database cannot be used to sign in. A session is revoked
-- by deleting its row (sign-out, the user's deletion, an admin's revocation).
CREATE TABLE ui_session (
    id_hash      TEXT NOT NULL PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES weir_user (username) ON DELETE CASCADE,
    -- How the user signed in: 'password' or 'sso'.
    method       TEXT NOT NULL,
    -- The token every state-changing form of this session must carry.
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX ui_session_username ON ui_session (username);
CREATE INDEX ui_session_expires_at ON ui_session (expires_at);
