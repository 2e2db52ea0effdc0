-- Plain PostgreSQL flavour: `samples` partitioned by day, rollups maintained
-- by the hub (store/postgres/maintenance.rs), retention by dropping partitions.
INSERT INTO hostwatch.meta (key, value) VALUES ('flavor', 'plain');

-- No unique key: exactly-once comes from the ledger written in the same
-- transaction (binary COPY runs ~9x faster without a per-row key).
CREATE TABLE hostwatch.samples (
    series_id  bigint NOT NULL,
    time       timestamptz NOT NULL,
    value      double precision NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX samples_series_time ON hostwatch.samples (series_id, time);

-- The safety net: a row for a day without its partition lands here instead of
-- failing the commit. ensure_partition() moves such rows out when it creates
-- the day's partition; retention deletes old ones.
CREATE TABLE hostwatch.samples_default PARTITION OF hostwatch.samples DEFAULT;

CREATE TABLE hostwatch.samples_1m (
    series_id  bigint NOT NULL,
    bucket     timestamptz NOT NULL,
    avg        double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    last       double precision NOT NULL,
    count      bigint NOT NULL,
    PRIMARY KEY (series_id, bucket)
);

CREATE TABLE hostwatch.samples_1h (LIKE hostwatch.samples_1m INCLUDING ALL);

-- Creates the partition of one UTC day unless it exists. Rows of that day
-- already in the DEFAULT partition are moved into it first, as PostgreSQL
-- requires before a new partition may cover them. Returns whether it created.
CREATE FUNCTION hostwatch.ensure_partition(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'samples_' || to_char(day, 'YYYYMMDD');
    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(format('hostwatch.%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM hostwatch.samples_default WHERE time >= lo AND time < hi) THEN
        EXECUTE format('CREATE TABLE hostwatch.%I (LIKE hostwatch.samples)', part);
        EXECUTE format('INSERT INTO hostwatch.%I SELECT * FROM hostwatch.samples_default
                        WHERE time >= $1 AND time < $2', part) USING lo, hi;
        DELETE FROM hostwatch.samples_default WHERE time >= lo AND time < hi;
        EXECUTE format('ALTER TABLE hostwatch.samples ATTACH PARTITION hostwatch.%I
                        FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    ELSE
        EXECUTE format('CREATE TABLE hostwatch.%I PARTITION OF hostwatch.samples
                        FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
    END IF;
    RETURN true;
EXCEPTION WHEN duplicate_table THEN
    -- Another hub created it meanwhile.
    RETURN false;
END $$;

-- Days (since 1970-01-01) that have a partition.
CREATE FUNCTION hostwatch.partition_days() RETURNS SETOF integer
LANGUAGE sql STABLE AS $$
    SELECT to_date(substr(c.relname, 9), 'YYYYMMDD') - DATE '1970-01-01'
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'hostwatch.samples'::regclass
      AND c.relname ~ '^samples_[0-9]{8}$'
$$;

-- Retention: drops the daily partitions that end at or before `cutoff` and
-- deletes older rows from the DEFAULT partition. Returns partitions dropped.
CREATE FUNCTION hostwatch.drop_partitions_before(cutoff timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day integer;
    dropped integer := 0;
BEGIN
    FOR day IN SELECT d FROM hostwatch.partition_days() AS d ORDER BY d LOOP
        EXIT WHEN (DATE '1970-01-01' + day + 1)::timestamp AT TIME ZONE 'UTC' > cutoff;
        EXECUTE format('DROP TABLE hostwatch.%I',
                       'samples_' || to_char(DATE '1970-01-01' + day, 'YYYYMMDD'));
        dropped := dropped + 1;
    END LOOP;
    DELETE FROM hostwatch.samples_default WHERE time < cutoff;
    RETURN dropped;
END $$;

-- The stable view for people who query history directly (Grafana, psql).
CREATE VIEW hostwatch.samples_v AS
SELECT s.time, r.host, coalesce(h.site, '') AS site, r.name, r.labels, s.value
FROM hostwatch.samples s
JOIN hostwatch.series r ON r.id = s.series_id
LEFT JOIN hostwatch.hosts h ON h.host = r.host;
