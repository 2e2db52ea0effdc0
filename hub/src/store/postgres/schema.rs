//! Which flavour of PostgreSQL history a database gets, and its migrations.
//!
//! `migrations/postgres/` holds the tables both flavours share (versions below
//! 1000); `migrations/postgres/plain/` or `migrations/postgres/timescaledb/`
//! adds `samples`, its rollups and the `samples_v` view (versions from 1001).
//! Each set runs with `ignore_missing`, so it tolerates the other's versions
//! in `_sqlx_migrations`. A database keeps the flavour it was created with
//! (`hostwatch.meta`), even if TimescaleDB is installed later.

use std::time::Duration;

use sqlx::PgPool;

use crate::{Error, Result};

/// The start-up warning of the plain path.
pub const PLAIN_WARNING: &str = "TimescaleDB is not available in this PostgreSQL: \
    using native daily partitions and hub-maintained 1m/1h rollups (the plain path)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Native range partitions by day, rollups maintained by the hub.
    Plain,
    /// Hypertable, compression, continuous aggregates, retention policies.
    Timescale,
}

impl Flavor {
    fn from_meta(value: &str) -> Option<Self> {
        match value {
            "plain" => Some(Flavor::Plain),
            "timescaledb" => Some(Flavor::Timescale),
            _ => None,
        }
    }
}

/// Picks the flavour (the recorded one, else TimescaleDB when it can be
/// created here) and brings the schema up to date.
pub async fn migrate(pool: &PgPool) -> Result<Flavor> {
    let flavor = match recorded(pool).await? {
        Some(f) => f,
        None if timescale_loadable(pool).await? => Flavor::Timescale,
        None => Flavor::Plain,
    };
    let mut common = sqlx::migrate!("./migrations/postgres");
    common.set_ignore_missing(true);
    common.run(pool).await?;
    let mut own = match flavor {
        Flavor::Plain => sqlx::migrate!("./migrations/postgres/plain"),
        Flavor::Timescale => sqlx::migrate!("./migrations/postgres/timescaledb"),
    };
    own.set_ignore_missing(true);
    own.run(pool).await?;
    Ok(flavor)
}

async fn recorded(pool: &PgPool) -> Result<Option<Flavor>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('hostwatch.meta') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(None);
    }
    let value: Option<String> =
        sqlx::query_scalar("SELECT value FROM hostwatch.meta WHERE key = 'flavor'")
            .fetch_optional(pool)
            .await?;
    match value {
        None => Ok(None),
        Some(v) => Flavor::from_meta(&v)
            .map(Some)
            .ok_or_else(|| Error::Invalid(format!("hostwatch.meta names unknown flavour {v:?}"))),
    }
}

/// TimescaleDB is usable when it is installed and preloaded (the extension
/// cannot be created otherwise).
async fn timescale_loadable(pool: &PgPool) -> Result<bool> {
    let ok: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
            AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'",
    )
    .fetch_one(pool)
    .await?;
    Ok(ok)
}

/// TimescaleDB: (re)sets the retention policies from the config. The plain
/// path enforces retention in its maintenance task instead.
pub async fn timescale_retention(pool: &PgPool, tiers: [(&str, Duration); 3]) -> Result<()> {
    for (relation, keep) in tiers {
        sqlx::query("SELECT remove_retention_policy($1::regclass, if_exists => true)")
            .bind(relation)
            .execute(pool)
            .await?;
        sqlx::query(
            "SELECT add_retention_policy($1::regclass, drop_after => make_interval(secs => $2))",
        )
        .bind(relation)
        .bind(keep.as_secs_f64())
        .execute(pool)
        .await?;
    }
    Ok(())
}
