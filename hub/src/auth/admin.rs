//! What the admin commands (`hostwatch hub token …`, `hostwatch hub agents …`)
//! do, straight on the hub's database: the same SQLite file or PostgreSQL
//! `DATABASE_URL` the hub uses. No admin endpoint and no admin secret: whoever
//! can write the hub's database already controls it, and a running hub picks
//! changes up within [`super::POLL_INTERVAL`].

use std::sync::Arc;
use std::time::Duration;

use super::secret;
use super::store::{AuthStore, NewToken, PostgresAuth, TokenInfo};
use crate::store::{HistoryStore as _, PostgresStore, SqliteStore};
use crate::{Config, Error, Result};

/// Longest token lifetime accepted: a token is a bearer secret, so one that
/// never expires is one that leaks eventually.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(365 * 86_400);

/// Opens the auth tables of the database `config` names (migrating it, so
/// tokens can be made before the hub's first start).
pub async fn open(config: &Config) -> Result<Arc<dyn AuthStore>> {
    if config.database_url.is_empty() {
        if config.database_path.as_os_str() == ":memory:" {
            return Err(Error::Invalid(
                "database_path is :memory:, which only the hub process itself can see".into(),
            ));
        }
        // SQLite migrations take no lock: beside a hub migrating the same
        // fresh file at that moment, one side fails; trying again sees the
        // schema finished. (PostgreSQL migrations hold an advisory lock.)
        let mut attempt = 0;
        loop {
            match SqliteStore::open(&config.database_path).await {
                Ok(store) => return Ok(store.auth_store()),
                Err(Error::Migrate(e)) if attempt < 3 => {
                    tracing::debug!(error = %e, "migration raced another process; retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    } else {
        let pool = PostgresStore::open_admin(&config.database_url).await?;
        Ok(Arc::new(PostgresAuth::new(pool)))
    }
}

/// Makes a token valid for `ttl` and `uses` enrolments, bound to `site`
/// unless empty. Returns the secret (shown once) and what was stored.
pub async fn create_token(
    store: &dyn AuthStore,
    ttl: Duration,
    uses: u32,
    site: &str,
) -> Result<(String, TokenInfo)> {
    if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
        return Err(Error::Invalid(format!(
            "ttl must be between 1s and {} days",
            MAX_TOKEN_TTL.as_secs() / 86_400
        )));
    }
    if uses == 0 {
        return Err(Error::Invalid("uses must be at least 1".into()));
    }
    let token = secret::generate(secret::TOKEN_PREFIX)
        .map_err(|e| Error::Server(format!("cannot make a token: {e}")))?;
    let now = common::now_ms();
    let t = NewToken {
        token_hash: secret::hash(&token),
        site: site.to_owned(),
        created_ms: now,
        expires_ms: now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
        uses,
    };
    store.create_token(&t).await?;
    let info = TokenInfo {
        token_hash: t.token_hash,
        site: t.site,
        created_ms: t.created_ms,
        expires_ms: t.expires_ms,
        uses_total: i64::from(uses),
        uses_left: i64::from(uses),
    };
    Ok((token, info))
}
