//! Tokens and credentials in the hub's SQLite file (times as unix ms).

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{Row, SqlitePool};

use super::{
    decide, AgentInfo, AgentRow, AuthStore, CredentialCheck, Decision, EnrolOutcome, Enrolment,
    NewToken, TokenInfo, TokenRow,
};
use crate::auth::secret;
use crate::Result;

pub struct SqliteAuth {
    pool: SqlitePool,
}

impl SqliteAuth {
    /// Over the history store's pool: the tables come from its migrations.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AuthStore for SqliteAuth {
    async fn create_token(&self, t: &NewToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO enrolment_tokens (token_hash, site, created_ms, expires_ms, uses_total, uses_left)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&t.token_hash)
        .bind(&t.site)
        .bind(t.created_ms)
        .bind(t.expires_ms)
        .bind(i64::from(t.uses))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT token_hash, site, created_ms, expires_ms, uses_total, uses_left
             FROM enrolment_tokens ORDER BY created_ms DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    token_hash: r.try_get(0)?,
                    site: r.try_get(1)?,
                    created_ms: r.try_get(2)?,
                    expires_ms: r.try_get(3)?,
                    uses_total: r.try_get(4)?,
                    uses_left: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn check_credential(
        &self,
        agent_id: &str,
        credential_hash: &str,
        now_ms: i64,
    ) -> Result<CredentialCheck> {
        let row = sqlx::query(
            "SELECT credential_hash, site, revoked_ms FROM agent_credentials WHERE agent_id = $1",
        )
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(CredentialCheck::UnknownAgent);
        };
        let stored: String = row.try_get(0)?;
        if !secret::same_hash(&stored, credential_hash) {
            return Ok(CredentialCheck::Mismatch);
        }
        if row.try_get::<Option<i64>, _>(2)?.is_some() {
            return Ok(CredentialCheck::Revoked);
        }
        sqlx::query(
            "UPDATE agent_credentials SET confirmed = 1, last_hello_ms = $2 WHERE agent_id = $1",
        )
        .bind(agent_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(CredentialCheck::Valid {
            site: row.try_get(1)?,
        })
    }

    async fn enrol(&self, e: &Enrolment) -> Result<EnrolOutcome> {
        let mut tx = self.pool.begin().await?;
        // A write first, so the transaction holds SQLite's write lock from
        // the start: two enrolments then queue (busy_timeout) instead of
        // both reading and one failing to upgrade.
        sqlx::query("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let token = sqlx::query(
            "SELECT site, expires_ms, uses_left FROM enrolment_tokens WHERE token_hash = $1",
        )
        .bind(&e.token_hash)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| -> Result<TokenRow> {
            Ok(TokenRow {
                site: r.try_get(0)?,
                expires_ms: r.try_get(1)?,
                uses_left: r.try_get(2)?,
            })
        })
        .transpose()?;
        let agent = sqlx::query(
            "SELECT token_hash, confirmed, revoked_ms FROM agent_credentials WHERE agent_id = $1",
        )
        .bind(&e.agent_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| -> Result<AgentRow> {
            Ok(AgentRow {
                token_hash: r.try_get(0)?,
                confirmed: r.try_get::<i64, _>(1)? != 0,
                revoked: r.try_get::<Option<i64>, _>(2)?.is_some(),
            })
        })
        .transpose()?;
        let (consume, site) = match decide(token.as_ref(), agent.as_ref(), e) {
            Decision::Refuse(r) => {
                tx.rollback().await?;
                return Ok(EnrolOutcome::Refused(r));
            }
            Decision::Enrol { consume, site } => (consume, site),
        };
        if consume {
            sqlx::query(
                "UPDATE enrolment_tokens SET uses_left = uses_left - 1 WHERE token_hash = $1",
            )
            .bind(&e.token_hash)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO agent_credentials (agent_id, credential_hash, site, token_hash, enrolled_ms, confirmed, last_hello_ms)
             VALUES ($1, $2, $3, $4, $5, 0, $5)
             ON CONFLICT (agent_id) DO UPDATE SET credential_hash = excluded.credential_hash,
               site = excluded.site, token_hash = excluded.token_hash,
               enrolled_ms = excluded.enrolled_ms, confirmed = 0, last_hello_ms = excluded.last_hello_ms",
        )
        .bind(&e.agent_id)
        .bind(&e.credential_hash)
        .bind(&site)
        .bind(&e.token_hash)
        .bind(e.now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(EnrolOutcome::Enrolled {
            site,
            reissued: !consume,
        })
    }

    async fn agents(&self) -> Result<Vec<AgentInfo>> {
        let rows = sqlx::query(
            "SELECT agent_id, site, token_hash, enrolled_ms, last_hello_ms, revoked_ms
             FROM agent_credentials ORDER BY agent_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AgentInfo {
                    agent_id: r.try_get(0)?,
                    site: r.try_get(1)?,
                    token_hash: r.try_get(2)?,
                    enrolled_ms: r.try_get(3)?,
                    last_hello_ms: r.try_get(4)?,
                    revoked_ms: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn revoke(&self, agent_id: &str, now_ms: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let changed = sqlx::query(
            "UPDATE agent_credentials SET revoked_ms = COALESCE(revoked_ms, $2) WHERE agent_id = $1",
        )
        .bind(agent_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed > 0)
    }

    async fn remove(&self, agent_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let changed = sqlx::query("DELETE FROM agent_credentials WHERE agent_id = $1")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(changed > 0)
    }

    async fn epoch(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT epoch FROM auth_epoch WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn active(&self) -> Result<HashMap<String, String>> {
        let rows = sqlx::query(
            "SELECT agent_id, credential_hash FROM agent_credentials WHERE revoked_ms IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
