-- Anomaly events (one row per incident, updated while it lasts). Times are
-- timestamptz so Grafana can use the table for annotations directly.
CREATE TABLE hostwatch.events (
    id          bigint PRIMARY KEY,
    host        text NOT NULL,
    site        text NOT NULL,
    name        text NOT NULL,
    labels      jsonb NOT NULL,
    start_time  timestamptz NOT NULL,
    last_time   timestamptz NOT NULL,
    end_time    timestamptz,
    severity    text NOT NULL,
    score       double precision NOT NULL,
    actual      double precision NOT NULL,
    expected    double precision,
    evidence    jsonb NOT NULL
);
CREATE INDEX events_start ON hostwatch.events (start_time);
