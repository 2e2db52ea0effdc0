//! Detector model snapshots in `hostwatch.detector_models` (used when the hub
//! has no Redis): upserted in chunks, each one statement over arrays.

use super::PostgresStore;
use crate::store::ModelSnapshot;
use crate::Result;

/// Snapshots per statement: about 10 KiB each, so a few MiB per round trip.
const CHUNK: usize = 500;

pub(super) async fn save(store: &PostgresStore, models: &[ModelSnapshot]) -> Result<()> {
    for chunk in models.chunks(CHUNK) {
        let hosts: Vec<&str> = chunk.iter().map(|m| m.host.as_str()).collect();
        let series: Vec<&str> = chunk.iter().map(|m| m.series.as_str()).collect();
        let blobs: Vec<&[u8]> = chunk.iter().map(|m| m.model.as_slice()).collect();
        sqlx::query(
            "INSERT INTO hostwatch.detector_models (host, series, model)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
             ON CONFLICT (host, series) DO UPDATE SET model = excluded.model, saved = now()",
        )
        .bind(&hosts)
        .bind(&series)
        .bind(&blobs)
        .execute(&store.pool)
        .await?;
    }
    Ok(())
}

pub(super) async fn load(store: &PostgresStore) -> Result<Vec<ModelSnapshot>> {
    let rows: Vec<(String, String, Vec<u8>)> =
        sqlx::query_as("SELECT host, series, model FROM hostwatch.detector_models")
            .fetch_all(&store.pool)
            .await?;
    Ok(rows.into_iter().map(ModelSnapshot::from).collect())
}
