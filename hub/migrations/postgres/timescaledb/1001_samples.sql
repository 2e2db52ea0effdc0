-- TimescaleDB flavour, chosen when the `timescaledb` extension is available
-- and preloaded. The same logical schema as plain/: `samples`, `samples_1m`,
-- `samples_1h` (here continuous aggregates) and `samples_v`.
--
-- NOT exercised by the test suite: the machines the tests run on have plain
-- PostgreSQL only. Keep it in step with plain/1001_samples.sql by hand.
-- Retention policies are set by the hub at start-up from its config
-- (store/postgres/schema.rs); compression and refresh policies are here.
CREATE EXTENSION IF NOT EXISTS timescaledb;
INSERT INTO hostwatch.meta (key, value) VALUES ('flavor', 'timescaledb');

-- No unique key: exactly-once comes from the ledger (see plain/).
CREATE TABLE hostwatch.samples (
    series_id  bigint NOT NULL,
    time       timestamptz NOT NULL,
    value      double precision NOT NULL
);
SELECT create_hypertable('hostwatch.samples', 'time',
                         chunk_time_interval => INTERVAL '1 day',
                         create_default_indexes => false);
CREATE INDEX samples_series_time ON hostwatch.samples (series_id, time DESC);

ALTER TABLE hostwatch.samples SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'series_id',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('hostwatch.samples', INTERVAL '2 days');

-- WITH NO DATA lets these run inside the migration's transaction. Real-time
-- aggregation (materialized_only = false) makes the newest buckets visible
-- before the refresh policy materializes them.
CREATE MATERIALIZED VIEW hostwatch.samples_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT series_id,
       time_bucket(INTERVAL '1 minute', time) AS bucket,
       avg(value) AS avg, min(value) AS min, max(value) AS max,
       last(value, time) AS last, count(*) AS count
FROM hostwatch.samples
GROUP BY series_id, bucket
WITH NO DATA;
SELECT add_continuous_aggregate_policy('hostwatch.samples_1m',
    start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');

CREATE MATERIALIZED VIEW hostwatch.samples_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT series_id,
       time_bucket(INTERVAL '1 hour', time) AS bucket,
       avg(value) AS avg, min(value) AS min, max(value) AS max,
       last(value, time) AS last, count(*) AS count
FROM hostwatch.samples
GROUP BY series_id, bucket
WITH NO DATA;
SELECT add_continuous_aggregate_policy('hostwatch.samples_1h',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes');

CREATE VIEW hostwatch.samples_v AS
SELECT s.time, r.host, coalesce(h.site, '') AS site, r.name, r.labels, s.value
FROM hostwatch.samples s
JOIN hostwatch.series r ON r.id = s.series_id
LEFT JOIN hostwatch.hosts h ON h.host = r.host;
