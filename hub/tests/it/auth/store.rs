//! The auth tables behave the same on SQLite and PostgreSQL: tokens are
//! spent once per enrolment, credentials are bound to their agent id,
//! revocation and removal move the epoch that hubs poll.

use std::time::Duration;

use hub::auth::store::{AuthStore, CredentialCheck, EnrolOutcome, Enrolment, Refusal};
use hub::auth::{admin, secret};
use hub::store::HistoryStore;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = crate::storage::sqlite().await;
                super::$name(hub::store::HistoryStore::auth_store(&store).as_ref()).await;
                hub::store::HistoryStore::close(&store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let (store, _server) = crate::storage::postgres().await;
                super::$name(hub::store::HistoryStore::auth_store(&store).as_ref()).await;
                hub::store::HistoryStore::close(&store).await;
            }
        }
    )*};
}

on_both!(
    a_token_is_spent_once_per_agent_and_the_credential_is_bound_to_its_agent,
    revocation_and_removal_move_the_epoch_and_gate_enrolment,
    expired_and_unknown_tokens_and_wrong_sites_are_refused,
);

fn enrolment(agent: &str, site: &str, token: &str) -> (Enrolment, String) {
    let credential = secret::generate(secret::CREDENTIAL_PREFIX).expect("random");
    (
        Enrolment {
            agent_id: agent.into(),
            site: site.into(),
            token_hash: secret::hash(token),
            credential_hash: secret::hash(&credential),
            now_ms: common::now_ms(),
        },
        credential,
    )
}

async fn check(store: &dyn AuthStore, agent: &str, credential: &str) -> CredentialCheck {
    store
        .check_credential(agent, &secret::hash(credential), common::now_ms())
        .await
        .expect("check")
}

