//! Who is calling: the verified identity a request carries.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::claims::{Claims, Coding, DecisionRef, Party, TrustFramework};
use crate::error::AuthError;

/// The `pmd:*` scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `pmd:write`: sources pushing measurements.
    Write,
    /// `pmd:read`: health personnel reading a patient's measurements.
    Read,
    /// `pmd:citizen`: citizens reading their own data and managing blocks.
    Citizen,
    /// `pmd:statistics`: usage statistics and export.
    Statistics,
    /// `pmd:internal`: a PMD service acting as itself (the outbox relay recording audit
    /// events, the statistics follower). Never granted to an outside client.
    Internal,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Write,
        Scope::Read,
        Scope::Citizen,
        Scope::Statistics,
        Scope::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Write => "pmd:write",
            Scope::Read => "pmd:read",
            Scope::Citizen => "pmd:citizen",
            Scope::Statistics => "pmd:statistics",
            Scope::Internal => "pmd:internal",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the `pmd:*` scopes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope")]
pub struct UnknownScope;

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or(UnknownScope)
    }
}

/// `care_relationship.purpose_of_use` (HL7 v3 PurposeOfUse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Treatment.
    Treat,
    /// Emergency treatment.
    Etreat,
    /// Coordination of care.
    Coc,
    /// Break the glass.
    Btg,
}

impl Purpose {
    pub fn code(self) -> &'static str {
        match self {
            Purpose::Treat => "TREAT",
            Purpose::Etreat => "ETREAT",
            Purpose::Coc => "COC",
            Purpose::Btg => "BTG",
        }
    }

    /// Emergency access (ETREAT or BTG).
    pub fn is_emergency(self) -> bool {
        matches!(self, Purpose::Etreat | Purpose::Btg)
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A code that is not one of TREAT, ETREAT, COC, BTG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown purpose of use")]
pub struct UnknownPurpose;

impl FromStr for Purpose {
    type Err = UnknownPurpose;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Purpose::Treat, Purpose::Etreat, Purpose::Coc, Purpose::Btg]
            .into_iter()
            .find(|p| p.code().eq_ignore_ascii_case(s.trim()))
            .ok_or(UnknownPurpose)
    }
}

/// The basis for access an EHR vouches for (from the trust-framework attestation),
/// kept for the audit log and the citizen's log of use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    pub purpose: Purpose,
    /// e.g. Volven 9151 code 15 "Helsetjenester i hjemmet".
    pub purpose_of_use_details: Option<Coding>,
    pub healthcare_service: Option<Coding>,
    pub decision_ref: Option<DecisionRef>,
    /// The practitioner's authorisation category (Volven 9060).
    pub authorization: Option<Coding>,
    pub legal_entity: Option<Party>,
    pub point_of_care: Option<Party>,
    pub department: Option<Party>,
}

impl Attestation {
    fn from_trust_framework(tf: TrustFramework) -> Result<Self, AuthError> {
        let invalid = |reason| AuthError::InvalidClaim {
            claim: "authorization_details",
            reason,
        };
        let care = tf
            .care_relationship
            .ok_or(invalid("care_relationship missing"))?;
        let purpose = care
            .purpose_of_use
            .ok_or(invalid("purpose_of_use missing"))?
            .code
            .parse()
            .map_err(|_| invalid("unknown purpose_of_use"))?;
        let practitioner = tf.practitioner.unwrap_or_default();
        Ok(Self {
            purpose,
            purpose_of_use_details: care.purpose_of_use_details,
            healthcare_service: care.healthcare_service,
            decision_ref: care.decision_ref,
            authorization: practitioner.authorization,
            legal_entity: practitioner.legal_entity,
            point_of_care: practitioner.point_of_care,
            department: practitioner.department,
        })
    }
}

