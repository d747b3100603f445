//! Identities and tokens of Pasientens måledata (DESIGN §3).
//!
//! - [`Verifier`] checks HelseID-style JWTs (RS256/ES256 only) against the JWKS of
//!   trusted issuers and yields a [`Principal`].
//! - [`AuthLayer`] does that for every request of an axum router or a tonic server.
//! - [`DevIssuer`] mints tokens of every kind for the embedded mode and the tests.
//! - [`principal_from_request`] and [`authorize_outgoing`] carry the caller through
//!   gRPC hops.
//!
//! Invariant: no error message, log line or `Debug` output of this crate contains a
//! national id, a name or a token.

pub mod claims;
mod dev_issuer;
mod error;
mod grpc;
mod layer;
mod principal;
mod verifier;

pub use claims::{Claims, Coding, DecisionRef, Party, TrustFramework};
pub use dev_issuer::{DEFAULT_TTL, DEV_AUDIENCE, DEV_ISSUER, DevIssuer, TokenRequest};
pub use error::{AuthError, ConfigError, DevIssuerError, JwksError, REALM};
pub use grpc::{authorize_outgoing, principal_from_request};
pub use layer::{
    AuthLayer, AuthRejection, AuthService, ErrorBody, FHIR_JSON, bearer_token, grpc_public_path,
    http_public_path, http_rejection, operation_outcome,
};
pub use principal::{
    Attestation, BearerToken, Principal, PrincipalKind, Purpose, Scope, UnknownPurpose,
    UnknownScope,
};
pub use verifier::{JwksSource, TrustedIssuer, Verifier, VerifierConfig};

/// Re-exported so callers can build JWKS values without depending on jsonwebtoken.
pub use jsonwebtoken::jwk::{Jwk, JwkSet};

#[cfg(test)]
mod tests {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn shared_types_are_send_sync_and_clone() {
        assert_send_sync_clone::<crate::Verifier>();
        assert_send_sync_clone::<crate::DevIssuer>();
        assert_send_sync_clone::<crate::Principal>();
        assert_send_sync_clone::<crate::AuthLayer>();
    }
}
