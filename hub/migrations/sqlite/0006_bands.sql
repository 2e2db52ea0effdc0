-- Expected bands (hub/src/bands.rs): a series' band from `t_ms` on, until
-- its next row; written only when the band moved, so most series have a few
-- rows an hour.
CREATE TABLE bands (
    series_id  INTEGER NOT NULL,
    t_ms       INTEGER NOT NULL,
    expected   REAL NOT NULL,
    lo         REAL NOT NULL,
    hi         REAL NOT NULL,
    PRIMARY KEY (series_id, t_ms)
);
