//! Where detector model snapshots are kept between hub runs: in Redis when
//! the hub has one (hash `hostwatch:models:<host>`, field = series key JSON,
//! value = [`Engine::snapshot`](crate::detect::Engine::snapshot) bytes, plus
//! the set `hostwatch:models:hosts`), else in the history database
//! (`detector_models`, SQLite or PostgreSQL).
//!
//! Snapshots are a cache of what the models learned, not data: losing one
//! costs a cold start for that series, never a sample, so failures here are
//! counted and logged and never stop detection.

use std::sync::Arc;

use redis::aio::ConnectionManager;

use crate::buffer::redis::redis_err;
use crate::store::{HistoryStore, ModelSnapshot};
use crate::Result;

const HOSTS_KEY: &str = "hostwatch:models:hosts";
const HOST_KEY_PREFIX: &str = "hostwatch:models:";
/// Hash fields written per HSET: a few MiB per command.
const FIELDS_PER_COMMAND: usize = 500;

#[derive(Clone)]
pub enum ModelStore {
    Redis(ConnectionManager),
    History(Arc<dyn HistoryStore>),
}

impl ModelStore {
    pub async fn save(&self, models: &[ModelSnapshot]) -> Result<()> {
        match self {
            ModelStore::History(store) => store.save_models(models).await,
            ModelStore::Redis(conn) => {
                let mut conn = conn.clone();
                for chunk in models.chunks(FIELDS_PER_COMMAND) {
                    let mut pipe = redis::pipe();
                    for m in chunk {
                        pipe.cmd("SADD").arg(HOSTS_KEY).arg(&m.host).ignore();
                        pipe.cmd("HSET")
                            .arg(format!("{HOST_KEY_PREFIX}{}", m.host))
                            .arg(&m.series)
                            .arg(&m.model)
                            .ignore();
                    }
                    pipe.query_async::<()>(&mut conn).await.map_err(redis_err)?;
                }
                Ok(())
            }
        }
    }

    pub async fn load(&self) -> Result<Vec<ModelSnapshot>> {
        match self {
            ModelStore::History(store) => store.load_models().await,
            ModelStore::Redis(conn) => {
                let mut conn = conn.clone();
                let hosts: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(HOSTS_KEY)
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err)?;
                let mut out = Vec::new();
                for host in hosts {
                    let fields: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
                        .arg(format!("{HOST_KEY_PREFIX}{host}"))
                        .query_async(&mut conn)
                        .await
                        .map_err(redis_err)?;
                    out.extend(fields.into_iter().map(|(series, model)| ModelSnapshot {
                        host: host.clone(),
                        series,
                        model,
                    }));
                }
                Ok(out)
            }
        }
    }
}
