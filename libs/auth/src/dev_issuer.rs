//! The dev token issuer of the embedded mode (`pmd up`) and the tests: mints ES256
//! tokens of every kind with HelseID's claim names and NHN's trust-framework
//! attestation, so an EHR vendor can try every flow on a laptop.
//!
//! Never configure it in a real deployment: a verifier trusts it only when it is given
//! [`DevIssuer::trusted_issuer`].

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::RngCore;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::claims::{
    CareRelationship, Claims, Coding, DecisionRef, Party, Practitioner, TRUST_FRAMEWORK_TYPE,
    TrustFramework, systems,
};
use crate::error::DevIssuerError;
use crate::principal::{Purpose, Scope};
use crate::verifier::{JwksSource, TrustedIssuer};

/// `iss` of dev tokens.
pub const DEV_ISSUER: &str = "urn:pmd:dev-issuer";
/// `aud` of dev tokens, and the audience the services expect by default.
pub const DEV_AUDIENCE: &str = "pmd";
/// Default lifetime of a dev token.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

const KEY_DIR: &str = "dev-issuer";
const KEY_FILE: &str = "signing-key.pem";

/// An ES256 (P-256) token issuer for development and tests. Cheap to clone.
#[derive(Clone)]
pub struct DevIssuer {
    inner: Arc<Inner>,
}

struct Inner {
    key: EncodingKey,
    jwk: Jwk,
    kid: String,
    key_path: Option<PathBuf>,
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuer")
            .field("kid", &self.inner.kid)
            .field("key_path", &self.inner.key_path)
            .finish_non_exhaustive()
    }
}

impl DevIssuer {
    /// Loads the key from `<data_dir>/dev-issuer/signing-key.pem`, creating it (PKCS#8
    /// PEM, mode 0600) when absent. The same directory always gives the same key and
    /// `kid`.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, DevIssuerError> {
        let path = data_dir.join(KEY_DIR).join(KEY_FILE);
        let pem = match fs::read_to_string(&path) {
            Ok(pem) => {
                warn_if_readable_by_others(&path);
                pem
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let pem = generate_pem()?;
                if write_new_key(&path, &pem)? {
                    tracing::info!(path = %path.display(), "created dev issuer signing key");
                    pem
                } else {
                    // Another process created it first: use theirs.
                    fs::read_to_string(&path).map_err(|source| io_error("read", &path, source))?
                }
            }
            Err(source) => return Err(io_error("read", &path, source)),
        };
        Self::from_pem_at(&pem, Some(path))
    }

    /// A dev issuer with a fresh in-memory key (tests).
    pub fn ephemeral() -> Result<Self, DevIssuerError> {
        Self::from_pem_at(&generate_pem()?, None)
    }

    /// A dev issuer from a PKCS#8 PEM P-256 private key.
    pub fn from_pem(pem: &str) -> Result<Self, DevIssuerError> {
        Self::from_pem_at(pem, None)
    }

    fn from_pem_at(pem: &str, key_path: Option<PathBuf>) -> Result<Self, DevIssuerError> {
        let invalid = || DevIssuerError::InvalidKey {
            path: key_path
                .as_ref()
                .map_or_else(|| "(in memory)".to_owned(), |p| p.display().to_string()),
        };
        p256::SecretKey::from_pkcs8_pem(pem).map_err(|_| invalid())?;
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| invalid())?;
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).map_err(|_| invalid())?;
        // RFC 7638 thumbprint: stable for the key, changes when the key does.
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| invalid())?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                jwk,
                kid,
                key_path,
            }),
        })
    }

    pub fn issuer(&self) -> &'static str {
        DEV_ISSUER
    }

    pub fn audience(&self) -> &'static str {
        DEV_AUDIENCE
    }

    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// Where the key lives; `None` for an in-memory key.
    pub fn key_path(&self) -> Option<&Path> {
        self.inner.key_path.as_deref()
    }

    /// The public key, as served on a JWKS endpoint.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.inner.jwk.clone()],
        }
    }

    /// This issuer as a verifier should trust it (static JWKS, audience `pmd`).
    pub fn trusted_issuer(&self) -> TrustedIssuer {
        TrustedIssuer {
            issuer: DEV_ISSUER.to_owned(),
            audience: DEV_AUDIENCE.to_owned(),
            jwks: JwksSource::Static(self.jwks()),
        }
    }

    /// The header of dev tokens: ES256, this key's `kid`, `typ: at+jwt`.
    pub fn header(&self) -> Header {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.inner.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        header
    }

    /// Mints a signed token for `request`.
    pub fn mint(&self, request: &TokenRequest) -> Result<String, DevIssuerError> {
        let claims = self.claims(request)?;
        self.sign(&self.header(), &claims)
    }

    /// The claims [`DevIssuer::mint`] would sign, for tests that alter them.
    pub fn claims(&self, request: &TokenRequest) -> Result<Map<String, Value>, DevIssuerError> {
        request.claims()
    }

    /// Signs arbitrary claims with this key under `header` (tests forging tokens).
    /// The header's `alg` must be ES256.
    pub fn sign<T: Serialize>(
        &self,
        header: &Header,
        claims: &T,
    ) -> Result<String, DevIssuerError> {
        jsonwebtoken::encode(header, claims, &self.inner.key).map_err(DevIssuerError::Signing)
    }
}

