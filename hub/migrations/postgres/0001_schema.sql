-- hostwatch history in PostgreSQL: the tables both flavours share. `samples`,
-- its 1-minute and 1-hour rollups and the `samples_v` view come from the
-- flavour's own set, applied right after this one: plain/ (native partitions,
-- hub-maintained rollups) or timescaledb/ (hypertable, continuous aggregates).
-- Versions here stay below 1000; the flavour sets start at 1001.
CREATE SCHEMA IF NOT EXISTS hostwatch;

-- `flavor` = 'plain' | 'timescaledb', written by the flavour's first migration;
-- a database keeps the flavour it was created with.
CREATE TABLE hostwatch.meta (
    key    text PRIMARY KEY,
    value  text NOT NULL
);

CREATE TABLE hostwatch.hosts (
    host      text PRIMARY KEY,
    site      text NOT NULL,
    agent_id  text NOT NULL,
    facts     jsonb NOT NULL DEFAULT '{}',
    updated   timestamptz NOT NULL DEFAULT now()
);

-- A series is (host, name, labels). The unique key hashes the labels: a
-- B-tree entry is limited to ~2.7 kB, and 30 labels of 512 bytes are allowed.
CREATE TABLE hostwatch.series (
    id      bigserial PRIMARY KEY,
    host    text NOT NULL,
    name    text NOT NULL,
    labels  jsonb NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX series_host_name_labels
    ON hostwatch.series (host, name, md5(labels::text));

-- Highest seq stored per agent, plus running totals. Read and locked in the
-- same transaction that writes a batch's rows: this, not a unique key on
-- samples, is what makes a resent batch a no-op.
CREATE TABLE hostwatch.ledger (
    agent_id    text PRIMARY KEY,
    host        text NOT NULL,
    last_seq    bigint NOT NULL DEFAULT 0,
    batches     bigint NOT NULL DEFAULT 0,
    rows        bigint NOT NULL DEFAULT 0,
    duplicates  bigint NOT NULL DEFAULT 0,
    updated     timestamptz NOT NULL DEFAULT now()
);

-- Sample time ranges written since the rollups of `tier` last covered them,
-- inserted by each commit in its own transaction. The maintenance task
-- recomputes the rollup buckets a closed range touches and deletes the rows
-- it handled; ranges committed meanwhile stay for the next run. Late data
-- (an agent replaying its spool after an outage) is rolled up the same way.
CREATE TABLE hostwatch.rollup_pending (
    id         bigserial PRIMARY KEY,
    tier       text NOT NULL CHECK (tier IN ('1m', '1h')),
    from_time  timestamptz NOT NULL,
    to_time    timestamptz NOT NULL
);
