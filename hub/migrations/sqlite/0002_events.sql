-- Anomaly events (one row per incident, updated while it lasts).
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    host      TEXT NOT NULL,
    site      TEXT NOT NULL,
    name      TEXT NOT NULL,
    labels    TEXT NOT NULL,
    start_ms  INTEGER NOT NULL,
    last_ms   INTEGER NOT NULL,
    end_ms    INTEGER,
    severity  TEXT NOT NULL,
    score     REAL NOT NULL,
    actual    REAL NOT NULL,
    expected  REAL,
    evidence  TEXT NOT NULL
);
CREATE INDEX events_start ON events (start_ms);
