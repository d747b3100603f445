//! FHIR `Consent` ↔ blocks (no I/O).
//!
//! A citizen blocks a practitioner or an organisation (Kjernejournal's *blokkering*) by
//! posting a Consent with a `deny` provision naming one actor. [`parse_consent`] checks every
//! element that says what the resource is and whom it blocks, reporting each problem as an
//! issue whose `expression` is the FHIRPath of the element; optional and display-only
//! elements (`id`, `meta`, `text`, `dateTime`, `display`s, extensions) are ignored.
//! [`render_consent`] gives a stored block back as the Consent it stands for.
//!
//! Decisions:
//! - strict: `resourceType` Consent, `status` active, `scope` patient-privacy (with the
//!   consentscope system), `provision.type` deny, exactly one `provision.actor` with role
//!   PRCP (v3-ParticipationType) and `reference.identifier` with the HPR OID or an
//!   organisation-number OID (`…4.1.4.101`, or HelseID's `…4.1.2.101`);
//! - `category` may be left out (a block is unambiguous without it), but when given it must
//!   include LOINC 59284-0 (patient consent);
//! - `patient` as `identifier` (a national-id OID, or no system) or `reference`
//!   `Patient/<id>`; both may be given if they name the same patient;
//! - `provision.period.end` (FHIR date or dateTime, inclusive) becomes the exclusive
//!   `valid_until`: the end of the value's implicit range, so `2027-01-01` blocks through
//!   that whole day (UTC, so until 01:00 Norwegian time on the 2nd: never shorter than
//!   asked). `period.start` is checked but a block always starts when it is created;
//! - elements that would narrow a block to some data, purposes or actions we cannot honour
//!   (`provision.provision`, `data`, `class`, `code`, `purpose`, `securityLabel`,
//!   `dataPeriod`, an `action` other than access) and any `modifierExtension` are refused
//!   as `not-supported` rather than silently widened;
//! - the `policyRule.text` (legal basis, e.g. "pasient- og brukerrettighetsloven § 5-3")
//!   is kept, at most 500 characters.
//!
//! Checking that the patient is the caller, and that `period.end` lies in the future, needs
//! the token and a clock: the route and the consent service do that.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use pmd_domain::ident::oid;
use pmd_domain::{FhirDateTime, HprNumber, IdPolicy, NationalId, OrgNumber};
use pmd_error::{Issue, ServiceError};
use pmd_proto::common::v1::Identifier;
use pmd_proto::consent::v1::block_target::Target;
use pmd_proto::consent::v1::{Block, BlockTarget, CreateBlockRequest};
use serde_json::{Map, Value, json};

use crate::search::{H_NUMBER_SYSTEM, bad_request, id_issue, patient_identifier};

/// FHIR's consent scope code system.
pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
/// The scope of a block.
pub const PATIENT_PRIVACY: &str = "patient-privacy";
/// LOINC's code system.
pub const LOINC: &str = "http://loinc.org";
/// LOINC "Patient consent", the category of a block.
pub const PATIENT_CONSENT: &str = "59284-0";
/// HL7 v3 participation types.
pub const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
/// Primary information recipient: the party the block denies.
pub const PRIMARY_RECIPIENT: &str = "PRCP";
/// FHIR's consent action code system.
pub const CONSENT_ACTION: &str = "http://terminology.hl7.org/CodeSystem/consentaction";

/// Longest `policyRule.text` kept.
pub const MAX_POLICY_TEXT: usize = 500;

/// Provision elements that narrow a rule to some data or purpose; we block everything, so
/// these are refused rather than ignored.
const NARROWING: [&str; 7] = [
    "provision",
    "data",
    "class",
    "code",
    "purpose",
    "securityLabel",
    "dataPeriod",
];

