-- Expected bands (hub/src/bands.rs): a series' band from `time` on, until
-- its next row; written only when the band moved, so most series have a few
-- rows an hour. A plain table in both flavours (small next to samples);
-- retention deletes rows older than the 1-minute tier's.
CREATE TABLE hostwatch.bands (
    series_id  bigint NOT NULL,
    time       timestamptz NOT NULL,
    expected   double precision NOT NULL,
    lo         double precision NOT NULL,
    hi         double precision NOT NULL,
    PRIMARY KEY (series_id, time)
);
