//! Token verification against the JWKS of trusted issuers.
//!
//! Rules, in the order they are checked:
//! 1. the token is three base64url segments (no JWE, no oversized input);
//! 2. the header `alg` is RS256 or ES256: `none`, HS* and everything else are refused
//!    before any key is looked at;
//! 3. the (not yet verified) `iss` names a trusted issuer; only that issuer's keys are
//!    tried;
//! 4. the `kid` names one of its keys; an unknown `kid` triggers at most one JWKS
//!    refresh per issuer per refresh interval (default one minute);
//! 5. the header `alg` equals the key's algorithm (the JWK's `alg`, or RS256 for an RSA
//!    key and ES256 for a P-256 key without one);
//! 6. signature, then `iss`, `aud` (must contain the audience), `exp` (required) and
//!    `nbf` with a 30 s leeway;
//! 7. the claims make a [`Principal`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::claims::Claims;
use crate::error::{AuthError, ConfigError, JwksError};
use crate::principal::{BearerToken, Principal};

/// Tokens longer than this are refused without parsing.
const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Minimum time between refresh attempts after a failed one (capped by the interval).
const FAILED_REFRESH_BACKOFF: Duration = Duration::from_secs(5);
/// JWKS documents larger than this are refused.
const MAX_JWKS_LEN: usize = 1024 * 1024;

/// Where an issuer's signing keys come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwksSource {
    /// Keys given in configuration (the dev issuer); never refreshed.
    Static(JwkSet),
    /// A JWKS document on disk, re-read on refresh.
    File(std::path::PathBuf),
    /// A JWKS URL, fetched on first use and on refresh. Plain `http://` only: TLS is not
    /// compiled into this build's HTTP client.
    Url(String),
}

/// An issuer whose tokens are accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrustedIssuer {
    /// Exact `iss` value.
    pub issuer: String,
    /// The `aud` value tokens must contain.
    pub audience: String,
    pub jwks: JwksSource,
}

/// Configuration of a [`Verifier`].
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    pub issuers: Vec<TrustedIssuer>,
    /// Clock skew allowed on `exp` and `nbf`. Default 30 s.
    pub leeway: Duration,
    /// Minimum time between two JWKS refreshes of one issuer. Default 60 s.
    pub refresh_interval: Duration,
    /// Time out for fetching a JWKS URL. Default 10 s.
    pub fetch_timeout: Duration,
}

impl VerifierConfig {
    pub fn new(issuers: Vec<TrustedIssuer>) -> Self {
        Self {
            issuers,
            ..Self::default()
        }
    }

    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }
}

impl VerifierConfig {
    /// Every problem of this configuration (empty when it is sound): no issuer, an
    /// empty issuer or audience, an issuer listed twice, a static JWKS without a usable
    /// key, a JWKS URL this build cannot fetch.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        if self.issuers.is_empty() {
            problems.push(ConfigError::NoIssuers);
        }
        for (index, trusted) in self.issuers.iter().enumerate() {
            let issuer = || trusted.issuer.clone();
            if trusted.issuer.trim().is_empty() {
                problems.push(ConfigError::Empty {
                    issuer: issuer(),
                    field: "issuer",
                });
            }
            if trusted.audience.trim().is_empty() {
                problems.push(ConfigError::Empty {
                    issuer: issuer(),
                    field: "audience",
                });
            }
            if self.issuers[..index]
                .iter()
                .any(|earlier| earlier.issuer == trusted.issuer)
            {
                problems.push(ConfigError::DuplicateIssuer { issuer: issuer() });
            }
            match &trusted.jwks {
                JwksSource::Static(set) => {
                    if usable_keys(set.keys.iter().cloned()).is_empty() {
                        problems.push(ConfigError::Jwks {
                            issuer: issuer(),
                            source: JwksError::NoUsableKey,
                        });
                    }
                }
                JwksSource::File(_) => {}
                JwksSource::Url(url) => {
                    if let Err(problem) = check_url(url) {
                        problems.push(problem);
                    }
                }
            }
        }
        problems
    }
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            leeway: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(10),
        }
    }
}

/// Verifies bearer tokens. Cheap to clone; clones share key caches.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "issuers",
                &self
                    .inner
                    .issuers
                    .iter()
                    .map(|i| &i.issuer)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

