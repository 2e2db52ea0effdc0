//! Where enrolment tokens and agent credentials live: the hub's own database
//! (the SQLite file, or PostgreSQL), tables `enrolment_tokens`,
//! `agent_credentials` and `auth_epoch` (migrations `0003_auth.sql`).
//!
//! Both back-ends run the same steps; what an enrolment decides is the pure
//! function [`decide`], so the rules are written once and tested as data.
//! Every change to `agent_credentials` bumps `auth_epoch` in the same
//! transaction: a hub polls that one row to learn that another process (the
//! admin CLI, another hub on the same PostgreSQL) revoked someone.

pub mod postgres;
pub mod sqlite;

use std::collections::HashMap;

use async_trait::async_trait;

use crate::Result;

pub use postgres::PostgresAuth;
pub use sqlite::SqliteAuth;

/// A token to store (its secret is shown once and never stored).
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token_hash: String,
    pub site: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub uses: u32,
}

/// A stored token, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub token_hash: String,
    pub site: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub uses_total: i64,
    pub uses_left: i64,
}

/// A stored agent, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    pub agent_id: String,
    pub site: String,
    /// Hash of the token it enrolled with.
    pub token_hash: String,
    pub enrolled_ms: i64,
    pub last_hello_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

/// What a presented credential is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialCheck {
    /// Valid; the agent's site as enrolled ('' = any).
    Valid {
        site: String,
    },
    /// No agent with this id has enrolled (or it was removed).
    UnknownAgent,
    /// The agent exists but the credential is not its own.
    Mismatch,
    Revoked,
}

/// One agent exchanging a token for a credential.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub agent_id: String,
    /// The site the agent names in its Hello ('' = none).
    pub site: String,
    pub token_hash: String,
    pub credential_hash: String,
    pub now_ms: i64,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownToken,
    Expired,
    UsedUp,
    WrongSite {
        token_site: String,
    },
    /// The agent id was revoked; `hostwatch hub agents remove` lets it enrol again.
    Revoked,
}

impl Refusal {
    /// The message the agent gets.
    pub fn message(&self, agent_id: &str) -> String {
        match self {
            Refusal::UnknownToken => {
                "enrolment token not recognised by this hub (mistyped, or made for another hub)".into()
            }
            Refusal::Expired => "enrolment token expired; create a new one with `hostwatch hub token create`".into(),
            Refusal::UsedUp => "enrolment token has no uses left; create a new one with `hostwatch hub token create`".into(),
            Refusal::WrongSite { token_site } => {
                format!("enrolment token is for site {token_site:?}, not the site this agent names")
            }
            Refusal::Revoked => format!(
                "agent {agent_id:?} was revoked; `hostwatch hub agents remove {agent_id}` lets it enrol again"
            ),
        }
    }
}

/// What an enrolment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrolOutcome {
    /// The credential is stored; `site` is the agent's site from now on
    /// ('' = any). `reissued`: a retry of an enrolment whose Welcome never
    /// arrived, which spends no further use.
    Enrolled {
        site: String,
        reissued: bool,
    },
    Refused(Refusal),
}

/// A token row as [`decide`] needs it.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub site: String,
    pub expires_ms: i64,
    pub uses_left: i64,
}

/// An agent row as [`decide`] needs it.
#[derive(Debug, Clone)]
pub struct AgentRow {
    pub token_hash: String,
    pub confirmed: bool,
    pub revoked: bool,
}

/// What to do with an enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Refuse(Refusal),
    /// Store the credential; spend one use of the token when `consume`.
    Enrol {
        consume: bool,
        site: String,
    },
}

/// The enrolment rules, in order: the token must exist; a revoked agent id
/// stays out; the token must be unexpired and, if bound to a site, match the
/// agent's; a retry by the same agent with the same token before it ever used
/// its credential is re-issued free (its Welcome was lost); otherwise a use
/// must be left.
pub fn decide(token: Option<&TokenRow>, agent: Option<&AgentRow>, e: &Enrolment) -> Decision {
    let Some(token) = token else {
        return Decision::Refuse(Refusal::UnknownToken);
    };
    if agent.is_some_and(|a| a.revoked) {
        return Decision::Refuse(Refusal::Revoked);
    }
    if token.expires_ms <= e.now_ms {
        return Decision::Refuse(Refusal::Expired);
    }
    if !token.site.is_empty() && !e.site.is_empty() && token.site != e.site {
        return Decision::Refuse(Refusal::WrongSite {
            token_site: token.site.clone(),
        });
    }
    let site = if token.site.is_empty() {
        e.site.clone()
    } else {
        token.site.clone()
    };
    let retry = agent.is_some_and(|a| !a.confirmed && a.token_hash == e.token_hash);
    if retry {
        return Decision::Enrol {
            consume: false,
            site,
        };
    }
    if token.uses_left <= 0 {
        return Decision::Refuse(Refusal::UsedUp);
    }
    Decision::Enrol {
        consume: true,
        site,
    }
}

