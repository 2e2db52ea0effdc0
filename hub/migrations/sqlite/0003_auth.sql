-- Agent authentication (`security.auth = "required"`): enrolment tokens and
-- per-agent credentials. Only SHA-256 hashes of the secrets are stored; the
-- secrets themselves are shown once (token) or sent once (credential).
CREATE TABLE enrolment_tokens (
    token_hash  TEXT PRIMARY KEY,           -- hex SHA-256 of the token
    site        TEXT NOT NULL DEFAULT '',   -- '' = any site
    created_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL,
    uses_total  INTEGER NOT NULL,
    uses_left   INTEGER NOT NULL
);

CREATE TABLE agent_credentials (
    agent_id         TEXT PRIMARY KEY,
    credential_hash  TEXT NOT NULL,          -- hex SHA-256 of the credential
    site             TEXT NOT NULL DEFAULT '',
    token_hash       TEXT NOT NULL,          -- the token it enrolled with
    enrolled_ms      INTEGER NOT NULL,
    -- 0 until the agent first presents its credential: until then a retry
    -- with the same token (the Welcome may have been lost) re-issues it.
    confirmed        INTEGER NOT NULL DEFAULT 0,
    last_hello_ms    INTEGER,
    revoked_ms       INTEGER
);

-- Bumped by every change to agent_credentials, so hubs notice a revocation
-- made by another process (`hostwatch hub agents revoke`) with one cheap read.
CREATE TABLE auth_epoch (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    epoch  INTEGER NOT NULL
);
INSERT INTO auth_epoch (id, epoch) VALUES (1, 0);
