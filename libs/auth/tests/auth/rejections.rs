use chrono::{TimeDelta, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use pmd_auth::{AuthError, DevIssuer, TokenRequest, Verifier, VerifierConfig};
use serde_json::{Value, json};

use crate::common::*;

fn dev_public_key_pem(dev: &DevIssuer) -> String {
    let jwk = serde_json::to_value(&dev.jwks().keys[0]).unwrap();
    let x = unb64_bytes(jwk["x"].as_str().unwrap());
    let y = unb64_bytes(jwk["y"].as_str().unwrap());
    let sec1 = [&[4u8][..], &x, &y].concat();
    p256::PublicKey::from_sec1_bytes(&sec1)
        .unwrap()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

fn unb64_bytes(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn system_claims(dev: &DevIssuer) -> Value {
    Value::Object(dev.claims(&TokenRequest::system(ORG)).unwrap())
}

#[tokio::test]
async fn token_signed_by_another_key_with_the_same_kid_is_rejected() {
    let dev = dev();
    let impostor = DevIssuer::ephemeral().unwrap();
    let token = impostor
        .sign(&dev.header(), &system_claims(&impostor))
        .unwrap();
    assert_eq!(
        verify_with(&dev, &token).await,
        Err(AuthError::InvalidSignature)
    );
}

#[tokio::test]
async fn alg_none_token_is_rejected() {
    let dev = dev();
    let claims = system_claims(&dev);
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": dev.kid()});
        let token = format!("{}.{}.", b64(&header), b64(&claims));
        assert_eq!(
            verify_with(&dev, &token).await,
            Err(AuthError::AlgorithmNotAllowed {
                alg: alg.to_owned()
            })
        );
    }
}

#[tokio::test]
async fn hs256_token_signed_with_the_public_key_is_rejected() {
    let dev = dev();
    let claims = system_claims(&dev);
    let jwk_json = serde_json::to_vec(&dev.jwks().keys[0]).unwrap();
    let pem = dev_public_key_pem(&dev);
    for secret in [pem.as_bytes(), jwk_json.as_slice()] {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some(dev.kid().to_owned());
            let token =
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
            assert!(
                matches!(
                    verify_with(&dev, &token).await,
                    Err(AuthError::AlgorithmNotAllowed { .. })
                ),
                "{alg:?} accepted"
            );
        }
    }
}

#[tokio::test]
async fn token_for_another_audience_is_rejected() {
    let dev = dev();
    let token = mint(&dev, &TokenRequest::system(ORG).audience("another-service"));
    assert_eq!(
        verify_with(&dev, &token).await,
        Err(AuthError::InvalidAudience)
    );
    // An array audience passes when it contains ours.
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).extra_claim("aud", json!(["another-service", "pmd"])),
    );
    verify_with(&dev, &token).await.unwrap();
}

#[tokio::test]
async fn token_without_audience_is_rejected() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).extra_claim("aud", Value::Null),
    );
    assert_eq!(
        verify_with(&dev, &token).await,
        Err(AuthError::MissingClaim { claim: "aud" })
    );
}

#[tokio::test]
async fn token_from_an_untrusted_issuer_is_rejected() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).extra_claim("iss", "urn:evil"),
    );
    assert_eq!(
        verify_with(&dev, &token).await,
        Err(AuthError::UntrustedIssuer)
    );
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).extra_claim("iss", Value::Null),
    );
    assert_eq!(
        verify_with(&dev, &token).await,
        Err(AuthError::MissingClaim { claim: "iss" })
    );
}

#[tokio::test]
async fn dev_key_cannot_speak_for_a_trusted_issuer() {
    let dev = dev();
    let verifier = Verifier::try_new(VerifierConfig::new(vec![
        dev.trusted_issuer(),
        helseid_issuer(),
    ]))
    .unwrap();
    // Signed by the dev key, claiming to be HelseID: HelseID's keys do not know the kid.
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).extra_claim("iss", HELSEID_ISSUER),
    );
    assert_eq!(verifier.verify(&token).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn token_expired_beyond_the_leeway_is_rejected() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).expires_at(Utc::now() - TimeDelta::seconds(45)),
    );
    assert_eq!(verify_with(&dev, &token).await, Err(AuthError::Expired));
}

#[tokio::test]
async fn token_expired_within_the_leeway_is_accepted() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::system(ORG)
            .issued_at(Utc::now() - TimeDelta::minutes(10))
            .expires_at(Utc::now() - TimeDelta::seconds(10)),
    );
    verify_with(&dev, &token).await.unwrap();
}

#[tokio::test]
async fn token_without_exp_is_rejected() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).extra_claim("exp", Value::Null),
    );
    assert_eq!(
        verify_with(&dev, &token).await,
        Err(AuthError::MissingClaim { claim: "exp" })
    );
}

#[tokio::test]
async fn token_not_yet_valid_beyond_the_leeway_is_rejected() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).not_before(Utc::now() + TimeDelta::seconds(120)),
    );
    assert_eq!(verify_with(&dev, &token).await, Err(AuthError::NotYetValid));
    // Within the leeway a clock slightly ahead at the issuer is tolerated.
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).not_before(Utc::now() + TimeDelta::seconds(10)),
    );
    verify_with(&dev, &token).await.unwrap();
}