#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    async fn create_token(&self, t: &NewToken) -> Result<()>;
    /// Every token, newest first.
    async fn tokens(&self) -> Result<Vec<TokenInfo>>;
    /// Checks an agent's credential (by hash); a valid one is marked used
    /// (`last_hello`, confirmed).
    async fn check_credential(
        &self,
        agent_id: &str,
        credential_hash: &str,
        now_ms: i64,
    ) -> Result<CredentialCheck>;
    /// Exchanges a token for a credential in one transaction ([`decide`]).
    async fn enrol(&self, e: &Enrolment) -> Result<EnrolOutcome>;
    /// Every agent, by id.
    async fn agents(&self) -> Result<Vec<AgentInfo>>;
    /// Marks an agent revoked; false if there is no such agent.
    async fn revoke(&self, agent_id: &str, now_ms: i64) -> Result<bool>;
    /// Forgets an agent (it may enrol again); false if there is no such agent.
    async fn remove(&self, agent_id: &str) -> Result<bool>;
    /// Changes to agents so far; a different value means "reload".
    async fn epoch(&self) -> Result<i64>;
    /// agent id → credential hash of every agent not revoked.
    async fn active(&self) -> Result<HashMap<String, String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrolment(site: &str, token: &str) -> Enrolment {
        Enrolment {
            agent_id: "a".into(),
            site: site.into(),
            token_hash: token.into(),
            credential_hash: "c".into(),
            now_ms: 1_000,
        }
    }

    fn token(site: &str, expires_ms: i64, uses_left: i64) -> TokenRow {
        TokenRow {
            site: site.into(),
            expires_ms,
            uses_left,
        }
    }

    fn agent(token: &str, confirmed: bool, revoked: bool) -> AgentRow {
        AgentRow {
            token_hash: token.into(),
            confirmed,
            revoked,
        }
    }

    fn check(t: Option<TokenRow>, a: Option<AgentRow>, e: Enrolment, expected: Decision) {
        assert_eq!(decide(t.as_ref(), a.as_ref(), &e), expected);
    }

    fn enrol(consume: bool, site: &str) -> Decision {
        Decision::Enrol {
            consume,
            site: site.into(),
        }
    }

    #[test]
    fn enrolment_rules() {
        let refuse = Decision::Refuse;
        // A fresh token with a use left enrols and spends it.
        check(
            Some(token("", 2_000, 1)),
            None,
            enrolment("", "t"),
            enrol(true, ""),
        );
        check(
            None,
            None,
            enrolment("", "t"),
            refuse(Refusal::UnknownToken),
        );
        check(
            Some(token("", 1_000, 1)),
            None,
            enrolment("", "t"),
            refuse(Refusal::Expired),
        );
        check(
            Some(token("", 2_000, 0)),
            None,
            enrolment("", "t"),
            refuse(Refusal::UsedUp),
        );
        // A site-bound token gives its site, and refuses an agent of another.
        check(
            Some(token("eu", 2_000, 1)),
            None,
            enrolment("", "t"),
            enrol(true, "eu"),
        );
        check(
            Some(token("eu", 2_000, 1)),
            None,
            enrolment("eu", "t"),
            enrol(true, "eu"),
        );
        check(
            Some(token("eu", 2_000, 1)),
            None,
            enrolment("us", "t"),
            refuse(Refusal::WrongSite {
                token_site: "eu".into(),
            }),
        );
        // A lost Welcome: same agent, same token, credential never used.
        check(
            Some(token("", 2_000, 0)),
            Some(agent("t", false, false)),
            enrolment("", "t"),
            enrol(false, ""),
        );
        // Once the credential was used, the token counts again.
        check(
            Some(token("", 2_000, 0)),
            Some(agent("t", true, false)),
            enrolment("", "t"),
            refuse(Refusal::UsedUp),
        );
        // A new token re-enrols a known agent (a reinstalled host).
        check(
            Some(token("", 2_000, 1)),
            Some(agent("old", true, false)),
            enrolment("", "t"),
            enrol(true, ""),
        );
        // Revoked stays revoked, whatever the token.
        check(
            Some(token("", 2_000, 5)),
            Some(agent("t", false, true)),
            enrolment("", "t"),
            refuse(Refusal::Revoked),
        );
    }
}