struct Inner {
    issuers: Vec<IssuerState>,
    leeway: u64,
    refresh_interval: Duration,
    http: reqwest::Client,
    /// Tokens already verified (by SHA-256 of the token): a token passes through edge,
    /// storage, consent and audit, and a signature check is the largest CPU cost of a
    /// request. An entry is served until the token expires, at most [`VERIFIED_FOR`].
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], (Principal, Instant)>>,
}

/// How long a verified token is trusted without checking its signature again.
const VERIFIED_FOR: Duration = Duration::from_secs(300);
/// Most verified tokens remembered (the map is cleared when full).
const VERIFIED_MAX: usize = 20_000;

struct IssuerState {
    issuer: String,
    audience: String,
    source: JwksSource,
    keys: RwLock<Arc<Vec<VerifyingKey>>>,
    /// Serialises refreshes; holds when the next one may start.
    refresh: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

#[derive(Clone)]
struct VerifyingKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

impl Verifier {
    /// Builds the verifier. Never fails: a misconfiguration (see
    /// [`VerifierConfig::problems`]) is logged and fails closed, refusing the tokens it
    /// concerns. Use [`Verifier::try_new`] to refuse it instead. Static key sets are
    /// loaded now, files and URLs on first use (or by [`Verifier::preload`]).
    pub fn new(config: VerifierConfig) -> Self {
        for problem in config.problems() {
            tracing::error!(error = %problem, "token verifier misconfigured, affected tokens are refused");
        }
        Self::build(config)
    }

    /// Builds the verifier, or returns the first problem of the configuration.
    pub fn try_new(config: VerifierConfig) -> Result<Self, ConfigError> {
        match config.problems().into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(Self::build(config)),
        }
    }

    fn build(config: VerifierConfig) -> Self {
        let mut issuers: Vec<IssuerState> = Vec::with_capacity(config.issuers.len());
        for trusted in config.issuers {
            // The first entry of an issuer wins; lookups would never reach a second one.
            if issuers.iter().any(|i| i.issuer == trusted.issuer) {
                continue;
            }
            let keys = match &trusted.jwks {
                JwksSource::Static(set) => usable_keys(set.keys.iter().cloned()),
                JwksSource::File(_) | JwksSource::Url(_) => Vec::new(),
            };
            issuers.push(IssuerState {
                issuer: trusted.issuer,
                audience: trusted.audience,
                source: trusted.jwks,
                keys: RwLock::new(Arc::new(keys)),
                refresh: tokio::sync::Mutex::new(None),
                fetches: AtomicU64::new(0),
            });
        }
        // Without TLS compiled in, building the client cannot fail in practice.
        let http = reqwest::Client::builder()
            .timeout(config.fetch_timeout)
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                issuers,
                leeway: config.leeway.as_secs(),
                refresh_interval: config.refresh_interval,
                http,
                verified: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
        }
    }

    /// Loads every file and URL key set now, so a misconfiguration shows at start-up.
    /// Counts as a refresh for the rate limit.
    pub async fn preload(&self) -> Result<(), ConfigError> {
        for state in &self.inner.issuers {
            if matches!(state.source, JwksSource::Static(_)) {
                continue;
            }
            let mut next = state.refresh.lock().await;
            let result = state.fetch(&self.inner.http).await;
            *next = Some(Instant::now() + self.inner.refresh_interval);
            let keys = result.map_err(|source| ConfigError::Jwks {
                issuer: state.issuer.clone(),
                source,
            })?;
            state.store(keys);
        }
        Ok(())
    }

    /// How many times the key set of `issuer` was fetched (file read or HTTP request).
    pub fn jwks_fetch_count(&self, issuer: &str) -> Option<u64> {
        self.inner
            .issuers
            .iter()
            .find(|i| i.issuer == issuer)
            .map(|i| i.fetches.load(Ordering::Relaxed))
    }

    /// The issuers this verifier trusts.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.inner.issuers.iter().map(|i| i.issuer.as_str())
    }

    /// Verifies `token` (without the `Bearer ` prefix) and returns its principal.
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        use sha2::Digest;
        let token = token.trim();
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = Instant::now();
        if let Ok(verified) = self.inner.verified.lock()
            && let Some((principal, at)) = verified.get(&digest)
            && now.duration_since(*at) < VERIFIED_FOR
            && principal.expires_at + chrono::Duration::seconds(self.inner.leeway as i64)
                > chrono::Utc::now()
        {
            return Ok(principal.clone());
        }
        let principal = self.verify_signed(token).await?;
        if let Ok(mut verified) = self.inner.verified.lock() {
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
            verified.insert(digest, (principal.clone(), now));
        }
        Ok(principal)
    }

    /// Full verification: signature, algorithm, issuer, audience, times, claims.
    async fn verify_signed(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::MissingToken);
        }
        if token.len() > MAX_TOKEN_LEN
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(AuthError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };

        let header: RawHeader = decode_segment(header)?;
        let alg = match header.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            other => {
                return Err(AuthError::AlgorithmNotAllowed {
                    alg: printable_alg(other),
                });
            }
        };
        let unverified: UnverifiedClaims = decode_segment(payload)?;
        let iss = unverified
            .iss
            .ok_or(AuthError::MissingClaim { claim: "iss" })?;
        let state = self
            .inner
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or(AuthError::UntrustedIssuer)?;

        let key = state.key_for(header.kid.as_deref(), &self.inner).await?;
        if key.alg != alg {
            return Err(AuthError::AlgorithmMismatch);
        }

        let mut validation = Validation::new(key.alg);
        validation.leeway = self.inner.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&[&state.audience]);
        validation.set_issuer(&[&state.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| map_jwt_error(e.kind()))?;
        Principal::from_claims(data.claims, BearerToken::new(token))
    }
}