/// The kind of caller.
///
/// `Debug` never prints a national id or a name.
#[derive(Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// Health personnel acting for an organisation (scope `pmd:read` with an HPR number).
    Personnel {
        hpr: String,
        /// The practitioner's own national id, when the token carries it.
        pid: Option<String>,
        name: Option<String>,
        /// Legal entity (orgnr_parent).
        org_parent: String,
        /// Point of care (orgnr_child).
        org_child: Option<String>,
        security_level: u8,
        /// Boxed: it is most of the size of the enum.
        attestation: Option<Box<Attestation>>,
    },
    /// A citizen (scope `pmd:citizen` with a national id).
    Citizen {
        pid: String,
        security_level: Option<u8>,
    },
    /// A source system (scope `pmd:write`).
    System {
        org_parent: String,
        org_child: Option<String>,
    },
    /// A statistics client (scope `pmd:statistics`).
    Statistics {
        org_parent: Option<String>,
        org_child: Option<String>,
    },
    /// A PMD service acting as itself (scope `pmd:internal`); `client_id` names it.
    Service,
}

impl PrincipalKind {
    /// `personnel`, `citizen`, `system` or `statistics`: safe for logs and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            PrincipalKind::Personnel { .. } => "personnel",
            PrincipalKind::Citizen { .. } => "citizen",
            PrincipalKind::System { .. } => "system",
            PrincipalKind::Statistics { .. } => "statistics",
            PrincipalKind::Service => "service",
        }
    }
}

const REDACTED: &str = "[redacted]";

fn redacted<T>(v: &Option<T>) -> Option<&'static str> {
    v.as_ref().map(|_| REDACTED)
}

impl fmt::Debug for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrincipalKind::Personnel {
                hpr,
                pid,
                name,
                org_parent,
                org_child,
                security_level,
                attestation,
            } => f
                .debug_struct("Personnel")
                .field("hpr", hpr)
                .field("pid", &redacted(pid))
                .field("name", &redacted(name))
                .field("org_parent", org_parent)
                .field("org_child", org_child)
                .field("security_level", security_level)
                .field("attestation", attestation)
                .finish(),
            PrincipalKind::Citizen {
                pid: _,
                security_level,
            } => f
                .debug_struct("Citizen")
                .field("pid", &REDACTED)
                .field("security_level", security_level)
                .finish(),
            PrincipalKind::System {
                org_parent,
                org_child,
            } => f
                .debug_struct("System")
                .field("org_parent", org_parent)
                .field("org_child", org_child)
                .finish(),
            PrincipalKind::Statistics {
                org_parent,
                org_child,
            } => f
                .debug_struct("Statistics")
                .field("org_parent", org_parent)
                .field("org_child", org_child)
                .finish(),
            PrincipalKind::Service => f.write_str("Service"),
        }
    }
}

/// The raw bearer token, kept so a service can call the next one as its caller.
/// `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Arc<str>);

impl BearerToken {
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(token.into())
    }

    /// The token itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `Bearer <token>`, for an `authorization` header.
    pub fn authorization_value(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

/// The verified caller of a request.
///
/// Built by [`crate::Verifier::verify`] and put into the request extensions by
/// [`crate::AuthLayer`]. `Debug` never prints the national id, the name or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The recognised `pmd:*` scopes of the token (others are dropped).
    pub scopes: Vec<Scope>,
    pub client_id: Option<String>,
    pub jti: Option<String>,
    pub issuer: String,
    pub expires_at: DateTime<Utc>,
    pub token: BearerToken,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("kind", &self.kind)
            .field("scopes", &self.scopes)
            .field("client_id", &self.client_id)
            .field("jti", &self.jti)
            .field("issuer", &self.issuer)
            .field("expires_at", &self.expires_at)
            .field("token", &self.token)
            .finish()
    }
}

