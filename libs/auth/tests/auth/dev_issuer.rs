use std::time::Duration;

use chrono::Utc;
use pmd_auth::claims::{names, systems};
use pmd_auth::{
    DEV_AUDIENCE, DEV_ISSUER, DevIssuer, PrincipalKind, Purpose, Scope, TokenRequest,
    authorize_outgoing, principal_from_request,
};

use crate::common::*;

fn assert_expires_in_about_an_hour(expires_at: chrono::DateTime<Utc>) {
    let remaining = (expires_at - Utc::now()).num_seconds();
    assert!((3590..=3600).contains(&remaining), "remaining {remaining}");
}

#[tokio::test]
async fn dev_issuer_key_is_persisted_privately_and_reloaded_with_the_same_kid() {
    let dir = tempfile::tempdir().unwrap();
    let first = DevIssuer::load_or_create(dir.path()).unwrap();
    let path = dir.path().join("dev-issuer").join("signing-key.pem");
    assert_eq!(first.key_path(), Some(path.as_path()));
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "pkcs#8 pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let second = DevIssuer::load_or_create(dir.path()).unwrap();
    assert_eq!(first.kid(), second.kid());
    assert_eq!(first.jwks(), second.jwks());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        pem,
        "key not rewritten"
    );

    // A token minted before the reload verifies against the reloaded issuer's keys.
    let token = mint(&first, &TokenRequest::system(ORG));
    verify_with(&second, &token).await.unwrap();

    // Another directory, another key.
    let other = DevIssuer::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
    assert_ne!(other.kid(), first.kid());
}

#[tokio::test]
async fn personnel_token_verifies_with_trust_framework_defaults() {
    let dev = dev();
    let token = mint(&dev, &TokenRequest::personnel(HPR, ORG));
    let p = verify_with(&dev, &token).await.unwrap();

    assert_eq!(p.scopes, [Scope::Read]);
    assert_eq!(p.issuer, DEV_ISSUER);
    assert_eq!(p.client_id.as_deref(), Some("pmd-dev-personnel"));
    assert!(uuid::Uuid::parse_str(p.jti.as_deref().unwrap()).is_ok());
    assert_expires_in_about_an_hour(p.expires_at);
    assert_eq!(p.hpr(), Some(HPR));
    assert_eq!(p.source_org(), Some(ORG));
    assert_eq!(p.security_level(), Some(4));
    assert_eq!(p.purpose(), Some(Purpose::Treat));
    let PrincipalKind::Personnel {
        name,
        pid,
        org_parent,
        org_child,
        attestation,
        ..
    } = &p.kind
    else {
        panic!("expected personnel, got {:?}", p.kind);
    };
    assert_eq!(org_parent, ORG);
    assert_eq!(org_child, &None);
    assert_eq!(pid, &None);
    let name = name.as_deref().unwrap();
    assert!(name.contains(' '), "a generated full name");
    let attestation = attestation.as_ref().unwrap();
    let details = attestation.purpose_of_use_details.as_ref().unwrap();
    assert_eq!(details.code, "15");
    assert_eq!(
        details.system.as_deref(),
        Some(systems::PURPOSE_OF_USE_DETAILS)
    );
    assert_eq!(details.text.as_deref(), Some("Helsetjenester i hjemmet"));
    let decision = attestation.decision_ref.as_ref().unwrap();
    assert!(uuid::Uuid::parse_str(&decision.id).is_ok());
    assert!(!decision.user_selected);
    assert_eq!(attestation.legal_entity.as_ref().unwrap().id, ORG);
    assert_eq!(attestation.point_of_care.as_ref().unwrap().id, ORG);

    // Same HPR, same generated name.
    let again = verify_with(&dev, &mint(&dev, &TokenRequest::personnel(HPR, ORG)))
        .await
        .unwrap();
    let PrincipalKind::Personnel { name: name2, .. } = &again.kind else {
        panic!("expected personnel");
    };
    assert_eq!(name2.as_deref(), Some(name));
}

#[tokio::test]
async fn personnel_token_carries_wire_format_of_helseid() {
    let dev = dev();
    let claims = dev.claims(&TokenRequest::personnel(HPR, ORG)).unwrap();
    assert_eq!(claims["iss"], DEV_ISSUER);
    assert_eq!(claims["aud"], DEV_AUDIENCE);
    assert_eq!(claims["scope"], "pmd:read");
    assert_eq!(claims[names::HPR_NUMBER], HPR, "identifiers are strings");
    assert_eq!(claims[names::SECURITY_LEVEL], "4");
    assert_eq!(claims[names::ORGNR_PARENT], ORG);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    let details = &claims["authorization_details"][0];
    assert_eq!(details["type"], "nhn:tillitsrammeverk:parameters");
    assert_eq!(
        details["care_relationship"]["purpose_of_use"]["code"],
        "TREAT"
    );
    assert_eq!(
        details["care_relationship"]["purpose_of_use_details"]["system"],
        "urn:oid:2.16.578.1.12.4.1.1.9151"
    );
    assert_eq!(
        details["care_relationship"]["decision_ref"]["user_selected"],
        false
    );
    assert_eq!(details["practitioner"]["legal_entity"]["id"], ORG);
}

