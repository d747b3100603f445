use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pmd_auth::{
    AuthError, DevIssuer, JwksSource, Principal, TokenRequest, TrustedIssuer, Verifier,
    VerifierConfig,
};
use serde_json::Value;

pub const HPR: &str = "9144900";
pub const ORG: &str = "974589095";
pub const CHILD_ORG: &str = "974589096";
/// A synthetic national id (test data, not a real person).
pub const PID: &str = "13116900216";

/// A 2048-bit RSA key used only by these tests, to stand in for HelseID.
pub const RSA_PEM: &str = include_str!("test-rsa-key.pem");
pub const HELSEID_ISSUER: &str = "https://helseid-sts.test.nhn.no";
pub const RSA_KID: &str = "helseid-test-rsa";

pub fn dev() -> DevIssuer {
    DevIssuer::ephemeral().expect("ephemeral dev issuer")
}

pub fn verifier_for(dev: &DevIssuer) -> Verifier {
    Verifier::new(VerifierConfig::new(vec![dev.trusted_issuer()]))
}

pub async fn verify_with(dev: &DevIssuer, token: &str) -> Result<Principal, AuthError> {
    verifier_for(dev).verify(token).await
}

pub fn mint(dev: &DevIssuer, request: &TokenRequest) -> String {
    dev.mint(request).expect("mint")
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

pub fn unb64(segment: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

pub fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).expect("test rsa key")
}

pub fn rsa_jwks() -> JwkSet {
    let mut jwk = Jwk::from_encoding_key(&rsa_key(), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(RSA_KID.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    JwkSet { keys: vec![jwk] }
}

/// A trusted "HelseID" with an RSA key, as a production verifier would have.
pub fn helseid_issuer() -> TrustedIssuer {
    TrustedIssuer {
        issuer: HELSEID_ISSUER.to_owned(),
        audience: "pmd".to_owned(),
        jwks: JwksSource::Static(rsa_jwks()),
    }
}

pub fn rsa_sign(header: &Header, claims: &Value) -> String {
    jsonwebtoken::encode(header, claims, &rsa_key()).unwrap()
}

pub fn rsa_header(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    header
}