impl Principal {
    /// Builds the principal from claims whose signature, issuer, audience and times
    /// were already checked.
    ///
    /// The kind follows from scopes and claims, in this order: `pmd:read` with an HPR
    /// number is personnel; `pmd:citizen` with a national id is a citizen; `pmd:write`
    /// is a source system; `pmd:statistics` a statistics client.
    pub fn from_claims(claims: Claims, token: BearerToken) -> Result<Self, AuthError> {
        let mut scopes: Vec<Scope> = claims.scope.iter().filter_map(|s| s.parse().ok()).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let has = |s| scopes.contains(&s);

        let security_level = match claims.security_level() {
            None => None,
            Some(Ok(level)) if (1..=4).contains(&level) => Some(level),
            Some(_) => {
                return Err(AuthError::InvalidClaim {
                    claim: crate::claims::names::SECURITY_LEVEL,
                    reason: "expected 1 to 4",
                });
            }
        };
        let attestation = match claims.trust_framework() {
            None => None,
            Some(Ok(tf)) => Some(Box::new(Attestation::from_trust_framework(tf)?)),
            Some(Err(_)) => {
                return Err(AuthError::InvalidClaim {
                    claim: "authorization_details",
                    reason: "malformed trust framework parameters",
                });
            }
        };
        let missing = |claim| AuthError::MissingClaim { claim };
        let Claims {
            iss,
            exp,
            jti,
            client_id,
            pid,
            hpr_number,
            orgnr_parent,
            orgnr_child,
            name,
            ..
        } = claims;
        let orgnr_parent = non_empty(orgnr_parent);
        let orgnr_child = non_empty(orgnr_child);
        let pid = non_empty(pid);
        let hpr_number = non_empty(hpr_number);

        let kind = if has(Scope::Internal) {
            PrincipalKind::Service
        } else if has(Scope::Read) && hpr_number.is_some() {
            let org_parent = orgnr_parent
                .or_else(|| {
                    attestation
                        .as_ref()
                        .and_then(|a| a.legal_entity.as_ref())
                        .map(|p| p.id.clone())
                })
                .ok_or(missing(crate::claims::names::ORGNR_PARENT))?;
            let org_child = orgnr_child.or_else(|| {
                attestation
                    .as_ref()
                    .and_then(|a| a.point_of_care.as_ref())
                    .map(|p| p.id.clone())
                    .filter(|id| *id != org_parent)
            });
            PrincipalKind::Personnel {
                hpr: hpr_number.unwrap_or_default(),
                pid,
                name,
                org_parent,
                org_child,
                security_level: security_level
                    .ok_or(missing(crate::claims::names::SECURITY_LEVEL))?,
                attestation,
            }
        } else if has(Scope::Citizen) && pid.is_some() {
            PrincipalKind::Citizen {
                pid: pid.unwrap_or_default(),
                security_level,
            }
        } else if has(Scope::Write) {
            PrincipalKind::System {
                org_parent: orgnr_parent.ok_or(missing(crate::claims::names::ORGNR_PARENT))?,
                org_child: orgnr_child,
            }
        } else if has(Scope::Statistics) {
            PrincipalKind::Statistics {
                org_parent: orgnr_parent,
                org_child: orgnr_child,
            }
        } else if has(Scope::Read) {
            return Err(missing(crate::claims::names::HPR_NUMBER));
        } else if has(Scope::Citizen) {
            return Err(missing(crate::claims::names::PID));
        } else {
            return Err(AuthError::NoPmdScope);
        };

        let expires_at = exp
            .and_then(|exp| DateTime::from_timestamp(exp, 0))
            .ok_or(missing("exp"))?;
        Ok(Principal {
            kind,
            scopes,
            client_id,
            jti,
            issuer: iss.ok_or(missing("iss"))?,
            expires_at,
            token,
        })
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// `Ok` when the token grants `scope`, else [`AuthError::InsufficientScope`].
    pub fn require_scope(&self, scope: Scope) -> Result<(), AuthError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope { required: scope })
        }
    }

    /// The organisation data is attributed to: the point of care (orgnr_child) when
    /// present, else the legal entity (orgnr_parent); `None` for citizens.
    pub fn source_org(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::Personnel {
                org_parent,
                org_child,
                ..
            }
            | PrincipalKind::System {
                org_parent,
                org_child,
            } => Some(org_child.as_deref().unwrap_or(org_parent)),
            PrincipalKind::Statistics {
                org_parent,
                org_child,
            } => org_child.as_deref().or(org_parent.as_deref()),
            PrincipalKind::Citizen { .. } | PrincipalKind::Service => None,
        }
    }

    /// The HPR number of health personnel.
    pub fn hpr(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::Personnel { hpr, .. } => Some(hpr),
            _ => None,
        }
    }

    /// The caller's national id (a citizen's, or a practitioner's when the token has
    /// it). Never log it.
    pub fn pid(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::Personnel { pid, .. } => pid.as_deref(),
            PrincipalKind::Citizen { pid, .. } => Some(pid),
            _ => None,
        }
    }

    /// The security level the caller signed in with, when the token says.
    pub fn security_level(&self) -> Option<u8> {
        match &self.kind {
            PrincipalKind::Personnel { security_level, .. } => Some(*security_level),
            PrincipalKind::Citizen { security_level, .. } => *security_level,
            _ => None,
        }
    }

    pub fn attestation(&self) -> Option<&Attestation> {
        match &self.kind {
            PrincipalKind::Personnel { attestation, .. } => attestation.as_deref(),
            _ => None,
        }
    }

    /// The attested purpose of use of health personnel.
    pub fn purpose(&self) -> Option<Purpose> {
        self.attestation().map(|a| a.purpose)
    }

    /// The raw bearer token, to forward downstream.
    pub fn bearer_token(&self) -> &str {
        self.token.expose()
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn claims(scope: &str) -> Claims {
        Claims {
            iss: Some("urn:test".into()),
            exp: Some(2_000_000_000),
            scope: scope.split(' ').map(str::to_owned).collect(),
            ..Claims::default()
        }
    }

    #[test]
    fn scope_round_trips() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
        }
        assert!("pmd:admin".parse::<Scope>().is_err());
    }

    #[test]
    fn purpose_parses_codes() {
        assert_eq!("TREAT".parse(), Ok(Purpose::Treat));
        assert_eq!("btg".parse(), Ok(Purpose::Btg));
        assert!("HPAYMT".parse::<Purpose>().is_err());
        assert!(Purpose::Etreat.is_emergency());
    }

    #[test]
    fn token_without_pmd_scope_is_refused() {
        let err = Principal::from_claims(claims("openid"), BearerToken::new("t")).unwrap_err();
        assert_eq!(err, AuthError::NoPmdScope);
        assert_eq!(err.http_status(), http::StatusCode::FORBIDDEN);
    }

    #[test]
    fn read_scope_without_hpr_is_refused() {
        let err = Principal::from_claims(claims("pmd:read"), BearerToken::new("t")).unwrap_err();
        assert!(matches!(err, AuthError::MissingClaim { .. }));
    }

    #[test]
    fn system_needs_an_organisation() {
        let mut c = claims("pmd:write");
        assert!(Principal::from_claims(c.clone(), BearerToken::new("t")).is_err());
        c.orgnr_parent = Some("974589095".into());
        c.orgnr_child = Some("974589096".into());
        let p = Principal::from_claims(c, BearerToken::new("t")).unwrap();
        assert_eq!(p.source_org(), Some("974589096"));
        assert!(p.has_scope(Scope::Write));
        assert!(p.require_scope(Scope::Read).is_err());
    }

    #[test]
    fn debug_never_prints_pid_name_or_token() {
        let mut c = claims("pmd:citizen");
        c.pid = Some("13116900216".into());
        c.name = Some("Kari Nordmann".into());
        let p = Principal::from_claims(c, BearerToken::new("secret.token.value")).unwrap();
        let text = format!("{p:?}");
        assert!(!text.contains("13116900216"), "{text}");
        assert!(!text.contains("secret.token"), "{text}");
        assert_eq!(p.pid(), Some("13116900216"));
    }
}