#[derive(Clone)]
enum TokenKind {
    Personnel { hpr: String },
    Citizen { pid: String },
    System,
    Statistics,
    Service,
}

/// What to put in a dev token. Start from a constructor and adjust with the builder
/// methods; every default follows HelseID and the trust framework.
///
/// `Debug` never prints a national id or a name.
#[derive(Clone)]
pub struct TokenRequest {
    kind: TokenKind,
    org: Option<String>,
    child_org: Option<String>,
    name: Option<String>,
    pid: Option<String>,
    purpose: Purpose,
    purpose_details: Coding,
    healthcare_service: Option<Coding>,
    decision_ref: Option<DecisionRef>,
    security_level: Option<u8>,
    client_id: Option<String>,
    extra_scopes: Vec<String>,
    audience: String,
    ttl: Duration,
    issued_at: Option<DateTime<Utc>>,
    not_before: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    extra_claims: Map<String, Value>,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("kind", &self.kind_name())
            .field("org", &self.org)
            .field("child_org", &self.child_org)
            .field("purpose", &self.purpose)
            .field("security_level", &self.security_level)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenRequest {
    fn new(kind: TokenKind) -> Self {
        Self {
            kind,
            org: None,
            child_org: None,
            name: None,
            pid: None,
            purpose: Purpose::Treat,
            purpose_details: Coding::new("15", systems::PURPOSE_OF_USE_DETAILS)
                .with_text("Helsetjenester i hjemmet"),
            healthcare_service: None,
            decision_ref: None,
            security_level: None,
            client_id: None,
            extra_scopes: Vec::new(),
            audience: DEV_AUDIENCE.to_owned(),
            ttl: DEFAULT_TTL,
            issued_at: None,
            not_before: None,
            expires_at: None,
            extra_claims: Map::new(),
        }
    }

    /// Health personnel with HPR number `hpr` acting for legal entity `org`: scope
    /// `pmd:read`, security level 4, purpose TREAT with Volven 9151 code 15
    /// "Helsetjenester i hjemmet", a fresh `decision_ref` (`user_selected: false`) and
    /// a generated name.
    pub fn personnel(hpr: impl Into<String>, org: impl Into<String>) -> Self {
        let mut request = Self::new(TokenKind::Personnel { hpr: hpr.into() });
        request.org = Some(org.into());
        request.security_level = Some(4);
        request
    }

    /// A citizen with national id `pid`: scope `pmd:citizen`, security level 4.
    pub fn citizen(pid: impl Into<String>) -> Self {
        let mut request = Self::new(TokenKind::Citizen { pid: pid.into() });
        request.security_level = Some(4);
        request
    }

    /// A source system of organisation `org`: scope `pmd:write`.
    pub fn system(org: impl Into<String>) -> Self {
        let mut request = Self::new(TokenKind::System);
        request.org = Some(org.into());
        request
    }

    /// A statistics client: scope `pmd:statistics`.
    pub fn statistics() -> Self {
        Self::new(TokenKind::Statistics)
    }

    /// A PMD service acting as itself: scope `pmd:internal`, `client_id` `pmd-<name>`.
    pub fn service(name: &str) -> Self {
        Self::new(TokenKind::Service).client_id(format!("pmd-{name}"))
    }

    /// Legal entity (orgnr_parent); mainly for statistics clients.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Point of care (orgnr_child).
    pub fn child_org(mut self, org: impl Into<String>) -> Self {
        self.child_org = Some(org.into());
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The practitioner's own national id (personnel tokens).
    pub fn pid(mut self, pid: impl Into<String>) -> Self {
        self.pid = Some(pid.into());
        self
    }

    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }

    /// Replaces the Volven 9151 purpose-of-use details.
    pub fn purpose_details(mut self, details: Coding) -> Self {
        self.purpose_details = details;
        self
    }

    pub fn healthcare_service(mut self, service: Coding) -> Self {
        self.healthcare_service = Some(service);
        self
    }

    pub fn decision_ref(mut self, id: impl Into<String>, user_selected: bool) -> Self {
        self.decision_ref = Some(DecisionRef {
            id: id.into(),
            user_selected,
        });
        self
    }

    pub fn security_level(mut self, level: u8) -> Self {
        self.security_level = Some(level);
        self
    }

    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Adds a scope next to the kind's own.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.extra_scopes.push(scope.into());
        self
    }

    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Lifetime from `iat` to `exp` (default one hour).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn issued_at(mut self, at: DateTime<Utc>) -> Self {
        self.issued_at = Some(at);
        self
    }