/// The block a posted Consent asks for, or a `400` naming every bad element.
pub fn parse_consent(resource: &Value, ids: &IdPolicy) -> Result<CreateBlockRequest, ServiceError> {
    let Some(consent) = resource.as_object() else {
        return Err(bad_request(vec![Issue::error(
            "structure",
            "the body must be a FHIR Consent resource (a JSON object)",
        )]));
    };
    match consent.get("resourceType") {
        Some(Value::String(kind)) if kind == "Consent" => {}
        Some(_) => {
            return Err(bad_request(vec![
                Issue::error("invalid", "resourceType must be Consent").at("Consent.resourceType"),
            ]));
        }
        None => {
            return Err(bad_request(vec![
                Issue::error("required", "resourceType is required (Consent)")
                    .at("Consent.resourceType"),
            ]));
        }
    }
    let mut p = Checker::default();
    p.modifier_extension(consent, "Consent");

    match p.string(consent, "status", "Consent.status", true) {
        Some("active") => {}
        Some(_) => p.issue(
            "value",
            "status must be active: a block is created active and revoked with DELETE",
            "Consent.status",
        ),
        None => {}
    }

    match p.object(consent, "scope", "Consent.scope", true) {
        Some(scope) if concept_has(scope, CONSENT_SCOPE, PATIENT_PRIVACY) => {}
        Some(_) => p.issue(
            "value",
            format!("scope must be {PATIENT_PRIVACY} ({CONSENT_SCOPE})"),
            "Consent.scope",
        ),
        None => {}
    }

    match consent.get("category") {
        None => {}
        Some(Value::Array(concepts))
            if concepts
                .iter()
                .any(|c| has_coding(c, LOINC, PATIENT_CONSENT)) => {}
        Some(Value::Array(_)) => p.issue(
            "value",
            format!("category must include LOINC {PATIENT_CONSENT} (patient consent)"),
            "Consent.category",
        ),
        Some(_) => p.issue(
            "invalid",
            "category must be an array of CodeableConcepts",
            "Consent.category",
        ),
    }

    let patient = p.patient(consent, ids);

    let policy_text = match p.object(consent, "policyRule", "Consent.policyRule", false) {
        Some(rule) => {
            let text = p
                .string(rule, "text", "Consent.policyRule.text", false)
                .unwrap_or_default();
            if text.chars().count() > MAX_POLICY_TEXT {
                p.issue(
                    "value",
                    format!("policyRule.text is longer than {MAX_POLICY_TEXT} characters"),
                    "Consent.policyRule.text",
                );
            }
            text.to_owned()
        }
        None => String::new(),
    };

    let (target, valid_until) = match p.object(consent, "provision", "Consent.provision", true) {
        Some(provision) => p.provision(provision),
        None => (None, None),
    };

    if !p.issues.is_empty() {
        return Err(bad_request(p.issues));
    }
    Ok(CreateBlockRequest {
        patient,
        target: target.map(|target| BlockTarget {
            target: Some(target),
        }),
        valid_until_unix_micros: valid_until,
        policy_text,
    })
}

/// A stored block as the FHIR Consent it stands for: `active`, or `inactive` once revoked.
pub fn render_consent(block: &Block) -> Value {
    let created = micros(block.created_unix_micros);
    let mut consent = Map::new();
    consent.insert("resourceType".into(), json!("Consent"));
    consent.insert("id".into(), json!(block.id));
    let last_updated = block
        .revoked_unix_micros
        .map_or(created, micros)
        .map(|at| pmd_fhir::instant(&at));
    if let Some(last_updated) = last_updated {
        consent.insert("meta".into(), json!({ "lastUpdated": last_updated }));
    }
    let status = if block.revoked_unix_micros.is_some() {
        "inactive"
    } else {
        "active"
    };
    consent.insert("status".into(), json!(status));
    consent.insert(
        "scope".into(),
        json!({"coding": [{"system": CONSENT_SCOPE, "code": PATIENT_PRIVACY, "display": "Privacy Consent"}]}),
    );
    consent.insert(
        "category".into(),
        json!([{"coding": [{"system": LOINC, "code": PATIENT_CONSENT, "display": "Patient Consent"}]}]),
    );
    if let Some(patient) = &block.patient {
        let patient = if patient.system == H_NUMBER_SYSTEM {
            json!({ "reference": format!("Patient/{}", patient.value) })
        } else {
            json!({ "identifier": { "system": patient.system, "value": patient.value } })
        };
        consent.insert("patient".into(), patient);
    }
    if let Some(created) = created {
        consent.insert("dateTime".into(), json!(pmd_fhir::instant(&created)));
    }
    if !block.policy_text.is_empty() {
        consent.insert("policyRule".into(), json!({ "text": block.policy_text }));
    }
    let mut provision = Map::new();
    provision.insert("type".into(), json!("deny"));
    if let Some(end) = block.valid_until_unix_micros.and_then(period_end) {
        provision.insert("period".into(), json!({ "end": end }));
    }
    if let Some(identifier) = block
        .target
        .as_ref()
        .and_then(|t| t.target.as_ref())
        .map(target_identifier)
    {
        let mut reference = Map::new();
        reference.insert("identifier".into(), identifier);
        if !block.target_display.is_empty() {
            reference.insert("display".into(), json!(block.target_display));
        }
        provision.insert(
            "actor".into(),
            json!([{
                "role": {"coding": [{
                    "system": PARTICIPATION_TYPE,
                    "code": PRIMARY_RECIPIENT,
                    "display": "primary information recipient",
                }]},
                "reference": Value::Object(reference),
            }]),
        );
    }
    consent.insert("provision".into(), Value::Object(provision));
    Value::Object(consent)
}