#[tokio::test]
async fn payload_altered_after_signing_is_rejected() {
    let dev = dev();
    let token = mint(&dev, &TokenRequest::personnel(HPR, ORG));
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = unb64(parts[1]);
    payload["helseid://claims/hpr/hpr_number"] = json!("1234567");
    let forged = format!("{}.{}.{}", parts[0], b64(&payload), parts[2]);
    assert_eq!(
        verify_with(&dev, &forged).await,
        Err(AuthError::InvalidSignature)
    );
}

#[tokio::test]
async fn unknown_kid_is_rejected() {
    let dev = dev();
    let mut header = dev.header();
    header.kid = Some("no-such-key".to_owned());
    let token = dev.sign(&header, &system_claims(&dev)).unwrap();
    assert_eq!(verify_with(&dev, &token).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn header_alg_differing_from_the_key_alg_is_rejected() {
    let dev = dev();
    // RS256-signed (by a key the verifier does not know) but naming the ES256 key.
    let claims = system_claims(&dev);
    let token = rsa_sign(&rsa_header(dev.kid()), &claims);
    assert_eq!(
        verify_with(&dev, &token).await,
        Err(AuthError::AlgorithmMismatch)
    );
}

#[tokio::test]
async fn rs256_token_from_an_rsa_jwks_verifies() {
    let verifier = Verifier::try_new(VerifierConfig::new(vec![helseid_issuer()])).unwrap();
    let now = Utc::now().timestamp();
    let claims = json!({
        "iss": HELSEID_ISSUER,
        "aud": ["pmd"],
        "exp": now + 300,
        "iat": now,
        "scope": ["pmd:read"],
        "helseid://claims/hpr/hpr_number": 9144900,
        "helseid://claims/identity/security_level": 4,
        "helseid://claims/client/claims/orgnr_parent": "974589095",
        "client_id": "ehr-vendor",
    });
    let p = verifier
        .verify(&rsa_sign(&rsa_header(RSA_KID), &claims))
        .await
        .unwrap();
    assert_eq!(p.hpr(), Some("9144900"));
    assert_eq!(p.security_level(), Some(4));
    assert_eq!(p.attestation(), None);

    // ES256 header against the RSA key: mismatch.
    let es_token = dev()
        .sign(
            &{
                let mut h = Header::new(Algorithm::ES256);
                h.kid = Some(RSA_KID.to_owned());
                h
            },
            &claims,
        )
        .unwrap();
    assert_eq!(
        verifier.verify(&es_token).await,
        Err(AuthError::AlgorithmMismatch)
    );
}

#[tokio::test]
async fn production_verifier_refuses_dev_tokens() {
    let verifier = Verifier::try_new(VerifierConfig::new(vec![helseid_issuer()])).unwrap();
    let dev = dev();
    for request in [
        TokenRequest::personnel(HPR, ORG),
        TokenRequest::citizen(PID),
        TokenRequest::system(ORG),
        TokenRequest::statistics(),
    ] {
        assert_eq!(
            verifier.verify(&mint(&dev, &request)).await,
            Err(AuthError::UntrustedIssuer)
        );
    }
}

#[tokio::test]
async fn garbage_is_rejected_as_malformed() {
    let dev = dev();
    for token in [
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "eyJ.eyJ.sig",
        "a".repeat(20_000).as_str(),
    ] {
        assert_eq!(
            verify_with(&dev, token).await,
            Err(AuthError::Malformed),
            "{token:.20}"
        );
    }
    assert_eq!(verify_with(&dev, "  ").await, Err(AuthError::MissingToken));
}

#[tokio::test]
async fn token_without_pmd_scope_is_refused() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::system(ORG).extra_claim("scope", "openid profile"),
    );
    let err = verify_with(&dev, &token).await.unwrap_err();
    assert_eq!(err, AuthError::NoPmdScope);
    assert_eq!(err.http_status(), http::StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn personnel_with_unknown_purpose_is_refused() {
    let dev = dev();
    let mut claims = dev.claims(&TokenRequest::personnel(HPR, ORG)).unwrap();
    claims["authorization_details"][0]["care_relationship"]["purpose_of_use"]["code"] =
        json!("HPAYMT");
    let token = dev.sign(&dev.header(), &claims).unwrap();
    assert!(matches!(
        verify_with(&dev, &token).await,
        Err(AuthError::InvalidClaim {
            claim: "authorization_details",
            ..
        })
    ));
}

#[tokio::test]
async fn error_messages_never_echo_claim_values() {
    let dev = dev();
    let token = mint(
        &dev,
        &TokenRequest::citizen(PID).extra_claim("helseid://claims/identity/security_level", "9"),
    );
    let err = verify_with(&dev, &token).await.unwrap_err();
    assert!(!err.to_string().contains(PID));
    assert!(!err.www_authenticate().contains(PID));
}