    pub fn not_before(mut self, at: DateTime<Utc>) -> Self {
        self.not_before = Some(at);
        self
    }

    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets (or, with `Value::Null`, removes) a claim after all others: the escape
    /// hatch for tests.
    pub fn extra_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra_claims.insert(name.into(), value.into());
        self
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            TokenKind::Personnel { .. } => "personnel",
            TokenKind::Citizen { .. } => "citizen",
            TokenKind::System => "system",
            TokenKind::Statistics => "statistics",
            TokenKind::Service => "service",
        }
    }

    fn claims(&self) -> Result<Map<String, Value>, DevIssuerError> {
        let issued_at = self.issued_at.unwrap_or_else(Utc::now);
        let ttl = TimeDelta::from_std(self.ttl)
            .map_err(|_| DevIssuerError::InvalidRequest("ttl out of range"))?;
        let expires_at = self.expires_at.unwrap_or(issued_at + ttl);
        let not_before = self.not_before.unwrap_or(issued_at);
        let scope = match self.kind {
            TokenKind::Personnel { .. } => Scope::Read,
            TokenKind::Citizen { .. } => Scope::Citizen,
            TokenKind::System => Scope::Write,
            TokenKind::Statistics => Scope::Statistics,
            TokenKind::Service => Scope::Internal,
        };
        let mut claims = Claims {
            iss: Some(DEV_ISSUER.to_owned()),
            aud: vec![self.audience.clone()],
            exp: Some(expires_at.timestamp()),
            nbf: Some(not_before.timestamp()),
            iat: Some(issued_at.timestamp()),
            jti: Some(uuid::Uuid::new_v4().to_string()),
            client_id: Some(
                self.client_id
                    .clone()
                    .unwrap_or_else(|| format!("pmd-dev-{}", self.kind_name())),
            ),
            scope: std::iter::once(scope.as_str().to_owned())
                .chain(self.extra_scopes.iter().cloned())
                .collect(),
            security_level: self.security_level.map(|l| l.to_string()),
            orgnr_parent: self.org.clone(),
            orgnr_child: self.child_org.clone(),
            name: self.name.clone(),
            ..Claims::default()
        };
        match &self.kind {
            TokenKind::Personnel { hpr } => {
                let org = self.org.clone().ok_or(DevIssuerError::InvalidRequest(
                    "personnel needs an organisation",
                ))?;
                claims.hpr_number = Some(hpr.clone());
                claims.pid = self.pid.clone();
                claims.name = Some(self.name.clone().unwrap_or_else(|| generated_name(hpr)));
                let trust_framework = self.trust_framework(&org);
                claims.authorization_details =
                    vec![serde_json::to_value(trust_framework).map_err(|_| {
                        DevIssuerError::InvalidRequest("unserialisable attestation")
                    })?];
            }
            TokenKind::Citizen { pid } => claims.pid = Some(pid.clone()),
            TokenKind::System | TokenKind::Statistics | TokenKind::Service => {}
        }
        let Value::Object(mut map) = serde_json::to_value(&claims)
            .map_err(|_| DevIssuerError::InvalidRequest("unserialisable claims"))?
        else {
            return Err(DevIssuerError::InvalidRequest("claims are not an object"));
        };
        for (name, value) in &self.extra_claims {
            if value.is_null() {
                map.remove(name);
            } else {
                map.insert(name.clone(), value.clone());
            }
        }
        Ok(map)
    }

    fn trust_framework(&self, org: &str) -> TrustFramework {
        let point_of_care = self.child_org.as_deref().unwrap_or(org);
        TrustFramework {
            kind: TRUST_FRAMEWORK_TYPE.to_owned(),
            practitioner: Some(Practitioner {
                authorization: None,
                legal_entity: Some(Party {
                    id: org.to_owned(),
                    system: Some(systems::ORGANIZATION_NUMBER.to_owned()),
                    name: Some(format!("Dev-virksomhet {org}")),
                }),
                point_of_care: Some(Party {
                    id: point_of_care.to_owned(),
                    system: Some(systems::ORGANIZATION_NUMBER.to_owned()),
                    name: Some(format!("Dev-behandlingssted {point_of_care}")),
                }),
                department: None,
            }),
            care_relationship: Some(CareRelationship {
                healthcare_service: self.healthcare_service.clone(),
                purpose_of_use: Some(Coding::new(self.purpose.code(), systems::PURPOSE_OF_USE)),
                purpose_of_use_details: Some(self.purpose_details.clone()),
                decision_ref: Some(self.decision_ref.clone().unwrap_or_else(|| DecisionRef {
                    id: uuid::Uuid::new_v4().to_string(),
                    user_selected: false,
                })),
            }),
            patients: None,
        }
    }
}

