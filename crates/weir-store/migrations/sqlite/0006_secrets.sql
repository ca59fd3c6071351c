-- Team-scoped secrets kept by Weir's own (local) secrets store. `sealed` is the value
-- encrypted under the master key whose id it names (`weir:v1:<key id>:<nonce+ciphertext>`);
-- the clear value is never stored. `version` counts the values the secret has had.
CREATE TABLE secret (
    team        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    sealed      TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL,
    PRIMARY KEY (team, name)
);