impl IssuerState {
    fn snapshot(&self) -> Arc<Vec<VerifyingKey>> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, keys: Vec<VerifyingKey>) {
        let keys = Arc::new(keys);
        match self.keys.write() {
            Ok(mut guard) => *guard = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
    }

    /// The key named `kid`; a token without `kid` is accepted only when the issuer
    /// has exactly one key.
    fn lookup(&self, kid: Option<&str>) -> Lookup {
        let keys = self.snapshot();
        match kid {
            Some(kid) => match keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                Some(k) => Lookup::Found(k.clone()),
                None => Lookup::NotFound,
            },
            None => match keys.as_slice() {
                [] => Lookup::NotFound,
                [only] => Lookup::Found(only.clone()),
                _ => Lookup::Ambiguous,
            },
        }
    }

    async fn key_for(&self, kid: Option<&str>, inner: &Inner) -> Result<VerifyingKey, AuthError> {
        let not_found = || {
            if kid.is_some() {
                AuthError::UnknownKey
            } else {
                AuthError::MissingKeyId
            }
        };
        match self.lookup(kid) {
            Lookup::Found(k) => return Ok(k),
            Lookup::Ambiguous => return Err(AuthError::MissingKeyId),
            Lookup::NotFound => {}
        }
        if matches!(self.source, JwksSource::Static(_)) {
            return Err(not_found());
        }

        let mut next_allowed = self.refresh.lock().await;
        // Another request may have refreshed while this one waited.
        if let Lookup::Found(k) = self.lookup(kid) {
            return Ok(k);
        }
        let now = Instant::now();
        if next_allowed.is_some_and(|at| now < at) {
            tracing::debug!(issuer = %self.issuer, "unknown key id, jwks refresh rate limited");
            return Err(not_found());
        }
        match self.fetch(&inner.http).await {
            Ok(keys) => {
                tracing::info!(issuer = %self.issuer, keys = keys.len(), "jwks refreshed");
                self.store(keys);
                *next_allowed = Some(now + inner.refresh_interval);
            }
            Err(error) => {
                // Rate limited too, so an unreachable issuer is not hammered, but retried
                // sooner than after a success so an outage heals quickly.
                tracing::warn!(issuer = %self.issuer, %error, "jwks refresh failed");
                *next_allowed = Some(now + inner.refresh_interval.min(FAILED_REFRESH_BACKOFF));
            }
        }
        drop(next_allowed);
        match self.lookup(kid) {
            Lookup::Found(k) => Ok(k),
            Lookup::Ambiguous => Err(AuthError::MissingKeyId),
            Lookup::NotFound => Err(not_found()),
        }
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<Vec<VerifyingKey>, JwksError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let bytes = match &self.source {
            JwksSource::Static(set) => return Ok(usable_keys(set.keys.iter().cloned())),
            JwksSource::File(path) => {
                tokio::fs::read(path)
                    .await
                    .map_err(|source| JwksError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
            }
            JwksSource::Url(url) => {
                let mut response = http.get(url).send().await.map_err(JwksError::Fetch)?;
                if !response.status().is_success() {
                    return Err(JwksError::Status(response.status()));
                }
                if response
                    .content_length()
                    .is_some_and(|len| len > MAX_JWKS_LEN as u64)
                {
                    return Err(JwksError::TooLarge(MAX_JWKS_LEN));
                }
                let mut body = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(JwksError::Fetch)? {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_JWKS_LEN {
                        return Err(JwksError::TooLarge(MAX_JWKS_LEN));
                    }
                }
                body
            }
        };
        parse_jwks(&bytes)
    }
}

