//! CreateBlock, RevokeBlock, ListBlocks: who may, validation, idempotent retries, listing,
//! auditing.

use pmd_proto::audit::v1::{self as audit, Action};
use pmd_proto::consent::v1::{self as pb, block_target};
use pmd_testkit::{redis_url, with_token};

use crate::harness::{
    Cache, Db, hpr_target, identifier, org, org_target, patient, personnel, start,
};

#[tokio::test]
async fn a_citizen_cannot_block_for_another_patient() -> anyhow::Result<()> {
    let consent = start(Db::Sqlite, Cache::Flags { redis_url: None }).await?;
    let (me, other) = (patient(201), patient(202));
    let status = consent
        .client
        .clone()
        .create_block(with_token(
            pb::CreateBlockRequest {
                patient: Some(identifier(&other)),
                target: Some(pb::BlockTarget {
                    target: Some(hpr_target("9144900")),
                }),
                ..pb::CreateBlockRequest::default()
            },
            &consent.citizen(&me),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(!status.message().contains(&other));
    assert_eq!(consent.count("blocks").await?, 0);
    // Health personnel cannot manage blocks at all.
    let status = consent
        .client
        .clone()
        .create_block(with_token(
            pb::CreateBlockRequest {
                patient: Some(identifier(&me)),
                target: Some(pb::BlockTarget {
                    target: Some(hpr_target("9144900")),
                }),
                ..pb::CreateBlockRequest::default()
            },
            &consent.token(&pmd_auth::TokenRequest::personnel("1234567", org(1))),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    consent.stop().await
}

#[tokio::test]
async fn a_citizen_cannot_revoke_another_patients_block() -> anyhow::Result<()> {
    let consent = start(Db::Postgres, Cache::Flags { redis_url: None }).await?;
    let (owner, other) = (patient(203), patient(204));
    let block = consent.block(&owner, hpr_target("9144900")).await?;
    let foreign = consent.revoke(&other, &block.id).await.unwrap_err();
    assert_eq!(foreign.code(), tonic::Code::NotFound);
    // No hint: the same answer as for a block that does not exist.
    let unknown = consent
        .revoke(&other, &uuid::Uuid::now_v7().to_string())
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert_eq!(unknown.message(), foreign.message());
    let garbage = consent.revoke(&other, "not-a-block-id").await.unwrap_err();
    assert_eq!(garbage.code(), tonic::Code::NotFound);
    // The block is untouched.
    let listed = list(&consent, &owner, true).await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].revoked_unix_micros, None);
    consent.stop().await
}

async fn list(
    consent: &crate::harness::Consent,
    patient: &str,
    include_revoked: bool,
) -> Result<Vec<pb::Block>, tonic::Status> {
    Ok(consent
        .client
        .clone()
        .list_blocks(with_token(
            pb::ListBlocksRequest {
                patient: Some(identifier(patient)),
                include_revoked,
            },
            &consent.citizen(patient),
        ))
        .await?
        .into_inner()
        .blocks)
}

#[tokio::test]
async fn list_shows_own_blocks_newest_first_with_the_practitioners_name() -> anyhow::Result<()> {
    let url = redis_url().await?;
    let consent = start(Db::Postgres, Cache::Redis { url }).await?;
    let p = patient(205);
    // A Check by the practitioner carries the name (as storage passes it).
    let mut practitioner = personnel("9144900", &org(60), None);
    practitioner.name = "Kari Lege".into();
    consent.check(&p, &practitioner).await?;
    let hospital = org(61);
    let first = consent.block(&p, org_target(&hospital)).await?;
    let second = consent.block(&p, hpr_target("9144900")).await?;
    let third = consent.block(&p, hpr_target("7654321")).await?;
    consent.revoke(&p, &third.id).await?;

    // The name is stored in the background: wait for it to show.
    let listed = crate::harness::eventually(
        std::time::Duration::from_secs(5),
        "the practitioner's name in the list",
        || async {
            let listed = list(&consent, &p, false).await.ok()?;
            listed
                .iter()
                .any(|b| b.target_display == "Kari Lege")
                .then_some(listed)
        },
    )
    .await?;
    let ids: Vec<&str> = listed.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, vec![second.id.as_str(), first.id.as_str()]);
    assert_eq!(listed[0].target_display, "Kari Lege");
    assert_eq!(
        listed[0].target,
        Some(pb::BlockTarget {
            target: Some(block_target::Target::HprNumber("9144900".into()))
        })
    );
    assert_eq!(
        listed[1].target_display, "",
        "no name known for the organisation"
    );
    assert_eq!(
        listed[0].patient.as_ref().map(|p| p.value.as_str()),
        Some(p.as_str())
    );
    assert_eq!(
        listed[0].policy_text,
        "pasient- og brukerrettighetsloven § 5-3"
    );

    let all = list(&consent, &p, true).await?;
    let ids: Vec<&str> = all.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![third.id.as_str(), second.id.as_str(), first.id.as_str()]
    );
    assert!(all[0].revoked_unix_micros.is_some());

    // Another citizen cannot list them.
    let status = consent
        .client
        .clone()
        .list_blocks(with_token(
            pb::ListBlocksRequest {
                patient: Some(identifier(&p)),
                include_revoked: true,
            },
            &consent.citizen(&patient(206)),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    consent.stop().await
}

#[tokio::test]
async fn creating_the_same_block_twice_returns_the_existing_one() -> anyhow::Result<()> {
    let consent = start(Db::Postgres, Cache::Flags { redis_url: None }).await?;
    let p = patient(207);
    let first = consent.block(&p, hpr_target("9144900")).await?;
    let again = consent.block(&p, hpr_target("9144900")).await?;
    assert_eq!(first.id, again.id);
    assert_eq!(consent.count("blocks").await?, 1);
    // The revision moved once.
    let answer = consent
        .check(&p, &personnel("9144900", &org(70), None))
        .await?;
    assert_eq!(answer.revision, 1);
    consent.stop().await
}

#[tokio::test]
async fn invalid_blocks_are_refused_naming_the_field() -> anyhow::Result<()> {
    let consent = start(Db::Sqlite, Cache::Flags { redis_url: None }).await?;
    let p = patient(208);
    for (target, field) in [
        (Some(hpr_target("12345678901")), "target.hpr_number"),
        (Some(hpr_target("12a")), "target.hpr_number"),
        (Some(org_target("974589096")), "target.org_number"),
        (None, "target"),
    ] {
        let status = consent
            .client
            .clone()
            .create_block(with_token(
                pb::CreateBlockRequest {
                    patient: Some(identifier(&p)),
                    target: target.map(|t| pb::BlockTarget { target: Some(t) }),
                    ..pb::CreateBlockRequest::default()
                },
                &consent.citizen(&p),
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{field}");
        assert!(status.message().starts_with(field), "{}", status.message());
    }
    let status = consent
        .client
        .clone()
        .create_block(with_token(
            pb::CreateBlockRequest {
                patient: Some(identifier(&p)),
                target: Some(pb::BlockTarget {
                    target: Some(hpr_target("9144900")),
                }),
                valid_until_unix_micros: Some(1),
                ..pb::CreateBlockRequest::default()
            },
            &consent.citizen(&p),
        ))
        .await
        .unwrap_err();
    assert!(status.message().contains("valid_until_unix_micros"));
    assert_eq!(consent.count("blocks").await?, 0);
    consent.stop().await
}

#[tokio::test]
async fn blocking_revoking_and_listing_are_audited() -> anyhow::Result<()> {
    let consent = start(Db::Postgres, Cache::Flags { redis_url: None }).await?;
    let p = patient(209);
    let block = consent.block(&p, hpr_target("9144900")).await?;
    consent.revoke(&p, &block.id).await?;
    list(&consent, &p, true).await?;
    let events = consent
        .audit
        .clone()
        .query(with_token(
            audit::QueryRequest {
                patient: Some(identifier(&p)),
                page_size: 50,
                ..audit::QueryRequest::default()
            },
            &consent.internal(),
        ))
        .await?
        .into_inner()
        .events;
    let mut actions: Vec<i32> = events.iter().map(|e| e.action).collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        vec![
            Action::Block as i32,
            Action::Unblock as i32,
            Action::ConsentRead as i32
        ]
    );
    let blocked = events
        .iter()
        .find(|e| e.action == Action::Block as i32)
        .expect("a block event");
    assert_eq!(blocked.entities[0].resource_type, "Consent");
    assert_eq!(blocked.entities[0].ids, vec![block.id.clone()]);
    assert_eq!(
        blocked.actor.as_ref().map(|a| a.pid.as_str()),
        Some(p.as_str())
    );
    assert_eq!(consent.count("audit_outbox").await?, 0);
    consent.stop().await
}
