//! The OIDs of Norwegian identifier systems, as FHIR `Identifier.system` URIs.

/// Fødselsnummer (including synthetic ones).
pub const FODSELSNUMMER: &str = "urn:oid:2.16.578.1.12.4.1.4.1";
/// D-number.
pub const D_NUMBER: &str = "urn:oid:2.16.578.1.12.4.1.4.2";
/// FH-number (felles hjelpenummer).
pub const FH_NUMBER: &str = "urn:oid:2.16.578.1.12.4.1.4.3";
/// HPR number (Helsepersonellregisteret).
pub const HPR: &str = "urn:oid:2.16.578.1.12.4.1.4.4";
/// Organisation number (Enhetsregisteret), canonical form.
pub const ORG_NUMBER: &str = "urn:oid:2.16.578.1.12.4.1.4.101";
/// Organisation number as HelseID names it; accepted as an alias of [`ORG_NUMBER`].
pub const ORG_NUMBER_HELSEID: &str = "urn:oid:2.16.578.1.12.4.1.2.101";
/// RESH id (Register for enheter i spesialisthelsetjenesten).
pub const RESH: &str = "urn:oid:2.16.578.1.12.4.1.4.102";