enum Lookup {
    Found(VerifyingKey),
    NotFound,
    Ambiguous,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct UnverifiedClaims {
    #[serde(default)]
    iss: Option<String>,
}

fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}

/// The `alg` as it may appear in an error message: short and printable, else `unknown`.
fn printable_alg(alg: &str) -> String {
    if !alg.is_empty()
        && alg.len() <= 16
        && alg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        alg.to_owned()
    } else {
        "unknown".to_owned()
    }
}

fn map_jwt_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::InvalidSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::InvalidAudience,
        ErrorKind::InvalidIssuer => AuthError::UntrustedIssuer,
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => AuthError::AlgorithmMismatch,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim {
            claim: static_claim(claim),
        },
        ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim {
            claim: static_claim(claim),
            reason: "wrong type",
        },
        // Keys are checked when loaded, so a key error here means a bad key in the JWKS:
        // the token cannot be verified with it.
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            AuthError::InvalidSignature
        }
        _ => AuthError::Malformed,
    }
}

fn static_claim(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "unknown",
    }
}

fn check_url(url: &str) -> Result<(), ConfigError> {
    let unsupported = |reason| ConfigError::UnsupportedUrl {
        url: url.to_owned(),
        reason,
    };
    if url.starts_with("https://") {
        return Err(unsupported("tls is not compiled in, use http:// or a file"));
    }
    if !url.starts_with("http://") {
        return Err(unsupported("expected an http:// url"));
    }
    reqwest::Url::parse(url).map_err(|_| unsupported("not a valid url"))?;
    Ok(())
}

/// Parses a JWKS document, keeping the keys this verifier can use. One odd key does
/// not spoil the others.
fn parse_jwks(bytes: &[u8]) -> Result<Vec<VerifyingKey>, JwksError> {
    #[derive(Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(bytes).map_err(JwksError::Parse)?;
    let keys = usable_keys(
        raw.keys
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok()),
    );
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

fn usable_keys(jwks: impl Iterator<Item = Jwk>) -> Vec<VerifyingKey> {
    jwks.filter_map(|jwk| {
        let key = verifying_key(&jwk);
        if key.is_none() {
            tracing::debug!(kid = ?jwk.common.key_id, "skipping jwk that is not an rs256 or es256 signing key");
        }
        key
    })
    .collect()
}

/// The key's algorithm decides: its `alg` when given, else RS256 for RSA and ES256 for
/// P-256. Anything else (HMAC, EdDSA, other curves, encryption keys) is not used.
fn verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_alg_names_are_not_echoed() {
        assert_eq!(printable_alg("HS256"), "HS256");
        assert_eq!(printable_alg("none"), "none");
        assert_eq!(printable_alg("\"><script>"), "unknown");
        assert_eq!(printable_alg(&"A".repeat(40)), "unknown");
    }

    #[test]
    fn symmetric_and_foreign_keys_are_skipped() {
        let set = br#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","alg":"HS256","kid":"h"},
            {"kty":"EC","crv":"P-384","x":"AA","y":"AA","kid":"p384"},
            {"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r","use":"enc"},
            {"kty":"weird"}
        ]}"#;
        assert!(matches!(parse_jwks(set), Err(JwksError::NoUsableKey)));
    }

    #[test]
    fn https_urls_are_refused_without_tls() {
        assert!(
            check_url("https://helseid-sts.nhn.no/.well-known/openid-configuration/jwks").is_err()
        );
        assert!(check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("ftp://x").is_err());
    }
}