#[tokio::test]
async fn personnel_token_options_are_honoured() {
    let dev = dev();
    let request = TokenRequest::personnel(HPR, ORG)
        .child_org(CHILD_ORG)
        .name("Kari Nordmann")
        .pid(PID)
        .purpose(Purpose::Btg)
        .security_level(3)
        .ttl(Duration::from_secs(300));
    let p = verify_with(&dev, &mint(&dev, &request)).await.unwrap();
    assert_eq!(p.source_org(), Some(CHILD_ORG));
    assert_eq!(p.pid(), Some(PID));
    assert_eq!(p.purpose(), Some(Purpose::Btg));
    assert_eq!(p.security_level(), Some(3));
    let remaining = (p.expires_at - Utc::now()).num_seconds();
    assert!((290..=300).contains(&remaining), "remaining {remaining}");
    let attestation = p.attestation().unwrap();
    assert_eq!(attestation.point_of_care.as_ref().unwrap().id, CHILD_ORG);
    assert_eq!(attestation.legal_entity.as_ref().unwrap().id, ORG);
    let debug = format!("{p:?}");
    assert!(
        !debug.contains(PID) && !debug.contains("Nordmann"),
        "{debug}"
    );
}

#[tokio::test]
async fn citizen_token_yields_citizen_principal() {
    let dev = dev();
    let p = verify_with(&dev, &mint(&dev, &TokenRequest::citizen(PID)))
        .await
        .unwrap();
    assert_eq!(
        p.kind,
        PrincipalKind::Citizen {
            pid: PID.to_owned(),
            security_level: Some(4)
        }
    );
    assert_eq!(p.scopes, [Scope::Citizen]);
    assert_eq!(p.client_id.as_deref(), Some("pmd-dev-citizen"));
    assert_eq!(p.source_org(), None);
    assert_expires_in_about_an_hour(p.expires_at);
    assert!(!format!("{p:?}").contains(PID));
}

#[tokio::test]
async fn system_token_yields_system_principal() {
    let dev = dev();
    let p = verify_with(
        &dev,
        &mint(&dev, &TokenRequest::system(ORG).child_org(CHILD_ORG)),
    )
    .await
    .unwrap();
    assert_eq!(
        p.kind,
        PrincipalKind::System {
            org_parent: ORG.to_owned(),
            org_child: Some(CHILD_ORG.to_owned())
        }
    );
    assert_eq!(p.scopes, [Scope::Write]);
    assert_eq!(p.source_org(), Some(CHILD_ORG));
    assert_eq!(p.client_id.as_deref(), Some("pmd-dev-system"));
    assert!(p.require_scope(Scope::Write).is_ok());
    assert!(p.require_scope(Scope::Read).is_err());
}

#[tokio::test]
async fn statistics_token_yields_statistics_principal() {
    let dev = dev();
    let p = verify_with(&dev, &mint(&dev, &TokenRequest::statistics()))
        .await
        .unwrap();
    assert_eq!(
        p.kind,
        PrincipalKind::Statistics {
            org_parent: None,
            org_child: None
        }
    );
    assert_eq!(p.scopes, [Scope::Statistics]);
    assert_eq!(p.client_id.as_deref(), Some("pmd-dev-statistics"));
}

#[tokio::test]
async fn raw_token_is_kept_and_forwarded_to_the_next_service() {
    let dev = dev();
    let token = mint(&dev, &TokenRequest::personnel(HPR, ORG));
    let p = verify_with(&dev, &token).await.unwrap();
    assert_eq!(p.bearer_token(), token);
    assert!(!format!("{p:?}").contains(&token));

    let mut outgoing = tonic::Request::new(());
    authorize_outgoing(&mut outgoing, &p);
    assert_eq!(
        outgoing
            .metadata()
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("Bearer {token}")
    );

    // On the receiving side the layer's extension is found by the handler helper.
    let mut http_request = http::Request::new(());
    http_request.extensions_mut().insert(p.clone());
    let incoming = tonic::Request::from_http(http_request);
    assert_eq!(principal_from_request(&incoming).unwrap(), &p);
    let bare = tonic::Request::new(());
    assert_eq!(
        principal_from_request(&bare).unwrap_err().code(),
        tonic::Code::Unauthenticated
    );
}
