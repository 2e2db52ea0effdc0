//! Tokens and credentials in PostgreSQL (schema `hostwatch`, times as
//! `timestamptz`; converted to unix ms at the query).

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{PgPool, Row};

use super::{
    decide, AgentInfo, AgentRow, AuthStore, CredentialCheck, Decision, EnrolOutcome, Enrolment,
    NewToken, TokenInfo, TokenRow,
};
use crate::auth::secret;
use crate::Result;

pub struct PostgresAuth {
    pool: PgPool,
}

impl PostgresAuth {
    /// Over the history store's pool: the tables come from its migrations.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl AuthStore for PostgresAuth {
    async fn create_token(&self, t: &NewToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO hostwatch.enrolment_tokens (token_hash, site, created, expires, uses_total, uses_left)
             VALUES ($1, $2, to_timestamp($3::float8 / 1000), to_timestamp($4::float8 / 1000), $5, $5)",
        )
        .bind(&t.token_hash)
        .bind(&t.site)
        .bind(t.created_ms)
        .bind(t.expires_ms)
        .bind(i32::try_from(t.uses).unwrap_or(i32::MAX))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT token_hash, site, (extract(epoch FROM created) * 1000)::bigint,
               (extract(epoch FROM expires) * 1000)::bigint, uses_total::bigint, uses_left::bigint
             FROM hostwatch.enrolment_tokens ORDER BY created DESC",
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
            "SELECT credential_hash, site, (extract(epoch FROM revoked) * 1000)::bigint
             FROM hostwatch.agent_credentials WHERE agent_id = $1",
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
            "UPDATE hostwatch.agent_credentials SET confirmed = true,
               last_hello = to_timestamp($2::float8 / 1000) WHERE agent_id = $1",
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
        // The epoch row's lock serialises enrolments: the reads below then
        // see every earlier one committed (READ COMMITTED takes a fresh
        // snapshot per statement), so a token's last use is spent once.
        sqlx::query("UPDATE hostwatch.auth_epoch SET epoch = epoch + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let token = sqlx::query(
            "SELECT site, (extract(epoch FROM expires) * 1000)::bigint, uses_left::bigint
             FROM hostwatch.enrolment_tokens WHERE token_hash = $1",
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
            "SELECT token_hash, confirmed, revoked IS NOT NULL
             FROM hostwatch.agent_credentials WHERE agent_id = $1",
        )
        .bind(&e.agent_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| -> Result<AgentRow> {
            Ok(AgentRow {
                token_hash: r.try_get(0)?,
                confirmed: r.try_get(1)?,
                revoked: r.try_get(2)?,
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
                "UPDATE hostwatch.enrolment_tokens SET uses_left = uses_left - 1 WHERE token_hash = $1",
            )
            .bind(&e.token_hash)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO hostwatch.agent_credentials (agent_id, credential_hash, site, token_hash, enrolled, confirmed, last_hello)
             VALUES ($1, $2, $3, $4, to_timestamp($5::float8 / 1000), false, to_timestamp($5::float8 / 1000))
             ON CONFLICT (agent_id) DO UPDATE SET credential_hash = excluded.credential_hash,
               site = excluded.site, token_hash = excluded.token_hash,
               enrolled = excluded.enrolled, confirmed = false, last_hello = excluded.last_hello",
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
            "SELECT agent_id, site, token_hash, (extract(epoch FROM enrolled) * 1000)::bigint,
               (extract(epoch FROM last_hello) * 1000)::bigint, (extract(epoch FROM revoked) * 1000)::bigint
             FROM hostwatch.agent_credentials ORDER BY agent_id",
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
        sqlx::query("UPDATE hostwatch.auth_epoch SET epoch = epoch + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let changed = sqlx::query(
            "UPDATE hostwatch.agent_credentials SET revoked = COALESCE(revoked, to_timestamp($2::float8 / 1000))
             WHERE agent_id = $1",
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
        sqlx::query("UPDATE hostwatch.auth_epoch SET epoch = epoch + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let changed = sqlx::query("DELETE FROM hostwatch.agent_credentials WHERE agent_id = $1")
            .bind(agent_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(changed > 0)
    }

    async fn epoch(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT epoch FROM hostwatch.auth_epoch WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn active(&self) -> Result<HashMap<String, String>> {
        let rows = sqlx::query(
            "SELECT agent_id, credential_hash FROM hostwatch.agent_credentials WHERE revoked IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
