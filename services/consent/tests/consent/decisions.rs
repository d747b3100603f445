//! `Check`: permits without blocks, denies after HPR and organisation blocks (no emergency
//! override), and what the cache serves around a block.

use std::time::Duration;

use pmd_auth::{Purpose, TokenRequest};
use pmd_consent::DecisionCache;
use pmd_consent_cache::Decision;
use pmd_testkit::{redis_url, with_token};

use crate::harness::{
    Cache, DENY, Db, PERMIT, eventually, hpr_target, key, org, org_target, patient, personnel,
    start,
};

#[tokio::test]
async fn check_permits_when_the_patient_has_no_blocks() -> anyhow::Result<()> {
    let url = redis_url().await?;
    let consent = start(Db::Postgres, Cache::Redis { url: url.clone() }).await?;
    let p = patient(101);
    let actor = personnel("9144900", &org(1), None);
    let answer = consent.check(&p, &actor).await?;
    assert_eq!(answer.decision, PERMIT);
    assert_eq!(answer.revision, 0);
    assert!(answer.block_ids.is_empty());
    // The decision was cached for storage, at revision 0.
    let cached = consent.reader(&url).await.get(&p, &key(&actor)).await?;
    assert_eq!(cached, Some(Decision::permit(0)));
    consent.stop().await
}

#[tokio::test]
async fn blocked_practitioner_is_denied_right_after_an_hpr_block() -> anyhow::Result<()> {
    let url = redis_url().await?;
    let consent = start(Db::Postgres, Cache::Redis { url: url.clone() }).await?;
    let reader = consent.reader(&url).await;
    let p = patient(102);
    let blocked = personnel("9144900", &org(2), Some(&org(3)));
    let colleague = personnel("1234567", &org(2), Some(&org(3)));
    for actor in [&blocked, &colleague] {
        assert_eq!(consent.check(&p, actor).await?.decision, PERMIT);
        assert!(reader.get(&p, &key(actor)).await?.is_some_and(|d| d.permit));
    }

    let block = consent.block(&p, hpr_target("9144900")).await?;

    // Once acknowledged, the cache serves no permit for the patient, to anyone.
    assert_eq!(reader.get(&p, &key(&blocked)).await?, None);
    assert_eq!(reader.get(&p, &key(&colleague)).await?, None);
    let answer = consent.check(&p, &blocked).await?;
    assert_eq!(answer.decision, DENY);
    assert_eq!(answer.revision, 1);
    assert_eq!(answer.block_ids, vec![block.id.clone()]);
    assert_eq!(
        reader.get(&p, &key(&blocked)).await?,
        Some(Decision::deny(1, vec![block.id]))
    );
    // Only the blocked practitioner is denied.
    assert_eq!(consent.check(&p, &colleague).await?.decision, PERMIT);
    consent.stop().await
}

#[tokio::test]
async fn an_organisation_block_denies_whether_it_is_the_parent_or_the_child() -> anyhow::Result<()>
{
    let url = redis_url().await?;
    let consent = start(Db::Postgres, Cache::Redis { url: url.clone() }).await?;
    let reader = consent.reader(&url).await;
    let (hospital, ward, other) = (org(10), org(11), org(12));
    let p = patient(103);
    let as_parent = personnel("1111111", &hospital, Some(&other));
    let as_child = personnel("2222222", &other, Some(&hospital));
    let elsewhere = personnel("3333333", &other, Some(&ward));
    for actor in [&as_parent, &as_child, &elsewhere] {
        assert_eq!(consent.check(&p, actor).await?.decision, PERMIT);
    }

    consent.block(&p, org_target(&hospital)).await?;

    for actor in [&as_parent, &as_child] {
        assert_eq!(reader.get(&p, &key(actor)).await?, None);
        assert_eq!(consent.check(&p, actor).await?.decision, DENY);
    }
    assert_eq!(consent.check(&p, &elsewhere).await?.decision, PERMIT);
    consent.stop().await
}

