-- Notifications: one row per message (one event for one channel), sent by the engine's
-- delivery loop with retries. The unique (dedup_key, channel, medium) is what makes one event one
-- message per channel and medium, however often the engine raises it (a restart, two replicas).
CREATE TABLE notification (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key       TEXT NOT NULL,
    channel         TEXT NOT NULL,
    -- how the channel sends it: webhook | email (a channel with both has two rows)
    medium          TEXT NOT NULL,
    team            TEXT NOT NULL,
    dag_id          TEXT NOT NULL,
    run_id          TEXT NOT NULL,
    task_id         TEXT,
    -- failure | retry | success | recovery | deadline_miss (weir_core::notify::NotifyEvent)
    event           TEXT NOT NULL,
    -- weir_core::notify::Message as JSON
    message         TEXT NOT NULL,
    -- pending | sent | failed
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (dedup_key, channel, medium)
);
CREATE INDEX notification_due ON notification (state, next_attempt_at);
CREATE INDEX notification_by_team ON notification (team, id);
