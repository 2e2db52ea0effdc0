-- Detector model snapshots (hub::detect::Engine::snapshot), one per series,
-- so a restarted hub resumes detection warm. Only used without Redis (with
-- Redis the snapshots live there). `series` is the series key as JSON.
CREATE TABLE detector_models (
    host TEXT NOT NULL,
    series TEXT NOT NULL,
    model BLOB NOT NULL,
    saved_ms INTEGER NOT NULL,
    PRIMARY KEY (host, series)
);