async fn a_token_is_spent_once_per_agent_and_the_credential_is_bound_to_its_agent(
    store: &dyn AuthStore,
) {
    let (token, info) = admin::create_token(store, Duration::from_secs(3600), 2, "")
        .await
        .expect("token");
    assert_eq!(info.uses_left, 2);

    let (e, cred_a) = enrolment("a", "eu", &token);
    let out = store.enrol(&e).await.expect("enrol a");
    assert_eq!(
        out,
        EnrolOutcome::Enrolled {
            site: "eu".into(),
            reissued: false
        }
    );
    // Welcome lost: the same agent retries with the same token before ever
    // using its credential, and gets a new one without spending a use.
    let (e, cred_a2) = enrolment("a", "eu", &token);
    assert_eq!(
        store.enrol(&e).await.expect("retry"),
        EnrolOutcome::Enrolled {
            site: "eu".into(),
            reissued: true
        }
    );
    assert_eq!(
        check(store, "a", &cred_a).await,
        CredentialCheck::Mismatch,
        "the first credential was replaced"
    );
    assert_eq!(
        check(store, "a", &cred_a2).await,
        CredentialCheck::Valid { site: "eu".into() }
    );
    // Bound to its agent id: the same secret under another id is nothing.
    assert_eq!(
        check(store, "b", &cred_a2).await,
        CredentialCheck::UnknownAgent
    );

    let (e, _) = enrolment("b", "", &token);
    assert!(matches!(
        store.enrol(&e).await.expect("b"),
        EnrolOutcome::Enrolled { .. }
    ));
    let (e, _) = enrolment("c", "", &token);
    assert_eq!(
        store.enrol(&e).await.expect("c"),
        EnrolOutcome::Refused(Refusal::UsedUp)
    );
    // Once "a" used its credential, the spent token no longer re-issues it.
    let (e, _) = enrolment("a", "eu", &token);
    assert_eq!(
        store.enrol(&e).await.expect("a again"),
        EnrolOutcome::Refused(Refusal::UsedUp)
    );
    let tokens = store.tokens().await.expect("tokens");
    assert_eq!(tokens.len(), 1);
    assert_eq!((tokens[0].uses_left, tokens[0].uses_total), (0, 2));
    let agents = store.agents().await.expect("agents");
    let ids: Vec<&str> = agents.iter().map(|a| a.agent_id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(agents.iter().all(|a| a.last_hello_ms.is_some()));
    assert!(agents.iter().all(|a| a.revoked_ms.is_none()));
    assert_eq!(agents[0].token_hash, secret::hash(&token));
}

async fn revocation_and_removal_move_the_epoch_and_gate_enrolment(store: &dyn AuthStore) {
    let (token, _) = admin::create_token(store, Duration::from_secs(3600), 5, "")
        .await
        .expect("token");
    let (e, cred) = enrolment("a", "", &token);
    store.enrol(&e).await.expect("enrol");
    assert!(store.active().await.expect("active").contains_key("a"));

    let before = store.epoch().await.expect("epoch");
    assert!(store.revoke("a", common::now_ms()).await.expect("revoke"));
    assert!(!store
        .revoke("nobody", common::now_ms())
        .await
        .expect("revoke"));
    assert!(store.epoch().await.expect("epoch") > before);
    assert_eq!(check(store, "a", &cred).await, CredentialCheck::Revoked);
    assert!(!store.active().await.expect("active").contains_key("a"));
    assert!(store.agents().await.expect("agents")[0]
        .revoked_ms
        .is_some());
    // A revoked id cannot enrol again, whatever the token...
    let (e, _) = enrolment("a", "", &token);
    assert_eq!(
        store.enrol(&e).await.expect("enrol revoked"),
        EnrolOutcome::Refused(Refusal::Revoked)
    );
    // ...until an operator removes it.
    let before = store.epoch().await.expect("epoch");
    assert!(store.remove("a").await.expect("remove"));
    assert!(store.epoch().await.expect("epoch") > before);
    assert_eq!(
        check(store, "a", &cred).await,
        CredentialCheck::UnknownAgent
    );
    let (e, cred2) = enrolment("a", "", &token);
    assert!(matches!(
        store.enrol(&e).await.expect("enrol again"),
        EnrolOutcome::Enrolled { .. }
    ));
    assert_eq!(
        check(store, "a", &cred2).await,
        CredentialCheck::Valid { site: "".into() }
    );
}

async fn expired_and_unknown_tokens_and_wrong_sites_are_refused(store: &dyn AuthStore) {
    let (token, _) = admin::create_token(store, Duration::from_secs(1), 1, "eu")
        .await
        .expect("token");
    let (e, _) = enrolment("x", "us", &token);
    assert_eq!(
        store.enrol(&e).await.expect("wrong site"),
        EnrolOutcome::Refused(Refusal::WrongSite {
            token_site: "eu".into()
        })
    );
    let (mut e, _) = enrolment("x", "", &token);
    e.now_ms += 2_000;
    assert_eq!(
        store.enrol(&e).await.expect("expired"),
        EnrolOutcome::Refused(Refusal::Expired)
    );
    let (e, _) = enrolment("x", "", "hwt_not-a-token");
    assert_eq!(
        store.enrol(&e).await.expect("unknown"),
        EnrolOutcome::Refused(Refusal::UnknownToken)
    );
    assert!(store.agents().await.expect("agents").is_empty());
    assert!(admin::create_token(store, Duration::ZERO, 1, "")
        .await
        .is_err());
    assert!(admin::create_token(store, Duration::from_secs(60), 0, "")
        .await
        .is_err());
}

#[tokio::test]
async fn admin_open_migrates_a_fresh_sqlite_file_and_sees_what_the_hub_sees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = hub::Config {
        database_path: dir.path().join("hub.db"),
        ..Default::default()
    };
    let admin_store = admin::open(&config).await.expect("admin open");
    let (token, _) = admin::create_token(admin_store.as_ref(), Duration::from_secs(60), 1, "")
        .await
        .expect("token");
    let hub_store = hub::store::SqliteStore::open(&config.database_path)
        .await
        .expect("hub store");
    let (e, _) = enrolment("a", "", &token);
    assert!(matches!(
        hub_store.auth_store().enrol(&e).await.expect("enrol"),
        EnrolOutcome::Enrolled { .. }
    ));
    assert_eq!(admin_store.agents().await.expect("agents").len(), 1);
    let memory = hub::Config {
        database_path: ":memory:".into(),
        ..Default::default()
    };
    assert!(admin::open(&memory).await.is_err());
    hub_store.close().await;
}