/// A plausible Norwegian name, the same for the same HPR number.
fn generated_name(hpr: &str) -> String {
    const GIVEN: [&str; 16] = [
        "Kari", "Ola", "Ingrid", "Lars", "Sigrid", "Per", "Astrid", "Knut", "Solveig", "Bjørn",
        "Marit", "Håkon", "Liv", "Eirik", "Ragnhild", "Arne",
    ];
    const FAMILY: [&str; 16] = [
        "Hansen",
        "Johansen",
        "Olsen",
        "Larsen",
        "Andersen",
        "Pedersen",
        "Nilsen",
        "Kristiansen",
        "Jensen",
        "Karlsen",
        "Johnsen",
        "Pettersen",
        "Eriksen",
        "Berg",
        "Haugen",
        "Hagen",
    ];
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let hash = hpr.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let given = GIVEN[(hash % 16) as usize];
    let family = FAMILY[((hash >> 8) % 16) as usize];
    format!("{given} {family}")
}

fn generate_pem() -> Result<String, DevIssuerError> {
    let mut rng = rand::rng();
    // A random 32-byte string is a valid scalar with overwhelming probability; retry
    // the rare ones that are not.
    for _ in 0..8 {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
            return secret
                .to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|_| DevIssuerError::KeyGeneration("pkcs#8 encoding failed"));
        }
    }
    Err(DevIssuerError::KeyGeneration("no valid scalar drawn"))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> DevIssuerError {
    DevIssuerError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Writes `pem` to `path` only if no file is there yet, never exposing a partly written
/// key: write a private temporary file, then hard-link it into place. Returns whether
/// this call created the file.
fn write_new_key(path: &Path, pem: &str) -> Result<bool, DevIssuerError> {
    let dir = path
        .parent()
        .ok_or(DevIssuerError::InvalidRequest("key path has no directory"))?;
    create_private_dir(dir).map_err(|e| io_error("create directory", dir, e))?;
    let tmp = dir.join(format!(".{KEY_FILE}.{}.tmp", uuid::Uuid::new_v4()));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&tmp)
            .map_err(|e| io_error("create", &tmp, e))?;
        file.write_all(pem.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("write", &tmp, e))?;
        match fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            // File systems without hard links: fall back to a rename, which could only
            // lose a race nobody runs there.
            Err(_) if !path.exists() => fs::rename(&tmp, path)
                .map(|()| true)
                .map_err(|e| io_error("rename", &tmp, e)),
            Err(e) => Err(io_error("link", path, e)),
        }
    })();
    let _ = fs::remove_file(&tmp);
    result
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "dev issuer signing key is readable by other users");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_stable_per_hpr() {
        assert_eq!(generated_name("9144900"), generated_name("9144900"));
        let name = generated_name("9144900");
        assert!(name.contains(' '), "{name}");
    }
}