/// A `searchset` of the citizen's blocks; the `self` link never holds the patient.
pub fn consent_bundle(base: &str, blocks: &[Block]) -> Value {
    let entries: Vec<Value> = blocks.iter().map(render_consent).collect();
    let total = u64::try_from(entries.len()).unwrap_or(u64::MAX);
    pmd_fhir::searchset(&format!("{base}/fhir/Consent"), None, entries, Some(total))
}

fn target_identifier(target: &Target) -> Value {
    match target {
        Target::HprNumber(hpr) => json!({ "system": oid::HPR, "value": hpr }),
        Target::OrgNumber(org) => json!({ "system": oid::ORG_NUMBER, "value": org }),
    }
}

fn micros(at: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(at)
}

/// The inclusive FHIR `period.end` for an exclusive `valid_until`, in the precision that
/// parses back to the same `valid_until`: a date for a UTC midnight (`2027-01-02T00:00Z` →
/// `2027-01-01`), whole seconds for a whole second, else microseconds.
fn period_end(valid_until: i64) -> Option<String> {
    let until = micros(valid_until)?;
    if until.time() == NaiveTime::MIN {
        let day = until.date_naive().pred_opt()?;
        return Some(day.format("%Y-%m-%d").to_string());
    }
    let step = if until.timestamp_subsec_micros() == 0 {
        TimeDelta::seconds(1)
    } else {
        TimeDelta::microseconds(1)
    };
    Some(pmd_fhir::instant(&(until.checked_sub_signed(step)?)))
}

/// Whether a CodeableConcept has a coding with this system and code.
fn has_coding(concept: &Value, system: &str, code: &str) -> bool {
    concept
        .as_object()
        .is_some_and(|concept| concept_has(concept, system, code))
}

fn concept_has(concept: &Map<String, Value>, system: &str, code: &str) -> bool {
    concept
        .get("coding")
        .and_then(Value::as_array)
        .is_some_and(|codings| {
            codings.iter().any(|c| {
                c.get("system").and_then(Value::as_str) == Some(system)
                    && c.get("code").and_then(Value::as_str) == Some(code)
            })
        })
}

