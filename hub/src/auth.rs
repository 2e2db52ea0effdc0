//! Agent authentication on the ingest stream (`security.auth = "required"`).
//!
//! - [`secret`]: tokens (`hwt_…`) and credentials (`hwc_…`), SHA-256 hashed.
//! - [`store`]: where they live (the hub's SQLite file or PostgreSQL) and the
//!   enrolment rules.
//! - [`admin`]: what the `hostwatch hub token|agents` commands do.
//!
//! A Hello carries either the agent's credential, checked against the hash
//! stored for that agent id (so a credential is useless under another id),
//! or an enrolment token, exchanged for a fresh credential that goes back in
//! the Welcome. Anything else ends the stream with `UNAUTHENTICATED` and a
//! message saying what to do, counted as
//! `hostwatch_hub_rejected_total{reason="unauthenticated"}`.
//!
//! Revocation is made by another process (`hostwatch hub agents revoke`) or
//! another hub, so each hub polls the store's `auth_epoch` every
//! [`POLL_INTERVAL`] and, when it moved, publishes a new [`Active`] snapshot;
//! every open stream checks itself against it ([`Watch::revoked`]) and ends
//! when its credential is gone. A stream is cut within about two seconds of
//! the revocation, and the next Hello is refused.

pub mod admin;
pub mod secret;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::metrics::Counter;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::metrics::HubMetrics;
use secret::Presented;
use store::{AuthStore, CredentialCheck, EnrolOutcome, Enrolment};

/// How often a hub looks for revocations made elsewhere.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Agent id → credential hash of every agent not revoked, as last loaded.
pub type Active = HashMap<String, String>;

pub struct Auth {
    store: Arc<dyn AuthStore>,
    active: watch::Receiver<Arc<Active>>,
    metrics: HubMetrics,
    enrolments: Counter,
    cut: Counter,
}

/// An agent let in by its Hello.
#[derive(Debug)]
pub struct Admitted {
    /// The site its credential is bound to ('' = any).
    pub site: String,
    /// Hash of the credential the stream runs under (checked on revocation).
    pub credential_hash: String,
    /// A credential just issued for a token: goes back in the Welcome.
    pub issued: Option<String>,
}

impl Auth {
    /// Loads the current set of active agents and starts the poller, which
    /// runs until `token` is cancelled.
    pub async fn start(
        store: Arc<dyn AuthStore>,
        metrics: HubMetrics,
        token: CancellationToken,
    ) -> crate::Result<(Arc<Self>, tokio::task::JoinHandle<()>)> {
        let epoch = store.epoch().await?;
        let (tx, rx) = watch::channel(Arc::new(store.active().await?));
        let r = &metrics.registry;
        let auth = Arc::new(Self {
            enrolments: r.counter(
                "hostwatch_hub_enrolments_total",
                "Enrolment tokens exchanged for agent credentials.",
                &[],
            ),
            cut: r.counter(
                "hostwatch_hub_streams_revoked_total",
                "Open ingest streams ended because their credential was revoked.",
                &[],
            ),
            store: store.clone(),
            active: rx,
            metrics: metrics.clone(),
        });
        // Counted from the first refusal on; registered now so it reads 0.
        let _ = metrics.registry.counter(
            "hostwatch_hub_rejected_total",
            "Agent input refused, by reason; the sender got an error status.",
            &[("reason", "unauthenticated")],
        );
        let task = tokio::spawn(poll(store, epoch, tx, token));
        Ok((auth, task))
    }

