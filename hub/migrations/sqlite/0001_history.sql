-- Embedded history: the same logical schema as the PostgreSQL/TimescaleDB path.
CREATE TABLE hosts (
    host        TEXT PRIMARY KEY,
    site        TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    facts       TEXT NOT NULL DEFAULT '{}',
    updated_ms  INTEGER NOT NULL
);

CREATE TABLE series (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    host    TEXT NOT NULL,
    name    TEXT NOT NULL,
    labels  TEXT NOT NULL,
    UNIQUE (host, name, labels)
);

-- No unique key on samples: exactly-once comes from the ledger written in the
-- same transaction (a per-row key costs ~9x in ingest throughput).
CREATE TABLE samples (
    series_id  INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL,
    value      REAL NOT NULL
);
CREATE INDEX samples_series_ts ON samples (series_id, ts_ms);

-- Highest seq stored per agent, plus running totals for the completeness view.
CREATE TABLE ledger (
    agent_id     TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    last_seq     INTEGER NOT NULL,
    batches      INTEGER NOT NULL DEFAULT 0,
    rows         INTEGER NOT NULL DEFAULT 0,
    duplicates   INTEGER NOT NULL DEFAULT 0,
    updated_ms   INTEGER NOT NULL
);
