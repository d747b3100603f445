//! Error types of the crate.
//!
//! Every message is lowercase and safe to show to the caller and to write to a log: no
//! message carries a national id, a name or any other value copied from a token.

use http::StatusCode;

use crate::principal::Scope;

/// Why a request was not authenticated (or, for the scope variants, not authorised).
///
/// The `Display` text is what the caller sees in `WWW-Authenticate`'s
/// `error_description`, in the `OperationOutcome` diagnostics and in the gRPC status
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("missing bearer token")]
    MissingToken,
    #[error("malformed token")]
    Malformed,
    #[error("algorithm {alg} is not allowed")]
    AlgorithmNotAllowed { alg: String },
    #[error("token algorithm does not match the signing key")]
    AlgorithmMismatch,
    #[error("untrusted issuer")]
    UntrustedIssuer,
    #[error("token has no key id")]
    MissingKeyId,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid signature")]
    InvalidSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("invalid audience")]
    InvalidAudience,
    #[error("missing claim {claim}")]
    MissingClaim { claim: &'static str },
    #[error("invalid claim {claim}: {reason}")]
    InvalidClaim {
        claim: &'static str,
        reason: &'static str,
    },
    /// The token is genuine but grants no `pmd:*` scope this service knows.
    #[error("token carries no pmd scope")]
    NoPmdScope,
    /// The token is genuine but lacks the scope the operation needs.
    #[error("insufficient scope, requires {required}")]
    InsufficientScope { required: Scope },
}

impl AuthError {
    /// HTTP status for this error: 403 for the scope errors, 401 for everything else.
    pub fn http_status(&self) -> StatusCode {
        if self.is_forbidden() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        }
    }

    /// gRPC code for this error: `PermissionDenied` for the scope errors, else
    /// `Unauthenticated`.
    pub fn grpc_code(&self) -> tonic::Code {
        if self.is_forbidden() {
            tonic::Code::PermissionDenied
        } else {
            tonic::Code::Unauthenticated
        }
    }

    /// The RFC 6750 `error` code, `None` when the request carried no token at all.
    pub fn oauth_error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => None,
            _ if self.is_forbidden() => Some("insufficient_scope"),
            _ => Some("invalid_token"),
        }
    }

    /// The `WWW-Authenticate` header value for this error (RFC 6750 §3).
    pub fn www_authenticate(&self) -> String {
        match self.oauth_error_code() {
            None => format!("Bearer realm=\"{REALM}\""),
            Some(code) => format!(
                "Bearer realm=\"{REALM}\", error=\"{code}\", error_description=\"{}\"",
                header_safe(&self.to_string())
            ),
        }
    }

    fn is_forbidden(&self) -> bool {
        matches!(self, Self::NoPmdScope | Self::InsufficientScope { .. })
    }
}

/// The realm named in `WWW-Authenticate`.
pub const REALM: &str = "pmd";

/// Keeps only characters allowed inside a quoted-string of `error_description`
/// (RFC 6750: %x20-21 / %x23-5B / %x5D-7E).
fn header_safe(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(*c, ' '..='~') && *c != '"' && *c != '\\')
        .collect()
}

impl From<AuthError> for tonic::Status {
    fn from(err: AuthError) -> Self {
        tonic::Status::new(err.grpc_code(), err.to_string())
    }
}

/// A verifier configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("no trusted issuer configured")]
    NoIssuers,
    #[error("issuer {issuer} is configured twice")]
    DuplicateIssuer { issuer: String },
    #[error("issuer {issuer} has an empty {field}")]
    Empty { issuer: String, field: &'static str },
    #[error("jwks url {url} is not supported: {reason}")]
    UnsupportedUrl { url: String, reason: &'static str },
    #[error("jwks of issuer {issuer}: {source}")]
    Jwks {
        issuer: String,
        #[source]
        source: JwksError,
    },
}

/// A JWKS that could not be fetched or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    #[error("read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("fetch: {0}")]
    Fetch(#[source] reqwest::Error),
    #[error("fetch: http status {0}")]
    Status(StatusCode),
    #[error("document larger than {0} bytes")]
    TooLarge(usize),
    #[error("not a jwks document: {0}")]
    Parse(#[source] serde_json::Error),
    #[error("no usable signing key (rs256 or es256)")]
    NoUsableKey,
}

/// The dev issuer could not load, create or use its key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevIssuerError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("signing key {path} is not a pkcs#8 p-256 private key")]
    InvalidKey { path: String },
    #[error("key generation failed: {0}")]
    KeyGeneration(&'static str),
    #[error("signing failed: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
    #[error("invalid token request: {0}")]
    InvalidRequest(&'static str),
}