    /// Checks a Hello's credentials; on a token, enrols the agent.
    pub async fn admit(
        &self,
        agent_id: &str,
        site: &str,
        credentials: &str,
    ) -> Result<Admitted, Status> {
        let now = common::now_ms();
        match secret::classify(credentials) {
            Presented::None => Err(self.refuse(
                agent_id,
                "this hub requires authentication: give the agent an enrolment token \
                 (`hostwatch hub token create`) or its credential"
                    .into(),
            )),
            Presented::Unrecognised => Err(self.refuse(
                agent_id,
                "credentials are neither an enrolment token (hwt_…) nor an agent credential (hwc_…)"
                    .into(),
            )),
            Presented::Credential(c) => {
                let hash = secret::hash(c);
                let check = self
                    .store
                    .check_credential(agent_id, &hash, now)
                    .await
                    .map_err(|e| e.to_status())?;
                match check {
                    CredentialCheck::Valid { site: bound } => {
                        if !bound.is_empty() && !site.is_empty() && bound != site {
                            return Err(self.refuse(
                                agent_id,
                                format!("agent {agent_id:?} is enrolled for site {bound:?}, not {site:?}"),
                            ));
                        }
                        Ok(Admitted {
                            site: bound,
                            credential_hash: hash,
                            issued: None,
                        })
                    }
                    CredentialCheck::UnknownAgent => Err(self.refuse(
                        agent_id,
                        format!("agent {agent_id:?} is not enrolled at this hub: enrol it with a token"),
                    )),
                    CredentialCheck::Mismatch => Err(self.refuse(
                        agent_id,
                        format!("credential is not the one issued to agent {agent_id:?}"),
                    )),
                    CredentialCheck::Revoked => Err(self.refuse(
                        agent_id,
                        format!("credential of agent {agent_id:?} was revoked by an operator"),
                    )),
                }
            }
            Presented::Token(t) => {
                let credential = secret::generate(secret::CREDENTIAL_PREFIX).map_err(|e| {
                    tracing::error!(error = %e, "cannot make a credential");
                    Status::unavailable("hub cannot issue credentials right now, retry later")
                })?;
                let e = Enrolment {
                    agent_id: agent_id.to_owned(),
                    site: site.to_owned(),
                    token_hash: secret::hash(t),
                    credential_hash: secret::hash(&credential),
                    now_ms: now,
                };
                match self.store.enrol(&e).await.map_err(|e| e.to_status())? {
                    EnrolOutcome::Enrolled { site, reissued } => {
                        self.enrolments.inc();
                        tracing::info!(agent = agent_id, %site, reissued, token = &e.token_hash[..secret::ID_CHARS], "agent enrolled");
                        Ok(Admitted {
                            site,
                            credential_hash: e.credential_hash,
                            issued: Some(credential),
                        })
                    }
                    EnrolOutcome::Refused(r) => Err(self.refuse(agent_id, r.message(agent_id))),
                }
            }
        }
    }

    /// A watch for the stream of `agent_id` running under `credential_hash`.
    pub fn watch(self: &Arc<Self>, agent_id: &str, credential_hash: String) -> Watch {
        let mut rx = self.active.clone();
        rx.mark_unchanged();
        Watch {
            auth: self.clone(),
            rx,
            agent_id: agent_id.to_owned(),
            credential_hash,
            recheck: false,
        }
    }

    fn refuse(&self, agent_id: &str, message: String) -> Status {
        self.metrics.rejected("unauthenticated");
        tracing::warn!(agent = agent_id, %message, "agent refused");
        Status::unauthenticated(message)
    }
}

/// One stream's view of revocations.
pub struct Watch {
    auth: Arc<Auth>,
    rx: watch::Receiver<Arc<Active>>,
    agent_id: String,
    credential_hash: String,
    /// A snapshot said "gone" and the store has not confirmed yet. Kept
    /// across cancellation: `revoked` sits in a `select!` and may be dropped
    /// mid-check when a batch arrives.
    recheck: bool,
}

impl Watch {
    /// Resolves once this stream's credential is no longer valid, with the
    /// status to end the stream with; pending forever otherwise.
    pub async fn revoked(&mut self) -> Status {
        loop {
            if !self.recheck {
                if self.rx.changed().await.is_err() {
                    // The poller stopped: the hub is shutting down.
                    return std::future::pending().await;
                }
                let gone = {
                    let active = self.rx.borrow_and_update();
                    !active
                        .get(&self.agent_id)
                        .is_some_and(|h| secret::same_hash(h, &self.credential_hash))
                };
                if !gone {
                    continue;
                }
                self.recheck = true;
            }
            // The snapshot may predate this agent's own enrolment: only the
            // store can say it is really gone.
            match self
                .auth
                .store
                .check_credential(&self.agent_id, &self.credential_hash, common::now_ms())
                .await
            {
                Ok(CredentialCheck::Valid { .. }) => self.recheck = false,
                Ok(_) => {
                    self.auth.cut.inc();
                    return self.auth.refuse(
                        &self.agent_id,
                        format!(
                            "credential of agent {:?} was revoked by an operator",
                            self.agent_id
                        ),
                    );
                }
                Err(e) => {
                    // Storage trouble is not a revocation; look again later.
                    tracing::warn!(error = %e, "revocation check failed; retrying");
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
        }
    }
}

/// Publishes a new snapshot of active agents whenever the epoch moves.
async fn poll(
    store: Arc<dyn AuthStore>,
    mut epoch: i64,
    tx: watch::Sender<Arc<Active>>,
    token: CancellationToken,
) {
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = match store.epoch().await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "reading the auth epoch failed; revocations wait");
                continue;
            }
        };
        if now == epoch {
            continue;
        }
        // Epoch first, then the set: a change between the two only causes
        // one more reload next time, never a missed one.
        match store.active().await {
            Ok(active) => {
                epoch = now;
                tx.send_replace(Arc::new(active));
            }
            Err(e) => tracing::warn!(error = %e, "reloading active agents failed; retrying"),
        }
    }
}
