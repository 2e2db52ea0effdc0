-- Agent authentication (`security.auth = "required"`): enrolment tokens and
-- per-agent credentials. Only SHA-256 hashes of the secrets are stored; the
-- secrets themselves are shown once (token) or sent once (credential).
CREATE TABLE hostwatch.enrolment_tokens (
    token_hash  text PRIMARY KEY,           -- hex SHA-256 of the token
    site        text NOT NULL DEFAULT '',   -- '' = any site
    created     timestamptz NOT NULL,
    expires     timestamptz NOT NULL,
    uses_total  integer NOT NULL,
    uses_left   integer NOT NULL
);

CREATE TABLE hostwatch.agent_credentials (
    agent_id         text PRIMARY KEY,
    credential_hash  text NOT NULL,          -- hex SHA-256 of the credential
    site             text NOT NULL DEFAULT '',
    token_hash       text NOT NULL,          -- the token it enrolled with
    enrolled         timestamptz NOT NULL,
    -- false until the agent first presents its credential: until then a retry
    -- with the same token (the Welcome may have been lost) re-issues it.
    confirmed        boolean NOT NULL DEFAULT false,
    last_hello       timestamptz,
    revoked          timestamptz
);

-- Bumped by every change to agent_credentials, so hubs notice a revocation
-- made by another process (`hostwatch hub agents revoke`) with one cheap read.
CREATE TABLE hostwatch.auth_epoch (
    id     integer PRIMARY KEY CHECK (id = 1),
    epoch  bigint NOT NULL
);
INSERT INTO hostwatch.auth_epoch (id, epoch) VALUES (1, 0);