/// Collects issues while walking the resource.
#[derive(Default)]
struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn issue(&mut self, code: &str, diagnostics: impl Into<String>, expression: &str) {
        self.issues
            .push(Issue::error(code, diagnostics).at(expression));
    }

    /// A string element; `None` when absent (an issue if `required`) or not a string.
    fn string<'v>(
        &mut self,
        object: &'v Map<String, Value>,
        key: &str,
        path: &str,
        required: bool,
    ) -> Option<&'v str> {
        match object.get(key) {
            Some(Value::String(text)) => Some(text),
            Some(_) => {
                self.issue("invalid", format!("{key} must be a string"), path);
                None
            }
            None => {
                if required {
                    self.issue("required", format!("{key} is required"), path);
                }
                None
            }
        }
    }

    /// An object element; `None` when absent (an issue if `required`) or not an object.
    fn object<'v>(
        &mut self,
        object: &'v Map<String, Value>,
        key: &str,
        path: &str,
        required: bool,
    ) -> Option<&'v Map<String, Value>> {
        match object.get(key) {
            Some(Value::Object(inner)) => Some(inner),
            Some(_) => {
                self.issue("invalid", format!("{key} must be an object"), path);
                None
            }
            None => {
                if required {
                    self.issue("required", format!("{key} is required"), path);
                }
                None
            }
        }
    }

    fn modifier_extension(&mut self, object: &Map<String, Value>, path: &str) {
        if object.contains_key("modifierExtension") {
            self.issue(
                "not-supported",
                "modifierExtension is not supported: this server cannot honour it",
                &format!("{path}.modifierExtension"),
            );
        }
    }

    /// `Consent.patient`: an identifier or a `Patient/<id>` reference (never echoed).
    fn patient(&mut self, consent: &Map<String, Value>, ids: &IdPolicy) -> Option<Identifier> {
        let patient = self.object(consent, "patient", "Consent.patient", true)?;
        let from_reference = match patient.get("reference") {
            None => None,
            Some(Value::String(reference)) => match reference.strip_prefix("Patient/") {
                Some(id) if !id.contains('/') => match NationalId::parse(id, ids) {
                    Ok(id) => Some(id),
                    Err(error) => {
                        self.issues
                            .push(id_issue(error).at("Consent.patient.reference"));
                        None
                    }
                },
                _ => {
                    self.issue(
                        "invalid",
                        "patient.reference must be Patient/<national id>",
                        "Consent.patient.reference",
                    );
                    None
                }
            },
            Some(_) => {
                self.issue(
                    "invalid",
                    "patient.reference must be a string",
                    "Consent.patient.reference",
                );
                None
            }
        };
        let from_identifier =
            match self.object(patient, "identifier", "Consent.patient.identifier", false) {
                Some(identifier) => {
                    let system = self.string(
                        identifier,
                        "system",
                        "Consent.patient.identifier.system",
                        false,
                    );
                    let value = self.string(
                        identifier,
                        "value",
                        "Consent.patient.identifier.value",
                        true,
                    );
                    value.and_then(|value| {
                        let parsed = match system {
                            Some(system) => NationalId::parse_with_system(system, value, ids),
                            None => NationalId::parse(value, ids),
                        };
                        match parsed {
                            Ok(id) => Some(id),
                            Err(error) => {
                                let path = if matches!(error, pmd_domain::IdError::UnknownSystem) {
                                    "Consent.patient.identifier.system"
                                } else {
                                    "Consent.patient.identifier.value"
                                };
                                self.issues.push(id_issue(error).at(path));
                                None
                            }
                        }
                    })
                }
                None => None,
            };
        if !patient.contains_key("reference") && !patient.contains_key("identifier") {
            self.issue(
                "required",
                "patient needs an identifier (system and value) or a reference Patient/<id>",
                "Consent.patient",
            );
            return None;
        }
        match (from_reference, from_identifier) {
            (Some(a), Some(b)) if a.expose_secret() != b.expose_secret() => {
                self.issue(
                    "invalid",
                    "patient.reference and patient.identifier name different patients",
                    "Consent.patient",
                );
                None
            }
            (Some(id), _) | (None, Some(id)) => Some(patient_identifier(&id)),
            (None, None) => None,
        }
    }

    /// `Consent.provision`: the target and the exclusive end.
    fn provision(&mut self, provision: &Map<String, Value>) -> (Option<Target>, Option<i64>) {
        const PATH: &str = "Consent.provision";
        self.modifier_extension(provision, PATH);
        match self.string(provision, "type", "Consent.provision.type", true) {
            Some("deny") => {}
            Some(_) => self.issue(
                "value",
                "provision.type must be deny: a Consent here is a block",
                "Consent.provision.type",
            ),
            None => {}
        }
        for key in NARROWING {
            if provision.contains_key(key) {
                self.issue(
                    "not-supported",
                    format!(
                        "provision.{key} is not supported: a block covers all of the patient's \
                         measurements"
                    ),
                    &format!("{PATH}.{key}"),
                );
            }
        }
        if let Some(actions) = provision.get("action") {
            let only_access = actions.as_array().is_some_and(|list| {
                list.iter().all(|concept| {
                    let codings = pmd_fhir::codings(concept);
                    !codings.is_empty()
                        && codings.iter().all(|c| {
                            c.system.as_deref() == Some(CONSENT_ACTION)
                                && c.code.as_deref() == Some("access")
                        })
                })
            });
            if !only_access {
                self.issue(
                    "not-supported",
                    format!("provision.action may only be access ({CONSENT_ACTION})"),
                    "Consent.provision.action",
                );
            }
        }
        let valid_until = self.period(provision);
        let target = self.actor(provision);
        (target, valid_until)
    }

    fn period(&mut self, provision: &Map<String, Value>) -> Option<i64> {
        let period = self.object(provision, "period", "Consent.provision.period", false)?;
        let date = |checker: &mut Self, key: &str| {
            let path = format!("Consent.provision.period.{key}");
            let text = checker.string(period, key, &path, false)?;
            match FhirDateTime::parse(text) {
                Ok(value) => Some(value),
                Err(error) => {
                    checker.issue("value", format!("period.{key}: {error}"), &path);
                    None
                }
            }
        };
        let start = date(self, "start");
        let end = date(self, "end")?;
        if let Some(start) = start
            && end.end_utc() <= start.start_utc()
        {
            self.issue(
                "invalid",
                "period.end must be after period.start",
                "Consent.provision.period",
            );
        }
        Some(end.end_utc().timestamp_micros())
    }

    fn actor(&mut self, provision: &Map<String, Value>) -> Option<Target> {
        const PATH: &str = "Consent.provision.actor";
        let actor = match provision.get("actor") {
            None => {
                self.issue(
                    "required",
                    "provision.actor is required: the practitioner or organisation to block",
                    PATH,
                );
                return None;
            }
            Some(Value::Array(actors)) => match actors.as_slice() {
                [] => {
                    self.issue(
                        "required",
                        "provision.actor is empty: name the practitioner or organisation to \
                         block",
                        PATH,
                    );
                    return None;
                }
                [only] => only,
                _ => {
                    self.issue(
                        "invalid",
                        "provision.actor must hold exactly one actor: post one Consent per block",
                        PATH,
                    );
                    return None;
                }
            },
            Some(_) => {
                self.issue("invalid", "provision.actor must be an array", PATH);
                return None;
            }
        };
        const ACTOR: &str = "Consent.provision.actor[0]";
        let Some(actor) = actor.as_object() else {
            self.issue("invalid", "provision.actor[0] must be an object", ACTOR);
            return None;
        };
        self.modifier_extension(actor, ACTOR);
        match self.object(actor, "role", "Consent.provision.actor[0].role", true) {
            Some(role) if concept_has(role, PARTICIPATION_TYPE, PRIMARY_RECIPIENT) => {}
            Some(_) => self.issue(
                "value",
                format!("actor.role must be {PRIMARY_RECIPIENT} ({PARTICIPATION_TYPE})"),
                "Consent.provision.actor[0].role",
            ),
            None => {}
        }
        let reference = self.object(
            actor,
            "reference",
            "Consent.provision.actor[0].reference",
            true,
        )?;
        let Some(identifier) = self.object(
            reference,
            "identifier",
            "Consent.provision.actor[0].reference.identifier",
            false,
        ) else {
            if !reference.contains_key("identifier") {
                self.issue(
                    "required",
                    "actor.reference.identifier is required: the HPR number \
                     (urn:oid:2.16.578.1.12.4.1.4.4) or organisation number \
                     (urn:oid:2.16.578.1.12.4.1.4.101)",
                    "Consent.provision.actor[0].reference.identifier",
                );
            }
            return None;
        };
        const SYSTEM: &str = "Consent.provision.actor[0].reference.identifier.system";
        const VALUE: &str = "Consent.provision.actor[0].reference.identifier.value";
        let system = self.string(identifier, "system", SYSTEM, true);
        let value = self.string(identifier, "value", VALUE, true);
        match system? {
            oid::HPR => value.and_then(|value| match HprNumber::parse(value) {
                Ok(hpr) => Some(Target::HprNumber(hpr.as_str().to_owned())),
                Err(error) => {
                    self.issue("value", error.to_string(), VALUE);
                    None
                }
            }),
            oid::ORG_NUMBER | oid::ORG_NUMBER_HELSEID => {
                value.and_then(|value| match OrgNumber::parse(value) {
                    Ok(org) => Some(Target::OrgNumber(org.as_str().to_owned())),
                    Err(error) => {
                        self.issue("value", error.to_string(), VALUE);
                        None
                    }
                })
            }
            _ => {
                self.issue(
                    "invalid",
                    "the blocked party must be identified by an HPR number \
                     (urn:oid:2.16.578.1.12.4.1.4.4) or an organisation number \
                     (urn:oid:2.16.578.1.12.4.1.4.101)",
                    SYSTEM,
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
