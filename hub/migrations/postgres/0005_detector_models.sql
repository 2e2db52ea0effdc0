-- Detector model snapshots (hub::detect::Engine::snapshot), one per series,
-- so a restarted hub resumes detection warm. Only used without Redis (with
-- Redis the snapshots live there). `series` is the series key as JSON.
CREATE TABLE hostwatch.detector_models (
    host text NOT NULL,
    series text NOT NULL,
    model bytea NOT NULL,
    saved timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, series)
);