#[tokio::test]
async fn emergency_access_does_not_override_a_block() -> anyhow::Result<()> {
    let consent = start(Db::Sqlite, Cache::Flags { redis_url: None }).await?;
    let p = patient(104);
    let hospital = org(20);
    consent.block(&p, hpr_target("9144900")).await?;
    for purpose in [Purpose::Etreat, Purpose::Btg, Purpose::Treat] {
        // The actor exactly as storage derives it from an emergency token.
        let token = consent.token(&TokenRequest::personnel("9144900", &hospital).purpose(purpose));
        let principal = consent.verifier.verify(&token).await?;
        let mut actor = pmd_server::actor(&principal);
        actor.pid.clear();
        let answer = consent.check(&p, &actor).await?;
        assert_eq!(answer.decision, DENY, "{purpose}");
    }
    consent.stop().await
}

#[tokio::test]
async fn revoking_a_block_restores_access() -> anyhow::Result<()> {
    let url = redis_url().await?;
    let consent = start(Db::Postgres, Cache::Redis { url: url.clone() }).await?;
    let reader = consent.reader(&url).await;
    let p = patient(105);
    let actor = personnel("9144900", &org(30), None);
    let block = consent.block(&p, hpr_target("9144900")).await?;
    assert_eq!(consent.check(&p, &actor).await?.decision, DENY);
    assert!(
        reader
            .get(&p, &key(&actor))
            .await?
            .is_some_and(|d| !d.permit)
    );

    let revoked = consent.revoke(&p, &block.id).await?;
    assert!(revoked.revoked_unix_micros.is_some());
    assert!(revoked.revoked_by.is_some());

    // The cached denial is gone as well, and the decision is a permit again.
    assert_eq!(reader.get(&p, &key(&actor)).await?, None);
    let answer = consent.check(&p, &actor).await?;
    assert_eq!(answer.decision, PERMIT);
    assert_eq!(answer.revision, 2);
    // Revoking again changes nothing.
    let again = consent.revoke(&p, &block.id).await?;
    assert_eq!(again.revoked_unix_micros, revoked.revoked_unix_micros);
    assert_eq!(consent.check(&p, &actor).await?.revision, 2);
    consent.stop().await
}

#[tokio::test]
async fn only_internal_callers_may_check() -> anyhow::Result<()> {
    let consent = start(Db::Sqlite, Cache::Flags { redis_url: None }).await?;
    let p = patient(106);
    let status = consent
        .client
        .clone()
        .check(with_token(
            pmd_proto::consent::v1::CheckRequest {
                patient: Some(crate::harness::identifier(&p)),
                actor: Some(personnel("9144900", &org(40), None)),
            },
            &consent.citizen(&p),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    consent.stop().await
}

#[tokio::test]
async fn the_embedded_mode_shares_one_in_process_cache() -> anyhow::Result<()> {
    // The embedded mesh hands the same instance to consent and storage.
    let shared = DecisionCache::in_process(
        b"embedded-test-secret-0123456789abcdef",
        Duration::from_secs(60),
    );
    let consent = start(Db::Sqlite, crate::harness::Cache::Given(shared.clone())).await?;
    let p = patient(107);
    let actor = personnel("9144900", &org(50), None);
    assert_eq!(consent.check(&p, &actor).await?.decision, PERMIT);
    assert_eq!(
        shared.get(&p, &key(&actor)).await?,
        Some(Decision::permit(0))
    );
    consent.block(&p, hpr_target("9144900")).await?;
    assert_eq!(shared.get(&p, &key(&actor)).await?, None);
    assert_eq!(consent.check(&p, &actor).await?.decision, DENY);
    let cached = eventually(Duration::from_secs(2), "the denial is cached", || async {
        shared.get(&p, &key(&actor)).await.ok().flatten()
    })
    .await?;
    assert!(!cached.permit);
    consent.stop().await
}
